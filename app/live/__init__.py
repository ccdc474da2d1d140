"""The Live view's core: frame sources, the live engine and its loop (off the GUI thread), statistics.

- ``app.live.sources``: ``FrameSource`` (camera, video file, images, dataset samples); ``app.live.synthetic``: the
  built-in moving scene and a test-video writer
- ``app.live.config``: ``LiveConfig``/``PaneConfig`` (GUI -> worker) and ``LiveFrame``/``PaneResult`` (worker -> GUI)
- ``app.live.engine``: ``LiveEngine`` (frame -> each pane's input by ``app.models.inputs`` -> forward -> mosaics by
  ``app.imaging.maps``; ``submit``/``collect``: a frame in flight on CUDA); ``app.live.transfer``: its uploads,
  read-backs and fences
- ``app.live.pipeline``: ``Mailbox`` (newest frame wins), ``LiveLoop`` (thread body), model choices;
  ``app.live.recorder``: ``Recorder`` (a video on the loop's clock)
- ``app.live.stats``: the statistics strip of a pane (sparsity, magnitude, dominant frequency, channel correlation)
- ``app.live.mosaic``: snapshot/recording composites; ``app.live.bench``: ``python main.py bench live``
"""
