"""The RTL backend: the SoC's generated Verilog under Verilator and cocotb, driven over its UART
pins with the same frames as a board.

The backend only moves bytes. It builds the SoC (``snnhw.gateware.soc.SoC``) into Verilog,
starts the simulation in a thread (the simulator is a subprocess of cocotb's runner) with the
bench :mod:`snnhw.host.rtl_bridge`, and accepts that bench's connection on a localhost TCP
socket. Closing the backend closes the socket, which ends the simulation.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from pathlib import Path

from ..errors import ToolError
from ..ir import LayerIR
from ..protocol import DEFAULT_BAUD
from .backend import check_layer
from .framed import FramedBackend, Transport

__all__ = ["RtlBackend", "RtlSimulation", "SocketTransport", "TOP"]

log = logging.getLogger(__name__)

TOP = "snnhw_soc"
BRIDGE = "snnhw.host.rtl_bridge"


class SocketTransport(Transport):
    """The host's end of the bridge's TCP connection."""

    def __init__(self, conn: socket.socket, name: str, running: threading.Thread,
                 log_file: Path) -> None:
        self.name = name
        self._conn = conn
        self._running = running
        self._log_file = log_file

    def write(self, data: bytes) -> None:
        try:
            self._conn.sendall(data)
        except OSError as e:
            raise self._stopped(e) from None

    def read(self, n: int, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        data = b""
        while len(data) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._conn.settimeout(min(left, 1.0))
            try:
                chunk = self._conn.recv(n - len(data))
            except TimeoutError:
                if not self._running.is_alive():
                    raise self._stopped(None) from None
                continue
            except OSError as e:
                raise self._stopped(e) from None
            if not chunk:
                raise self._stopped(None)
            data += chunk
        return data

    def _stopped(self, e: OSError | None) -> ToolError:
        why = f" ({e})" if e else ""
        return ToolError(f"the RTL simulation stopped{why}; see {self._log_file}")

    def close(self) -> None:
        try:
            self._conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._conn.close()


class RtlSimulation:
    """A SoC's Verilog under Verilator, served on a localhost socket by the bridge bench
    (:mod:`snnhw.host.rtl_bridge`): :attr:`transport` reaches its UART pins.

    Parameters
    ----------
    soc : amaranth Component
        A SoC with ``rx``, ``tx`` and ``busy`` ports (and a ``fast`` domain if it uses one).
    out : path
        Where the Verilog, the simulator build and ``sim.log`` go.
    bit_cycles : int
        Clock cycles per UART bit.
    waves : bool
        Dump a waveform into ``out``.

    Raises
    ------
    ToolError
        Verilator, g++ or make is missing, the build failed, or the simulation stopped.
    """

    def __init__(self, soc, out: Path, *, bit_cycles: int, waves: bool = False) -> None:
        from amaranth.back import verilog
        from cocotb_tools.runner import get_runner

        from ..simulators import find_simulator
        from .rtl_bridge import ENV_ADDRESS, ENV_BIT_CYCLES

        self.out_dir = out
        out.mkdir(parents=True, exist_ok=True)
        source = out / f"{TOP}.v"
        text = verilog.convert(soc, name=TOP)
        if not source.is_file() or source.read_text() != text:  # keep make's view of it
            source.write_text(text)

        env = find_simulator("verilator")
        build_dir = out / "sim_build"
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            runner = get_runner("verilator")
            if not log.isEnabledFor(logging.INFO):  # it logs every tool command at INFO
                runner.log.setLevel(logging.WARNING)
            log.info("building %s with verilator in %s", source.name, build_dir)
            try:
                runner.build(sources=[source], hdl_toplevel=TOP, build_dir=build_dir,
                             build_args=["-Wno-fatal", "-O2"], waves=waves,
                             timescale=("1ns", "1ps"), log_file=out / "build.log")
            except Exception as e:  # the runner raises plain exceptions on tool failure
                raise ToolError(f"verilator build of the SoC failed ({e}); see "
                                f"{out / 'build.log'}") from None
        finally:
            os.environ.clear()
            os.environ.update(saved)

        server = socket.create_server(("127.0.0.1", 0))
        host, port = server.getsockname()[:2]
        self._failure: BaseException | None = None

        def simulate() -> None:
            try:
                runner.test(test_module=BRIDGE, hdl_toplevel=TOP, build_dir=build_dir,
                            test_dir=out, waves=waves, results_xml=str(out / "results.xml"),
                            log_file=out / "sim.log",
                            extra_env={ENV_ADDRESS: f"{host}:{port}",
                                       ENV_BIT_CYCLES: str(bit_cycles)})
            except BaseException as e:  # noqa: BLE001 - reported by the host's next read
                self._failure = e

        self._thread = threading.Thread(target=simulate, name="snnhw-rtl", daemon=True)
        self._thread.start()
        try:
            conn = self._accept(server, out / "sim.log")
        finally:
            server.close()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = SocketTransport(conn, "the RTL simulation", self._thread,
                                         out / "sim.log")

    def _accept(self, server: socket.socket, sim_log: Path) -> socket.socket:
        server.settimeout(0.5)
        while True:
            try:
                conn, _ = server.accept()
                return conn
            except TimeoutError:
                if not self._thread.is_alive():
                    raise ToolError(f"the RTL simulation did not start ({self._failure}); "
                                    f"see {sim_log}") from None

    def close(self) -> None:
        """Close the socket and wait for the simulation to end."""
        self.transport.close()
        self._thread.join(timeout=30)
        if self._thread.is_alive():
            log.warning("the RTL simulation did not stop within 30 s of the host leaving")


class RtlBackend(FramedBackend):
    """The SoC's Verilog in Verilator, over its UART pins.

    Parameters
    ----------
    layer : LayerIR
        The network to build the SoC from.
    out_dir : path, optional
        Where the Verilog, the simulator build and ``sim.log`` go; default
        ``build/rtl/<name>``.
    baud : int
        The SoC's nominal baud rate; the simulated clock is ``bit_cycles * baud`` Hz.
    bit_cycles : int
        Clock cycles per UART bit: small, so that the link does not dominate the simulation.
    timeout_cycles : int, optional
        The SoC's frame timeout; default 200 byte times.
    spike_buffer : int
        Spikes the SoC keeps per RUN.
    waves : bool
        Dump a waveform into ``out_dir``.
    synapse_ram : str
        ``"block"``, or ``"spram"`` for the iCE40UP5K's SoC (weights in double-pumped SPRAM,
        empty until the host loads them; the bridge clocks it at twice ``clk``).
    timeout : float
        Seconds of wall-clock time to wait for a reply (a RUN simulates thousands of cycles).

    Raises
    ------
    ToolError
        Verilator, g++ or make is missing, the build failed, or the simulation stopped.
    """

    def __init__(self, layer: LayerIR, *, out_dir: str | Path | None = None,
                 baud: int = DEFAULT_BAUD, bit_cycles: int = 8, timeout_cycles: int | None = None,
                 spike_buffer: int = 256, waves: bool = False, timeout: float = 300.0,
                 synapse_ram: str = "block") -> None:
        from ..gateware.soc import SoC

        check_layer(layer)
        out = Path(out_dir or Path("build") / "rtl" / layer.name).resolve()
        soc = SoC(layer, clk_hz=bit_cycles * baud, baud=baud,
                  timeout_cycles=timeout_cycles or 200 * 10 * bit_cycles,
                  spike_buffer=spike_buffer, synapse_ram=synapse_ram)
        self._sim = RtlSimulation(soc, out, bit_cycles=bit_cycles, waves=waves)
        self.out_dir = out
        try:
            super().__init__(layer, self._sim.transport, timeout=timeout, run_timeout=timeout)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the socket and wait for the simulation to end."""
        self._sim.close()
