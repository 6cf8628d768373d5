"""The encoder's draw (:class:`snnhw.gateware.blocks.encoder.EncoderLane`) simulated against
``snnhw.golden.blocks.encoder.encode_step``: slot by slot, from the same generator states, the
lane's spikes pick the same pixels and its next states are the golden generators' (compared
with ==)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from snnhw.config import parse_config
from snnhw.families import resolve_layer
from snnhw.gateware.blocks.encoder import EncoderLane
from snnhw.golden.blocks.encoder import encode_step
from snnhw.golden.blocks.rng import Generators


def make_layer(n_in, rate_scale, seed):
    return resolve_layer(parse_config({
        "input": {"size": n_in},
        "neurons": {"count": 4, "threshold": 100, "inhibition": "wta"},
        "synapses": {"weight_bits": 8, "signed": False},
        "stdp": {"enabled": True},
        "encoder": {"rate_scale": rate_scale, "seed": seed},
    }))


def draw(slots, rate):
    """The lane's (spike, next state) for each (state, pixel) of ``slots``."""
    dut = EncoderLane()
    got = []

    async def bench(ctx):
        ctx.set(dut.i_rate, rate)
        for state, value in slots:
            ctx.set(dut.i_gen, state)
            ctx.set(dut.i_value, value)
            got.append((ctx.get(dut.o_spike), ctx.get(dut.o_gen)))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return got


CASES = {  # n_in, rate_scale, intensity, density of non-zero pixels
    "784-r8-i2": (784, 8, 2, 0.2),
    "784-r8-i9": (784, 8, 9, 0.2),
    "100-r32-i7": (100, 32, 7, 0.8),  # 255 * 224: about 87 % per draw
    "64-r1-i1": (64, 1, 1, 1.0),
}


@pytest.mark.parametrize("seed", [1, 2], ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("case", CASES)
def test_spikes_and_draws_are_the_golden_ones(case, seed):
    n_in, rate_scale, intensity, density = CASES[case]
    layer = make_layer(n_in, rate_scale, seed)
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, n_in) * (rng.random(n_in) < density)
    nonzero = np.flatnonzero(pixels)
    gens = Generators(layer.encoder.generator_states[:n_in])
    for _ in range(3):  # three timesteps: the states carry over
        slots = list(zip(gens.states[:len(nonzero)].tolist(), pixels[nonzero].tolist(),
                         strict=True))
        got = draw(slots, rate_scale * intensity)
        want = encode_step(layer, gens, pixels, nonzero, intensity)
        assert nonzero[[spike == 1 for spike, _ in got]].tolist() == want.tolist()
        assert [state for _, state in got] == gens.states[:len(nonzero)].tolist()


def test_a_zero_pixel_never_spikes_and_255_at_full_rate_nearly_always():
    got = draw([(1, 0), (0xFFFF, 0), (1, 255), (0x8000, 255)], 257)  # 255 * 257 = 65535
    assert [spike for spike, _ in got] == [0, 0, 1, 1]


@pytest.mark.parametrize("kwargs, message", [
    ({"value_bits": 0}, "Pixel width must be a positive integer, not 0"),
    ({"rate_bits": 2.0}, "Rate width must be a positive integer, not 2.0"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EncoderLane(**kwargs)
