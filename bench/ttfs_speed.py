"""Golden-model speed of the TTFS conv network, one process, one thread, side by side with
SpykeTorch.

    python bench/ttfs_speed.py [--network mnist|caltech|both] [--images N] [--warmup 5]
                               [--data-dir DIR] [--spyketorch DIR] [--spyketorch-python PY]
                               [--json PATH]

For ``examples/ttfs/mnist.toml`` (the first MNIST training images) and
``examples/ttfs/caltech_facemotor.toml`` (the first images of the Caltech LearningSet, resized
as snnhw.datasets does), milliseconds per image of four phases on the numba fast path:

1. encoding: on/off DoG and rank-order latency (``encode``);
2. the first conv layer's STDP step from the encoded times (``learn_times``);
3. each later conv layer's STDP step: ``forward`` through the layers before it, then
   ``learn_times``;
4. inference to the readout's features from the encoded times (``features_of_times``).

The phases run in this order on one network state, as training does (the second layer learns
behind the first after its ``--images`` steps). Each phase first runs ``--warmup`` images on a
throw-away copy of the state, so that the numba compile is not timed. Every thread pool is
pinned to one thread.

With ``--spyketorch`` and ``--spyketorch-python`` (defaults: ``$SPYKETORCH_DIR``,
``$SPYKETORCH_PYTHON``; skipped without them) the same network, built from SpykeTorch's
primitives with the same initial weights, times the same phases on the same images in a child
process of that Python, with ``torch.set_num_threads(1)``. SpykeTorch's network is float and
dense in time: a conv layer convolves all T cumulative spike frames; the last layer of a
``max_potential`` readout convolves only the last frame (its final potentials). Its encoder
is the DoG and Intensity2Latency alone, as ours (no local normalisation).

Prints, ready for BENCHMARKS.md: the command, the commit, the machine and one table per
network; ``--json`` writes the figures too.
"""

from __future__ import annotations

import os

# One thread everywhere, set before numpy and numba (and torch, in the child) start their pools.
os.environ.update(dict.fromkeys(("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                 "OPENBLAS_NUM_THREADS"), "1"))

import argparse
import copy
import json
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from snnhw.config import load_config
from snnhw.datasets import CALTECH, load_dataset
from snnhw.families import resolve
from snnhw.golden.networks import ttfs_conv_fast as fast
from snnhw.golden.networks.ttfs_conv import ConvState
from snnhw.ir_conv import RATE_BITS, ConvLayerIR, ConvNetworkIR

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = {  # name: (config, dataset, split, default --images)
    "mnist": (ROOT / "examples" / "ttfs" / "mnist.toml", "mnist", "train", 500),
    "caltech": (ROOT / "examples" / "ttfs" / "caltech_facemotor.toml", CALTECH, "learning",
                100),
}


# --------------------------------------------------------------------------- snnhw side


def _timed(step: Callable[[Any], Any], items: Sequence, warm: Callable[[], None]
           ) -> tuple[list, float]:
    """Run ``warm`` (untimed), then ``step`` on every item; the results and ms per item."""
    warm()
    t0 = time.perf_counter()
    out = [step(x) for x in items]
    return out, 1e3 * (time.perf_counter() - t0) / len(items)


def _learn_step(net: ConvNetworkIR, state: ConvState, layer: ConvLayerIR,
                times: np.ndarray) -> int:
    maps = fast.forward(net, state, times, upto=layer.index)
    return len(fast.learn_times(net, state, layer.index, maps[-1])[0])


def time_snnhw(net: ConvNetworkIR, images: np.ndarray, warmup: int) -> dict[str, Any]:
    """ms per image of each phase, and the mean winners per STDP step."""
    ms: dict[str, float] = {}
    winners: dict[str, float] = {}
    warm_images = images[:warmup]
    codes, ms["encode"] = _timed(lambda im: fast.encode(net, im), images,
                                 lambda: [fast.encode(net, im) for im in warm_images])
    codes = [np.ascontiguousarray(c, dtype=np.int64) for c in codes]
    state = ConvState.initial(net)
    for layer in net.conv_layers:
        if layer.stdp is None:
            continue
        scratch = copy.deepcopy(state)
        won, ms[f"learn_{layer.name}"] = _timed(
            lambda c, layer=layer: _learn_step(net, state, layer, c), codes,
            lambda scratch=scratch, layer=layer: [_learn_step(net, scratch, layer, c)
                                                  for c in codes[:warmup]])
        winners[layer.name] = float(np.mean(won))
    # the features are kept, the spike maps dropped (as training does: keeping them all
    # costs fresh memory for every image)
    _, ms["features"] = _timed(lambda c: fast.features_of_times(net, state, c)[0], codes,
                               lambda: [fast.features_of_times(net, state, c)[0]
                                        for c in codes[:warmup]])
    return {"ms_per_image": ms, "winners_per_step": winners}


# ----------------------------------------------------------------------- SpykeTorch side

_CHILD = r'''
"""The network of spec.json built from SpykeTorch primitives, timed phase by phase on the
images of images.npy (one thread); prints one JSON line."""
import copy, json, sys, time
from pathlib import Path

import numpy as np
import torch
from SpykeTorch import functional as sf
from SpykeTorch import snn, utils

torch.set_num_threads(1)
torch.set_num_interop_threads(1)
work = Path(sys.argv[1])
spec = json.loads((work / "spec.json").read_text())
images = np.load(work / "images.npy")
weights = np.load(work / "weights.npz")
T, warmup = spec["timesteps"], spec["warmup"]
enc = spec["encoder"]
dog = utils.Filter([utils.DoGKernel(enc["size"], enc["sigma_centre"], enc["sigma_surround"]),
                    utils.DoGKernel(enc["size"], enc["sigma_surround"], enc["sigma_centre"])],
                   padding=enc["size"] // 2, thresholds=enc["threshold"])
latency = utils.Intensity2Latency(T)


def encode(image):
    x = torch.from_numpy(image).float().unsqueeze(0).unsqueeze(0)
    return latency(dog(x)).sign().byte()


class Net:
    def __init__(self):
        self.layers = spec["layers"]
        self.conv, self.stdp, self.seen = {}, {}, {}
        for i, L in enumerate(self.layers):
            if L["kind"] != "conv":
                continue
            conv = snn.Convolution(L["in_channels"], L["maps"], L["kernel"])
            conv.load_weight(torch.from_numpy(weights[str(i)]))
            self.conv[i] = conv
            if L["rates"]:
                ap, am = L["rates"][0]
                self.stdp[i] = snn.STDP(conv, (ap, -am))
                self.seen[i] = 0

    def fire(self, i, x):
        """Conv layer i on spike wave x: its padded input, potentials, spikes."""
        L = self.layers[i]
        p = L["padding"]
        x = sf.pad(x, (p, p, p, p))
        spk, pot = sf.fire(self.conv[i](x), L["threshold"], True)
        if L["pointwise"]:
            pot = sf.pointwise_inhibition(pot)
            spk = pot.sign()
        return x, pot, spk

    def through(self, x, upto):
        for i, L in enumerate(self.layers[:upto]):
            if L["kind"] == "pool":
                x = sf.pooling(x, L["size"], L["stride"], L["padding"])
            else:
                x = self.fire(i, x)[2]
        return x

    def learn(self, i, wave):
        L = self.layers[i]
        if L["grow_every"]:  # the rate levels, as ConvStdpIR.level
            level = L["rates"][min(self.seen[i] // L["grow_every"], len(L["rates"]) - 1)]
            if self.seen[i] % L["grow_every"] == 0:
                self.stdp[i].update_all_learning_rate(level[0], -level[1])
        x, pot, spk = self.fire(i, self.through(wave.float(), i))
        winners = sf.get_k_winners(pot, L["winners"], L["radius"], spk)
        self.stdp[i](x, pot, spk, winners)
        self.seen[i] += 1
        return len(winners)

    def features(self, wave):
        x = wave.float()
        if spec["features"] == "max_potential":
            last = len(self.layers) - 1
            p = self.layers[last]["padding"]
            x = sf.pad(self.through(x, last)[-1:], (p, p, p, p))
            return self.conv[last](x)[0].amax(dim=(1, 2))
        return self.through(x, len(self.layers)).sum(dim=0).reshape(-1)


def timed(step, items, warm):
    warm()
    t0 = time.perf_counter()
    out = [step(x) for x in items]
    return out, 1e3 * (time.perf_counter() - t0) / len(items)


with torch.no_grad():
    ms, winners = {}, {}
    waves, ms["encode"] = timed(encode, images, lambda: [encode(im) for im in images[:warmup]])
    net = Net()
    for i in net.stdp:
        scratch = copy.deepcopy(net)
        won, ms["learn_" + net.layers[i]["name"]] = timed(
            lambda w, i=i: net.learn(i, w), waves,
            lambda s=scratch, i=i: [s.learn(i, w) for w in waves[:warmup]])
        winners[net.layers[i]["name"]] = float(np.mean(won))
    _, ms["features"] = timed(net.features, waves,
                              lambda: [net.features(w) for w in waves[:warmup]])
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(),
                  "ms_per_image": ms, "winners_per_step": winners}))
'''


def spyketorch_spec(net: ConvNetworkIR, config: Any, warmup: int) -> dict[str, Any]:
    """The network as the child builds it: SpykeTorch's float units (1.0 is a full-scale
    weight, the DoG threshold in response units)."""
    enc = config.encoder
    layers: list[dict[str, Any]] = []
    for layer in net.layers:
        if isinstance(layer, ConvLayerIR):
            s = layer.stdp
            layers.append({
                "kind": "conv", "name": layer.name, "in_channels": layer.in_shape[0],
                "maps": layer.maps, "kernel": layer.kernel, "padding": layer.padding,
                "threshold": layer.threshold / layer.full_scale, "winners": layer.winners,
                "radius": layer.radius, "pointwise": layer.pointwise_inhibition,
                "rates": [[ap / 2**RATE_BITS, am / 2**RATE_BITS] for ap, am in s.rates]
                if s else [],
                "grow_every": s.grow_every if s else 0})
        else:
            layers.append({"kind": "pool", "name": layer.name, "size": layer.size,
                           "stride": layer.stride, "padding": layer.padding})
    return {
        "timesteps": net.timesteps, "warmup": warmup, "features": net.features,
        "encoder": {"size": net.encoder.kernel.shape[0], "sigma_centre": enc.sigma_centre,
                    "sigma_surround": enc.sigma_surround,
                    "threshold": net.encoder.threshold / 2**net.encoder.frac_bits},
        "layers": layers,
    }


def time_spyketorch(net: ConvNetworkIR, config: Any, images: np.ndarray, warmup: int,
                    directory: str, python: str) -> dict[str, Any]:
    """The child's figures (same keys as :func:`time_snnhw`, plus the torch version)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "spec.json").write_text(json.dumps(spyketorch_spec(net, config, warmup)))
        np.save(work / "images.npy", np.ascontiguousarray(images))
        np.savez(work / "weights.npz", **{
            str(c.index): (c.weights / c.full_scale).astype(np.float32)
            for c in net.conv_layers})
        (work / "child.py").write_text(_CHILD)
        env = dict(os.environ, PYTHONPATH=str(Path(directory).resolve()))
        r = subprocess.run([python, str(work / "child.py"), str(work)], env=env,
                           capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"the SpykeTorch child exited {r.returncode}:\n{r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------- report


def _label(key: str, net: ConvNetworkIR) -> str:
    if key == "encode":
        return "encoding (DoG + latency)"
    if key == "features":
        return f"inference to features ({net.features})"
    name = key.removeprefix("learn_")
    before = [x.name for x in net.layers
              if x.index < next(c.index for c in net.conv_layers if c.name == name)]
    through = f" (through {', '.join(before)})" if before else " (from encoded times)"
    return f"{name} STDP step{through}"


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f} ({1e3 / v:,.0f}/s)"


def table(result: dict[str, Any], net: ConvNetworkIR) -> str:
    """The markdown table of one network."""
    ours = result["snnhw"]["ms_per_image"]
    theirs = (result.get("spyketorch") or {}).get("ms_per_image", {})
    rows = ["| phase | snnhw ms/image (images/s) | SpykeTorch ms/image (images/s) | speed-up |",
            "|---|---|---|---|"]
    for key, v in ours.items():
        t = theirs.get(key)
        speed = "—" if t is None else f"{t / v:.1f}×"
        rows.append(f"| {_label(key, net)} | {_ms(v)} | {_ms(t)} | {speed} |")
    return "\n".join(rows)


def _machine() -> dict[str, Any]:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"arch": platform.machine(), "cpu": model, "cores": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def _commit() -> str:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        head = git("rev-parse", "--short", "HEAD")
        return head + (" (with uncommitted changes)" if git("status", "--porcelain",
                                                             "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _command(argv: list[str], args: argparse.Namespace) -> str:
    """The command as run, with the environment variables it relied on."""
    env = [f"{k}={shlex.quote(os.environ[k])}" for k, given in (
        ("SNNHW_DATA", args.data_dir), ("SPYKETORCH_DIR", "--spyketorch" in argv),
        ("SPYKETORCH_PYTHON", "--spyketorch-python" in argv)) if not given and k in os.environ]
    python = Path(sys.executable)
    if python.is_relative_to(ROOT):
        python = python.relative_to(ROOT)
    script = Path(__file__).resolve().relative_to(ROOT)
    return " ".join([*env, shlex.join(map(str, [python, script, *argv]))])


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--network", choices=("mnist", "caltech", "both"), default="both",
                   help="which network (default: both)")
    p.add_argument("--images", type=int, default=None,
                   help="timed images per phase (default: 500 for mnist, 100 for caltech)")
    p.add_argument("--warmup", type=int, default=5,
                   help="untimed images before each phase (default: 5)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding the datasets (default: $SNNHW_DATA, else the user "
                        "cache)")
    p.add_argument("--spyketorch", default=os.environ.get("SPYKETORCH_DIR"),
                   help="SpykeTorch source tree (default: $SPYKETORCH_DIR, else no SpykeTorch "
                        "column)")
    p.add_argument("--spyketorch-python", default=os.environ.get("SPYKETORCH_PYTHON"),
                   help="Python with torch for SpykeTorch (default: $SPYKETORCH_PYTHON)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    if args.images is not None and args.images < 1:
        p.error("--images must be at least 1")
    if args.warmup < 1:
        p.error("--warmup must be at least 1 (it compiles the numba kernels)")
    names = ("mnist", "caltech") if args.network == "both" else (args.network,)
    spyketorch = bool(args.spyketorch and args.spyketorch_python)
    if not spyketorch:
        print("SpykeTorch: skipped (give --spyketorch and --spyketorch-python, or set "
              "SPYKETORCH_DIR and SPYKETORCH_PYTHON)", file=sys.stderr)

    report: dict[str, Any] = {"command": _command(argv, args), "commit": _commit(),
                              "machine": _machine(), "networks": {}}
    tables = []
    for name in names:
        path, dataset, split, default_n = NETWORKS[name]
        config = load_config(path)
        net = resolve(config)
        size = {"size": (net.encoder.height, net.encoder.width)} if dataset == CALTECH else {
            "download": False}
        images = load_dataset(dataset, split, args.data_dir, **size).images
        n = min(args.images or default_n, len(images))
        images = np.ascontiguousarray(images[:n])
        print(f"{name}: timing snnhw on {n} images", file=sys.stderr, flush=True)
        result: dict[str, Any] = {"config": str(path.relative_to(ROOT)), "images": n,
                                  "warmup": args.warmup, "snnhw": time_snnhw(net, images,
                                                                            args.warmup)}
        if spyketorch:
            print(f"{name}: timing SpykeTorch on {n} images", file=sys.stderr, flush=True)
            result["spyketorch"] = time_spyketorch(net, config, images, args.warmup,
                                                   args.spyketorch, args.spyketorch_python)
        report["networks"][name] = result
        winners = ", ".join(
            f"{k} {v:.2f}" + (f" / {result['spyketorch']['winners_per_step'][k]:.2f}"
                              if spyketorch else "")
            for k, v in result["snnhw"]["winners_per_step"].items())
        tables.append(f"**{net.name}** (`{result['config']}`, {n} images, "
                      f"{args.warmup} warm-up; winners per STDP step "
                      f"{'snnhw / SpykeTorch' if spyketorch else 'snnhw'}: {winners})\n\n"
                      f"{table(result, net)}")

    m = report["machine"]
    torch = next((r["spyketorch"]["torch"] for r in report["networks"].values()
                  if "spyketorch" in r), None)
    print("```sh")
    print(report["command"])
    print("```\n")
    print(f"Commit {report['commit']}; `{m['arch']}`, {m['cpu']}, {m['cores']} cores, "
          f"CPython {m['python']}" + (f", torch {torch}" if torch else "") +
          f"; one thread each; load average {m['load_average'][0]} at the start.\n")
    print("\n\n".join(tables))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
