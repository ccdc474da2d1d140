"""Backbones behind one interface (see ``base``), weights I/O and training.

Public API (other workspaces use these; import them from their modules):

- ``app.models.build``: ``build(spec, device=None) -> Backbone``, ``input_spec(spec_or_model) -> InputSpec``,
  ``preprocess(images, ispec, mean, std, device)``, ``spec_from_checkpoint(path)``, ``BuildError``;
- ``app.models.zoo``: ``default_specs() -> list[ModelSpec]``;
- ``app.models.freeze``: ``param_counts(model) -> ParamCounts``, ``INITS``, ``FREEZE_GROUPS``, ``FREEZE_SHORTCUTS``;
- ``app.models.weights``: ``read_state_dict``, ``load_into``, ``save_checkpoint``, ``WeightsError``, ``KNOWN``,
  ``download``;
- ``app.models.train``: ``train(...)`` / ``evaluate(...)`` task generators.
"""

from app.models.spec import ModelSpec

__all__ = ["Backbone", "LayerInfo", "ModelError", "ModelSpec", "create", "describe", "names", "register"]

_FROM_BASE = frozenset(__all__) - {"ModelSpec"}


def __getattr__(name: str):
    """``app.models.create`` & co. load ``app.models.base`` (and torch) on first use, so that importing the package
    (every command module does, for ``--help``) stays instant."""
    if name in _FROM_BASE:
        from app.models import base

        return getattr(base, name)
    raise AttributeError(f"module 'app.models' has no attribute {name!r}")
