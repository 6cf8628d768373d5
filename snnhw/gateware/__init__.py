"""Amaranth 0.5 components of the generated hardware. They read only :mod:`snnhw.ir`."""

from .networks.lif_layer import NeuronCore

__all__ = ["NeuronCore"]
