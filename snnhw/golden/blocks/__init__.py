"""The golden model's hardware blocks, one file per concept, each a set of pure NumPy
functions with the hardware's widths, rounding and saturation. The networks
(:mod:`snnhw.golden.networks`) compose them; a block never imports a network."""
