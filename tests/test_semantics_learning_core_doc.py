"""The worked examples of docs/semantics.md, sections 19-23 (learning core), checked against the
IR and the cycle model the RTL's busy counter equals, so the document cannot drift from them."""

from __future__ import annotations

import pytest

from snnhw.config import parse_config
from snnhw.families import require, resolve_layer
from snnhw.golden.networks.diehl_cook_cycles import (
    COL_TAIL,
    ENC_TAIL,
    END_TAIL,
    FIRE_DRAIN,
    NORM_FIXED,
    ideal_presentation_cycles,
    presentation_cycles,
)
from snnhw.ir import LayerIR, bits_for


def example_layer(n_out: int = 3, n_in: int = 5) -> LayerIR:
    """Section 23: P = 2, n_in = 5, n_out = 3, T = 2, normalize_target = 100."""
    layer = resolve_layer(parse_config({
        "input": {"size": n_in},
        "neurons": {"count": n_out, "threshold": 100, "inhibition": "wta",
                    "theta_increment": 10},
        "synapses": {"signed": False},
        "encoder": {"timesteps": 2},
        "stdp": {"enabled": True, "normalize_target": 100},
        "hardware": {"lanes": 2},
    }))
    require(layer, "generate")  # the learning core builds it
    return layer


def test_example_sizes():
    layer = example_layer()
    assert (layer.npl, layer.nig, layer.padded_out) == (2, 3, 4)
    assert bits_for(100 << 16) == bits_for(6553600) == 23  # DB
    assert layer.membrane_bits == 16 and layer.refractory == 0 and layer.theta_bits == 16


def test_memory_example():
    """Section 20: every memory of the example layer, banks x depth x width."""
    got = {m.name: (m.count, m.depth, m.width) for m in example_layer().memories}
    assert got == {
        "weights": (2, 10, 8), "state": (2, 2, 19), "theta": (2, 2, 16), "list": (2, 3, 15),
        "enc_gen": (2, 3, 16), "in_gen": (2, 3, 16), "last": (2, 3, 2), "events": (2, 6, 7),
        "trace_rom": (1, 54, 8),  # the default trace table changes up to age 53
    }
    bank, addr = example_layer().weight_location(3, 2)
    assert (int(bank), int(addr)) == (1, 7)


def test_column_access_is_conflict_free():
    """Section 20: P consecutive inputs of one neuron lie in P distinct weight banks."""
    layer = resolve_layer(parse_config({
        "input": {"size": 23}, "neurons": {"count": 7, "threshold": 10, "inhibition": "wta"},
        "synapses": {"signed": False}, "stdp": {"enabled": True}, "hardware": {"lanes": 3}}))
    P = layer.lanes
    for j in range(layer.n_out):
        for g in range(layer.nig):
            banks = {int(layer.weight_location(g * P + a, j)[0]) for a in range(P)}
            assert banks == set(range(P))


def test_cycle_example_learning():
    """Section 23: the hand-computed learning presentation."""
    layer = example_layer()
    assert presentation_cycles(layer, 3, [2, 1], [1, 0], learn=True, fired=1) == 95
    assert ideal_presentation_cycles(layer, [2, 1], [1, 0], learn=True, fired=1) == 19
    # the overhead, term by term: CLEAR, WAIT, INTEG +1 / DRAIN / STEP_END, RESET + STDP tail,
    # DECAY, normalisation (scan, tails, divider), PRES_END
    overhead = 3 + (6 + 1) + 2 * 8 + (2 + 5) + 3 + (4 + 1 + (23 + 10)) + 2
    assert overhead == 76 == 95 - 19


def test_cycle_example_inference():
    layer = example_layer()
    assert presentation_cycles(layer, 3, [2, 1], [1, 0], learn=False, fired=1) == 40
    assert ideal_presentation_cycles(layer, [2, 1], [1, 0], learn=False, fired=1) == 10
    assert 40 - 10 == 3 + (6 + 1) + 2 * 8 + 2 + 2  # CLEAR, WAIT, per step, RESET, PRES_END


def test_cycle_example_encoder_bound():
    """Section 23: with NPL = 1 and nine inputs the encoder is not hidden in timestep 1 (two
    WAIT cycles)."""
    layer = example_layer(n_out=2, n_in=9)
    assert (layer.npl, layer.nig) == (1, 5)
    assert presentation_cycles(layer, 9, [0, 0], [0, 0], learn=False, fired=0) == 34
    assert ideal_presentation_cycles(layer, [0, 0], [0, 0], learn=False, fired=0) == 2
    assert 34 - 2 == 5 + (7 + 2) + 2 * 8 + 2  # WAIT: cycles 5-11, then 21-22


@pytest.mark.parametrize("learn", [False, True])
def test_overhead_formula(learn):
    """Section 23's decomposition of presentation_cycles - ideal, with the WAIT cycles taken
    from the recurrence, on a few presentations."""
    # the section's numbers
    assert (ENC_TAIL, FIRE_DRAIN, COL_TAIL, NORM_FIXED, END_TAIL) == (4, 6, 5, 10, 1)
    layer = example_layer()
    P, npl, nig = layer.lanes, layer.npl, 3
    db = bits_for(layer.stdp.normalize_target << 16)
    for nnz, events, spikes, fired in [(3, [2, 1], [1, 0], 1), (5, [0, 5], [0, 1], 1),
                                       (0, [0, 0], [0, 0], 0), (4, [3, 3], [1, 1], 2)]:
        g = -(-nnz // P)
        d = g + ENC_TAIL if g else 1
        t, go, waits = max(npl, nig), 1, []
        for _s, (e, spike) in enumerate(zip(events, spikes, strict=True)):
            visible = go + 1 + d
            w = max(t, visible)
            waits.append(w - t + 1)
            go = max(visible, w + 1)
            t = (w + 1 + (e * npl + 1) + npl + FIRE_DRAIN + 1
                 + spike * (npl + (nig + COL_TAIL if learn else 0)))
        overhead = (max(npl, nig) + sum(wt + 1 + FIRE_DRAIN + 1 for wt in waits)
                    + sum(spikes) * (npl + (COL_TAIL if learn else 0))
                    + ((npl + 1 + layer.padded_out + 1 + fired * (db + NORM_FIXED))
                       if learn else 0) + 1 + END_TAIL)
        cycles = presentation_cycles(layer, nnz, events, spikes, learn=learn, fired=fired)
        ideal = ideal_presentation_cycles(layer, events, spikes, learn=learn, fired=fired)
        assert cycles - ideal == overhead


def test_pruning_bitmap_memory_example():
    """Section 25: the alive bitmap of 784 x 400 with 4 lanes and 16-bit words."""
    layer = resolve_layer(parse_config({
        "input": {"size": 784},
        "neurons": {"count": 400, "threshold": 4000, "membrane_bits": 18, "inhibition": "wta"},
        "synapses": {"signed": False},
        "stdp": {"enabled": True},
        "pruning": {"enabled": True, "chunk_bits": 16},
        "hardware": {"lanes": 4},
    }))
    mems = {m.name: m for m in layer.memories}
    assert (layer.chunks, layer.alive_stride) == (7, 8)
    assert (mems["alive"].count, mems["alive"].depth, mems["alive"].width) == (4, 784 * 8, 16)
    assert mems["alive"].bits == 401_408 and mems["weights"].bits == 2_508_800
    assert round(100 * mems["alive"].bits / mems["weights"].bits) == 16
    # the bit of W[i, j] sits in the weight's bank
    bank, word, bit = layer.alive_location(5, 398)  # lane 2, group 99: word 6, bit 3
    assert (int(bank), int(word), int(bit)) == ((5 + 398) % 4, 5 * 8 + 6, 3)
    assert int(bank) == int(layer.weight_location(5, 398)[0])


@pytest.mark.parametrize("shift,rnd,depth", [(4, 8, 54), (1, 0, 9), (8, 0, 2)])
def test_trace_rom_holds_the_table_up_to_its_last_change(shift, rnd, depth):
    """Section 20: the trace ROM's D entries; every older age reads entry D - 1, which the
    table keeps to its end (a constant table still gets a 2-entry ROM)."""
    layer = resolve_layer(parse_config({
        "input": {"size": 4},
        "neurons": {"count": 2, "threshold": 10, "inhibition": "wta"},
        "synapses": {"signed": False},
        "stdp": {"enabled": True, "trace_shift": shift, "trace_round": rnd}}))
    table, d = layer.stdp.trace_table, layer.stdp.trace_depth
    assert d == depth
    assert (table[d - 1:] == table[d - 1]).all()
    assert d == 2 or table[d - 2] != table[d - 1]
    assert {m.name: m.depth for m in layer.memories}["trace_rom"] == d
