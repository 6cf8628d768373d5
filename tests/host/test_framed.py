"""The framed client against a fake transport that answers with frames built by encode_reply
(snnhw.host.testing.FakeSoC): the request bytes, error statuses, corrupt and truncated
replies, the config-hash check, chunking to the frame buffer, and the same results as the
golden backend."""

from __future__ import annotations

import struct
import tomllib
from pathlib import Path

import numpy as np
import pytest

from snnhw.config import load_config, parse_config
from snnhw.errors import InputError
from snnhw.families import resolve_layer
from snnhw.golden.networks.diehl_cook import LearningState
from snnhw.host import Network
from snnhw.host.framed import FramedBackend, LinkTimeout
from snnhw.host.golden import GoldenBackend
from snnhw.host.testing import FakeSoC
from snnhw.protocol import (
    MEM_HEADER,
    Command,
    Info,
    Params,
    ProtocolError,
    Space,
    Status,
    config_hash,
    encode_reply,
    encode_request,
    max_payload,
)

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "host_tiny_20x6.toml"


def tiny(**changes):
    """The tiny test network, with keys of its sections changed or sections added."""
    doc = tomllib.loads(TINY.read_text())
    for section, keys in changes.items():
        doc[section] = {**doc.get(section, {}), **keys}
    return resolve_layer(parse_config(doc))


def images(layer, n: int, seed: int = 5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, size=(n, layer.n_in))
            * (rng.random((n, layer.n_in)) < 0.7)).astype(np.uint8)


def connect(layer, **kw) -> tuple[FramedBackend, FakeSoC]:
    soc = FakeSoC(layer, **kw)
    return FramedBackend(layer, soc), soc


def test_connect_sends_info_and_checks_the_hash():
    layer = resolve_layer(load_config(TINY))
    client, soc = connect(layer)
    assert soc.requests == [(Command.INFO, b"")]
    assert client.info() == soc.info
    # the very bytes of a request
    sent = []
    soc.hook = lambda cmd, request, reply: (sent.append(request), reply)[1]
    client.write_labels(np.array([3, 1, 15, 3, 0, 9]))
    assert sent == [encode_request(Command.WRITE_MEM, struct.pack("<BBI", Space.LABELS, 0, 0)
                                   + bytes([3, 1, 15, 3, 0, 9]))]


@pytest.mark.parametrize("empty,pruning", [(True, False), (False, False), (True, True)],
                         ids=["fresh", "learnt", "fresh-pruning"])
def test_empty_spram_gets_the_initial_weights(empty, pruning):
    layer = tiny(pruning={"enabled": True}) if pruning else resolve_layer(load_config(TINY))
    info = FakeSoC(layer).info
    fresh = Info(**{**info.__dict__, "spram": True, "weights_empty": empty})
    assert Info.unpack(fresh.pack()) == fresh
    assert fresh.pack()[Info.FLAGS_OFFSET] == pruning | 0b0100 | empty << 3  # SPRAM, empty
    soc = FakeSoC(layer, info=fresh)
    for space in (Space.WEIGHT, Space.ALIVE) if pruning else (Space.WEIGHT,):
        soc.mem[space][:] = 0  # what SPRAM holds after configuration
    client = FramedBackend(layer, soc)
    written = [p[0] for c, p in soc.requests if c == Command.WRITE_MEM]
    if empty:  # a fresh bitstream: the config's initial weights, as the golden model's, and
        # every connection alive; the weights last (their first write clears the flag)
        assert written[-1] == Space.WEIGHT
        assert set(written) == ({Space.ALIVE, Space.WEIGHT} if pruning else {Space.WEIGHT})
        assert np.array_equal(client.read_weights(), layer.weights)
        if pruning:
            assert client.read_alive().all()
            assert client.alive_count() == layer.n_in * layer.n_out
    else:  # a board that learnt keeps its weights
        assert written == []
        assert not client.read_weights().any()


def test_another_config_is_refused():
    layer = resolve_layer(load_config(TINY))
    other = tiny(neurons={"threshold": 301})
    soc = FakeSoC(other)
    h, mine = config_hash(other), config_hash(layer)
    with pytest.raises(InputError, match=rf"^the fake SoC runs a bitstream of another config "
                       rf"\(hash {h:#010x}, host_tiny has {mine:#010x}, 20 inputs and 6 "
                       rf"neurons\): load this config's bitstream or give the config it was "
                       rf"built from$"):
        FramedBackend(layer, soc)
    info = FakeSoC(layer).info
    old = Info(**{**info.__dict__, "version": 9})
    with pytest.raises(InputError, match="speaks protocol version 9, this host 1"):
        FramedBackend(layer, FakeSoC(layer, info=old))


def test_error_status_raises_protocol_error_with_the_status():
    layer = resolve_layer(load_config(TINY))
    client, soc = connect(layer)
    with pytest.raises(ProtocolError, match="^READ_MEM failed: BAD_ADDRESS$") as e:
        client.read_words(Space.WEIGHT, 4, 1)  # 4 lanes: banks 0..3
    assert e.value.status == Status.BAD_ADDRESS
    with pytest.raises(ProtocolError, match="RUN failed: NO_SAMPLE") as e:
        client.request(Command.RUN)
    assert e.value.status == Status.NO_SAMPLE
    client.request(Command.LOAD_SAMPLE, bytes(20))
    with pytest.raises(ProtocolError, match="LOAD_SAMPLE failed: SAMPLE_LOADED"):
        client.request(Command.LOAD_SAMPLE, bytes(20))


def test_corrupt_noisy_and_truncated_replies():
    layer = resolve_layer(load_config(TINY))
    client, soc = connect(layer)
    soc.hook = lambda cmd, request, reply: reply[:-1] + bytes([reply[-1] ^ 0x01])
    with pytest.raises(ProtocolError, match="^reply CRC mismatch: the link corrupted it$"):
        client.info()
    soc.hook = lambda cmd, request, reply: b"\x00\x13\xff" + reply  # noise is skipped
    assert client.read_labels().tolist() == [15] * 6
    soc.hook = lambda cmd, request, reply: reply[:5]
    with pytest.raises(LinkTimeout, match="^a truncated reply to GET_PARAMS from the fake SoC"):
        client.request(Command.GET_PARAMS)
    soc.hook = lambda cmd, request, reply: b""
    with pytest.raises(LinkTimeout, match="^no reply to INFO from the fake SoC within 2 s$"):
        client.info()
    soc.hook = lambda cmd, request, reply: encode_reply(Status.OK, b"\1\2")
    with pytest.raises(ProtocolError, match="^READ_VOTES reply of 2 bytes, not 20$"):
        client.request(Command.READ_VOTES, reply_size=20)
    soc.hook = None
    assert Params.unpack(client.request(Command.GET_PARAMS)) == Params()


def test_writes_are_chunked_to_the_frame_buffer_and_reads_to_u16_replies():
    # 784 inputs (a 1024-byte frame buffer), 84 neurons on one lane: a bank of 65856 weights
    layer = tiny(input={"size": 784}, neurons={"count": 84}, hardware={"lanes": 1})
    client, soc = connect(layer)
    rng = np.random.default_rng(1)
    w = rng.integers(0, layer.wmax + 1, size=(layer.n_in, layer.n_out))
    soc.requests.clear()
    client.write_weights(w)
    writes = [p for c, p in soc.requests if c == Command.WRITE_MEM]
    limit = max_payload(layer)
    assert max(len(p) for p in writes) == limit  # header and 1018 one-byte weights
    depth = layer.bank_depth
    per_bank = -(-depth // (limit - MEM_HEADER))
    assert len(writes) == layer.lanes * per_bank
    # consecutive addresses, bank by bank
    addrs = [struct.unpack_from("<BBI", p) for p in writes]
    assert addrs[:per_bank] == [(Space.WEIGHT, 0, k * (limit - MEM_HEADER))
                                for k in range(per_bank)]
    soc.requests.clear()
    assert np.array_equal(client.read_weights(), w)
    reads = [struct.unpack("<BBIH", p) for c, p in soc.requests if c == Command.READ_MEM]
    assert reads[:2] == [(Space.WEIGHT, 0, 0, 65535), (Space.WEIGHT, 0, 65535, depth - 65535)]
    assert len(reads) == 2 * layer.lanes


def test_spikes_are_read_in_chunks():
    layer = resolve_layer(load_config(TINY))
    client, soc = connect(layer)
    many = [(k % 6, k % 20, k % 3) for k in range(13200)]  # more than one reply can hold
    original = soc._run

    def run():
        original()  # learns as the SoC would; the spikes are replaced
        soc.spikes = many
        return struct.pack("<BIH", 2, 20000, len(many))

    soc._run = run
    soc.requests.clear()
    r = client.present(images(layer, 1)[0], learn=False)
    spikes = [struct.unpack("<HH", p) for c, p in soc.requests if c == Command.READ_SPIKES]
    assert spikes == [(0, 13107), (13107, 93)]
    assert r.spikes == [(a, t, j) for j, t, a in many]
    assert (r.presentations, r.spikes_total) == (2, 20000)


CASES = {
    "plain": {},
    "pair-stdp": {"stdp": {"eta_pre": 300, "rounding": "stochastic"}},
    "prune-schedule": {"pruning": {"enabled": True, "threshold": 30, "warmup": 1,
                                   "target_permille": 500, "schedule_samples": 2,
                                   "threshold_step": 10, "chunk_bits": 2}},
}


@pytest.mark.parametrize("case", CASES)
def test_framed_client_gives_the_golden_backends_results(case):
    layer = tiny(**CASES[case])
    soc = FakeSoC(layer, spike_buffer=7)
    framed = Network(FramedBackend(layer, soc))
    golden = Network(GoldenBackend(layer, spike_buffer=7))
    xs = images(layer, 6, seed=11)
    labels = np.array([3, 1, 15, 3, 0, 1])
    results = []
    for net in (framed, golden):
        net.set_labels(labels)
        net.backend.clear_counters()
        learned = [net.backend.present(x, learn=True, eta=4000,
                                       prune=net.backend.pruning_step(s, learn=True))
                   for s, x in enumerate(xs[:4])]
        inferred = net.infer(xs[4:])
        results.append((learned, inferred, net.backend.read_state(), net.backend.counters()))
    (fl, fi, fs, fc), (gl, gi, gs, gc) = results
    for a, b in zip(fl, gl, strict=True):
        assert (a.presentations, a.spikes, a.spikes_total) == (b.presentations, b.spikes,
                                                               b.spikes_total)
        assert a.counts.tolist() == b.counts.tolist()
        assert a.votes.tolist() == b.votes.tolist()
    assert fi.predictions.tolist() == gi.predictions.tolist()
    assert fi.counts.tolist() == gi.counts.tolist()
    assert np.array_equal(fs.weights, gs.weights)
    assert np.array_equal(fs.theta, gs.theta)
    assert np.array_equal(fs.gens.states, gs.gens.states)
    assert fs.prune_threshold == gs.prune_threshold
    if layer.pruning:
        assert np.array_equal(fs.alive, gs.alive)
        assert not fs.alive.all(), "the samples must prune"
        assert fs.prune_threshold > layer.pruning.threshold, "the schedule moved it"
    for name in ("busy_cycles", "synaptic_events", "input_events", "output_spikes",
                 "presentations", "alive"):
        assert getattr(fc, name) == getattr(gc, name), name
    assert sum(a.spikes_total for a in gl) > 7, "the samples must fire"


def test_state_round_trip_and_the_alive_count():
    layer = tiny(**CASES["prune-schedule"])
    client, soc = connect(layer)
    state = LearningState.initial(layer)
    rng = np.random.default_rng(3)
    state.alive = rng.random(state.alive.shape) < 0.6
    state.weights[~state.alive] = 0
    state.theta = rng.integers(0, 1000, size=layer.n_out)
    gens = state.gens.states
    gens[:] = rng.integers(1, 65536, size=gens.shape)
    state.gens = type(state.gens)(gens)
    state.prune_threshold = 70
    client.write_state(state)
    back = client.read_state()
    assert np.array_equal(back.weights, state.weights)
    assert np.array_equal(back.alive, state.alive)
    assert np.array_equal(back.theta, state.theta)
    # without pre-spike depression the per-neuron generators live nowhere in the SoC
    n = 2 * layer.n_in
    assert np.array_equal(back.gens.states[:n], gens[:n])
    assert back.prune_threshold == 70
    # the SoC's own count ignores host writes to the bitmap; the client corrects it
    assert soc.alive == layer.n_in * layer.n_out
    assert client.alive_count() == int(state.alive.sum())
    assert client.counters().alive == int(state.alive.sum())


def test_pair_stdp_generators_live_in_the_state_words():
    layer = tiny(**CASES["pair-stdp"])
    client, soc = connect(layer)
    gens = LearningState.initial(layer).gens.states
    gens[2 * layer.n_in:] = np.arange(100, 100 + layer.n_out)
    client.write_generators(gens)
    assert np.array_equal(client.read_generators(), gens)
    P, offset = layer.lanes, sum(b for n, b, _ in layer.learning_state_fields()[:-1])
    assert [soc.mem[Space.STATE][j % P][j // P] >> offset for j in range(6)] == list(
        range(100, 106))
