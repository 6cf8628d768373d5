"""The resolved network: every size, width, memory and initial weight, with all defaults applied.

Both consumers, :mod:`snnhw.golden` and :mod:`snnhw.gateware`, read only this. The memory
organisation (which weight lives in which bank at which address) is defined here, once.

Weight layout
-------------
Neuron ``j`` belongs to lane ``j % P`` and neuron group ``k = j // P`` (``P`` lanes,
``NPL = ceil(N_out / P)`` groups). Weight ``W[i, j]`` lives in bank ``(i + j) % P`` at address
``i * NPL + j // P``. This skewed placement keeps both access patterns conflict-free:

* a row (one input event, all neurons of group ``k``) reads the same address ``i*NPL + k`` in
  every bank, rotated by ``i % P`` onto the lanes;
* a column (one neuron, ``P`` consecutive inputs) touches ``P`` different banks, which is what a
  post-spike learning update needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config, toml_value
from .errors import ConfigError

__all__ = ["MemoryIR", "LayerIR", "resolve", "ceil_log2", "bits_for"]


def ceil_log2(n: int) -> int:
    """Address bits to index ``n`` items (0 for n <= 1)."""
    return (n - 1).bit_length() if n > 1 else 0


def bits_for(n: int) -> int:
    """Bits to hold the unsigned value ``n`` (at least 1)."""
    return max(1, int(n).bit_length())


@dataclass(frozen=True)
class MemoryIR:
    """One on-chip memory: ``count`` identical banks of ``depth`` words of ``width`` bits."""

    name: str
    count: int
    depth: int
    width: int

    @property
    def bits(self) -> int:
        return self.count * self.depth * self.width


@dataclass(frozen=True, eq=False)
class LayerIR:
    """One dense layer of LIF/IF neurons, resolved for hardware."""

    name: str
    n_in: int
    n_out: int
    lanes: int
    model: str
    membrane_bits: int
    threshold: int
    leak_shift: int  # 0 means no leak (model "if")
    reset: str  # "zero" or "subtract"
    refractory: int
    weight_bits: int
    weight_signed: bool
    timestep_bits: int
    counter_bits: int
    weights: np.ndarray = field(repr=False)  # (n_in, n_out) int64, read-only

    # -- derived sizes ---------------------------------------------------------------------

    @property
    def npl(self) -> int:
        """Neuron groups per lane (neurons per lane), ``ceil(n_out / lanes)``."""
        return -(-self.n_out // self.lanes)

    @property
    def padded_out(self) -> int:
        return self.npl * self.lanes

    @property
    def index_bits(self) -> int:
        return max(1, ceil_log2(self.n_in))

    @property
    def neuron_bits(self) -> int:
        return max(1, ceil_log2(self.n_out))

    @property
    def group_bits(self) -> int:
        return max(1, ceil_log2(self.npl))

    @property
    def lane_bits(self) -> int:
        return max(1, ceil_log2(self.lanes))

    @property
    def bank_depth(self) -> int:
        return self.n_in * self.npl

    @property
    def bank_addr_bits(self) -> int:
        return max(1, ceil_log2(self.bank_depth))

    @property
    def ref_bits(self) -> int:
        return bits_for(self.refractory)

    @property
    def state_bits(self) -> int:
        return self.membrane_bits + self.ref_bits

    @property
    def vmin(self) -> int:
        return -(2 ** (self.membrane_bits - 1))

    @property
    def vmax(self) -> int:
        return 2 ** (self.membrane_bits - 1) - 1

    @property
    def wmin(self) -> int:
        return -(2 ** (self.weight_bits - 1)) if self.weight_signed else 0

    @property
    def wmax(self) -> int:
        return 2 ** (self.weight_bits - 1) - 1 if self.weight_signed else 2**self.weight_bits - 1

    @property
    def memories(self) -> tuple[MemoryIR, ...]:
        return (
            MemoryIR("weights", self.lanes, self.bank_depth, self.weight_bits),
            MemoryIR("state", self.lanes, self.npl, self.state_bits),
        )

    @property
    def total_memory_bits(self) -> int:
        return sum(m.bits for m in self.memories)

    # -- weight layout ---------------------------------------------------------------------

    def weight_location(self, i, j):
        """Bank and address of ``W[i, j]`` (scalars or broadcastable arrays)."""
        i, j = np.asarray(i), np.asarray(j)
        return (i + j) % self.lanes, i * self.npl + j // self.lanes

    def weight_banks(self, weights: np.ndarray | None = None) -> np.ndarray:
        """Physical bank images, shape ``(lanes, bank_depth)``; padding neurons hold 0."""
        w = self.weights if weights is None else weights
        banks = np.zeros((self.lanes, self.bank_depth), dtype=np.int64)
        i, j = np.meshgrid(np.arange(self.n_in), np.arange(self.n_out), indexing="ij")
        bank, addr = self.weight_location(i, j)
        banks[bank, addr] = w
        return banks

    def weights_from_banks(self, banks: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`weight_banks`: the logical ``(n_in, n_out)`` matrix."""
        i, j = np.meshgrid(np.arange(self.n_in), np.arange(self.n_out), indexing="ij")
        bank, addr = self.weight_location(i, j)
        return np.asarray(banks)[bank, addr]

    def neuron_valid(self) -> np.ndarray:
        """Shape ``(npl, lanes)``: whether group ``k``, lane ``l`` is a real neuron."""
        return (np.arange(self.padded_out) < self.n_out).reshape(self.npl, self.lanes)

    # -- serialisation ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in (
            "name", "n_in", "n_out", "lanes", "model", "membrane_bits", "threshold",
            "leak_shift", "reset", "refractory", "weight_bits", "weight_signed",
            "timestep_bits", "counter_bits")}
        d.update(npl=self.npl, bank_depth=self.bank_depth, state_bits=self.state_bits,
                 ref_bits=self.ref_bits)
        return d


def _initial_weights(config: Config) -> np.ndarray:
    syn, n_in, n_out = config.synapses, config.input.size, config.neurons.count
    shape = (n_in, n_out)
    if syn.init == "zeros":
        return np.zeros(shape, dtype=np.int64)
    if syn.init == "uniform":
        rng = np.random.default_rng(syn.init_seed)
        return rng.integers(syn.init_low, syn.init_high, size=shape, endpoint=True,
                            dtype=np.int64)
    path = config.base_dir / syn.init_file
    key = f"synapses.init_file = {toml_value(syn.init_file)}"
    try:
        w = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ConfigError([f"{key}: cannot load ({e})"]) from None
    if w.shape != shape:
        raise ConfigError([f"{key}: has shape {w.shape}, must be (input.size, neurons.count) = "
                           f"{shape}"])
    if not np.issubdtype(w.dtype, np.integer):
        raise ConfigError([f"{key}: has dtype {w.dtype}, must hold integers"])
    bits, signed = syn.weight_bits, syn.signed
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    if w.size and (w.min() < lo or w.max() > hi):
        raise ConfigError([f"{key}: values {int(w.min())}..{int(w.max())} exceed the weight "
                           f"range {lo}..{hi}"])
    return w.astype(np.int64)


def resolve(config: Config) -> LayerIR:
    """Resolve a checked configuration into the hardware description both models consume."""
    neu = config.neurons
    weights = _initial_weights(config)
    weights.setflags(write=False)
    return LayerIR(
        name=config.network.name,
        n_in=config.input.size,
        n_out=neu.count,
        lanes=config.hardware.lanes,
        model=neu.model,
        membrane_bits=neu.membrane_bits,
        threshold=neu.threshold,
        leak_shift=neu.leak_shift if neu.model == "lif" else 0,
        reset=neu.reset,
        refractory=neu.refractory,
        weight_bits=config.synapses.weight_bits,
        weight_signed=config.synapses.signed,
        timestep_bits=config.hardware.timestep_bits,
        counter_bits=config.hardware.counter_bits,
        weights=weights,
    )


def dump_resolved(config: Config, layer: LayerIR, path: Path) -> None:
    """Write ``resolved_config.json``: every key with defaults filled, and the derived sizes."""
    doc = {"config": config.to_dict(), "resolved": layer.to_dict()}
    path.write_text(json.dumps(doc, indent=2) + "\n")
