"""Gateware blocks: one concept per file, each a ``wiring.Component`` that the networks
(:mod:`snnhw.gateware.networks`) and the SoC compose."""
