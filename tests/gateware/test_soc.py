"""Amaranth-simulator tests of the SoC's host link: every command over the UART pins, bad
frames (each answered with its error and changing nothing), and a learned sample whose
spikes, votes, counts, weights and busy cycles equal the golden model's."""

from __future__ import annotations

import struct

import numpy as np
from amaranth.sim import Simulator

from snnhw.config import parse_config
from snnhw.families import resolve_layer
from snnhw.gateware.soc import SoC
from snnhw.golden.networks.diehl_cook import LearningState, run_sample
from snnhw.protocol import (
    Command,
    Counters,
    Info,
    Params,
    RunReply,
    Space,
    Status,
    decode_reply,
    encode_request,
)

DIV = 4  # clock cycles per UART bit
TIMEOUT = 300


def small_layer(**pruning):
    return resolve_layer(parse_config({
        "input": {"size": 20},
        "neurons": {"count": 6, "membrane_bits": 16, "threshold": 300, "leak_shift": 4,
                    "refractory": 2, "inhibition": "wta", "theta_increment": 50,
                    "theta_decay_shift": 3},
        "synapses": {"weight_bits": 8, "signed": False, "init_high": 85, "init_seed": 1},
        "encoder": {"timesteps": 20, "rate_scale": 64, "intensity": 1, "max_tries": 3,
                    "min_spikes": 4, "seed": 1},
        "stdp": {"enabled": True, "eta": 5000, "x_tar": 30, "normalize_target": 600},
        "pruning": pruning,
        "hardware": {"lanes": 4},
    }))


class Link:
    """The host's end of the UART, bit by bit in the Amaranth simulator."""

    def __init__(self, ctx, soc: SoC) -> None:
        self.ctx, self.soc = ctx, soc

    async def send(self, data: bytes) -> None:
        ctx = self.ctx
        for byte in data:
            for bit in [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
                ctx.set(self.soc.rx, bit)
                await ctx.tick().repeat(DIV)

    async def recv_byte(self, limit: int = 10**6) -> int:
        ctx = self.ctx
        for _ in range(limit):
            if not ctx.get(self.soc.tx):
                break
            await ctx.tick()
        else:
            raise AssertionError("no reply")
        await ctx.tick().repeat(DIV // 2)
        value = 0
        for k in range(8):
            await ctx.tick().repeat(DIV)
            value |= ctx.get(self.soc.tx) << k
        await ctx.tick().repeat(DIV)
        assert ctx.get(self.soc.tx) == 1, "stop bit"
        return value

    async def reply(self, limit: int = 10**6) -> tuple[Status, bytes]:
        head = bytes([await self.recv_byte(limit) for _ in range(4)])
        (n,) = struct.unpack_from("<H", head, 2)
        rest = bytes([await self.recv_byte() for _ in range(n + 2)])
        return decode_reply(head + rest)

    async def call(self, cmd, payload: bytes = b"", *, limit: int = 10**6
                   ) -> tuple[Status, bytes]:
        await self.send(encode_request(cmd, payload))
        return await self.reply(limit)

    async def ok(self, cmd, payload: bytes = b"", **kw) -> bytes:
        status, data = await self.call(cmd, payload, **kw)
        assert status == Status.OK, f"{Command(cmd).name}: {status.name}"
        return data

    async def write(self, space, bank, addr, words, nbytes) -> None:
        data = b"".join(int(w).to_bytes(nbytes, "little") for w in words)
        await self.ok(Command.WRITE_MEM, struct.pack("<BBI", space, bank, addr) + data)

    async def read(self, space, bank, addr, count, nbytes) -> list[int]:
        data = await self.ok(Command.READ_MEM, struct.pack("<BBIH", space, bank, addr, count))
        return [int.from_bytes(data[k:k + nbytes], "little")
                for k in range(0, len(data), nbytes)]


def simulate(soc: SoC, body) -> None:
    sim = Simulator(soc)
    sim.add_clock(1e-6)

    async def tb(ctx):
        ctx.set(soc.rx, 1)
        await ctx.tick().repeat(4)
        await body(Link(ctx, soc))

    sim.add_testbench(tb)
    sim.run()


def make_soc(layer, **kw) -> SoC:
    return SoC(layer, clk_hz=DIV * 115200, baud=115200, timeout_cycles=TIMEOUT, **kw)


def test_info_params_and_memories():
    layer = small_layer()
    soc = make_soc(layer, spike_buffer=16)

    async def body(link: Link):
        assert Info.unpack(await link.ok(Command.INFO)) == soc.info()
        params = Params(eta=1234, learn=True, prune=False, prune_threshold=7)
        assert await link.ok(Command.SET_PARAMS, params.pack()) == b""
        assert Params.unpack(await link.ok(Command.GET_PARAMS)) == params
        banks = layer.weight_banks()
        assert await link.read(Space.WEIGHT, 2, 5, 9, 1) == banks[2, 5:14].tolist()
        await link.write(Space.WEIGHT, 3, 30, [1, 2, 255], 1)
        assert await link.read(Space.WEIGHT, 3, 29, 5, 1) == [
            banks[3, 29], 1, 2, 255, banks[3, 33]]
        await link.write(Space.THETA, 1, 0, [40000, 3], 2)
        assert await link.read(Space.THETA, 1, 0, 2, 2) == [40000, 3]
        await link.write(Space.LABELS, 0, 4, [9, 2], 1)
        assert await link.read(Space.LABELS, 0, 2, 4, 1) == [15, 15, 9, 2]
        assert await link.read(Space.IN_GEN, 0, 0, 0, 2) == []
        counters = Counters.unpack(await link.ok(Command.READ_COUNTERS))
        assert counters.cycles > 0 and counters.busy_cycles == 0
        assert counters.alive == 20 * 6
        assert await link.ok(Command.CLEAR_COUNTERS) == b""
        assert Counters.unpack(await link.ok(Command.READ_COUNTERS)).cycles < counters.cycles

    simulate(soc, body)


GOOD = encode_request(Command.WRITE_MEM, struct.pack("<BBI", 0, 0, 0) + b"\xAA\xBB")
BAD = {  # (frame, the reply's status); a frame longer than the buffer is tested in sim/
    "bad-crc": (GOOD[:-1] + bytes([GOOD[-1] ^ 0x40]), Status.BAD_CRC),
    "unknown-command": (encode_request(0x42), Status.UNKNOWN_COMMAND),
    "words-not-whole": (encode_request(Command.WRITE_MEM, struct.pack("<BBI", 2, 0, 0)
                                       + b"\1\2\3"), Status.BAD_LENGTH),
    "bank-out-of-range": (encode_request(Command.WRITE_MEM, struct.pack("<BBI", 0, 4, 0)
                                         + b"\1"), Status.BAD_ADDRESS),
    "past-the-end": (encode_request(Command.WRITE_MEM, struct.pack("<BBI", 0, 0, 39)
                                    + b"\1\2"), Status.BAD_ADDRESS),
    "unknown-space": (encode_request(Command.WRITE_MEM, struct.pack("<BBI", 9, 0, 0) + b"\1"),
                      Status.BAD_ADDRESS),
    "read-past-the-end": (encode_request(Command.READ_MEM, struct.pack("<BBIH", 6, 0, 5, 2)),
                          Status.BAD_ADDRESS),
    # the address's high bits alone make it fail; address + count must not wrap around
    "address-high-bit": (encode_request(Command.READ_MEM, struct.pack(
        "<BBIH", 0, 0, 0x10000, 1)), Status.BAD_ADDRESS),
    "address-wraps": (encode_request(Command.WRITE_MEM, struct.pack("<BBI", 0, 0, 0xFFFFFFFF)
                                     + b"\1\2"), Status.BAD_ADDRESS),
    "params-short": (encode_request(Command.SET_PARAMS, b"\1\2"), Status.BAD_LENGTH),
    "run-without-sample": (encode_request(Command.RUN), Status.NO_SAMPLE),
    "sample-short": (encode_request(Command.LOAD_SAMPLE, bytes(19)), Status.BAD_LENGTH),
    "spikes-past-stored": (encode_request(Command.READ_SPIKES, struct.pack("<HH", 0, 1)),
                           Status.BAD_ADDRESS),
    "truncated": (GOOD[:5], Status.TIMEOUT),
}


def test_bad_frames_change_nothing():
    """Each bad frame gets its error and no payload, and the weights stay as they were; noise
    between frames is ignored. One simulation for all (elaborating the SoC is the slow part)."""
    layer = small_layer()
    soc = make_soc(layer)

    async def body(link: Link):
        before = await link.read(Space.WEIGHT, 0, 0, 4, 1)
        for case, (frame, expected) in BAD.items():
            await link.send(frame)
            assert await link.reply() == (expected, b""), case
            assert await link.read(Space.WEIGHT, 0, 0, 4, 1) == before, case
        # the link still works: noise, then the same write whole succeeds
        await link.send(b"\x00\xff\x13" + GOOD)
        assert await link.reply() == (Status.OK, b"")
        assert await link.read(Space.WEIGHT, 0, 0, 4, 1) == [0xAA, 0xBB] + before[2:]

    simulate(soc, body)


def test_learned_samples_match_golden():
    """Two samples learned (with pruning) and one inferred over the link: the run reply,
    the kept spikes, votes, spike counts, counters and at the end every weight equal the
    golden model's."""
    pruning = {"enabled": True, "threshold": 40, "warmup": 0, "chunk_bits": 2}
    layer = small_layer(**pruning)
    soc = make_soc(layer, spike_buffer=8)
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, size=(3, layer.n_in)) * (rng.random((3, layer.n_in)) < 0.7)
    labels = np.array([3, 1, 15, 3, 0, 1])
    golden = LearningState.initial(layer)
    P = layer.lanes
    count_shift = layer.membrane_bits + layer.ref_bits
    count_bits = dict((n, b) for n, b, _ in layer.learning_state_fields())["count"]

    async def body(link: Link):
        await link.write(Space.LABELS, 0, 0, labels.tolist(), 1)
        for s, image in enumerate(images):
            learn = s < 2
            prune = learn
            await link.ok(Command.SET_PARAMS, Params(eta=4000 * learn, learn=learn,
                                                     prune=prune).pack())
            await link.ok(Command.CLEAR_COUNTERS)
            assert await link.call(Command.LOAD_SAMPLE, bytes(image.tolist())) == (
                Status.OK, b"")
            assert await link.call(Command.LOAD_SAMPLE, bytes(image.tolist())) == (
                Status.SAMPLE_LOADED, b"")
            run = RunReply.unpack(await link.ok(Command.RUN, limit=10**7))
            rec = []
            counts, tries = run_sample(layer, golden, image, learn=learn, eta=4000 * learn,
                                       record=rec, prune=prune)
            spikes = [(p.attempt, t, j) for p in rec for t, w in enumerate(p.winners)
                      for j in w]
            stored = min(len(spikes), 8)
            assert run == RunReply(tries, len(spikes), stored)
            data = await link.ok(Command.READ_SPIKES, struct.pack("<HH", 0, stored))
            got = [struct.unpack_from("<HHB", data, 5 * k) for k in range(stored)]
            assert [(a, t, j) for j, t, a in got] == spikes[:stored]
            votes = struct.unpack("<10H", await link.ok(Command.READ_VOTES))
            expected = [int(counts[labels == c].sum()) for c in range(10)]
            assert list(votes) == expected
            words = [await link.read(Space.STATE, b, 0, layer.npl, 4) for b in range(P)]
            got_counts = [(words[j % P][j // P] >> count_shift) & ((1 << count_bits) - 1)
                          for j in range(layer.n_out)]
            assert got_counts == counts.tolist()
            counters = Counters.unpack(await link.ok(Command.READ_COUNTERS))
            assert counters.busy_cycles == sum(p.cycles(layer) for p in rec)
            assert counters.presentations == tries
            assert counters.output_spikes == len(spikes)
            assert counters.alive == int(golden.alive.sum())
        banks = np.array([await link.read(Space.WEIGHT, b, 0, layer.bank_depth, 1)
                          for b in range(P)])
        assert np.array_equal(layer.weights_from_banks(banks), golden.weights)

    simulate(soc, body)
