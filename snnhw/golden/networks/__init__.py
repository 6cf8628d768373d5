"""The golden model's networks, one family per file: each composes the blocks
(:mod:`snnhw.golden.blocks`) into the run of a whole network, with its state and its cycle
model."""
