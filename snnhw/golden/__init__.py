"""Bit-exact NumPy integer model of the generated hardware: the specification.

``docs/semantics.md`` describes exactly what these functions compute; the RTL matches them bit
for bit and the tests compare with ``==``.
"""

from .blocks.neuron import fire_step, integrate_events
from .networks.lif_layer import LayerModel, Trace
from .networks.lif_layer_cycles import CycleCounts, cycle_model, ideal_cycles

__all__ = ["LayerModel", "Trace", "integrate_events", "fire_step", "CycleCounts",
           "cycle_model", "ideal_cycles"]
