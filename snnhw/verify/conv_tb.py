"""cocotb bench of the generated TTFS conv core: it learns real images layer by layer in the
RTL, then infers; after every image every conv spike (stage, map, position, timestep), every
weight and alive bit, the generators, images learned, alive counts, the counters, the cycle
count and (inference) the readout must equal the golden model's.

Run by ``snnhw verify`` for ttfs_conv configs; the job comes from ``$SNNHW_VERIFY_JOB``.
"""

from __future__ import annotations

import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from ..config import load_config
from ..families import resolve
from ..gateware.networks.ttfs_conv import REG, ConvHost
from ..golden.blocks.rng import SEQUENCE
from ..golden.networks.ttfs_conv import ConvState
from ..ir import bits_for
from ..ir_conv import ConvNetworkIR, KernelBanks, pack_events, unpack_events
from .bench import Checker, open_job, read_words, write_result
from .conv_golden import expect_run

INPUTS = ("run", "host__space", "host__bank", "host__addr", "host__w_data", "host__w_en",
          "host__r_en")


class ConvBench:
    """Driver (host port, run), monitor (the spike trace), golden model and checker."""

    def __init__(self, dut, net: ConvNetworkIR) -> None:
        self.dut = dut
        self.net = net
        self.regs = REG(net)
        self.lane_bits = bits_for(net.lanes - 1)
        self.state = ConvState.initial(net)
        self.checker = Checker()
        self.trace: list[tuple[int, ...]] = []
        self.cycles = 0
        self.input_events = 0
        self.expected_spikes = 0
        self.convs = list(net.conv_layers)

    async def reset(self) -> None:
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.rst.value = 1
        for name in INPUTS:
            getattr(dut, name).value = 0
        for _ in range(2):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        await RisingEdge(dut.clk)

    async def monitor(self) -> None:
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if int(dut.o_trace__valid.value):
                self.trace.append(tuple(int(getattr(dut, f"o_trace__{n}").value)
                                        for n in ("stage", "f", "y", "x", "t")))

    async def write(self, space: ConvHost, bank: int, addr: int, word: int) -> None:
        dut = self.dut
        dut.host__space.value = space.value
        dut.host__bank.value = bank
        dut.host__addr.value = addr
        dut.host__w_data.value = int(word)
        dut.host__w_en.value = 1
        await RisingEdge(dut.clk)
        dut.host__w_en.value = 0

    async def read(self, space: ConvHost, bank: int, depth: int) -> list[int]:
        return await read_words(self.dut, "host__", space.value, bank, depth, latency=1)

    async def reg(self, name: str) -> int:
        return (await read_words(self.dut, "host__", ConvHost.REG.value, 0,
                                 self.regs[name] + 1, latency=1))[-1]

    async def run(self, events: np.ndarray, learn: int) -> None:
        dut = self.dut
        for a, word in enumerate(events):
            await self.write(ConvHost.EVENTS, 0, a, int(word))
        await self.write(ConvHost.REG, 0, self.regs["events"], len(events))
        await self.write(ConvHost.REG, 0, self.regs["learn"], learn)
        dut.run.value = 1
        await RisingEdge(dut.clk)
        dut.run.value = 0
        await RisingEdge(dut.clk)
        while int(dut.busy.value):
            await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)

    async def check_image(self, n: int, times: np.ndarray, learn: int) -> None:
        net, check = self.net, self.checker.check
        T = net.timesteps
        first = len(self.trace)
        events = pack_events(times, T)
        self.input_events += int(np.count_nonzero(times < T))
        exp = expect_run(net, self.state, times, learn)
        await self.run(events, learn)
        got = {s: np.full(c.out_shape, T, dtype=np.int64) for s, c in enumerate(self.convs)}
        for s, f, y, x, t in self.trace[first:]:
            check("spike", f"image {n}: stage {s} neuron ({f}, {y}, {x}) spikes once",
                  int(T), int(got[s][f, y, x]))
            got[s][f, y, x] = t
        for s, spikes in exp.spikes.items():
            self.expected_spikes += int(np.count_nonzero(spikes < T))
            self._check_array("spike map", f"image {n}: stage {s}", spikes, got[s])
        regs = {name: await self.reg(name) for name in ("cycles", "synaptic_updates",
                                                        "weight_updates")}
        self.cycles += regs["cycles"]
        check("counter", f"image {n}: cycles", exp.cycles.cycles, regs["cycles"])
        check("counter", f"image {n}: synaptic updates", exp.cycles.updates,
              regs["synaptic_updates"])
        check("counter", f"image {n}: weight updates", exp.cycles.weight_updates,
              regs["weight_updates"])
        for s, layer in enumerate(self.convs):
            await self._check_kernels(n, s, layer)
        if not learn:
            await self._check_readout(n, exp)

    async def _check_kernels(self, n: int, s: int, layer) -> None:
        check, st = self.checker.check, self.state
        b = KernelBanks(maps=layer.maps, channels=layer.in_shape[0], kernel=layer.kernel,
                        lanes=self.net.lanes)
        bank0 = s << self.lane_bits
        w = [await self.read(ConvHost.WEIGHT, bank0 | lane,
                             b.channels * b.kernel ** 2 * b.fl) for lane in range(b.lanes)]
        m = [await self.read(ConvHost.MASK, bank0 | lane, b.channels * b.kernel)
             for lane in range(b.lanes)]
        self._check_array("weight", f"image {n}: {layer.name}", st.weights[layer.index],
                          b.weights_from(np.array(w)))
        self._check_array("alive", f"image {n}: {layer.name}", st.alive[layer.index],
                          b.alive_from(m))
        check("counter", f"image {n}: {layer.name} alive taps",
              int(st.alive[layer.index].sum()), await self.reg(f"alive{s}"))
        check("counter", f"image {n}: {layer.name} images learned", st.seen[layer.index],
              await self.reg(f"seen{s}"))
        if layer.stdp is not None:
            check("counter", f"image {n}: {layer.name} generator",
                  int(SEQUENCE[st.gen_pos[layer.index]]), await self.reg(f"generator{s}"))

    async def _check_readout(self, n: int, exp) -> None:
        net = self.net
        P = net.lanes
        if net.features == "max_potential":
            fl = -(-net.layers[-1].maps // P)
            words = [await self.read(ConvHost.MAXIMA, lane, fl) for lane in range(P)]
            got = np.array([words[f % P][f // P] for f in range(net.layers[-1].maps)])
            self._check_array("feature", f"image {n}", exp.features, got)
        else:
            last = len(self.convs)
            length = await self.reg(f"list{last}")
            words = await self.read(ConvHost.EVENTS, last, length)
            times = unpack_events(words, net.layers[-1].out_shape, net.timesteps)
            self._check_array("feature", f"image {n}", exp.features,
                              (net.timesteps - times).reshape(-1))

    def _check_array(self, what: str, where: str, expected: np.ndarray,
                     got: np.ndarray) -> None:
        """Count every element compared; report the first that differs."""
        expected, got = np.asarray(expected), np.asarray(got)
        c = self.checker
        bad = np.argwhere(expected != got)
        c.compared[what] = c.compared.get(what, 0) + expected.size - min(len(bad), 1)
        if len(bad):
            i = tuple(int(v) for v in bad[0])
            c.check(what, f"{where} at {i}", int(expected[i]), int(got[i]))
            c.errors += len(bad) - 1


@cocotb.test()
async def conv_core_matches_golden(dut):
    """The RTL learns the images layer by layer, then infers, exactly as the golden model."""
    job, data, bench = await open_job(
        dut, lambda job: ConvBench(dut, resolve(load_config(job["golden_config"]))))
    net = bench.net
    start = time.monotonic()
    for n, (times, learn) in enumerate(zip(data["times"], data["learn"], strict=True)):
        await bench.check_image(n, times, int(learn))
    c = bench.checker
    alive = {f"alive{s}": await bench.reg(f"alive{s}") for s in range(len(bench.convs))}
    write_result(job, c, timesteps=len(data["times"]) * net.timesteps,
                 samples=len(data["times"]), input_events=bench.input_events,
                 expected_spikes=bench.expected_spikes, observed_spikes=len(bench.trace),
                 busy_cycles=bench.cycles, sim_cycles=bench.cycles,
                 rtl_counters={"cycles": bench.cycles, **alive},
                 sim_seconds=round(time.monotonic() - start, 3))
    assert c.errors == 0, f"{c.errors} mismatches: {c.first}"
