"""Backbones behind one interface (see ``base``), the registry, input specs, weights I/O, building, training and
evaluation.

Public API (import from the modules):

- ``app.models.registry``: ``register_backbone``, ``names``, ``get``, ``create``, ``describe``, ``option_fields``,
  ``constructor_params`` (importing it imports every backbone module, whose decorators fill it);
- ``app.models.inputs``: ``InputSpec``, ``input_spec``, ``to_tensor``, ``affine``;
- ``app.models.build``: ``build(spec, device=None) -> Backbone``, ``spec_from_checkpoint(path)``, ``BuildError``;
- ``app.models.evaluate``: ``predict``, ``evaluate``, ``check_classifier_fits``;
- ``app.models.zoo``: ``default_specs() -> list[ModelSpec]``;
- ``app.models.freeze``: ``param_counts``, ``apply_freeze``, ``INITS``, ``FREEZE_GROUPS``, ``FREEZE_SHORTCUTS``;
- ``app.models.weights``: ``read_state_dict``, ``load_into``, ``save_checkpoint``, ``WeightsError``, ``KNOWN``;
- ``app.models.train``: ``train(...)`` task generator.

The package itself imports nothing heavy (``--help`` and ``models list`` start without torch): the names below
load their module on first use.
"""

from app.models.spec import ModelSpec

__all__ = ["Backbone", "LayerInfo", "ModelError", "ModelSpec", "create", "describe", "names", "register"]

_FROM = {"Backbone": "base", "LayerInfo": "base", "ModelError": "base", "create": "registry",
         "describe": "registry", "names": "registry", "register": "registry"}


def __getattr__(name: str):
    mod = _FROM.get(name)
    if mod is None:
        raise AttributeError(f"module 'app.models' has no attribute {name!r}")

    if mod == "base":
        from app.models import base as m
    else:
        from app.models import registry as m
    return getattr(m, "register_backbone" if name == "register" else name)
