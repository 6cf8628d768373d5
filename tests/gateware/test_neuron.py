"""A neuron lane's arithmetic (:class:`snnhw.gateware.blocks.neuron.NeuronLane`) simulated
against ``snnhw.golden.blocks.neuron`` for single neurons with seeded random states, compared
with ==: one event's saturating integration (``integrate_events``; a refractory neuron keeps
its potential, as the core chooses by ``o_refractory``) and the leak, adaptive threshold and
refractory flag of ``fire_adaptive``."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from snnhw.config import parse_config
from snnhw.families import resolve_layer
from snnhw.gateware.blocks.neuron import NeuronLane
from snnhw.golden.blocks.neuron import fire_adaptive, integrate_events

TRIALS = 400

CASES = {  # model, membrane_bits, leak_shift, weight_bits, weight_shift, theta_bits, threshold
    "lif-m16": ("lif", 16, 4, 8, 0, 16, 300),
    "lif-m8-saturating": ("lif", 8, 1, 5, 2, 4, 20),
    "if-m10": ("if", 10, None, 5, 3, 9, 1),
}


def make_layer(case):
    model, mb, leak, wb, ws, thb, thr = CASES[case]
    return resolve_layer(parse_config({
        "input": {"size": 8},
        "neurons": {"count": 4, "model": model, "membrane_bits": mb,
                    **({"leak_shift": leak} if leak else {}),
                    "threshold": thr, "refractory": 3, "inhibition": "wta",
                    "theta_increment": 5, "theta_bits": thb},
        "synapses": {"weight_bits": wb, "weight_shift": ws, "signed": False},
        "stdp": {"enabled": True},
    }))


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("seed", [1, 2], ids=lambda s: f"seed{s}")
def test_lane_is_the_golden_neuron(case, seed):
    layer = make_layer(case)
    dut = NeuronLane(membrane_bits=layer.membrane_bits, weight_bits=layer.weight_bits,
                     weight_shift=layer.weight_shift, leak_shift=layer.leak_shift,
                     threshold=layer.threshold, theta_bits=layer.theta_bits,
                     ref_bits=layer.ref_bits)
    rng = np.random.default_rng(seed)
    v = rng.integers(layer.vmin, layer.vmax + 1, TRIALS)
    v[:4] = [layer.vmin, layer.vmax, 0, -1]
    ref = np.where(rng.random(TRIALS) < 0.25, rng.integers(1, layer.refractory + 1, TRIALS), 0)
    w = rng.integers(0, layer.wmax + 1, TRIALS)
    theta = rng.integers(0, 2**layer.theta_bits, TRIALS)
    theta[::3] = 0  # spikes are common
    got = []

    async def bench(ctx):
        for i in range(TRIALS):
            ctx.set(dut.i_v, int(v[i]))
            ctx.set(dut.i_ref, int(ref[i]))
            ctx.set(dut.i_w, int(w[i]))
            ctx.set(dut.i_theta, int(theta[i]))
            got.append((ctx.get(dut.o_integrated), ctx.get(dut.o_refractory),
                        ctx.get(dut.o_may_fire), ctx.get(dut.o_leaked),
                        ctx.get(dut.o_margin)))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    for i, (integrated, refractory, may_fire, leaked, margin) in enumerate(got):
        vi, ri, thi = v[i:i + 1], ref[i:i + 1], theta[i:i + 1]
        want_v = integrate_events(layer, w[i:i + 1, None], vi, ri, np.array([0]))[0]
        assert (v[i] if refractory else integrated) == want_v, i
        assert refractory == (ref[i] > 0), i
        v_new, _, spikes = fire_adaptive(layer, vi, ri, thi)
        assert may_fire == spikes[0], i
        assert margin == leaked - (layer.threshold + theta[i]), i
        if not refractory and not may_fire:
            assert leaked == v_new[0], i
    integ = [g[0] for g in got]
    assert layer.vmin in integ or layer.vmax in integ or case != "lif-m8-saturating"
    assert 0 < sum(g[2] for g in got) < TRIALS  # some fire, some do not


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="Membrane width must be an integer of at least 2, "
                                         "not 1"):
        NeuronLane(membrane_bits=1, weight_bits=8, weight_shift=0, leak_shift=4, threshold=1,
                   theta_bits=8, ref_bits=2)
