"""Backbones behind one interface (see ``base``), a registry filled by decorators, weights I/O and training.

Public API (other workspaces use these; import them from their modules):

- ``app.models.registry``: ``names()``, ``create(name, **options)``, ``describe``, ``option_fields``,
  ``constructor_params``, ``register_backbone``;
- ``app.models.build``: ``build(spec, device=None) -> Backbone``, ``spec_from_checkpoint(path)``, ``BuildError``;
- ``app.models.inputs``: ``InputSpec``, ``input_spec(spec, model, stats)``, ``to_tensor`` (THE preprocessing);
- ``app.models.evaluate``: ``predict`` / ``evaluate`` task generators, ``check_classifier_fits``;
- ``app.models.zoo``: ``default_specs() -> list[ModelSpec]``;
- ``app.models.freeze``: ``param_counts(model) -> ParamCounts``, ``INITS``, ``FREEZE_GROUPS``, ``FREEZE_SHORTCUTS``;
- ``app.models.weights``: ``read_state_dict``, ``load_into``, ``save_checkpoint``, ``WeightsError``, ``KNOWN``,
  ``download``;
- ``app.models.train``: ``train(...)`` task generator.

Every backbone module is imported here, plainly: its ``@register_backbone`` decorators fill the registry.
"""

from app.models import lenet, rdsn, resnet18, resnet_cifar, simple  # noqa: F401  (registers the backbones)
from app.models.base import Backbone, LayerInfo, ModelError
from app.models.registry import create, describe, names
from app.models.registry import register_backbone as register
from app.models.spec import ModelSpec

__all__ = ["Backbone", "LayerInfo", "ModelError", "ModelSpec", "create", "describe", "names", "register"]
