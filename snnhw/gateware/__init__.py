"""Amaranth 0.5 components of the generated hardware. They read only :mod:`snnhw.ir`."""

from .core import NeuronCore

__all__ = ["NeuronCore"]
