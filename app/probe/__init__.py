"""Probe: linear heads (and k-NN) on frozen features; metrics; the headless ``probe`` and ``bench head`` commands.

``run_probe(ProbeConfig)`` / ``evaluate_model(spec, dataset)`` are task generators (``app.tasks``); see
``app.probe.config`` for the records they use.
"""
