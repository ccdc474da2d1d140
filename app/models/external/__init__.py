"""Models the user brings: TorchScript, ONNX (``pip install .[onnx]``), timm by name with a local weights file
(``pip install .[timm]``), and state dicts of the app's architectures; see ``docs/own-models.md``.

- ``spec_for(source, weights=None, fmt=None, ...) -> ModelSpec`` (backbone ``"external"``), ``twin_spec(spec, init,
  seed)``, ``build(spec, device) -> ExternalBackbone``, ``create(options)``;
- ``ExternalBackbone``: the ``Backbone`` interface around any module (discovered ``feature_info``, hook-based
  ``forward_intermediates``, ``first_conv_bank()``);
- ``detect(path)``, ``load(source, fmt, weights)``, ``ModelFileError``; ``reinit(net, init, seed)``.

Wiring (one place, ``app/models/build.py``): ``build()`` and ``create_model()`` hand a spec / options whose backbone
is ``BACKBONE`` to ``build`` / ``create`` here.
"""

from app.models.external.backbone import ExternalBackbone
from app.models.external.formats import FORMATS, ModelFileError, detect, load
from app.models.external import formats
from app.models.external.model import BACKBONE, build, create, file_channels, metadata_input, spec_for, twin_spec
from app.models.external.twin import reinit

__all__ = ["BACKBONE", "FORMATS", "ExternalBackbone", "ModelFileError", "build", "create", "detect", "file_channels",
           "formats", "load",
           "metadata_input", "reinit", "spec_for", "twin_spec"]
