"""The image kit every view shares (no Qt): colour maps, one grid layout with hit-testing, scaling to uint8
(numpy here; torch per-map scaling in ``app.imaging.maps``), tiling into mosaics, colour bars.

- ``app.imaging.colormaps``: ``lut``, ``apply``, ``colorbar``, ``NAMES``, ``DIVERGING``;
- ``app.imaging.scale``: ``to_uint8_symmetric``, ``to_uint8_range``, ``robust_limit``;
- ``app.imaging.layout``: ``GridLayout`` (``index_at``, ``origin``, ``rect``), ``grid_shape``, ``layout``;
- ``app.imaging.mosaic``: ``to_rgb``, ``tile``, ``mosaic``.

``LUMA`` (ITU-R BT.601 weights) is the one RGB -> grey conversion of the app.
"""

LUMA = (0.299, 0.587, 0.114)
