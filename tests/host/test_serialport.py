"""The serial backend: one-line errors for a missing port, a file that is not a port and a
board that does not answer; and the whole client over a real pseudo-terminal with the fake SoC
at its other end."""

from __future__ import annotations

import os
import select
import threading
from pathlib import Path

import numpy as np
import pytest

from snnhw.config import load_config
from snnhw.errors import InputError, ToolError
from snnhw.families import resolve_layer
from snnhw.host import Network, connect
from snnhw.host.golden import GoldenBackend
from snnhw.host.serialport import SerialBackend
from snnhw.host.testing import FakeSoC

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "host_tiny_20x6.toml"


@pytest.fixture
def layer():
    return resolve_layer(load_config(TINY))


@pytest.fixture
def pty_port():
    """A pseudo-terminal: its slave's path as the port, its master's fd for the far end."""
    master, slave = os.openpty()
    yield os.ttyname(slave), master
    os.close(slave)
    os.close(master)


def test_missing_port(layer):
    with pytest.raises(InputError, match=r"^serial port /dev/ttyNOPE7 does not exist: is the "
                       r"board plugged in\? Pass its port with --port$"):
        SerialBackend(layer, "/dev/ttyNOPE7")


def test_not_a_serial_port(layer, tmp_path: Path):
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match=rf"^cannot open serial port {tmp_path}/file: not a "
                       r"serial port$"):
        SerialBackend(layer, str(tmp_path / "file"))
    with pytest.raises(InputError, match=rf"^cannot open serial port {tmp_path}: Is a "
                       r"directory$"):
        SerialBackend(layer, str(tmp_path))


def test_no_board_answers(layer, pty_port):
    port, _ = pty_port
    with pytest.raises(ToolError, match=rf"^no reply from {port} at 9600 baud: is the "
                       r"bitstream loaded and the baud rate right\?$"):
        SerialBackend(layer, port, 9600, timeout=0.3)


def test_learns_over_a_pseudo_terminal_like_the_golden_backend(layer, pty_port):
    port, master = pty_port
    soc = FakeSoC(layer)
    stop = threading.Event()

    def serve():  # the board: bytes in, replies out
        while not stop.is_set():
            if select.select([master], [], [], 0.02)[0]:
                soc.write(os.read(master, 4096))
                out = soc.read(1 << 20, 0)
                while out:
                    out = out[os.write(master, out):]

    board = threading.Thread(target=serve, daemon=True)
    board.start()
    try:
        rng = np.random.default_rng(5)
        images = (rng.integers(0, 256, size=(3, 20)) * (rng.random((3, 20)) < 0.7))
        with connect(layer, "serial", port=port, baud=115200) as net:
            r = net.learn(images)
            weights = net.backend.read_weights()
        gold = Network(GoldenBackend(layer))
        g = gold.learn(images)
    finally:
        stop.set()
        board.join()
    assert r.counts.tolist() == g.counts.tolist()
    assert np.array_equal(weights, gold.backend.read_weights())
    assert g.spikes.sum() > 0
