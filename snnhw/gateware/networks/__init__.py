"""Gateware networks: one file per network family, each composing the blocks of
:mod:`snnhw.gateware.blocks`."""
