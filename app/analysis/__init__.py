"""Insight views as Qt-free computations (each also a headless ``analyze`` command): CKA similarity between layers
(``cka``), top-activating patches (``patches``), filter statistics (``filters``), the LC-block fold (``fold``) and
the feature projector (``project``)."""
