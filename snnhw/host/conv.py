"""The host runtime of ``ttfs_conv`` networks: one script drives the golden model, the conv
SoC's Verilog in simulation, or a board, and gets the same bits from each.

Example::

    from snnhw.host import connect

    with connect("examples/ttfs/mnist_icebreaker.toml", backend="golden") as net:
        net.learn_layer(0, images)          # STDP in conv layer 0, as snnhw train does
        features, cycles = net.features(images)  # the readout's features, for the SVM

A :class:`ConvBackend` runs encoded images (``(2, H, W)`` spike times) and reads and writes
the state; :class:`ConvNetwork` adds the training protocol of ``snnhw train`` (the images'
order, the convergence stop) and the encoder, which runs on the host
(docs/host-runtime.md says why).
"""

from __future__ import annotations

import abc
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from ..errors import InputError
from ..golden.blocks.mstdp import convergence
from ..golden.blocks.rng import SEQUENCE, position_of
from ..golden.networks import ttfs_conv_fast as fast
from ..golden.networks.ttfs_conv import ConvState
from ..golden.networks.ttfs_conv_cycles import run_cycles
from ..ir_conv import (
    ConvLayerIR,
    ConvNetworkIR,
    list_shape,
    pack_events,
    register_names,
    stages_of,
    unpack_events,
)
from ..protocol import DEFAULT_BAUD, MEM_HEADER, VERSION, Command, ProtocolError, Status
from ..protocol_conv import (
    CONV_MAX_PAYLOAD,
    REGISTER_BITS,
    ConvBank,
    ConvInfo,
    ConvSpace,
    check_link,
    conv_banks,
    conv_hash,
    kernel_banks,
    lane_bits,
    n_lists,
)
from .framed import Transport, request

__all__ = ["ConvRun", "ConvBackend", "ConvGoldenBackend", "ConvFramedBackend", "ConvNetwork",
           "open_conv_backend"]

Progress = Callable[[int], None]
COUNTER_MAX = (1 << REGISTER_BITS) - 1


@dataclass(frozen=True)
class ConvRun:
    """What one run counted (the core's counters, saturating at 32 bits)."""

    cycles: int
    synaptic_updates: int
    weight_updates: int
    pruned: int


class ConvBackend(abc.ABC):
    """A conv network that runs encoded images and keeps its state: the golden model, or a
    SoC over a link. Stages are the conv layers in order (``stage`` 0 is the first)."""

    def __init__(self, net: ConvNetworkIR) -> None:
        if not isinstance(net, ConvNetworkIR):
            raise TypeError(f"Network must be a ConvNetworkIR, not {net!r}")
        self.net = net
        self.stages = [c for c, _ in stages_of(net)]
        self.registers = register_names(net)

    @abc.abstractmethod
    def run(self, times: np.ndarray, learn: int = 0) -> ConvRun:
        """Run one image, ``(2, H, W)`` input spike times; ``learn``: 0, or stage + 1 to
        learn in that conv layer (the layers after it do not run)."""

    @abc.abstractmethod
    def features(self) -> np.ndarray:
        """The readout's features of the last run (an inference run)."""

    @abc.abstractmethod
    def read_kernels(self, stage: int) -> tuple[np.ndarray, np.ndarray]:
        """Conv layer ``stage``'s weights ``(F, C, K, K)`` and alive taps."""

    @abc.abstractmethod
    def write_kernels(self, stage: int, weights: np.ndarray, alive: np.ndarray) -> None:
        """Set conv layer ``stage``'s weights and alive taps (a pruned tap's weight must be
        0; the alive count follows)."""

    @abc.abstractmethod
    def read_register(self, name: str) -> int:
        """One of :func:`snnhw.ir_conv.register_names`."""

    @abc.abstractmethod
    def write_register(self, name: str, value: int) -> None:
        """Set a register (``seen{n}``, ``generator{n}``, ``alive{n}``, ``events``,
        ``learn``); a value the core cannot take raises :class:`ValueError`."""

    def read_state(self) -> ConvState:
        """The state as :class:`~snnhw.golden.networks.ttfs_conv.ConvState` (the golden
        model's and ``snnhw train``'s form)."""
        state = ConvState.initial(self.net)
        for s, c in enumerate(self.stages):
            state.weights[c.index], state.alive[c.index] = self.read_kernels(s)
            state.seen[c.index] = self.read_register(f"seen{s}")
            if c.stdp is not None:
                state.gen_pos[c.index] = position_of(self.read_register(f"generator{s}"))
        return state

    def write_state(self, state: ConvState) -> None:
        """Load a state (from ``snnhw train``'s model, or :meth:`read_state`)."""
        for s, c in enumerate(self.stages):
            self.write_kernels(s, state.weights[c.index], state.alive[c.index])
            self.write_register(f"seen{s}", int(state.seen[c.index]))
            if c.stdp is not None:
                self.write_register(f"generator{s}", int(SEQUENCE[state.gen_pos[c.index]]))

    def _check_kernels(self, stage: int, weights: np.ndarray, alive: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
        c = self._stage(stage)
        w, a = np.asarray(weights), np.asarray(alive)
        if w.shape != c.weights.shape or a.shape != c.weights.shape:
            raise ValueError(f"{c.name}: kernels of shape {c.weights.shape}, not {w.shape} "
                             f"and {a.shape}")
        if w.min() < 0 or w.max() >= 1 << c.weight_bits:
            raise ValueError(f"{c.name}: weights must be 0 to {(1 << c.weight_bits) - 1}")
        if np.any(w[~a.astype(bool)] != 0):
            raise ValueError(f"{c.name}: a pruned tap's weight must be 0")
        if c.prune_threshold is None and not a.all():
            raise ValueError(f"{c.name} does not prune: every tap stays alive")
        return w.astype(np.int64), a.astype(bool)

    def _stage(self, stage: int) -> ConvLayerIR:
        if not 0 <= stage < len(self.stages):
            raise ValueError(f"stage must be 0 to {len(self.stages) - 1}, not {stage}")
        return self.stages[stage]

    def _check_learn(self, learn: int) -> None:
        if learn and (not 1 <= learn <= len(self.stages) or self.stages[learn - 1].stdp is None):
            raise ValueError(f"learn {learn}: not 0 or the stage + 1 of a layer with STDP")

    def close(self) -> None:  # noqa: B027 - backends without resources keep it
        """Free the backend's resources."""

    def __enter__(self) -> ConvBackend:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class ConvGoldenBackend(ConvBackend):
    """The bit-exact golden model (its fast path), counting as the core does (the cycle
    model, ``snnhw.golden.networks.ttfs_conv_cycles``)."""

    def __init__(self, net: ConvNetworkIR) -> None:
        super().__init__(net)
        self.state = ConvState.initial(net)
        self._regs = {name: 0 for name in self.registers}
        self._features: np.ndarray | None = None

    def run(self, times: np.ndarray, learn: int = 0) -> ConvRun:
        self._check_learn(learn)
        net, st = self.net, self.state
        times = np.asarray(times, dtype=np.int64)
        self._features = None
        if learn:
            layer = self.stages[learn - 1]
            i = layer.index
            maps = fast.forward(net, st, times, upto=i)
            weights = {**st.weights, i: st.weights[i].copy()}
            alive = {**st.alive, i: st.alive[i].copy()}
            winners, out = fast.learn_times(net, st, i, maps[-1])
            rc = run_cycles(net, weights, alive, maps, learn=i, learn_out=out, winners=winners)
            pruned = int(alive[i].sum() - st.alive[i].sum())
        else:
            self._features, maps = fast.features_of_times(net, st, times)
            rc = run_cycles(net, st.weights, st.alive, maps)
            pruned = 0
        counts = ConvRun(*(min(v, COUNTER_MAX) for v in (rc.cycles, rc.updates,
                                                         rc.weight_updates, pruned)))
        self._regs.update(events=int(np.count_nonzero(times < net.timesteps)) + net.timesteps,
                          learn=learn, cycles=counts.cycles,
                          synaptic_updates=counts.synaptic_updates,
                          weight_updates=counts.weight_updates, pruned=counts.pruned)
        return counts

    def features(self) -> np.ndarray:
        if self._features is None:
            raise ValueError("the last run learned: features come from an inference run")
        return self._features.copy()

    def read_kernels(self, stage: int) -> tuple[np.ndarray, np.ndarray]:
        i = self._stage(stage).index
        return self.state.weights[i].copy(), self.state.alive[i].copy()

    def write_kernels(self, stage: int, weights: np.ndarray, alive: np.ndarray) -> None:
        w, a = self._check_kernels(stage, weights, alive)
        i = self.stages[stage].index
        self.state.weights[i], self.state.alive[i] = w.copy(), a.copy()

    def read_register(self, name: str) -> int:
        st = self.state
        for s, c in enumerate(self.stages):
            if name == f"seen{s}":
                return st.seen[c.index]
            if name == f"alive{s}":
                return int(st.alive[c.index].sum())
            if name == f"generator{s}":
                return int(SEQUENCE[st.gen_pos[c.index]]) if c.stdp is not None else 0
        if name not in self._regs:
            raise ValueError(f"no register {name!r}: one of {', '.join(self.registers)}")
        return self._regs[name]

    def write_register(self, name: str, value: int) -> None:
        for s, c in enumerate(self.stages):
            if name == f"seen{s}":
                self.state.seen[c.index] = _register_value(name, value)
                return
            if name == f"generator{s}" and c.stdp is not None:
                if not 1 <= value <= 0xFFFF:
                    raise ValueError(f"{name}: a generator state is 1 to 65535, not {value}")
                self.state.gen_pos[c.index] = position_of(value)
                return
            if name == f"alive{s}":
                return  # the golden model counts its alive taps from the masks
        raise ValueError(f"register {name!r} is not one the host sets")


def _register_value(name: str, value: int) -> int:
    if not 0 <= value <= COUNTER_MAX:
        raise ValueError(f"{name}: 0 to {COUNTER_MAX}, not {value}")
    return int(value)


class ConvFramedBackend(ConvBackend):
    """The conv SoC over a :class:`~snnhw.host.framed.Transport` (a board's serial port or
    the simulated SoC's socket), in the frames of docs/host-protocol.md.

    Connecting sends INFO and refuses a SoC built from another network
    (:class:`InputError`). ``timeout`` bounds a reply, ``run_timeout`` the reply to RUN.
    """

    def __init__(self, net: ConvNetworkIR, transport: Transport, *, timeout: float = 2.0,
                 run_timeout: float | None = None) -> None:
        super().__init__(net)
        self.transport = transport
        self.timeout = timeout
        self.run_timeout = timeout if run_timeout is None else run_timeout
        self.banks = conv_banks(net)
        self._lane_bits = lane_bits(net)
        self._kernels = kernel_banks(net)
        self.info = self._hello()

    def request(self, cmd: Command, payload: bytes = b"", *, timeout: float | None = None
                ) -> bytes:
        return request(self.transport, cmd, payload,
                       timeout=self.timeout if timeout is None else timeout)

    def _hello(self) -> ConvInfo:
        self.transport.discard_input()
        try:
            payload = self.request(Command.INFO)
        except ProtocolError as e:
            if e.status != Status.TIMEOUT:  # a frame left half-sent by an earlier host
                raise
            payload = self.request(Command.INFO)
        try:
            info = ConvInfo.unpack(payload)
        except ProtocolError:
            raise InputError(f"{self.transport.name} is not a conv SoC: load the bitstream "
                             f"of {self.net.name}") from None
        want = conv_hash(self.net)
        if info.version != VERSION:
            raise InputError(f"{self.transport.name} speaks protocol version {info.version}, "
                             f"this host {VERSION}: update snnhw or rebuild the bitstream")
        if info.config_hash != want:
            raise InputError(f"{self.transport.name} runs a bitstream of another network "
                             f"(hash {info.config_hash:#010x}, {self.net.name} has "
                             f"{want:#010x}): load this config's bitstream or give the "
                             "config it was built from")
        return info

    # -- words --------------------------------------------------------------------------

    def _bank(self, space: ConvSpace, bank: int) -> ConvBank:
        try:
            return self.banks[(space, bank)]
        except KeyError:
            raise ValueError(f"no bank {bank} in space {space.name}") from None

    def write_words(self, space: ConvSpace, bank: int, words: Iterable[int],
                    addr: int = 0) -> None:
        """Write consecutive words (as many WRITE_MEMs as the frame buffer needs)."""
        b = self._bank(space, bank)
        words = [int(w) for w in words]
        if addr < 0 or addr + len(words) > b.depth:
            raise ValueError(f"{space.name} bank {bank}: words {addr} to "
                             f"{addr + len(words) - 1} are past its {b.depth}")
        per = (CONV_MAX_PAYLOAD - MEM_HEADER) // b.nbytes
        mask = (1 << b.width) - 1
        for k in range(0, len(words), per):
            chunk = b"".join((w & mask).to_bytes(b.nbytes, "little")
                             for w in words[k:k + per])
            self.request(Command.WRITE_MEM,
                         struct.pack("<BBI", space, bank, addr + k) + chunk)

    def read_words(self, space: ConvSpace, bank: int, count: int, addr: int = 0
                   ) -> list[int]:
        """Read ``count`` consecutive words."""
        b = self._bank(space, bank)
        per = 0xFFFF // b.nbytes
        out: list[int] = []
        for k in range(0, count, per):
            n = min(per, count - k)
            data = self.request(Command.READ_MEM,
                                struct.pack("<BBIH", space, bank, addr + k, n))
            if len(data) != n * b.nbytes:
                raise ProtocolError(f"READ_MEM reply of {len(data)} bytes, not "
                                    f"{n * b.nbytes}")
            out += [int.from_bytes(data[j:j + b.nbytes], "little")
                    for j in range(0, len(data), b.nbytes)]
        return out

    # -- runs ---------------------------------------------------------------------------

    def run(self, times: np.ndarray, learn: int = 0) -> ConvRun:
        self._check_learn(learn)
        events = pack_events(np.asarray(times, dtype=np.int64), self.net.timesteps)
        self.write_words(ConvSpace.EVENTS, 0, events)
        base = self.registers.index("events")
        assert self.registers.index("learn") == base + 1
        self.write_words(ConvSpace.REG, 0, [len(events), learn], addr=base)
        self.request(Command.RUN, timeout=self.run_timeout)
        at = self.registers.index("cycles")
        return ConvRun(*self.read_words(ConvSpace.REG, 0, 4, addr=at))

    def features(self) -> np.ndarray:
        net = self.net
        if self.read_register("learn"):
            raise ValueError("the last run learned: features come from an inference run")
        if net.features == "max_potential":
            fl = self._kernels[-1].fl
            words = [self.read_words(ConvSpace.MAXIMA, lane, fl) for lane in range(net.lanes)]
            maps = self.stages[-1].maps
            return np.array([words[f % net.lanes][f // net.lanes] for f in range(maps)],
                            dtype=np.int64)
        last = n_lists(net) - 1
        n = self.read_register(f"list{last}")
        times = unpack_events(self.read_words(ConvSpace.EVENTS, last, n),
                              list_shape(net, last), net.timesteps)
        return (net.timesteps - times).reshape(-1)

    # -- state --------------------------------------------------------------------------

    def read_kernels(self, stage: int) -> tuple[np.ndarray, np.ndarray]:
        self._stage(stage)
        kb = self._kernels[stage]
        bank0 = stage << self._lane_bits
        w = [self.read_words(ConvSpace.WEIGHT, bank0 | lane, kb.channels * kb.kernel ** 2 * kb.fl)
             for lane in range(kb.lanes)]
        m = [self.read_words(ConvSpace.MASK, bank0 | lane, kb.channels * kb.kernel)
             for lane in range(kb.lanes)]
        return kb.weights_from(np.array(w)), kb.alive_from(m)

    def write_kernels(self, stage: int, weights: np.ndarray, alive: np.ndarray) -> None:
        w, a = self._check_kernels(stage, weights, alive)
        kb = self._kernels[stage]
        bank0 = stage << self._lane_bits
        words = kb.weight_words(w)
        masks = kb.mask_words(a)
        prunes = self.stages[stage].prune_threshold is not None
        for lane in range(kb.lanes):
            self.write_words(ConvSpace.WEIGHT, bank0 | lane, words[lane])
            if prunes:
                self.write_words(ConvSpace.MASK, bank0 | lane, masks[lane])
        self.write_register(f"alive{stage}", int(a.sum()))

    def read_register(self, name: str) -> int:
        if name not in self.registers:
            raise ValueError(f"no register {name!r}: one of {', '.join(self.registers)}")
        return self.read_words(ConvSpace.REG, 0, 1, addr=self.registers.index(name))[0]

    def write_register(self, name: str, value: int) -> None:
        if name not in self.registers:
            raise ValueError(f"no register {name!r}: one of {', '.join(self.registers)}")
        if name.startswith("generator") and not 1 <= value <= 0xFFFF:
            raise ValueError(f"{name}: a generator state is 1 to 65535, not {value}")
        value = _register_value(name, value)
        self.write_words(ConvSpace.REG, 0, [value], addr=self.registers.index(name))
        if name.startswith(("seen", "generator", "alive")) and self.read_register(name) != value:
            raise ValueError(f"{name}: the core refused {value}")

    def close(self) -> None:
        self.transport.close()


def open_conv_backend(net: ConvNetworkIR, backend: str = "golden", *, port: str | None = None,
                      baud: int | None = None, **options: Any) -> ConvBackend:
    """A conv backend by name: ``"golden"``, ``"rtl"`` (options: ``out_dir``, ``bit_cycles``,
    ``waves``, ``timeout``) or ``"serial"`` (``port``, ``baud``)."""
    if backend == "golden":
        return ConvGoldenBackend(net)
    check_link(net)
    if backend == "rtl":
        from .rtl_conv import ConvRtlBackend

        return ConvRtlBackend(net, **({"baud": baud} if baud else {}), **options)
    if backend == "serial":
        from .serialport import with_serial

        if not port:
            raise InputError("the serial backend needs a port (--port or --board)")
        return with_serial(port, baud or DEFAULT_BAUD, lambda transport: ConvFramedBackend(
            net, transport, timeout=options.get("timeout", 2.0),
            run_timeout=options.get("run_timeout", 60.0)))
    raise InputError(f"backend {backend!r}: one of golden, rtl, serial")


class ConvNetwork:
    """A conv network on a backend, with ``snnhw train``'s protocol: the encoder on the host,
    each learning layer's images in the seeded order, the convergence stop."""

    def __init__(self, backend: ConvBackend) -> None:
        self.backend = backend
        self.net = backend.net

    def encode(self, image: np.ndarray) -> np.ndarray:
        """The encoder (DoG and rank-order latency): ``(2, H, W)`` spike times."""
        h, w = self.net.encoder.height, self.net.encoder.width
        image = np.asarray(image)
        if image.shape != (h, w):
            raise InputError(f"an image of shape {image.shape}: {self.net.name} takes "
                             f"{h} x {w}")
        return fast.encode(self.net, image)

    def learn_layer(self, stage: int, images: np.ndarray, *, count: int | None = None,
                    progress: Progress | None = None) -> dict[str, Any]:
        """Conv layer ``stage`` learns from grey ``images`` as ``snnhw train`` has it:
        ``stdp.images`` of them (or ``count``) in the order of seed ``network.seed + layer
        index``, each encoded on the host, stopping once the layer has converged. Returns the
        images learned and the core's counts over them."""
        from ..datasets import sample_order

        layer = self.backend._stage(stage)
        if layer.stdp is None:
            raise InputError(f"{layer.name} has no STDP: it does not learn")
        budget = layer.stdp.images if count is None else count
        order = sample_order(len(images), budget, self.net.seed + layer.index)
        log = {"images": 0, "cycles": 0, "synaptic_updates": 0, "weight_updates": 0,
               "pruned": 0}
        for idx in order:
            r = self.backend.run(self.encode(images[idx]), learn=stage + 1)
            log["images"] += 1
            for k in ("cycles", "synaptic_updates", "weight_updates", "pruned"):
                log[k] += getattr(r, k)
            if progress:
                progress(1)
            w, _ = self.backend.read_kernels(stage)
            if convergence(w, layer.weight_bits) < layer.stdp.convergence:
                break
        return log

    def features(self, images: np.ndarray, *, progress: Progress | None = None
                 ) -> tuple[np.ndarray, int]:
        """The readout's features of each grey image, and the inference cycles in all."""
        out = np.zeros((len(images), self.net.feature_count), dtype=np.float64)
        cycles = 0
        for n, image in enumerate(images):
            cycles += self.backend.run(self.encode(image)).cycles
            out[n] = self.backend.features()
            if progress:
                progress(1)
        return out, cycles

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> ConvNetwork:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def connect_conv(net: ConvNetworkIR | str | Path, backend: str = "golden",
                 **options: Any) -> ConvNetwork:
    """A :class:`ConvNetwork` on a backend (:func:`open_conv_backend`)."""
    if not isinstance(net, ConvNetworkIR):
        from ..config import load_config
        from ..families import resolve

        net = resolve(load_config(net))
        if not isinstance(net, ConvNetworkIR):
            raise InputError(f"{net.name}: not a ttfs_conv network")
    return ConvNetwork(open_conv_backend(net, backend, **options))
