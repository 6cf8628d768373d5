"""The conv SoC's generated Verilog under Verilator, driven over its UART pins with the frames
of a board: the ``rtl`` backend of ``ttfs_conv`` networks (:mod:`snnhw.host.rtl` has the
simulation)."""

from __future__ import annotations

from pathlib import Path

from ..ir_conv import ConvNetworkIR
from ..protocol import DEFAULT_BAUD
from .conv import ConvFramedBackend
from .rtl import RtlSimulation

__all__ = ["ConvRtlBackend"]


class ConvRtlBackend(ConvFramedBackend):
    """The conv SoC (:class:`snnhw.gateware.soc_conv.ConvSoC`) in Verilator.

    Parameters
    ----------
    net : ConvNetworkIR
    out_dir : path, optional
        Where the Verilog, the simulator build and ``sim.log`` go; default
        ``build/rtl/<name>``.
    baud, bit_cycles : int
        The SoC's nominal baud rate, and clock cycles per UART bit (the simulated clock is
        their product).
    timeout_cycles : int, optional
        The SoC's frame timeout; default 200 byte times.
    waves : bool
        Dump a waveform into ``out_dir``.
    timeout : float
        Seconds of wall-clock time to wait for a reply.
    """

    def __init__(self, net: ConvNetworkIR, *, out_dir: str | Path | None = None,
                 baud: int = DEFAULT_BAUD, bit_cycles: int = 8,
                 timeout_cycles: int | None = None, waves: bool = False,
                 timeout: float = 300.0) -> None:
        from ..gateware.soc_conv import ConvSoC

        out = Path(out_dir or Path("build") / "rtl" / net.name).resolve()
        soc = ConvSoC(net, clk_hz=bit_cycles * baud, baud=baud,
                      timeout_cycles=timeout_cycles or 200 * 10 * bit_cycles)
        self._sim = RtlSimulation(soc, out, bit_cycles=bit_cycles, waves=waves)
        self.out_dir = out
        try:
            super().__init__(net, self._sim.transport, timeout=timeout, run_timeout=timeout)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the socket and wait for the simulation to end."""
        self._sim.close()
