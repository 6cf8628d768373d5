"""The cocotb test run by ``snnhw verify`` and by ``sim/test_core.py``.

It reads its job from the JSON file named by ``$SNNHW_VERIFY_JOB`` (written by
:func:`snnhw.verify.verify`) and writes its findings to the job's ``result`` path.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb

from ..config import load_config
from ..families import resolve_layer
from ..gateware.layouts import COUNTER_NAMES
from ..spikes import load_events
from .bench import CoreBench


@cocotb.test()
async def core_matches_golden(dut):
    """Every output spike, final membrane, refractory counter, weight and counter equals the
    golden model's."""
    job = json.loads(Path(os.environ["SNNHW_VERIFY_JOB"]).read_text())
    layer = resolve_layer(load_config(job["golden_config"]))
    events = load_events(job["events"], layer.n_in)
    bench = CoreBench(dut, layer, events)
    start = time.monotonic()
    trace = await bench.run(check_weights=job["check_weights"])
    result = {
        "timesteps": len(events),
        "input_events": int(trace.event_counts.sum()),
        "expected_spikes": len(trace.spike_events()),
        "observed_spikes": len(bench.observed),
        "compared": bench.checker.compared,
        "errors": bench.checker.errors,
        "first_mismatch": bench.checker.first,
        "busy_cycles": trace.cycles.busy_cycles,
        "rtl_counters": {name: int(getattr(dut, f"counters__{name}").value)
                         for name in COUNTER_NAMES},
        "sim_cycles": bench.sim_cycles,
        "sim_seconds": round(time.monotonic() - start, 3),
    }
    Path(job["result"]).write_text(json.dumps(result, indent=2) + "\n")
    assert bench.checker.errors == 0, f"{bench.checker.errors} mismatches: {bench.checker.first}"
