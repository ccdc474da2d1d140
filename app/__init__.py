"""Filter Explorer core: kernels, models, datasets, probing and the live pipeline.

This package imports no Qt (a test enforces it), so everything here is usable from scripts and tests.
"""

__version__ = "0.1.0"
