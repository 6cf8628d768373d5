"""Gateware networks: each composes the blocks of :mod:`snnhw.gateware.blocks` into one core
(``diehl_cook``: the learning core)."""
