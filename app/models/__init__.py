"""Backbones behind one interface (see ``base``), weights I/O and training."""

from app.models.base import Backbone, LayerInfo, create, describe, names, register

__all__ = ["Backbone", "LayerInfo", "create", "describe", "names", "register"]
