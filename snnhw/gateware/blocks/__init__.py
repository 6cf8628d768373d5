"""Gateware blocks, one file per hardware concept, named as the golden model's blocks
(:mod:`snnhw.golden.blocks`); each a ``wiring.Component`` that the networks
(:mod:`snnhw.gateware.networks`) and the SoC compose."""
