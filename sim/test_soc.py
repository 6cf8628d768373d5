"""End-to-end test of the whole SoC in Verilator: the host runtime talks UART to the simulated
SoC (the learning core with pruning behind its framed link), loads weights, learns 3 MNIST
digits and infers 10, and every result equals the golden model's. In the same session, bad
frames (corrupted, truncated, wrong length, unknown command, address out of range) each get
their error reply and change no state."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from snnhw.config import load_config
from snnhw.datasets import load_dataset
from snnhw.families import resolve_layer
from snnhw.host import Network
from snnhw.host.golden import GoldenBackend
from snnhw.host.rtl import RtlBackend
from snnhw.protocol import Command, Status, decode_reply, encode_request

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "sim" / "configs" / "learning" / "mnist_784x24_prune.toml"


def raw_call(backend: RtlBackend, frame: bytes) -> tuple[Status, bytes]:
    """Send any bytes (a frame or not) and read the one reply they get."""
    backend.transport.write(frame)
    head = backend.transport.read(4, 60.0)
    (n,) = struct.unpack_from("<H", head, 2)
    return decode_reply(head + backend.transport.read(n + 2, 60.0))


def bad_frames(layer) -> dict[str, tuple[bytes, Status]]:
    write = encode_request(Command.WRITE_MEM, struct.pack("<BBI", 0, 0, 0) + bytes([7, 7]))
    depth = layer.n_in * layer.npl
    return {
        "corrupted payload": (write[:8] + bytes([write[8] ^ 1]) + write[9:], Status.BAD_CRC),
        "corrupted CRC": (write[:-1] + bytes([write[-1] ^ 0x80]), Status.BAD_CRC),
        "truncated": (write[:7], Status.TIMEOUT),
        "truncated in the header": (write[:2], Status.TIMEOUT),
        "longer than the buffer": (encode_request(Command.WRITE_MEM, bytes(1100)),
                                   Status.BAD_LENGTH),
        "sample of the wrong length": (encode_request(Command.LOAD_SAMPLE, bytes(783)),
                                       Status.BAD_LENGTH),
        "unknown command": (encode_request(0x7F, b"\x01"), Status.UNKNOWN_COMMAND),
        "weight past the end": (encode_request(Command.WRITE_MEM, struct.pack(
            "<BBI", 0, 0, depth - 1) + bytes([1, 2])), Status.BAD_ADDRESS),
        "bank out of range": (encode_request(Command.READ_MEM, struct.pack(
            "<BBIH", 2, layer.lanes, 0, 1)), Status.BAD_ADDRESS),
    }


def same_state(a, b) -> bool:
    return (np.array_equal(a.weights, b.weights) and np.array_equal(a.theta, b.theta)
            and np.array_equal(a.gens.states, b.gens.states)
            and np.array_equal(a.alive, b.alive))


def test_soc_learns_and_infers_mnist_like_golden(data_dir, tmp_path: Path):
    layer = resolve_layer(load_config(CONFIG))
    train = load_dataset("mnist", "train", data_dir)
    test = load_dataset("mnist", "test", data_dir)
    learn_images, infer_images = train.images[:3], test.images[:10]
    # weights loaded over the link: not the ones the bitstream starts with
    rng = np.random.default_rng(3)
    weights = rng.integers(0, 90, size=(layer.n_in, layer.n_out))
    labels = np.arange(layer.n_out) % 10

    rtl = RtlBackend(layer, out_dir=tmp_path, spike_buffer=64)
    results = {}
    with Network(rtl) as board, Network(GoldenBackend(layer, spike_buffer=64)) as golden:
        for name, net in (("rtl", board), ("golden", golden)):
            net.backend.write_weights(weights)
            net.set_labels(labels)
            net.backend.clear_counters()
            # learn as samples warmup, warmup + 1, ... of a training run: pruning is on
            learned = [net.backend.present(x, learn=True, eta=layer.stdp.eta_at(s),
                                           prune=net.backend.pruning_step(s, learn=True))
                       for s, x in enumerate(learn_images, start=layer.pruning.warmup)]
            inferred = [net.backend.present(x, learn=False) for x in infer_images]
            results[name] = (learned, inferred, net.infer(infer_images[:2]).predictions,
                             net.backend.read_state(), net.backend.counters())
        before = rtl.read_state()
        for case, (frame, status) in bad_frames(layer).items():
            assert raw_call(rtl, frame) == (status, b""), case
        assert same_state(rtl.read_state(), before), "a bad frame changed the state"
        assert raw_call(rtl, encode_request(Command.RUN)) == (Status.NO_SAMPLE, b"")

    (rl, ri, rp, rs, rc), (gl, gi, gp, gs, gc) = results["rtl"], results["golden"]
    for kind, rtl_results, golden_results in (("learn", rl, gl), ("infer", ri, gi)):
        for s, (a, b) in enumerate(zip(rtl_results, golden_results, strict=True)):
            where = f"{kind} sample {s}"
            assert (a.presentations, a.spikes_total) == (b.presentations, b.spikes_total), where
            assert a.spikes == b.spikes, where
            assert a.counts.tolist() == b.counts.tolist(), where
            assert a.votes.tolist() == b.votes.tolist(), where
    assert rp.tolist() == gp.tolist()
    assert same_state(rs, gs)
    assert not rs.alive.all(), "the samples must prune"
    for name in ("busy_cycles", "synaptic_events", "input_events", "output_spikes",
                 "presentations", "alive"):
        assert getattr(rc, name) == getattr(gc, name), name
    assert sum(r.spikes_total for r in gi) >= 10, "the digits must make spikes"


def test_icebreaker_soc_with_weights_in_spram_like_golden(tmp_path: Path):
    """The SoC that snnhw build makes for the iCEBreaker (learn64, weights in double-pumped
    SPRAM, clocked at twice clk): empty weights at connection, which the host loads, then
    learning and inference equal to the golden model's."""
    layer = resolve_layer(load_config(ROOT / "tests" / "data" / "learn_64x8_icebreaker.toml"))
    rng = np.random.default_rng(11)
    images = (rng.integers(0, 256, size=(6, layer.n_in))
              * (rng.random((6, layer.n_in)) < 0.6)).astype(np.uint8)
    rtl = RtlBackend(layer, out_dir=tmp_path, spike_buffer=64, synapse_ram="spram")
    results = {}
    with Network(rtl) as board, Network(GoldenBackend(layer, spike_buffer=64)) as golden:
        assert rtl.info_at_connection.spram and rtl.info_at_connection.weights_empty
        assert rtl.info().weights_empty is False  # connecting loaded the config's weights
        assert np.array_equal(rtl.read_weights(), layer.weights)
        for name, net in (("rtl", board), ("golden", golden)):
            net.backend.clear_counters()
            learned = [net.backend.present(x, learn=True, eta=layer.stdp.eta_at(s))
                       for s, x in enumerate(images[:3])]
            inferred = [net.backend.present(x, learn=False) for x in images[3:]]
            results[name] = (learned + inferred, net.backend.read_state(),
                             net.backend.counters())
    (rr, rs, rc), (gr, gs, gc) = results["rtl"], results["golden"]
    for s, (a, b) in enumerate(zip(rr, gr, strict=True)):
        assert (a.presentations, a.spikes_total, a.spikes) == (
            b.presentations, b.spikes_total, b.spikes), f"sample {s}"
        assert a.counts.tolist() == b.counts.tolist(), f"sample {s}"
    assert same_state(rs, gs)
    assert not np.array_equal(rs.weights, layer.weights), "the samples must learn"
    for name in ("busy_cycles", "synaptic_events", "input_events", "output_spikes",
                 "presentations"):
        assert getattr(rc, name) == getattr(gc, name), name
    assert sum(r.spikes_total for r in gr) > 0
