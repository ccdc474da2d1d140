"""The Live view's core: frame sources, the live pipeline (off the GUI thread) and mosaics on the compute device.

- ``app.live.sources``: ``FrameSource`` (synthetic scene, camera, video file, images, dataset samples)
- ``app.live.pipeline``: ``LiveEngine`` (frame -> mosaics), ``Mailbox`` (newest frame wins), ``LiveLoop`` (thread body)
- ``app.live.mosaic``: per-map normalisation, tiling, colour mapping in torch; snapshot/recording helpers
- ``app.live.bench``: ``python main.py bench live``
"""
