"""Probe: linear heads (and k-NN) on frozen features; metrics; the headless ``probe``, ``history`` and ``bench head``
commands.

``run_probe(ProbeConfig)`` resolves the config once (``app.probe.resolve.ResolvedProbe``) and runs from that record:
validation split, hyperparameters selected on validation, test scored once; ``rerun(stored)`` rebuilds a stored run.
``app.probe.history.record(result)`` stores a run from any thread. All are task generators (``app.tasks``).
"""
