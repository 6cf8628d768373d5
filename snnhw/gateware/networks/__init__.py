"""Gateware networks, one file per network family: each composes the blocks of
:mod:`snnhw.gateware.blocks` into one core (``lif_layer``: the neuron core; ``diehl_cook``: the
learning core)."""
