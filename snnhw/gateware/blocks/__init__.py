"""Gateware blocks, one file per hardware concept, named as the golden model's blocks
(:mod:`snnhw.golden.blocks`); :mod:`snnhw.gateware.networks` composes them."""
