"""The conv SoC's generated Verilog in Verilator, driven over its UART pins by the host
runtime: ``snnhw run`` gives the golden backend's results with == (every weight, alive bit,
generator, counter and the accuracy), and every bad frame gets its error and changes
nothing."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from snnhw.config import load_config
from snnhw.families import resolve
from snnhw.host.conv_run import run_conv
from snnhw.host.framed import read_reply
from snnhw.host.rtl_conv import ConvRtlBackend
from snnhw.protocol import Command, ProtocolError, Status, decode_reply, encode_request
from snnhw.protocol_conv import ConvSpace, conv_banks, conv_hash

ROOT = Path(__file__).resolve().parent.parent
TINY = ROOT / "tests" / "data" / "ttfs_rtl_tiny.toml"
SPIKE_TIMES = ROOT / "sim" / "configs" / "ttfs" / "caltech_tiny.toml"


def _same(a: dict, b: dict) -> dict:
    """A report without its timings and the backend's name."""
    if isinstance(a, dict):
        return {k: _same(v, b) for k, v in a.items()
                if k not in ("seconds", "images_per_second", "backend", "info")}
    return a


@pytest.mark.parametrize("config", [TINY, SPIKE_TIMES], ids=["max-potential", "spike-times"])
def test_run_on_rtl_equals_golden(config: Path, data_dir, tmp_path: Path):
    kw = dict(dataset="caltech-facemotor", data_dir=data_dir, learn=2, label=8, infer=3)
    _, gold = run_conv(config, backend="golden", out_dir=tmp_path / "golden", **kw)
    _, rtl = run_conv(config, backend="rtl", out_dir=tmp_path / "rtl",
                      rtl_dir=tmp_path / "sim", **kw)
    assert rtl["info"]["baud"] == 115200
    assert _same(rtl, None) == _same(gold, None)
    learned = gold["learning"]
    assert all(f["images"] == 2 and f["weight_updates"] > 0 for f in learned.values())
    assert gold["inference"]["cycles"] > 0
    a, b = (np.load(tmp_path / d / "model.npz") for d in ("golden", "rtl"))
    assert a.files == b.files
    for k in a.files:
        assert np.array_equal(a[k], b[k]), k
    assert json.loads((tmp_path / "rtl" / "report.json").read_text())["accuracy"] == \
        gold["accuracy"]


def test_bad_frames_change_nothing(tmp_path: Path):
    net = resolve(load_config(TINY))
    be = ConvRtlBackend(net, out_dir=tmp_path, timeout=60.0)
    try:
        assert be.info.config_hash == conv_hash(net) and be.info.stages == 2
        before = [be.read_kernels(s) for s in range(2)]
        regs = [be.read_register(n) for n in be.registers]
        banks = conv_banks(net)
        maxima = banks[(ConvSpace.MAXIMA, 0)]
        bad = {
            Status.UNKNOWN_COMMAND: [(Command.SET_PARAMS, b"\0" * 5), (0x7F, b"")],
            Status.BAD_LENGTH: [
                (Command.INFO, b"\0"), (Command.RUN, b"\0\0"),
                (Command.WRITE_MEM, struct.pack("<BBI", ConvSpace.WEIGHT, 0, 0)),
                # REG words are 4 bytes: 3 is not a whole word
                (Command.WRITE_MEM, struct.pack("<BBI", ConvSpace.REG, 0, 0) + b"\1\2\3"),
                (Command.READ_MEM, struct.pack("<BBIB", ConvSpace.REG, 0, 0, 1)),
                (Command.READ_MEM, struct.pack("<BBIH", ConvSpace.REG, 0, 0, 0x4000))],
            Status.BAD_ADDRESS: [
                (Command.READ_MEM, struct.pack("<BBIH", 7, 0, 0, 1)),  # no such space
                (Command.READ_MEM, struct.pack("<BBIH", ConvSpace.WEIGHT, 9, 0, 1)),
                (Command.READ_MEM, struct.pack("<BBIH", ConvSpace.MAXIMA, 0,
                                               maxima.depth, 1)),  # past the end
                (Command.READ_MEM, struct.pack("<BBIH", ConvSpace.REG, 0, 1 << 31, 1)),
                # read-only banks: a stage's output list, the readout maxima, the masks of a
                # layer that does not prune
                (Command.WRITE_MEM, struct.pack("<BBI", ConvSpace.EVENTS, 1, 0) + b"\0\0"),
                (Command.WRITE_MEM, struct.pack("<BBI", ConvSpace.MAXIMA, 0, 0) + b"\0\0"),
                (Command.WRITE_MEM, struct.pack("<BBI", ConvSpace.MASK, 0, 0) + b"\0"),
                (Command.WRITE_MEM, struct.pack("<BBI", ConvSpace.REG, 0, len(regs) - 1)
                 + bytes(8))],
        }
        for status, frames in bad.items():
            for cmd, payload in frames:
                with pytest.raises(ProtocolError) as e:
                    be.request(cmd, payload)
                assert e.value.status == status, (cmd, payload.hex())
        # a corrupted CRC, and a frame cut short (the SoC times out)
        frame = bytearray(encode_request(Command.WRITE_MEM, struct.pack(
            "<BBI", ConvSpace.REG, 0, 0) + bytes(4)))
        frame[-1] ^= 1
        be.transport.write(bytes(frame))
        assert decode_reply(read_reply(be.transport, Command.WRITE_MEM, 60.0)) == (
            Status.BAD_CRC, b"")
        be.transport.write(encode_request(Command.WRITE_MEM, struct.pack(
            "<BBI", ConvSpace.WEIGHT, 0, 0) + bytes(4))[:-3])
        assert decode_reply(read_reply(be.transport, Command.WRITE_MEM, 60.0)) == (
            Status.TIMEOUT, b"")
        be.request(Command.INFO)
        after = [be.read_kernels(s) for s in range(2)]
        for (w0, a0), (w1, a1) in zip(before, after, strict=True):
            assert np.array_equal(w0, w1) and np.array_equal(a0, a1)
        assert [be.read_register(n) for n in be.registers] == regs
        # refusals of the host API, before any frame
        with pytest.raises(ValueError, match="pruned tap's weight must be 0"):
            w, a = before[1]
            a = a.copy()
            a[0, 0, 0, 0] = False
            be.write_kernels(1, w, a)
        with pytest.raises(ValueError, match="generator state is 1 to 65535"):
            be.write_register("generator0", 0)
    finally:
        be.close()
