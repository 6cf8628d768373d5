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

import dataclasses
import enum
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config, toml_value, weight_range
from .errors import ConfigError

__all__ = ["Space", "SPACE_MEMORY", "MemoryIR", "EncoderIR", "StdpIR", "PruningIR", "LayerIR",
           "LearningLayerIR",
           "NetworkIR", "resolve_dense_layer", "resolve_learning_layer", "dump_resolved",
           "trace_table", "ceil_log2", "bits_for", "dividend_bits", "from_twos", "xorshift16",
           "GENERATOR_PERIOD", "GENERATOR_SEQUENCE", "generator_start_states",
           "ENC_TAIL", "FIRE_DRAIN", "COL_TAIL", "NORM_FIXED", "END_TAIL",
           "SPRAM_DEPTH", "SPRAM_WIDTH", "spram_layout", "spram_holds"]

# Pipeline depths of the learning core (docs/semantics.md section 22): the gateware is built
# with them and the cycle model (snnhw.golden.networks.diehl_cook_cycles) counts them.
ENC_TAIL = 4  #: encoder: a timestep of G > 0 list groups is encoded in G + ENC_TAIL cycles
FIRE_DRAIN = 6  #: the last FIRE op's SA, S1 .. S4, then the cycle that takes the winner
COL_TAIL = 5  #: a column pass: its NIG issues, then the last op's SA, S1 .. S4
# per fired neuron when normalising: SUM (a cycle that loads the column address counters,
# NIG issues, the last op's SA, S1 and S2), divider (DB + 1), RESCALE (NIG + COL_TAIL)
NORM_FIXED = 4 + 1 + COL_TAIL
END_TAIL = 1  #: PRES_END's cycles before its last: the last neuron op's write lands


def ceil_log2(n: int) -> int:
    """Address bits to index ``n`` items (0 for n <= 1)."""
    return (n - 1).bit_length() if n > 1 else 0


def from_twos(word: int, bits: int) -> int:
    """The signed value of the low ``bits`` bits of ``word`` (two's complement)."""
    word &= (1 << bits) - 1
    return word - (1 << bits) if word >> (bits - 1) else word


# iCE40UP5K SB_SPRAM256KA: the synapse memory's primitive there (snnhw.gateware.spram)
SPRAM_DEPTH = 16384
SPRAM_WIDTH = 16


def spram_layout(width: int, depth: int) -> tuple[int, int, int]:
    """``(slot bits, slots per word, blocks)`` of a memory of ``depth`` x ``width`` bits in
    SPRAM: words narrower than 16 bits share one in nibble-aligned slots (a write enables its
    slot's nibbles)."""
    if not 1 <= width <= SPRAM_WIDTH:
        raise ValueError(f"SPRAM word width must be 1 to {SPRAM_WIDTH} bits, not {width!r}")
    if depth < 1:
        raise ValueError(f"SPRAM depth must be a positive integer, not {depth!r}")
    slot = 4 * -(-width // 4)
    while SPRAM_WIDTH % slot:  # 12-bit slots: one per word
        slot += 4
    per = SPRAM_WIDTH // slot
    words = -(-depth // per)
    return slot, per, -(-words // SPRAM_DEPTH)


def spram_holds(mem: MemoryIR) -> bool:
    """Whether a learning core built for SPRAM keeps ``mem`` there: the weights, and the
    pruning bitmap when its words fit a 16-bit SPRAM word."""
    return mem.name == "weights" or mem.name == "alive" and mem.width <= SPRAM_WIDTH


def bits_for(n: int) -> int:
    """Bits to hold the unsigned value ``n`` (at least 1)."""
    return max(1, int(n).bit_length())


def dividend_bits(normalize_target: int) -> int:
    """Bits of the normalisation divider's dividend, ``normalize_target << 16`` (1 without
    normalisation, target 0): the divider takes one cycle per bit."""
    return bits_for(normalize_target << 16) if normalize_target else 1


class Space(enum.IntEnum):
    """The memories a host reads and writes, by number: the host port of a core
    (``snnhw.gateware``) and WRITE_MEM / READ_MEM of the host link (docs/host-protocol.md)
    take these numbers. Each names a memory of :attr:`LayerIR.memories` (:data:`SPACE_MEMORY`),
    which gives its banks, depth and width; LABELS is the SoC's label table."""

    WEIGHT = 0  #: a weight bank; bank, word (``LayerIR.weight_location``)
    STATE = 1  #: a lane's neuron state; bank is the lane, word the neuron group
    THETA = 2  #: learning: a lane's adaptive thresholds; bank is the lane, word the group
    ENC_GEN = 3  #: learning: the encoder's list-slot generators; bank, input group
    IN_GEN = 4  #: learning: the per-input rounding generators; bank, input group
    ALIVE = 5  #: pruning: bank, word of the alive bitmap (``LearningLayerIR.alive_location``)
    LABELS = 6  #: the SoC's neuron labels (its vote table)


#: The memory of :attr:`LayerIR.memories` each core space exposes.
SPACE_MEMORY = {Space.WEIGHT: "weights", Space.STATE: "state", Space.THETA: "theta",
                Space.ENC_GEN: "enc_gen", Space.IN_GEN: "in_gen", Space.ALIVE: "alive"}


@dataclass(frozen=True)
class MemoryIR:
    """One on-chip memory: ``count`` identical banks of ``depth`` words of ``width`` bits.

    ``async_read``: read without a clock edge, so logic or LUT RAM, never block RAM.
    ``huge``: one port for reads and writes, so it may go to the iCE40UP5K's SPRAM (yosys'
    ``ram_style = "huge"``). ``granularity``: bits each write enable covers (0: the whole
    word). :mod:`snnhw.fit` counts the block RAM these need.
    """

    name: str
    count: int
    depth: int
    width: int
    async_read: bool = False
    huge: bool = False
    granularity: int = 0

    @property
    def bits(self) -> int:
        return self.count * self.depth * self.width


GENERATOR_PERIOD = 65535


def xorshift16(s: int) -> int:
    """One step of the hardware's 16-bit random generator, ``s ^= s << 7; s ^= s >> 9;
    s ^= s << 8``, which visits all 65535 non-zero states."""
    s ^= (s << 7) & 0xFFFF
    s ^= s >> 9
    s ^= (s << 8) & 0xFFFF
    return s


def _xorshift_sequence() -> np.ndarray:
    seq = np.empty(GENERATOR_PERIOD, dtype=np.int64)
    s = 1
    for k in range(GENERATOR_PERIOD):
        seq[k] = s
        s = xorshift16(s)
    if s != 1 or len(set(seq.tolist())) != GENERATOR_PERIOD:  # pragma: no cover
        raise AssertionError("xorshift16 (7, 9, 8) must have period 65535")
    seq.setflags(write=False)
    return seq


GENERATOR_SEQUENCE: np.ndarray = _xorshift_sequence()  # the whole cycle, from state 1


def generator_start_states(n: int, seed: int) -> np.ndarray:
    """Seeded non-zero start states of ``n`` generators (the hardware's memory images)."""
    rng = np.random.default_rng(seed)
    return GENERATOR_SEQUENCE[rng.integers(0, GENERATOR_PERIOD, size=n)]


@dataclass(frozen=True, eq=False)
class EncoderIR:
    """On-chip rate encoder: how a sample's pixels become input spikes."""

    timesteps: int
    rest: int  # silent timesteps after the input's
    rate_scale: int
    intensity: int
    max_tries: int
    min_spikes: int
    seed: int
    # 2 * n_in + n_out start states: the encoder's list slots, one rounding generator per
    # input, one per neuron (for pre-spike depression)
    generator_states: np.ndarray = field(repr=False)

    @property
    def steps(self) -> int:
        """Timesteps of one presentation: ``timesteps`` with input, then ``rest`` without."""
        return self.timesteps + self.rest


@dataclass(frozen=True, eq=False)
class StdpIR:
    """Post-triggered trace STDP with optional per-neuron weight normalisation."""

    eta: int
    eta_pre: int  # 0: no pre-spike depression
    eta_halve_every: int
    x_tar: int
    adaptive: bool  # adaptive potentiation
    potentiation_shift: int  # log2(potentiation_spikes)
    rounding: str  # "truncate", "nearest" or "stochastic"
    normalize_target: int  # 0: off
    trace_table: np.ndarray = field(repr=False)  # (256,) int64: trace after k timesteps

    @property
    def trace_depth(self) -> int:
        """Entries of ``trace_table`` a learning core stores: up to the last that differs from
        the one before it, and at least 2 (a ROM with an address). From there on the table is
        constant, so an older age reads that last entry (the ROM is 54 entries, not 256, for
        trace_shift 4, trace_round 8)."""
        t = self.trace_table
        changes = np.nonzero(t[1:] != t[:-1])[0]
        return max(2, int(changes[-1]) + 2 if len(changes) else 1)

    def eta_at(self, sample: int) -> int:
        """Learning rate for the ``sample``-th training sample (0-based)."""
        if self.eta_halve_every == 0:
            return self.eta
        return self.eta >> min(62, sample // self.eta_halve_every)

    def eta_potentiation(self, eta: int, most_spikes: int) -> int:
        """Rate of the potentiating terms (``x >= x_tar``) when the busiest neuron of the
        presentation has made ``most_spikes`` spikes: ``eta``, or with adaptive potentiation
        ``min((eta * most_spikes) >> potentiation_shift, 65535)``."""
        if not self.adaptive:
            return eta
        return min((eta * most_spikes) >> self.potentiation_shift, 0xFFFF)


def trace_table(shift: int, rnd: int) -> np.ndarray:
    """Pre-synaptic trace ``k`` timesteps after a spike: 255, then ``x -= (x + rnd) >> shift``
    per timestep; entry 255 stands for 255 timesteps or more."""
    x = np.empty(256, dtype=np.int64)
    x[0] = 255
    for k in range(1, 256):
        x[k] = max(0, x[k - 1] - ((x[k - 1] + rnd) >> shift))
    x.setflags(write=False)
    return x


@dataclass(frozen=True)
class PruningIR:
    """Threshold pruning during learning (docs/semantics.md, section 25)."""

    threshold: int  # an alive weight written at or below it is pruned (the start, with a
    # schedule)
    warmup: int  # training samples before pruning starts
    chunk_bits: int  # alive-bitmap word per lane and row
    target_permille: int  # connectivity schedule's goal; 0: fixed threshold
    schedule_samples: int
    threshold_step: int
    wmax: int

    def active_at(self, sample: int) -> bool:
        """Whether training sample ``sample`` (0-based) may prune."""
        return sample >= self.warmup

    def goal_permille(self, sample: int) -> int:
        """The schedule's connectivity goal before training sample ``sample``, in per mille:
        1000 until the warm-up ends, then falling linearly to ``target_permille`` over
        ``schedule_samples`` samples."""
        done = min(max(sample - self.warmup, 0), self.schedule_samples)
        return 1000 - (1000 - self.target_permille) * done // self.schedule_samples

    def step(self, threshold: int, sample: int, alive: Callable[[], int], synapses: int
             ) -> tuple[int, bool]:
        """Before training sample ``sample``: the prune threshold it uses (moved from
        ``threshold`` by the schedule) and whether it may prune. ``alive()`` gives the number
        of synapses alive; it is called only when the schedule needs it (a host reads it over
        the link). The golden model and every host backend take this step."""
        if self.target_permille and self.active_at(sample):
            threshold = self.next_threshold(threshold, sample, alive(), synapses)
        return threshold, self.active_at(sample)

    def next_threshold(self, threshold: int, sample: int, alive: int, synapses: int) -> int:
        """The threshold for training sample ``sample``, given the one before and the number
        of synapses alive: with a schedule, raised by ``threshold_step`` (up to the weight
        maximum) when ``alive * 1000 > goal * synapses``."""
        if not self.target_permille or not self.active_at(sample):
            return threshold
        if alive * 1000 > self.goal_permille(sample) * synapses:
            return min(threshold + self.threshold_step, self.wmax)
        return threshold


@dataclass(frozen=True, eq=False, kw_only=True)
class LayerIR:
    """One dense layer of LIF/IF neurons, resolved for hardware: the layer of the ``lif_layer``
    family, and the base of every dense layer kind (weights, neurons, the skewed layout)."""

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
    weight_shift: int  # an input spike adds weight << weight_shift

    # -- derived sizes ---------------------------------------------------------------------

    @property
    def npl(self) -> int:
        """Neuron groups per lane (neurons per lane), ``ceil(n_out / lanes)``."""
        return -(-self.n_out // self.lanes)

    @property
    def nig(self) -> int:
        """Input groups, ``ceil(n_in / lanes)``: the encoder's list slots and the event words
        per bank, and the reads of a column (STDP) pass."""
        return -(-self.n_in // self.lanes)

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
        return weight_range(self.weight_bits, self.weight_signed)[0]

    @property
    def wmax(self) -> int:
        return weight_range(self.weight_bits, self.weight_signed)[1]

    @property
    def memories(self) -> tuple[MemoryIR, ...]:
        """The core's memories: weight banks and neuron state, one of each per lane."""
        return (
            MemoryIR("weights", self.lanes, self.bank_depth, self.weight_bits),
            MemoryIR("state", self.lanes, self.npl, self.state_bits),
        )

    def memory_images(self) -> dict[str, np.ndarray]:
        """The initial contents of the memories that start non-zero, bank by bank."""
        return {"weights": self.weight_banks()}

    def host_spaces(self) -> dict[Space, MemoryIR]:
        """The memories the core's host port reaches, by space, in space order."""
        mems = {m.name: m for m in self.memories}
        return {s: mems[n] for s, n in SPACE_MEMORY.items() if n in mems}

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


@dataclass(frozen=True, eq=False, kw_only=True)
class LearningLayerIR(LayerIR):
    """The dense layer of the ``diehl_cook`` family: adaptive thresholds, winner-take-all,
    an on-chip rate encoder, STDP and optional pruning (Diehl & Cook / FSpiNN)."""

    inhibition: str  # "none" or "wta"
    theta_increment: int  # 0: fixed thresholds
    theta_decay_shift: int
    theta_bits: int
    encoder: EncoderIR
    stdp: StdpIR | None  # None: no learning
    pruning: PruningIR | None  # None: every synapse stays

    @property
    def theta_max(self) -> int:
        return 2**self.theta_bits - 1

    @property
    def t_bits(self) -> int:
        """Bits of a timestep within a presentation (``0 .. steps - 1``): the spikes' timestep
        field and the last-spike words."""
        return bits_for(max(1, self.encoder.steps - 1))

    @property
    def count_bits(self) -> int:
        """Bits of a neuron's spike count in a presentation (``0 .. steps``)."""
        return bits_for(self.encoder.steps)

    @property
    def alive_count_bits(self) -> int:
        """Bits of the count of alive synapses (``0 .. n_in * n_out``)."""
        return bits_for(self.n_in * self.n_out)

    @property
    def dividend_bits(self) -> int:
        """Bits of the normalisation divider's dividend (:func:`dividend_bits`)."""
        return dividend_bits(self.stdp.normalize_target if self.stdp is not None else 0)

    @property
    def chunks(self) -> int:
        """Alive-bitmap words per row and lane (pruning): ``ceil(NPL / chunk_bits)``."""
        return -(-self.npl // self.pruning.chunk_bits) if self.pruning else 0

    @property
    def alive_stride(self) -> int:
        """Alive-bitmap words per row in a bank (pruning): :attr:`chunks` rounded up to a power
        of two, so that a row's word 0 is ``i << log2(stride)``: no multiplier or adder on the
        way from an event to the bitmap address (words ``chunks..stride - 1`` stay 0)."""
        return 1 << ceil_log2(self.chunks) if self.pruning else 0

    def learning_state_fields(self) -> list[tuple[str, int, bool]]:
        """The learning core's per-neuron state word, from bit 0 up: ``(name, bits, signed)``.
        With pre-spike depression it also holds the last post spike and a generator."""
        fields = [("v", self.membrane_bits, True), ("ref", self.ref_bits, False),
                  ("count", self.count_bits, False)]
        if self.stdp is not None and self.stdp.eta_pre:
            fields += [("post_valid", 1, False), ("post_t", self.t_bits, False),
                       ("gen", 16, False)]
        return fields

    def slot_fields(self) -> list[tuple[str, int]]:
        """A learning core's list slot and event, from bit 0 up: ``(name, bits)``. The input's
        weight row (``index * NPL``), its bank and word (``index % P``, ``index // P``), and
        with pruning the index (for the bitmap row). With one lane, the index alone: the core
        derives the rest as it takes the event (bank 0, word ``index``, row ``index * NPL``),
        so that a 784-input list and its events take 10 iCE40 block RAMs, not 29. A list slot
        adds the pixel ``value`` (8) on top."""
        P, nig = self.lanes, self.nig
        if P == 1:
            return [("index", self.index_bits)]
        fields = [("row", self.bank_addr_bits), ("mod", max(1, ceil_log2(P))),
                  ("div", ceil_log2(max(2, nig)))]
        if self.pruning:
            fields.append(("index", self.index_bits))
        return fields

    @property
    def memories(self) -> tuple[MemoryIR, ...]:
        """The learning core's memories (docs/semantics.md, section 21)."""
        P, nig = self.lanes, self.nig
        slot_bits = sum(bits for _, bits in self.slot_fields())
        return (
            MemoryIR("weights", P, self.bank_depth, self.weight_bits),
            MemoryIR("state", P, self.npl, sum(b for _, b, _ in self.learning_state_fields())),
            MemoryIR("theta", P, self.npl, self.theta_bits),
            MemoryIR("list", P, nig, slot_bits + 8),
            MemoryIR("enc_gen", P, nig, 16),
            MemoryIR("in_gen", P, nig, 16),
            MemoryIR("last", P, nig, 1 + self.t_bits),
            MemoryIR("events", P, 2 * nig, slot_bits),
            MemoryIR("trace_rom", 1, self.stdp.trace_depth, 8, async_read=True),
        ) + ((MemoryIR("alive", P, self.n_in * self.alive_stride, self.pruning.chunk_bits),)
             if self.pruning else ())

    def memory_images(self) -> dict[str, np.ndarray]:
        images = super().memory_images()
        if self.pruning is not None:
            images["alive"] = self.alive_banks()
        return images

    def alive_location(self, i: np.ndarray, j: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Bank, word address and bit of synapse ``(i, j)`` in the alive bitmap (pruning):
        row ``i``, lane ``b = j % P`` and group ``k = j // P`` sit in bank ``(i + b) % P``
        (the weight's bank), word ``i * alive_stride + k // chunk_bits``, bit ``k % chunk_bits``."""
        c = self.pruning.chunk_bits
        k = j // self.lanes
        return (i + j) % self.lanes, i * self.alive_stride + k // c, k % c

    def alive_banks(self, alive: np.ndarray | None = None) -> np.ndarray:
        """Alive-bitmap bank images, shape ``(lanes, n_in * alive_stride)``, from the logical
        ``(n_in, n_out)`` mask (default: every synapse alive); padding neurons are 0."""
        a = np.ones((self.n_in, self.n_out), dtype=bool) if alive is None else alive
        banks = np.zeros((self.lanes, self.n_in * self.alive_stride), dtype=np.int64)
        i, j = np.meshgrid(np.arange(self.n_in), np.arange(self.n_out), indexing="ij")
        bank, addr, bit = self.alive_location(i, j)
        np.add.at(banks, (bank, addr), a.astype(np.int64) << bit)
        return banks

    def alive_from_banks(self, banks: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`alive_banks`: the logical ``(n_in, n_out)`` mask."""
        i, j = np.meshgrid(np.arange(self.n_in), np.arange(self.n_out), indexing="ij")
        bank, addr, bit = self.alive_location(i, j)
        return ((np.asarray(banks)[bank, addr] >> bit) & 1).astype(bool)


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
    except (OSError, ValueError, EOFError) as e:
        raise ConfigError([f"{key}: cannot load ({e or 'empty file'})"]) from None
    if w.shape != shape:
        raise ConfigError([f"{key}: has shape {w.shape}, must be (input.size, neurons.count) = "
                           f"{shape}"])
    if not np.issubdtype(w.dtype, np.integer):
        raise ConfigError([f"{key}: has dtype {w.dtype}, must hold integers"])
    lo, hi = weight_range(syn.weight_bits, syn.signed)
    if w.size and (w.min() < lo or w.max() > hi):
        raise ConfigError([f"{key}: values {int(w.min())}..{int(w.max())} exceed the weight "
                           f"range {lo}..{hi}"])
    return w.astype(np.int64)


def _dense_fields(config: Config) -> dict[str, Any]:
    neu = config.neurons
    weights = _initial_weights(config)
    weights.setflags(write=False)
    return dict(
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
        weight_shift=config.synapses.weight_shift,
    )


def resolve_dense_layer(config: Config) -> LayerIR:
    """The dense LIF/IF layer of a checked configuration (the ``lif_layer`` family)."""
    return LayerIR(**_dense_fields(config))


def resolve_learning_layer(config: Config) -> LearningLayerIR:
    """The learning layer of a checked configuration (the ``diehl_cook`` family)."""
    neu = config.neurons
    return LearningLayerIR(
        **_dense_fields(config),
        inhibition=neu.inhibition,
        theta_increment=neu.theta_increment,
        theta_decay_shift=neu.theta_decay_shift,
        theta_bits=neu.theta_bits,
        encoder=EncoderIR(**dataclasses.asdict(config.encoder),
                          generator_states=generator_start_states(
                              2 * config.input.size + neu.count, config.encoder.seed)),
        stdp=_stdp(config) if config.stdp.enabled else None,
        pruning=_pruning(config) if config.pruning.enabled else None,
    )


@dataclass(frozen=True, eq=False)
class NetworkIR:
    """A resolved network: its input (``n_in`` channels and, if on chip, the encoder that
    makes spikes of them), its layers in order, and its readout. ``family`` names the entry
    of :mod:`snnhw.families` that built it, and that runs, builds and drives it."""

    family: str
    name: str
    n_in: int
    encoder: EncoderIR | None
    layers: tuple[LayerIR, ...]
    readout: str  # "spikes": output spikes; "votes": class votes of labelled neurons

    @property
    def layer(self) -> LayerIR:
        """The only layer of a single-layer network."""
        if len(self.layers) != 1:
            raise ValueError(f"network {self.name!r} has {len(self.layers)} layers, not 1")
        return self.layers[0]


def _pruning(config: Config) -> PruningIR:
    p = config.pruning
    return PruningIR(threshold=p.threshold, warmup=p.warmup, chunk_bits=p.chunk_bits,
                     target_permille=p.target_permille, schedule_samples=p.schedule_samples,
                     threshold_step=p.threshold_step,
                     wmax=weight_range(config.synapses.weight_bits, config.synapses.signed)[1])


def _stdp(config: Config) -> StdpIR:
    s = config.stdp
    return StdpIR(eta=s.eta, eta_pre=s.eta_pre, eta_halve_every=s.eta_halve_every, x_tar=s.x_tar,
                  adaptive=s.potentiation == "adaptive",
                  potentiation_shift=s.potentiation_spikes.bit_length() - 1,
                  rounding=s.rounding, normalize_target=s.normalize_target,
                  trace_table=trace_table(s.trace_shift, s.trace_round))


def dump_resolved(config: Config, layer: LayerIR, path: Path) -> None:
    """Write ``resolved_config.json``: every key with defaults filled, and the derived sizes."""
    doc = {"config": config.to_dict(), "resolved": layer.to_dict()}
    path.write_text(json.dumps(doc, indent=2) + "\n")
