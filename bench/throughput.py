"""Cycles per timestep of the generated core, measured on the RTL, against the ideal.

The ideal is one synaptic event per lane per cycle plus one update pass over the neurons:
``ceil(events * fan_out / lanes) + ceil(neurons / lanes)`` per timestep. The RTL's busy-cycle
counter is read after a continuous run under Verilator; the bench also checks it equals the
golden model's cycle model (any mismatch fails the run).

    python bench/throughput.py [--config examples/lif_784x100.toml] [--timesteps 100]
                               [--activity 0.1] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

from snnhw.config import load_config
from snnhw.families import resolve_layer
from snnhw.golden import ideal_cycles
from snnhw.spikes import load_events
from snnhw.verify import verify

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "examples" / "lif_784x100.toml"),
                   help="network config (default: examples/lif_784x100.toml)")
    p.add_argument("--timesteps", type=int, default=100, help="timesteps (default: 100)")
    p.add_argument("--activity", type=float, default=0.1,
                   help="input spike probability per timestep (default: 0.1)")
    p.add_argument("--seed", type=int, default=1, help="input seed (default: 1)")
    p.add_argument("--sim", default="verilator", help="simulator (default: verilator)")
    args = p.parse_args(argv)

    layer = resolve_layer(load_config(args.config))
    with tempfile.TemporaryDirectory() as tmp:
        r = verify(args.config, simulator=args.sim, seed=args.seed, timesteps=args.timesteps,
                   activity=args.activity, out_dir=tmp, check_weights=False)
        events = load_events(Path(tmp) / "input_events.txt", layer.n_in)
    if not r.ok:
        print(r.summary(), file=sys.stderr)
        return 1
    counts = np.array([len(e) for e in events])
    busy = r.rtl_counters["busy_cycles"]
    ideal = ideal_cycles(layer, counts)
    report = {
        "config": str(Path(args.config).relative_to(ROOT) if Path(args.config).resolve()
                      .is_relative_to(ROOT) else args.config),
        "n_in": layer.n_in, "n_out": layer.n_out, "lanes": layer.lanes,
        "timesteps": args.timesteps, "activity": args.activity, "seed": args.seed,
        "input_events_per_timestep": round(float(counts.mean()), 2),
        "output_spikes_per_timestep": round(r.rtl_counters["output_spikes"] / args.timesteps, 2),
        "rtl_busy_cycles": busy,
        "model_busy_cycles": r.busy_cycles,
        "rtl_cycles_per_timestep": round(busy / args.timesteps, 2),
        "ideal_cycles_per_timestep": round(ideal / args.timesteps, 2),
        "ratio": round(busy / ideal, 4),
        "machine": f"{platform.machine()}, {platform.python_implementation()} "
                   f"{platform.python_version()}",
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
