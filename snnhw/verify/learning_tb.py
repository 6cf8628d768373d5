"""cocotb bench of the generated learning core: it learns real dataset samples in the RTL, and
after every sample every weight, threshold and spike count, every spike (attempt, timestep,
neuron) and the busy-cycle counter must equal the golden model's.

Run by ``snnhw verify`` for learning configs; the job comes from ``$SNNHW_VERIFY_JOB``.
"""

from __future__ import annotations

import time

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly, RisingEdge

from ..config import load_config
from ..families import resolve_layer
from ..gateware.networks.diehl_cook import LearnSpace
from ..golden.networks.diehl_cook import LearningState, pruning_step, run_sample
from ..ir import LayerIR
from .bench import Checker, open_job, read_words, start_and_reset, write_result


class LearningBench:
    """Driver (pixels, start), monitor (spikes), golden model and checker for one core."""

    def __init__(self, dut, layer: LayerIR) -> None:
        self.dut = dut
        self.layer = layer
        self.golden = LearningState.initial(layer)
        self.checker = Checker()
        self.spikes: list[tuple[int, int, int]] = []
        self.cycles = 0
        self.input_events = 0  # read from the RTL's counter
        self.timesteps = 0  # presented, retries included
        self.alive_before = (np.ones((layer.n_in, layer.n_out), dtype=bool)
                             if layer.pruning else None)

    async def reset(self) -> None:
        await start_and_reset(self.dut, [
            "i_pixel__valid", "start", "learn", "eta", "host_w_en", "host_r_en", "host_space",
            "host_bank", "host_addr", "host_w_data", "clear_counters"]
            + (["prune"] if self.layer.pruning else [])
            + (["prune_threshold"] if self.layer.pruning and self.layer.pruning.target_permille
               else []))

    async def monitor(self) -> None:
        """Spikes are one-cycle pulses at least NPL cycles apart: wait for each edge."""
        layer, dut = self.layer, self.dut
        nb = layer.neuron_bits
        tb = max(1, layer.encoder.steps - 1).bit_length()
        while True:
            await RisingEdge(dut.o_spike__valid)
            await ReadOnly()
            word = int(dut.o_spike__payload.value)
            self.spikes.append((word >> (nb + tb), (word >> nb) & ((1 << tb) - 1),
                                word & ((1 << nb) - 1)))

    async def run_sample(self, image: np.ndarray, *, learn: bool, eta: int, prune: bool) -> None:
        dut = self.dut
        dut.clear_counters.value = 1
        await RisingEdge(dut.clk)
        dut.clear_counters.value = 0
        dut.i_pixel__valid.value = 1
        for value in image.reshape(-1):
            dut.i_pixel__payload.value = int(value)
            await RisingEdge(dut.clk)  # ready is high in every loading cycle
        dut.i_pixel__valid.value = 0
        dut.learn.value = int(learn)
        dut.eta.value = eta
        if self.layer.pruning:
            dut.prune.value = int(prune)
            if self.layer.pruning.target_permille:
                dut.prune_threshold.value = self.golden.prune_threshold
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        await RisingEdge(dut.idle)
        await RisingEdge(dut.clk)

    async def read_memory(self, space: LearnSpace, bank: int, depth: int) -> list[int]:
        return await read_words(self.dut, "host_", space.value, bank, depth, latency=2)

    async def check_sample(self, s: int, image: np.ndarray, *, learn: bool, eta: int,
                           prune: bool = False) -> None:
        layer, check = self.layer, self.checker.check
        first = len(self.spikes)
        await self.run_sample(image, learn=learn, eta=eta, prune=prune)
        rec = []
        counts, _ = run_sample(layer, self.golden, image, learn=learn, eta=eta, record=rec,
                               prune=prune)
        expected = [(p.attempt, t, j) for p in rec for t, w in enumerate(p.winners) for j in w]
        got = self.spikes[first:]
        for n in range(max(len(expected), len(got))):
            check("spike", f"sample {s}, spike #{n} as (attempt, timestep, neuron)",
                  expected[n] if n < len(expected) else None, got[n] if n < len(got) else None)
        busy = int(self.dut.counters__busy_cycles.value)
        self.cycles += busy
        self.input_events += int(self.dut.counters__input_events.value)
        self.timesteps += len(rec) * layer.encoder.steps
        check("counter", f"sample {s}: input events", int(sum(p.events.sum() for p in rec)),
              int(self.dut.counters__input_events.value))
        check("counter", f"sample {s}: busy cycles", sum(p.cycles(layer) for p in rec), busy)
        P = layer.lanes
        banks = np.array([await self.read_memory(LearnSpace.WEIGHT, b, layer.bank_depth)
                          for b in range(P)])
        got_w = layer.weights_from_banks(banks)
        bad = np.argwhere(got_w != self.golden.weights)
        self.checker.compared["weight"] = self.checker.compared.get("weight", 0) + got_w.size
        if len(bad):
            i, j = bad[0]
            self.checker.compared["weight"] -= 1
            check("weight", f"sample {s}: W[{i}, {j}]", int(self.golden.weights[i, j]),
                  int(got_w[i, j]))
            self.checker.errors += len(bad) - 1
        if layer.pruning:
            words = np.array([await self.read_memory(LearnSpace.ALIVE, b,
                                                     layer.n_in * layer.alive_stride)
                              for b in range(P)])
            got_a = layer.alive_from_banks(words)
            # a synapse pruned before this sample still has weight 0 in the RTL
            dead = ~self.alive_before
            self.checker.compared["pruned_zero"] = (self.checker.compared.get("pruned_zero", 0)
                                                    + int(dead.sum()))
            if got_w[dead].any():
                i, j = np.argwhere(dead & (got_w != 0))[0]
                self.checker.compared["pruned_zero"] -= 1
                check("pruned_zero", f"sample {s}: W[{i}, {j}] (pruned before)", 0,
                      int(got_w[i, j]))
            self.alive_before = got_a.copy()
            n_bad = int((got_a != self.golden.alive).sum())
            self.checker.compared["alive"] = (self.checker.compared.get("alive", 0)
                                              + got_a.size - min(n_bad, 1))
            if n_bad:
                i, j = np.argwhere(got_a != self.golden.alive)[0]
                check("alive", f"sample {s}: alive[{i}, {j}]", bool(self.golden.alive[i, j]),
                      bool(got_a[i, j]))
                self.checker.errors += n_bad - 1
            check("counter", f"sample {s}: connections alive", int(self.golden.alive.sum()),
                  int(self.dut.alive_count.value))
        theta = [await self.read_memory(LearnSpace.THETA, b, layer.npl) for b in range(P)]
        state = [await self.read_memory(LearnSpace.STATE, b, layer.npl) for b in range(P)]
        shift = layer.membrane_bits + layer.ref_bits
        mask = (1 << dict((n, b) for n, b, _ in layer.learning_state_fields())["count"]) - 1
        for j in range(layer.n_out):
            check("theta", f"sample {s}: neuron {j}", int(self.golden.theta[j]),
                  theta[j % P][j // P])
            check("count", f"sample {s}: neuron {j}", int(counts[j]),
                  (state[j % P][j // P] >> shift) & mask)


@cocotb.test()
async def learning_matches_golden(dut):
    """The RTL learns the samples exactly as the golden model does."""
    job, data, bench = await open_job(
        dut, lambda job: LearningBench(dut, resolve_layer(load_config(job["golden_config"]))))
    layer = bench.layer
    start = time.monotonic()
    for s, (image, learn) in enumerate(zip(data["images"], data["learn"], strict=True)):
        eta = layer.stdp.eta_at(s) if learn else 0
        prune = pruning_step(layer, bench.golden, s, learn=bool(learn))
        await bench.check_sample(s, image, learn=bool(learn), eta=eta, prune=prune)
    write_result(job, bench.checker, timesteps=bench.timesteps, samples=len(data["images"]),
                 input_events=bench.input_events,
                 expected_spikes=bench.checker.compared.get("spike", 0),
                 observed_spikes=len(bench.spikes), busy_cycles=bench.cycles,
                 sim_cycles=bench.cycles, rtl_counters={"busy_cycles": bench.cycles},
                 sim_seconds=round(time.monotonic() - start, 3))
    assert bench.checker.errors == 0, f"{bench.checker.errors} mismatches: {bench.checker.first}"
