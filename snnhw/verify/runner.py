"""Build the generated Verilog with a simulator and run the cocotb bench against the golden
model: the machinery behind ``snnhw verify`` and the tests in ``sim/``."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import load_config
from ..datasets import load_dataset
from ..errors import ConfigError, InputError, ToolError
from ..export import generate
from ..families import load, require_network, resolve
from ..simulators import SIMULATORS, find_simulator
from ..spikes import load_events, random_events, save_events

__all__ = ["VerifyResult", "verify", "find_simulator", "SIMULATORS"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifyResult:
    """What the bench compared and found; ``ok`` when nothing differed."""

    config: Path
    simulator: str
    timesteps: int
    input_events: int
    expected_spikes: int
    observed_spikes: int
    compared: dict[str, int]
    errors: int
    first_mismatch: dict[str, Any] | None
    busy_cycles: int
    sim_cycles: int
    out_dir: Path
    rtl_counters: dict[str, int]
    samples: int = 0  # learning configs: samples presented

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def summary(self) -> str:
        """A few human-readable lines: what was compared, and the first mismatch if any."""
        c = self.compared
        if self.samples and "spike map" in c:  # a conv network, image by image
            lines = [
                f"{self.config}: {self.simulator}, {self.samples} images learned or inferred "
                f"and checked one by one, {self.busy_cycles} core cycles simulated",
                "  compared: " + ", ".join(f"{n} {k}s" for k, n in c.items()),
            ]
        elif self.samples:
            lines = [
                f"{self.config}: {self.simulator}, {self.samples} samples learned and checked "
                f"one by one, {self.busy_cycles} busy cycles simulated",
                f"  compared: {c.get('spike', 0)} spikes, {c.get('weight', 0)} weights, "
                f"{c.get('theta', 0)} thresholds, {c.get('count', 0)} spike counts, "
                f"{c.get('counter', 0)} counters ({self.input_events} input events, "
                f"{self.timesteps} timesteps)",
            ]
            if "alive" in c:
                lines.append(f"  pruning: {c['alive']} alive bits, "
                             f"{c.get('pruned_zero', 0)} pruned weights still 0")
        else:
            lines = [
                f"{self.config}: {self.simulator}, {self.timesteps} timesteps, "
                f"{self.input_events} input events, {self.sim_cycles} cycles simulated",
                f"  compared: {c.get('spike', 0)} spikes, {c.get('membrane', 0)} membranes, "
                f"{c.get('refractory', 0)} refractory counters, {c.get('weight', 0)} weights, "
                f"{c.get('counter', 0)} counters (busy cycles {self.busy_cycles})",
            ]
        if self.ok:
            lines.append("  PASS: 0 mismatches")
        else:
            f = self.first_mismatch or {}
            lines.append(f"  FAIL: {self.errors} mismatches; first: {f.get('what')} at "
                         f"{f.get('where')}: expected {f.get('expected')!r}, got "
                         f"{f.get('got')!r}")
        return "\n".join(lines)


def run_bench(verilog: Path, top: str, bench: str, simulator: str, env: dict[str, str],
              out: Path, job: dict[str, Any], *, waves: bool, what: str,
              say: Callable[[str], None]) -> dict[str, Any]:
    """Build ``verilog`` with ``simulator``, run the cocotb ``bench`` module on it with
    ``job`` (its ``result`` path is added), and return the result the bench wrote."""
    from cocotb_tools.runner import get_runner

    result_path = out / "result.json"
    result_path.unlink(missing_ok=True)
    job_path = out / "job.json"
    job_path.write_text(json.dumps(job | {"result": str(result_path)}, indent=2))
    build_args = ["-Wno-fatal", "-O2"] if simulator == "verilator" else []
    build_dir = out / f"sim_build_{simulator}"
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        runner = get_runner(simulator)  # looks the simulator up on PATH: after the update
        if not log.isEnabledFor(logging.INFO):  # it logs every tool command at INFO
            runner.log.setLevel(logging.WARNING)
        say(f"building {verilog.name} with {simulator}")
        try:
            runner.build(sources=[verilog], hdl_toplevel=top, build_dir=build_dir,
                         build_args=build_args, always=True, waves=waves,
                         timescale=("1ns", "1ps"), log_file=out / "build.log")
        except Exception as e:  # the runner raises plain exceptions on tool failure
            raise ToolError(f"{simulator} build failed ({e}); see {out / 'build.log'}") \
                from None
        say(what)
        try:
            runner.test(test_module=bench, hdl_toplevel=top, build_dir=build_dir, test_dir=out,
                        extra_env={"SNNHW_VERIFY_JOB": str(job_path)}, waves=waves,
                        results_xml=str(out / "results.xml"), log_file=out / "sim.log")
        except (Exception, SystemExit) as e:  # the runner exits 1 when the cocotb test fails
            if not result_path.exists():
                raise ToolError(f"{simulator} simulation failed ({e}); see "
                                f"{out / 'sim.log'}") from None
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if not result_path.exists():
        raise ToolError(f"the cocotb bench wrote no result; see {out / 'sim.log'}")
    return json.loads(result_path.read_text())


def verify(config_path: str | Path, *, simulator: str = "verilator", seed: int = 0,
           timesteps: int = 50, activity: float = 0.1, input_file: str | Path | None = None,
           out_dir: str | Path | None = None, check_weights: bool = True,
           waves: bool = False, golden_config: str | Path | None = None,
           progress: Callable[[str], None] | None = None, samples: int = 10,
           infer_samples: int = 2, dataset: str = "mnist",
           data_dir: str | Path | None = None) -> VerifyResult:
    """Generate Verilog for a config, simulate it under cocotb and compare with the golden model.

    Parameters
    ----------
    config_path : path
        The network's TOML config.
    simulator : {"verilator", "icarus"}
    seed, timesteps, activity :
        The random input spike train (ignored when ``input_file`` is given): each input spikes
        with probability ``activity`` in each of ``timesteps`` timesteps.
    input_file : path, optional
        A spike file (see :mod:`snnhw.spikes`) to use instead of random input.
    out_dir : path, optional
        Where the Verilog, simulator build and logs go; default ``build/verify/<name>``.
    check_weights : bool
        Also read back every weight through the host port and compare it.
    waves : bool
        Dump a waveform into ``out_dir``.
    golden_config : path, optional
        Compare with the golden model of this config instead (same sizes): lets the tests show
        that the bench catches a difference.
    progress : callable, optional
        Called with a short message as each stage (generate, build, simulate) starts.
    samples, infer_samples, dataset, data_dir :
        Learning configs only: the core learns the first ``samples`` training images of the
        dataset, then runs ``infer_samples`` more without learning; it is checked against the
        golden model after every one. Random-input options do not apply to them.

    Raises
    ------
    ConfigError, InputError, ToolError
    """
    def say(msg: str) -> None:
        log.info(msg)
        if progress is not None:
            progress(msg)

    config_path = Path(config_path)
    config = load_config(config_path)
    env = find_simulator(simulator)
    family = require_network(resolve(config), "verify")
    if family.verifier is not None:  # a family with its own bench flow (several layers)
        return load(family.verifier)(
            config_path, config, family, simulator=simulator, env=env, out_dir=out_dir,
            waves=waves, golden_config=golden_config, say=say, samples=samples,
            infer_samples=infer_samples, dataset=dataset, data_dir=data_dir)
    learning = family.verify_input == "samples"
    n_in = config.input.size
    if learning:
        if samples < 1 or infer_samples < 0:
            raise InputError(f"samples = {samples}, infer_samples = {infer_samples}: need at "
                             "least 1 sample to learn and no negative count")
        train = load_dataset(dataset, "train", data_dir)
        if train.images[0].size != n_in:
            raise ConfigError([f"input.size = {n_in}: must be {train.images[0].size} for "
                               f"{dataset}"])
    else:
        events = (load_events(input_file, n_in) if input_file is not None
                  else random_events(n_in, timesteps, activity, seed))
    out = Path(out_dir) if out_dir else Path("build") / "verify" / config.network.name
    out = out.resolve()
    say("generating Verilog")
    gen = generate(config, out / "rtl")
    events_path = out / "input_events.txt"
    samples_path = out / "samples.npz"
    if learning:
        n = samples + infer_samples
        np.savez(samples_path, images=train.images[:n].reshape(n, -1),
                 learn=np.arange(n) < samples)
    else:
        save_events(events_path, events)
    r = run_bench(gen.verilog, gen.manifest["top"], family.verify_bench, simulator, env, out,
                  {"config": str(config_path.resolve()),
                   "golden_config": str(Path(golden_config or config_path).resolve()),
                   "events": str(events_path), "samples": str(samples_path),
                   "check_weights": check_weights},
                  waves=waves,
                  what=(f"simulating {samples + infer_samples} samples" if learning else
                        f"simulating {len(events)} timesteps and comparing with the golden "
                        "model"), say=say)
    return result_of(r, config_path, simulator, out)


def result_of(r: dict[str, Any], config_path: Path, simulator: str, out: Path
              ) -> VerifyResult:
    """The :class:`VerifyResult` of a bench's ``result.json``."""
    return VerifyResult(config=config_path, simulator=simulator, timesteps=r["timesteps"],
                        input_events=r["input_events"], expected_spikes=r["expected_spikes"],
                        observed_spikes=r["observed_spikes"], compared=r["compared"],
                        errors=r["errors"], first_mismatch=r["first_mismatch"],
                        busy_cycles=r["busy_cycles"], sim_cycles=r["sim_cycles"], out_dir=out,
                        rtl_counters=r["rtl_counters"], samples=r.get("samples", 0))
