"""cocotb testbench parts for the generated neuron core: driver, monitor, golden model and an
in-order checker, composed in :class:`CoreBench`. Runs inside the simulator."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from ..golden import LayerModel, Trace
from ..ir import LayerIR, from_twos

__all__ = ["Checker", "CoreBench", "start_and_reset", "read_words"]

COUNTERS = ("busy_cycles", "synaptic_events", "input_events", "output_spikes")


@dataclass
class Checker:
    """Counts mismatches and keeps the first one (what, where, expected, got)."""

    errors: int = 0
    compared: dict[str, int] = field(default_factory=dict)
    first: dict[str, Any] | None = None

    def check(self, what: str, where: str, expected: Any, got: Any) -> bool:
        self.compared[what] = self.compared.get(what, 0) + 1
        if expected == got:
            return True
        self.errors += 1
        if self.first is None:
            self.first = {"what": what, "where": where, "expected": expected, "got": got}
            cocotb.log.error("first mismatch: %s at %s: expected %r, got %r",
                             what, where, expected, got)
        return False


async def open_job(dut, make_bench) -> tuple[dict, Any, Any]:
    """The job of ``$SNNHW_VERIFY_JOB``, its samples file, and the bench ``make_bench(job)``
    built, reset and monitoring ``dut``."""
    import os

    job = json.loads(Path(os.environ["SNNHW_VERIFY_JOB"]).read_text())
    data = np.load(job["samples"])
    bench = make_bench(job)
    await bench.reset()
    cocotb.start_soon(bench.monitor())
    return job, data, bench


def write_result(job: dict, checker: Checker, **fields: Any) -> None:
    """Write a bench's ``result.json`` (what :func:`snnhw.verify.runner.run_bench` returns):
    the checker's counts and first mismatch, and ``fields``."""
    Path(job["result"]).write_text(json.dumps(
        fields | {"compared": checker.compared, "errors": checker.errors,
                  "first_mismatch": checker.first}, indent=2) + "\n")


async def start_and_reset(dut, inputs: list[str]) -> None:
    """Start a 100 MHz clock on ``dut.clk``, hold ``dut.rst`` for two cycles with every named
    input at 0 and every output stream ready."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    for name in inputs:
        getattr(dut, name).value = 0
    dut.o_spike__ready.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


async def read_words(dut, prefix: str, space: int, bank: int, depth: int, *,
                     latency: int = 1) -> list[int]:
    """Read words ``0..depth-1`` of one memory through a host port whose signals are named
    ``<prefix>space``, ``<prefix>addr``, ...: one per cycle, the address of word ``n +
    latency`` going out in the cycle word ``n`` is read (``latency``-cycle reads: 1 for the
    inference core, 2 for the learning core)."""
    def port(name: str):
        return getattr(dut, prefix + name)

    words: list[int] = []
    port("space").value = space
    port("bank").value = bank
    port("r_en").value = 1
    port("addr").value = 0
    await RisingEdge(dut.clk)
    for cycle in range(1, depth + latency):
        if cycle < depth:
            port("addr").value = cycle
        if cycle >= latency:
            await ReadOnly()
            words.append(int(port("r_data").value))
        await RisingEdge(dut.clk)
    port("r_en").value = 0
    return words


class CoreBench:
    """Drives a spike train into the core, monitors its spikes, and checks spikes, final neuron
    state, weight memory and counters against the golden model with ``==``."""

    def __init__(self, dut, layer: LayerIR, events: Sequence[np.ndarray]) -> None:
        self.dut = dut
        self.layer = layer
        self.events = list(events)
        self.checker = Checker()
        self.observed: list[tuple[int, int]] = []
        self.sim_cycles = 0

    # -- stimulus ----------------------------------------------------------------------------

    def _words(self) -> list[int]:
        eot = 1 << self.layer.index_bits
        words = []
        for ev in self.events:
            words.extend(int(i) for i in ev)
            words.append(eot)
        return words

    async def reset(self) -> None:
        await start_and_reset(self.dut, ["i_event__valid", "clear_counters"] + [
            f"host__{name}" for name in ("w_en", "r_en", "space", "bank", "addr", "w_data")])

    async def drive(self) -> None:
        """Offer one event per cycle, never idle while events remain (a continuous run)."""
        dut = self.dut
        words = self._words()
        for word in words:
            dut.i_event__valid.value = 1
            dut.i_event__payload.value = word
            while True:
                await ReadOnly()
                taken = bool(dut.i_event__ready.value)
                await RisingEdge(dut.clk)
                if taken:
                    break
        dut.i_event__valid.value = 0

    async def monitor(self) -> None:
        dut = self.dut
        nbits = self.layer.neuron_bits
        while True:
            await ReadOnly()
            if dut.o_spike__valid.value and dut.o_spike__ready.value:
                word = int(dut.o_spike__payload.value)
                self.observed.append((word >> nbits, word & ((1 << nbits) - 1)))
            await RisingEdge(dut.clk)
            self.sim_cycles += 1

    async def wait_idle(self) -> None:
        while True:
            await ReadOnly()
            if self.dut.idle.value:
                break
            await RisingEdge(self.dut.clk)
        await RisingEdge(self.dut.clk)

    # -- the run -------------------------------------------------------------------------------

    async def run(self, *, check_weights: bool = True) -> Trace:
        layer, dut, check = self.layer, self.dut, self.checker.check
        trace = LayerModel(layer).run(self.events)
        await self.reset()
        dut.clear_counters.value = 1
        await RisingEdge(dut.clk)
        dut.clear_counters.value = 0
        mon = cocotb.start_soon(self.monitor())
        await self.drive()
        await self.wait_idle()
        mon.cancel()

        # The hardware tags spikes with the timestep modulo 2**timestep_bits.
        wrap = 2**layer.timestep_bits
        expected = [(t % wrap, n) for t, n in trace.spike_events()]
        for n in range(max(len(expected), len(self.observed))):
            exp = expected[n] if n < len(expected) else None
            got = self.observed[n] if n < len(self.observed) else None
            check("spike", f"output spike #{n} as (timestep, neuron)", exp, got)
        for name in COUNTERS:
            check("counter", name, getattr(trace.cycles, name),
                  int(getattr(dut, f"counters__{name}").value))
        check("counter", "timestep", len(self.events) % 2**layer.timestep_bits,
              int(dut.timestep.value))

        for lane in range(layer.lanes):
            words = await self._read_memory(1, lane, layer.npl)
            for k, word in enumerate(words):
                j = k * layer.lanes + lane
                if j >= layer.n_out:
                    continue
                check("membrane", f"neuron {j}", int(trace.v[j]),
                      from_twos(word, layer.membrane_bits))
                check("refractory", f"neuron {j}", int(trace.ref[j]),
                      word >> layer.membrane_bits)
        if check_weights:
            banks = layer.weight_banks()
            for b in range(layer.lanes):
                words = await self._read_memory(0, b, layer.bank_depth)
                got = np.array([from_twos(w, layer.weight_bits) if layer.weight_signed else w
                                for w in words])
                bad = np.flatnonzero(got != banks[b])
                self.checker.compared["weight"] = (self.checker.compared.get("weight", 0)
                                                   + len(words))
                if len(bad):
                    a = int(bad[0])
                    self.checker.compared["weight"] -= 1
                    check("weight", f"bank {b} address {a}", int(banks[b][a]), int(got[a]))
                    self.checker.errors += len(bad) - 1
        return trace

    async def _read_memory(self, space: int, bank: int, depth: int) -> list[int]:
        return await read_words(self.dut, "host__", space, bank, depth)
