"""cocotb testbench that puts the simulated SoC on a TCP socket: the host runtime's ``rtl``
backend (:mod:`snnhw.host.rtl`) talks to it as it would to a board's serial port.

The bench connects to ``$SNNHW_SOC_BRIDGE`` (``host:port``) and pumps bytes both ways: bytes
from the socket go onto the SoC's ``rx`` pin as 8N1 UART frames (LSB first, idle high,
``$SNNHW_SOC_BIT_CYCLES`` clock cycles per bit), bytes decoded from its ``tx`` pin go back
on the socket. The simulation ends when the host closes the socket.

Simulated time advances only while something can happen: when the host owes nothing and the
SoC is quiet (not busy, nothing sent lately), the bench blocks on the socket with the
simulation frozen, so waiting for the host costs no CPU and never times a frame out.
"""

from __future__ import annotations

import os
import queue
import socket
import threading

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer

__all__ = ["UartBridge", "ENV_ADDRESS", "ENV_BIT_CYCLES", "CLOCK_NS"]

ENV_ADDRESS = "SNNHW_SOC_BRIDGE"
ENV_BIT_CYCLES = "SNNHW_SOC_BIT_CYCLES"
CLOCK_NS = 10  # the simulated clock period
POLL_BITS = 16  # bit times simulated between looks at the socket while the SoC works
IDLE_WAIT = 0.02  # seconds the frozen simulation waits for the host at a time


class UartBridge:
    """Driver (socket to ``rx``) and monitor (``tx`` to socket) of one SoC."""

    def __init__(self, dut, sock: socket.socket, bit_cycles: int) -> None:
        self.dut = dut
        self.sock = sock
        self.bit_ns = bit_cycles * CLOCK_NS
        self.inbox: queue.Queue[bytes | None] = queue.Queue()
        self.sent = 0  # bytes decoded from tx
        self.framing_errors = 0
        self.receiving = False  # the monitor is inside a tx byte
        self.owed = False  # the host sent bytes and no reply byte came since

    def _read_socket(self) -> None:
        """Thread: socket bytes into the inbox; ``None`` when the host closes it."""
        try:
            while data := self.sock.recv(1 << 16):
                self.inbox.put(data)
        except OSError:
            pass
        self.inbox.put(None)

    async def reset(self) -> None:
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, CLOCK_NS, unit="ns").start())
        if hasattr(dut, "fast_clk"):  # weights in SPRAM: its clock, twice clk, edges aligned
            cocotb.start_soon(Clock(dut.fast_clk, CLOCK_NS / 2, unit="ns").start())
            if hasattr(dut, "fast_rst"):
                dut.fast_rst.value = 0
        dut.rx.value = 1
        dut.rst.value = 1
        for _ in range(4):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        await FallingEdge(dut.clk)  # drive rx between the SoC's sampling edges from now on

    async def send_byte(self, byte: int) -> None:
        """One 8N1 frame on ``rx``: start bit, 8 data bits LSB first, stop bit."""
        rx = self.dut.rx
        for level in (0, *((byte >> k) & 1 for k in range(8)), 1):
            rx.value = level
            await Timer(self.bit_ns, unit="ns")

    async def monitor(self) -> None:
        """Decode ``tx``: sample each bit in its middle, counted from the start bit's edge."""
        tx = self.dut.tx
        while not int(tx.value):
            await RisingEdge(tx)
        while True:
            await FallingEdge(tx)
            self.receiving = True
            await Timer(self.bit_ns * 3 // 2, unit="ns")
            value = 0
            for k in range(8):
                value |= int(tx.value) << k
                await Timer(self.bit_ns, unit="ns")
            if int(tx.value):
                self.sent += 1
                self.owed = False
                try:
                    self.sock.sendall(bytes([value]))
                except OSError:
                    pass  # the host has gone: the pump ends the simulation
            else:
                self.framing_errors += 1
                cocotb.log.error("tx: stop bit low after %#04x", value)
            self.receiving = False

    async def pump(self) -> None:
        """Move host bytes onto ``rx`` until the host closes the socket."""
        poll = POLL_BITS * self.bit_ns
        seen = self.sent
        while True:
            try:
                data = self.inbox.get_nowait()
            except queue.Empty:
                quiet = (not self.owed and not self.receiving and seen == self.sent
                         and not int(self.dut.busy.value))
                seen = self.sent
                if not quiet:
                    await Timer(poll, unit="ns")
                    continue
                try:
                    data = self.inbox.get(timeout=IDLE_WAIT)  # the simulation stands still
                except queue.Empty:
                    await Timer(poll, unit="ns")
                    continue
            if data is None:
                return
            self.owed = True
            for byte in data:
                await self.send_byte(byte)


@cocotb.test()
async def soc_bridge(dut):
    """Serve the SoC on the host's socket until the host closes it."""
    host, port = os.environ[ENV_ADDRESS].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    bridge = UartBridge(dut, sock, int(os.environ[ENV_BIT_CYCLES]))
    threading.Thread(target=bridge._read_socket, daemon=True).start()
    await bridge.reset()
    cocotb.start_soon(bridge.monitor())
    try:
        await bridge.pump()
    finally:
        sock.close()
    assert bridge.framing_errors == 0, f"{bridge.framing_errors} tx bytes without a stop bit"
