"""Fingerprint of the golden model: one SHA-256 per config and output, to prove a refactor
changed no behaviour.

    python bench/golden_hash.py [--data-dir DIR] [--out FILE] [--compare FILE] [--quick]

For every example and test config (``examples/``, ``sim/configs/``, ``tests/data/``; invalid
ones are skipped by design, they are the error-path fixtures):

* a **learning** config learns ``--learn`` samples and then infers ``--infer`` samples on the
  fast path (real MNIST for 784-input configs, seeded random images otherwise), and a few
  samples on the readable path; the weights, thresholds, generator states, alive bits, prune
  threshold, spike counts, presentations, busy and ideal cycles and the labels (assigned from
  the inference counts) are hashed; the MNIST examples also run ``snnhw train`` and hash
  ``model.npz`` and the deterministic fields of ``report.json``;
* a **LIF** config runs ``snnhw simulate --random`` and its output files are hashed.

Run it at two commits (``git worktree add`` the old one, and run this file with
``--root`` pointing at it, so that its ``snnhw`` is imported) and compare the JSON files with
``--compare``: every hash must be equal.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
TIMING = {"samples_per_second", "inference_samples_per_second", "train_seconds",
          "seconds", "elapsed_seconds"}  # report fields that measure this machine


def _pick(name: str, *modules: str):
    """``name`` from the first of ``modules`` that has it: the script runs at commits from
    before and after a module moved."""
    for mod in modules:
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"{name} is in none of {modules}")


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        h.update(str(a.dtype.kind).encode() + str(a.shape).encode())
        h.update(np.ascontiguousarray(a.astype(np.int64) if a.dtype.kind in "biu" else a)
                 .tobytes())
    return h.hexdigest()


def _json_digest(doc) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _configs(root: Path) -> list[Path]:
    out = []
    for pattern in ("examples/*.toml", "examples/learning/*.toml", "sim/configs/*.toml",
                    "sim/configs/learning/*.toml", "tests/data/*.toml"):
        out += sorted(root.glob(pattern))
    return out


def _is_learning(path: Path) -> bool:
    doc = tomllib.loads(path.read_text())
    first = (doc.get("layer") or [doc])[0]  # the [[layer]] form keeps stdp in its layer
    return bool(first.get("stdp", {}).get("enabled", False))


def _images(n_in: int, n: int, seed: int, mnist) -> np.ndarray:
    if n_in == 784 and mnist is not None:
        idx = np.random.default_rng(seed).permutation(len(mnist.images))[:n]
        return mnist.images.reshape(len(mnist.images), -1)[idx].astype(np.int64)
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, n_in)) * (rng.random((n, n_in)) < 0.25)


def _state_digest(state) -> dict[str, str]:
    d = {"weights": _digest(state.weights), "theta": _digest(state.theta),
         "generators": _digest(state.gens.states),
         "prune_threshold": _digest([state.prune_threshold])}
    if state.alive is not None:
        d["alive"] = _digest(state.alive)
    return d


def learning_hashes(config: Path, learn: int, infer: int, readable: int, train_set, test_set
                    ) -> dict[str, str]:
    load_config = _pick("load_config", "snnhw.config")
    try:  # the registry's, since issue 17
        resolve = _pick("resolve_layer", "snnhw.families")
    except ImportError:
        resolve = _pick("resolve", "snnhw.ir")
    dc, old = "snnhw.golden.networks.diehl_cook", "snnhw.golden.learning"  # now, before #17
    state_cls = _pick("LearningState", dc, old)
    run_fast = _pick("run_samples_fast", dc + "_fast", "snnhw.golden.fast")
    run_sample = _pick("run_sample", dc, old)
    pruning_step = _pick("pruning_step", dc, old)
    assign_labels = _pick("assign_labels", "snnhw.train")
    layer = resolve(load_config(config))
    out: dict[str, str] = {}
    state = state_cls.initial(layer)
    x = _images(layer.n_in, learn, 1, train_set)
    counts, tries, busy, ideal = run_fast(layer, state, x, learn=True)
    out["learn_counts_cycles"] = _digest(counts, tries, busy, ideal)
    out.update({f"learn_{k}": v for k, v in _state_digest(state).items()})
    y = _images(layer.n_in, infer, 2, test_set)
    counts, tries, busy, ideal = run_fast(layer, state, y, learn=False)
    out["infer_counts_cycles"] = _digest(counts, tries, busy, ideal)
    classes = np.arange(infer) % 10
    out["labels"] = _digest(assign_labels(counts, classes))
    # the readable path, sample by sample, with its per-presentation records
    state = state_cls.initial(layer)
    records: list = []
    for s, image in enumerate(_images(layer.n_in, readable, 3, train_set)):
        learn_now = s < readable - 2  # the last two infer
        eta = layer.stdp.eta_at(s) if learn_now and layer.stdp else 0
        prune = pruning_step(layer, state, s, learn=learn_now)
        run_sample(layer, state, image, learn=learn_now, eta=eta, record=records, prune=prune)
    out["readable_records"] = _digest(*[np.concatenate([[r.attempt, r.nonzero, r.fired,
                                                         r.cycles(layer)], r.events,
                                                        r.spikes]) for r in records])
    out.update({f"readable_{k}": v for k, v in _state_digest(state).items()})
    return out


def _cli(argv: list[str]) -> None:
    main = _pick("main", "snnhw.cli")
    rc = main(argv)
    if rc:
        raise SystemExit(f"snnhw {' '.join(argv)} exited {rc}")


def train_hashes(config: Path, learn: int, infer: int, data_dir: str | None) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model"
        argv = ["train", str(config), "--samples", str(learn), "--label-samples", str(infer),
                "--test-samples", str(infer), "--no-float", "--out", str(out)]
        _cli(argv + (["--data-dir", data_dir] if data_dir else []))
        saved = np.load(out / "model.npz")
        report = json.loads((out / "report.json").read_text())
        return {"train_model_" + k: _digest(saved[k]) for k in sorted(saved.files)
                if k != "version"} | {  # the format's version field came with #17
            "train_report": _json_digest({k: v for k, v in report.items() if k not in TIMING})}


def lif_hashes(config: Path) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sim"
        _cli(["simulate", str(config), "--random", "60", "--seed", "7", "--activity", "0.2",
              "-o", str(out)])
        hashes = {}
        for f in sorted(out.iterdir()):
            if f.suffix == ".npy":
                hashes[f.name] = _digest(np.load(f))
            elif f.suffix == ".npz":
                saved = np.load(f)
                hashes[f.name] = _digest(*[saved[k] for k in sorted(saved.files)])
            elif f.suffix == ".txt":
                hashes[f.name] = hashlib.sha256(f.read_bytes()).hexdigest()
            elif f.name == "report.json":
                doc = json.loads(f.read_text())
                hashes[f.name] = _json_digest({k: v for k, v in doc.items()
                                               if k not in TIMING})
        return hashes


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=str(ROOT), help="checkout whose snnhw and configs to hash "
                   "(default: this one)")
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: $SNNHW_DATA)")
    p.add_argument("--learn", type=int, default=1500, help="training samples (default: 1500)")
    p.add_argument("--infer", type=int, default=300, help="inference samples (default: 300)")
    p.add_argument("--readable", type=int, default=6,
                   help="samples on the readable path (default: 6)")
    p.add_argument("--out", default=None, help="write the hashes to this JSON file")
    p.add_argument("--compare", default=None, help="JSON file of another commit: exit 1 "
                   "unless every hash is equal")
    args = p.parse_args(argv)
    root = Path(args.root).resolve()
    sys.path.insert(0, str(root))
    import snnhw

    if Path(snnhw.__file__).resolve().parent != root / "snnhw":
        raise SystemExit(f"imported {snnhw.__file__}, not {root}/snnhw")
    load_dataset = _pick("load_dataset", "snnhw.datasets")
    train_set = load_dataset("mnist", "train", args.data_dir)
    test_set = load_dataset("mnist", "test", args.data_dir)
    config_error = _pick("SnnhwError", "snnhw.errors")
    load_config = _pick("load_config", "snnhw.config")
    result: dict[str, dict[str, str]] = {}
    for config in _configs(root):
        name = str(config.relative_to(root))
        try:
            cfg = load_config(config)
        except config_error:
            continue  # an error-path fixture
        if not hasattr(cfg, "neurons"):
            continue  # a conv network (ttfs_conv): not hashed here
        if _is_learning(config):
            h = learning_hashes(config, args.learn, args.infer, args.readable, train_set,
                                test_set)
            if name.startswith("examples/learning/"):
                h |= train_hashes(config, args.learn, args.infer, args.data_dir)
        else:
            h = lif_hashes(config)
        result[name] = h
        print(f"{name}: {_json_digest(h)[:16]} ({len(h)} outputs)", flush=True)
    print(f"all: {_json_digest(result)}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    if args.compare:
        other = json.loads(Path(args.compare).read_text())
        new = sorted(set(result) - set(other))  # configs added since: nothing to compare
        diff = [f"{c}: {k}" for c in sorted(other)
                for k in sorted(set(result.get(c, {})) | set(other[c]))
                if result.get(c, {}).get(k) != other[c].get(k)]
        for c in new:
            print(f"NEW {c} (not in {args.compare})")
        for d in diff:
            print(f"DIFFERS {d}")
        print(f"{len(diff)} of {sum(len(v) for v in other.values())} hashes differ")
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
