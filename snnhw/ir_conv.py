"""Network IR of time-to-first-spike convolutional networks (the ``ttfs_conv`` family).

Everything the golden model, the cycle model and (later) the gateware need, resolved once
from a checked :class:`~snnhw.config_conv.ConvConfig`: the encoder's integer DoG kernel, each
layer's input and output shapes, thresholds, initial weights, STDP rate levels and rounding
generator, pruning, and the readout. docs/semantics.md ("Time-to-first-spike convolutional
networks") states the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config_conv import ConvConfig, ConvLayerConfig, conv_out, max_potential, pool_out
from .ir import MemoryIR, NetworkIR, bits_for, generator_start_states

__all__ = ["DogEncoderIR", "ConvStdpIR", "ConvLayerIR", "PoolLayerIR", "ConvNetworkIR",
           "KernelBanks", "dog_kernel", "dog_kernel_float", "resolve_conv_network",
           "resolved_dict", "event_fields", "pack_events", "unpack_events", "RATE_BITS",
           "DRAW_BITS", "stages_of", "list_depth", "list_shape", "register_names",
           "conv_memories"]

#: Fraction bits of the STDP rates (a+ and a- are in 2**-16).
RATE_BITS = 16
#: Bits of one random draw: the stochastic rounding of a weight update keeps this many
#: fraction bits of the exact update and rounds up when a draw is below them.
DRAW_BITS = 16


def dog_kernel_float(size: int, sigma_centre: float, sigma_surround: float) -> np.ndarray:
    """The on-centre DoG kernel in floats: centre minus surround Gaussian (each of unit
    volume), made zero-mean, scaled to a peak of 1 (the float reference uses it as is)."""
    c = size // 2

    def g(d2: int, s: float) -> float:
        return math.exp(-d2 / (2 * s * s)) / (2 * math.pi * s * s)

    f = [[g((y - c) ** 2 + (x - c) ** 2, sigma_centre) -
          g((y - c) ** 2 + (x - c) ** 2, sigma_surround) for x in range(size)]
         for y in range(size)]
    mean = sum(map(sum, f)) / (size * size)
    f = [[v - mean for v in row] for row in f]
    peak = max(map(max, f))
    return np.array([[v / peak for v in row] for row in f], dtype=np.float64)


def dog_kernel(size: int, sigma_centre: float, sigma_surround: float,
               frac_bits: int) -> np.ndarray:
    """The encoder's integer on-centre DoG kernel: :func:`dog_kernel_float` rounded to
    multiples of ``2**-frac_bits`` (half away from zero), as signed integers."""
    f = dog_kernel_float(size, sigma_centre, sigma_surround) * 2**frac_bits
    q = (np.sign(f) * np.floor(np.abs(f) + 0.5)).astype(np.int64)
    q.setflags(write=False)
    return q


@dataclass(frozen=True, eq=False)
class DogEncoderIR:
    """Image in, spike times out: the on/off DoG and the rank-order latency code."""

    height: int
    width: int
    timesteps: int
    kernel: np.ndarray  # (size, size) signed integers
    threshold: int
    kernel_float: np.ndarray  # the same DoG before rounding, for the float reference
    frac_bits: int

    @property
    def channels(self) -> int:
        return 2

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (2, self.height, self.width)


@dataclass(frozen=True, eq=False)
class ConvStdpIR:
    """Layer-wise multiplicative STDP of one conv layer."""

    images: int
    convergence: float
    rates: tuple[tuple[int, int], ...]  # (a+, a-) in 2**-16 per level
    grow_every: int
    generator_state: int  # start state of the layer's 16-bit xorshift rounding generator

    def level(self, images_seen: int) -> tuple[int, int]:
        """(a+, a-) for the next image, after ``images_seen`` images of the layer."""
        i = images_seen // self.grow_every if self.grow_every else 0
        return self.rates[min(i, len(self.rates) - 1)]


@dataclass(frozen=True, eq=False, kw_only=True)
class ConvLayerIR:
    """A conv layer of non-leaky IF neurons, each spiking at most once per image."""

    index: int
    name: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: int
    padding: int
    threshold: int
    weight_bits: int
    weights: np.ndarray  # (maps, in channels, kernel, kernel), initial
    winners: int
    radius: int
    pointwise_inhibition: bool
    stdp: ConvStdpIR | None
    prune_threshold: int | None  # None: no pruning
    prune_warmup: int

    kind = "conv"

    @property
    def maps(self) -> int:
        return self.out_shape[0]

    @property
    def full_scale(self) -> int:
        """The weight that stands for 1.0: ``2**weight_bits``."""
        return 1 << self.weight_bits

    @property
    def wmax(self) -> int:
        return (1 << self.weight_bits) - 1

    @property
    def taps(self) -> int:
        """Kernel taps (connections) of the layer: maps x channels x kernel x kernel."""
        return int(np.prod(self.weights.shape))

    @property
    def membrane_bits(self) -> int:
        """Unsigned width of a membrane: holds the largest possible potential."""
        return bits_for(max_potential(self.in_shape[0], self.kernel, self.weight_bits))


@dataclass(frozen=True, eq=False, kw_only=True)
class PoolLayerIR:
    """Pooling: the earliest spike in each window (no spike counts as T)."""

    index: int
    name: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    size: int
    stride: int
    padding: int

    kind = "pool"


@dataclass(frozen=True, eq=False)
class ConvNetworkIR(NetworkIR):
    """A resolved TTFS conv network: the encoder, conv and pool layers, and the readout."""

    features: str  # "max_potential" or "spike_times"
    svm_c: float
    svm_images: int
    lanes: int
    seed: int

    @property
    def timesteps(self) -> int:
        return self.encoder.timesteps

    @property
    def conv_layers(self) -> tuple[ConvLayerIR, ...]:
        return tuple(x for x in self.layers if isinstance(x, ConvLayerIR))

    @property
    def feature_count(self) -> int:
        last = self.layers[-1]
        if self.features == "max_potential":
            return last.maps
        return int(np.prod(last.out_shape))


def _rates(stdp) -> tuple[tuple[int, int], ...]:
    levels = [(stdp.a_plus, stdp.a_minus)]
    if stdp.grow_every and stdp.a_plus:
        while levels[-1][0] < stdp.a_plus_max:
            ap = min(levels[-1][0] * 2, stdp.a_plus_max)
            levels.append((ap, ap * stdp.a_minus // stdp.a_plus))
    return tuple(levels)


def resolve_conv_network(config: ConvConfig) -> ConvNetworkIR:
    """Resolve a checked conv config: shapes, integer kernel, initial weights, rates."""
    enc = config.encoder
    encoder = DogEncoderIR(
        height=config.input.height, width=config.input.width,
        timesteps=config.input.timesteps,
        kernel=dog_kernel(enc.size, enc.sigma_centre, enc.sigma_surround, enc.frac_bits),
        threshold=enc.threshold,
        kernel_float=dog_kernel_float(enc.size, enc.sigma_centre, enc.sigma_surround),
        frac_bits=enc.frac_bits)
    seed = config.network.seed
    convs = sum(isinstance(x, ConvLayerConfig) for x in config.layers)
    states = generator_start_states(max(convs, 1), seed)
    shape = encoder.out_shape
    layers = []
    n_conv = 0
    for k, lc in enumerate(config.layers):
        c, h, w = shape
        if isinstance(lc, ConvLayerConfig):
            out = (lc.maps, conv_out(h, lc.kernel, lc.padding), conv_out(w, lc.kernel,
                                                                         lc.padding))
            rng = np.random.default_rng([seed, k])
            weights = rng.integers(lc.init_low, lc.init_high, size=(lc.maps, c, lc.kernel,
                                                                     lc.kernel),
                                   endpoint=True, dtype=np.int64)
            weights.setflags(write=False)
            s = lc.stdp
            stdp = None if s.images == 0 else ConvStdpIR(
                images=s.images, convergence=s.convergence, rates=_rates(s),
                grow_every=s.grow_every, generator_state=int(states[n_conv]))
            layers.append(ConvLayerIR(
                index=k, name=f"conv{n_conv + 1}", in_shape=shape, out_shape=out,
                kernel=lc.kernel, padding=lc.padding, threshold=lc.threshold,
                weight_bits=lc.weight_bits, weights=weights, winners=lc.winners,
                radius=lc.radius, pointwise_inhibition=lc.pointwise_inhibition, stdp=stdp,
                prune_threshold=lc.pruning.threshold if lc.pruning.enabled else None,
                prune_warmup=lc.pruning.warmup))
            n_conv += 1
        else:
            stride = lc.stride or lc.size
            out = (c, pool_out(h, lc.size, stride, lc.padding),
                   pool_out(w, lc.size, stride, lc.padding))
            layers.append(PoolLayerIR(index=k, name=f"pool{k - n_conv + 1}", in_shape=shape,
                                      out_shape=out, size=lc.size, stride=stride,
                                      padding=lc.padding))
        shape = out
    ro = config.readout
    return ConvNetworkIR(
        family="ttfs_conv", name=config.network.name, n_in=encoder.height * encoder.width,
        encoder=encoder, layers=tuple(layers), readout="svm", features=ro.features,
        svm_c=ro.svm_c, svm_images=ro.svm_images, lanes=config.hardware.lanes, seed=seed)


def resolved_dict(net: ConvNetworkIR) -> dict:
    """Every resolved value of a conv network but its initial weights, as plain JSON data
    (a model folder's ``resolved_config.json``)."""
    enc = net.encoder
    layers = []
    for x in net.layers:
        d = {"kind": x.kind, "name": x.name, "in_shape": list(x.in_shape),
             "out_shape": list(x.out_shape)}
        if isinstance(x, ConvLayerIR):
            d |= {"kernel": x.kernel, "padding": x.padding, "threshold": x.threshold,
                  "weight_bits": x.weight_bits, "membrane_bits": x.membrane_bits,
                  "taps": x.taps, "winners": x.winners, "radius": x.radius,
                  "pointwise_inhibition": x.pointwise_inhibition,
                  "stdp": None if x.stdp is None else {
                      "images": x.stdp.images, "convergence": x.stdp.convergence,
                      "rates": [list(r) for r in x.stdp.rates],
                      "grow_every": x.stdp.grow_every,
                      "generator_state": x.stdp.generator_state},
                  "prune_threshold": x.prune_threshold, "prune_warmup": x.prune_warmup}
        else:
            d |= {"size": x.size, "stride": x.stride, "padding": x.padding}
        layers.append(d)
    return {"family": net.family, "name": net.name, "seed": net.seed,
            "encoder": {"height": enc.height, "width": enc.width, "timesteps": enc.timesteps,
                        "kernel": enc.kernel.tolist(), "kernel_sum": int(enc.kernel.sum()),
                        "threshold": enc.threshold},
            "layers": layers, "readout": {"features": net.features, "svm_c": net.svm_c,
                                          "svm_images": net.svm_images,
                                          "feature_count": net.feature_count},
            "lanes": net.lanes}


# -- what the conv core stores, in the words the host reads and writes ---------------------

def event_fields(shape: tuple[int, int, int]) -> list[tuple[str, int]]:
    """The fields of an event item of a spike map of ``shape`` ``(C, H, W)``, least
    significant first: channel, row, column, and ``eot`` (the end of a timestep)."""
    c, h, w = shape
    return [("c", bits_for(c - 1)), ("y", bits_for(h - 1)), ("x", bits_for(w - 1)),
            ("eot", 1)]


def pack_events(times: np.ndarray, timesteps: int) -> np.ndarray:
    """A spike map's event list: per timestep its spikes in raster order ``(c, y, x)``, then
    an ``eot`` item; every item packed as :func:`event_fields` says."""
    widths = [b for _, b in event_fields(times.shape)]
    eot = 1 << sum(widths[:3])
    out = []
    for t in range(timesteps):
        c, y, x = np.nonzero(times == t)
        out.append(c | y << widths[0] | x << (widths[0] + widths[1]))
        out.append(np.array([eot]))
    return np.concatenate(out).astype(np.int64)


def unpack_events(words, shape: tuple[int, int, int], timesteps: int) -> np.ndarray:
    """The spike map ``(C, H, W)`` of an event list (``timesteps``: no spike)."""
    widths = [b for _, b in event_fields(shape)]
    times = np.full(shape, timesteps, dtype=np.int64)
    t = 0
    for word in words:
        word = int(word)
        if word >> sum(widths[:3]) & 1:
            t += 1
            continue
        c = word & ((1 << widths[0]) - 1)
        y = word >> widths[0] & ((1 << widths[1]) - 1)
        x = word >> (widths[0] + widths[1]) & ((1 << widths[2]) - 1)
        times[c, y, x] = t
    return times


@dataclass(frozen=True)
class KernelBanks:
    """How a conv engine with ``lanes`` lanes stores a layer's kernels: map ``f`` in lane
    ``f % lanes`` as local map ``fl = f // lanes``; weight ``(f, c, i, j)`` at word
    ``((c * K + i) * K + j) * FL + fl`` of its lane's bank; alive bit ``(f, c, i, j)`` at bit
    ``j * FL2 + fl`` of word ``c * K + i`` of its lane's mask bank (``FL2``: the power of two
    at or above ``FL``)."""

    maps: int
    channels: int
    kernel: int
    lanes: int

    @property
    def fl(self) -> int:
        return -(-self.maps // self.lanes)

    @property
    def fl2(self) -> int:
        return 1 << (self.fl - 1).bit_length()

    def _index(self):
        """(lane, fl, map) of every stored map slot, real maps only."""
        return [(f % self.lanes, f // self.lanes, f) for f in range(self.maps)]

    def weight_words(self, weights: np.ndarray) -> np.ndarray:
        """``(lanes, C * K * K * FL)`` bank words of ``weights`` ``(F, C, K, K)``."""
        c, k, fl = self.channels, self.kernel, self.fl
        out = np.zeros((self.lanes, c * k * k, fl), dtype=np.int64)
        for lane, f_l, f in self._index():
            out[lane, :, f_l] = weights[f].reshape(-1)
        return out.reshape(self.lanes, -1)

    def weights_from(self, words: np.ndarray) -> np.ndarray:
        c, k, fl = self.channels, self.kernel, self.fl
        w = np.asarray(words, dtype=np.int64).reshape(self.lanes, c * k * k, fl)
        out = np.zeros((self.maps, c, k, k), dtype=np.int64)
        for lane, f_l, f in self._index():
            out[f] = w[lane, :, f_l].reshape(c, k, k)
        return out

    def mask_words(self, alive: np.ndarray) -> list[list[int]]:
        """Per lane its ``C * K`` mask words (Python ints: they can be wide)."""
        c, k = self.channels, self.kernel
        out = [[0] * (c * k) for _ in range(self.lanes)]
        for lane, f_l, f in self._index():
            for r in range(c * k):
                for j in range(k):
                    if alive[f, r // k, r % k, j]:
                        out[lane][r] |= 1 << (j * self.fl2 + f_l)
        return out

    def alive_from(self, words: list[list[int]]) -> np.ndarray:
        c, k = self.channels, self.kernel
        out = np.zeros((self.maps, c, k, k), dtype=bool)
        for lane, f_l, f in self._index():
            for r in range(c * k):
                for j in range(k):
                    out[f, r // k, r % k, j] = bool(int(words[lane][r]) >> (j * self.fl2 + f_l)
                                                    & 1)
        return out


# -- the conv core's organisation, as its host sees it ---------------------------------------

def stages_of(net: ConvNetworkIR) -> list[tuple[ConvLayerIR, PoolLayerIR | None]]:
    """The core's stages: the conv layers, each with the pool layer that follows it (None:
    none)."""
    out: list[tuple[ConvLayerIR, PoolLayerIR | None]] = []
    for layer in net.layers:
        if isinstance(layer, ConvLayerIR):
            out.append((layer, None))
        elif out and out[-1][1] is None:
            out[-1] = (out[-1][0], layer)
        else:
            raise ValueError(f"{layer.name}: the conv core takes conv layers, each followed "
                             "by at most one pool layer")
    return out


def list_depth(net: ConvNetworkIR, s: int) -> int:
    """Items the core's event list ``s`` holds (0: the encoded image; ``s``: stage ``s - 1``'s
    output): every input position or output neuron once, and T eots."""
    if s == 0:
        c, h, w = net.encoder.out_shape
    else:
        conv, pool = stages_of(net)[s - 1]
        c, h, w = (pool or conv).out_shape
        if conv.pointwise_inhibition:
            c = 1 if pool is None else c
    return c * h * w + net.timesteps


def list_shape(net: ConvNetworkIR, s: int) -> tuple[int, int, int]:
    """The spike map whose events list ``s`` holds (:func:`event_fields` of it)."""
    if s == 0:
        return net.encoder.out_shape
    conv, pool = stages_of(net)[s - 1]
    return (pool or conv).out_shape


def register_names(net: ConvNetworkIR) -> list[str]:
    """The core's registers in address order: run control (``events``: items in list 0, at
    most its depth; ``learn``: 0, or stage + 1 of a stage that learns), counters of the last
    run, per conv layer its images learned, rounding generator (1 to 65535) and alive taps,
    and the list lengths."""
    names = ["events", "learn", "cycles", "synaptic_updates", "weight_updates", "pruned"]
    for n, _ in enumerate(net.conv_layers):
        names += [f"seen{n}", f"generator{n}", f"alive{n}"]
    names += [f"list{s}" for s in range(len(stages_of(net)) + 1)]
    return names


def conv_memories(net: ConvNetworkIR) -> tuple[MemoryIR, ...]:
    """The memories of the conv core (:class:`snnhw.gateware.networks.ttfs_conv.TtfsConvCore`),
    named by their place in its hierarchy (``conv0.weights``: the weight banks of stage 0's
    engine, one per lane), for the fit check (:mod:`snnhw.fit`).

    Event lists ``list<s>`` (list 0: the encoded image; list s + 1: stage s's output, none
    after the readout layer of ``max_potential`` features); per stage ``s`` its engine's
    weights, membranes and crossing logs per lane, alive masks per lane when it prunes,
    readout maxima per lane in the readout layer, the position words and touched list of
    pointwise inhibition; its pool's window ROMs (read without a clock) and window bits; and
    when it learns, the k winners' spike list, the STDP unit's time map and its map-to-lane
    ROM."""
    P, T = net.lanes, net.timesteps
    tb = bits_for(T)  # a stored spike time in the STDP unit: t + 1, 0 for no spike
    stages = stages_of(net)
    readout = net.features == "max_potential"
    n_lists = len(stages) + (0 if readout else 1)
    shapes = [net.encoder.out_shape] + [(pool or conv).out_shape for conv, pool in stages]
    mems = [MemoryIR(f"list{s}", 1, list_depth(net, s),
                     sum(b for _, b in event_fields(shapes[s]))) for s in range(n_lists)]
    for s, (conv, pool) in enumerate(stages):
        c, h, w = conv.in_shape
        f, ho, wo = conv.out_shape
        k, vb = conv.kernel, conv.membrane_bits
        banks = KernelBanks(maps=f, channels=c, kernel=k, lanes=P)
        fl, npos = banks.fl, ho * wo
        yx = bits_for(ho - 1) + bits_for(wo - 1)
        e = f"conv{s}"
        mems += [MemoryIR(f"{e}.weights", P, c * k * k * fl, conv.weight_bits),
                 MemoryIR(f"{e}.membranes", P, fl * npos, vb),
                 MemoryIR(f"{e}.crossings", P, fl * npos, bits_for(fl - 1) + yx)]
        if conv.prune_threshold is not None:
            mems.append(MemoryIR(f"{e}.masks", P, c * k, k * banks.fl2, granularity=1))
        if readout and s == len(stages) - 1:
            mems.append(MemoryIR(f"{e}.maxima", P, fl, vb))
        if conv.pointwise_inhibition:
            mems += [MemoryIR(f"{e}.positions", 1, npos, 2 + bits_for(f - 1) + vb),
                     MemoryIR(f"{e}.touched", 1, npos, yx)]
        if pool is not None:
            _, hp, wp = pool.out_shape
            mems += [MemoryIR(f"pool{s}.row_windows", 1, ho, 2 * bits_for(hp), async_read=True),
                     MemoryIR(f"pool{s}.col_windows", 1, wo, 2 * bits_for(wp), async_read=True),
                     MemoryIR(f"pool{s}.window_bits", 1, hp * wp, f, granularity=1)]
        if conv.stdp is not None:
            mems += [MemoryIR(f"winners{s}.spikes", 1, npos if conv.pointwise_inhibition
                              else f * npos, bits_for(f - 1) + yx + vb),
                     MemoryIR(f"learner{s}.time_map", 1, h * w, c * tb, granularity=tb),
                     MemoryIR(f"learner{s}.lane_of", 1, f,
                              bits_for(P - 1) + bits_for(fl - 1), async_read=True)]
    return tuple(mems)
