"""The serial backend: a board running the SoC bitstream, over its USB-UART with pyserial."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import serial

from ..boards import Board
from ..errors import InputError, ToolError
from ..ir import LayerIR
from ..protocol import DEFAULT_BAUD
from .framed import FramedBackend, LinkTimeout, Transport

__all__ = ["SerialTransport", "SerialBackend", "DEFAULT_BAUD", "board_port"]

FRAME_TIMEOUT = 0.05  # seconds: longer than the SoC's frame timeout (20 ms on a board)
POLL = 0.02  # seconds a read of the port waits at most before the deadline is checked


# where Linux puts each board's USB-UART when it is the only FTDI device plugged in
T = TypeVar("T")


def board_port(board: Board) -> str:
    """The usual Linux serial port of a board's host link (``Board.port``)."""
    return board.port


class SerialTransport(Transport):
    """A serial port, or any pyserial URL (``socket://host:port``, ``loop://``).

    Raises
    ------
    InputError
        The port does not exist or cannot be opened.
    """

    def __init__(self, port: str, baud: int = DEFAULT_BAUD) -> None:
        if not isinstance(baud, int) or baud <= 0:
            raise InputError(f"--baud {baud}: must be a positive integer")
        self.name = port
        self.baud = baud
        if "://" not in port and not Path(port).exists():
            raise InputError(f"serial port {port} does not exist: is the board plugged in? "
                             "Pass its port with --port")
        try:
            self._port = serial.serial_for_url(port, baudrate=baud, timeout=POLL,
                                               write_timeout=10)
        except OSError as e:  # SerialException is one
            raise InputError(f"cannot open serial port {port}: {_reason(e)}") from None
        except ValueError as e:  # a bad URL or setting
            raise InputError(f"cannot open serial port {port}: {e}") from None

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except serial.SerialException as e:
            raise ToolError(f"writing to {self.name} failed: {_reason(e)}") from None

    def read(self, n: int, timeout: float) -> bytes:
        # the port's own timeout stays fixed (changing it reconfigures the port)
        deadline = time.monotonic() + timeout
        data = b""
        try:
            while len(data) < n:
                data += self._port.read(n - len(data))
                if time.monotonic() >= deadline:
                    break
        except serial.SerialException as e:
            raise ToolError(f"reading from {self.name} failed: {_reason(e)}") from None
        return data

    def discard_input(self) -> None:
        # a frame an earlier host left half-sent times out in the SoC and gets its TIMEOUT
        # reply: wait for that, then drop it
        time.sleep(FRAME_TIMEOUT)
        self._port.reset_input_buffer()

    def close(self) -> None:
        self._port.close()


class SerialBackend(FramedBackend):
    """A board over a serial port.

    Parameters
    ----------
    layer : LayerIR
        The network the board's bitstream was built from.
    port : str
        Serial device (``/dev/ttyUSB1``, ``COM3``) or pyserial URL.
    baud : int
        The bitstream's baud rate (``snnhw build --baud``).
    timeout : float
        Seconds to wait for a reply; RUN gets ``run_timeout``.

    Raises
    ------
    InputError
        The port does not exist or cannot be opened, or the board runs another config.
    ToolError
        No board answers INFO within ``timeout``.
    """

    def __init__(self, layer: LayerIR, port: str, baud: int = DEFAULT_BAUD, *,
                 timeout: float = 2.0, run_timeout: float = 30.0) -> None:
        with_serial(port, baud, lambda transport: super(SerialBackend, self).__init__(
            layer, transport, timeout=timeout, run_timeout=run_timeout))


def with_serial(port: str, baud: int, connect: Callable[[SerialTransport], T]) -> T:
    """``connect(transport)`` on the port opened at ``baud``: the port is closed if it fails,
    and no reply becomes a :class:`ToolError` saying what to check."""
    transport = SerialTransport(port, baud)
    try:
        return connect(transport)
    except LinkTimeout:
        transport.close()
        raise ToolError(f"no reply from {port} at {baud} baud: is the bitstream loaded "
                        "and the baud rate right?") from None
    except BaseException:
        transport.close()
        raise


def _reason(e: OSError) -> str:
    """Why a port failed, without pyserial's repetition of its name."""
    if e.errno == errno.EACCES:
        return "permission denied (add yourself to the dialout group)"
    if e.errno:
        return os.strerror(e.errno)
    if "Inappropriate ioctl" in str(e):
        return "not a serial port"
    return str(e).splitlines()[0] if str(e) else type(e).__name__
