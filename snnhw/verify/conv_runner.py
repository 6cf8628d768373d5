"""``snnhw verify`` for TTFS conv networks: generate the core, build it with a simulator and
run :mod:`.conv_tb` on real images, layer by layer, against the golden model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..config import Config
from ..conv_model import load_splits
from ..errors import InputError
from ..export import generate
from ..families import Family, resolve
from ..golden.networks.ttfs_conv import encode
from .runner import VerifyResult, result_of, run_bench

__all__ = ["verify_conv", "schedule"]


def schedule(net, samples: int, infer_samples: int) -> np.ndarray:
    """What each image does: ``samples`` images per learning conv layer, in layer order
    (stage + 1), then ``infer_samples`` inference runs (0)."""
    learn = [s + 1 for s, c in enumerate(net.conv_layers) if c.stdp is not None
             for _ in range(samples)]
    return np.array(learn + [0] * infer_samples, dtype=np.int64)


def verify_conv(config_path: Path, config: Config, family: Family, *, simulator: str,
                env: dict[str, str], out_dir: str | Path | None, waves: bool,
                golden_config: str | Path | None, say: Callable[[str], None], samples: int,
                infer_samples: int, dataset: str, data_dir: str | Path | None
                ) -> VerifyResult:
    """Verify a ttfs_conv config (see :func:`snnhw.verify.verify`): ``samples`` learning
    images per learning layer of ``dataset``'s learning split, then ``infer_samples`` test
    images."""
    if samples < 1 or infer_samples < 0:
        raise InputError(f"samples = {samples}, infer_samples = {infer_samples}: need at least "
                         "1 sample to learn and no negative count")
    net = resolve(config)
    splits = load_splits(net, dataset, data_dir)
    plan = schedule(net, samples, infer_samples)
    n_learn = int(np.count_nonzero(plan))
    # each learning layer learns from the same first images of the learning split
    images = np.concatenate([splits.learn[:samples]] * (n_learn // samples)
                            + [splits.test[:infer_samples]])
    times = np.stack([encode(net, img) for img in images])
    out = (Path(out_dir) if out_dir else Path("build") / "verify" / net.name).resolve()
    say("generating Verilog")
    gen = generate(config, out / "rtl")
    samples_path = out / "samples.npz"
    np.savez(samples_path, times=times, learn=plan)
    r = run_bench(gen.verilog, gen.manifest["top"], family.verify_bench, simulator, env, out,
                  {"config": str(config_path.resolve()),
                   "golden_config": str(Path(golden_config or config_path).resolve()),
                   "samples": str(samples_path)},
                  waves=waves, what=f"simulating {len(plan)} images ({n_learn} learning)",
                  say=say)
    return result_of(r, config_path, simulator, out)
