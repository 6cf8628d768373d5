"""The event-driven conv engine: one conv layer of one-spike IF neurons (docs/semantics.md,
"Conv layer" and "Cycle model of the conv engine").

Input spike events ``(c, y, x)`` arrive in timestep order, each timestep closed by an ``eot``
item. For each event the engine adds the kernel window to the membranes it reaches; at each
``eot`` it resolves the neurons that crossed the threshold in that timestep (pointwise
inhibition) and sends their spikes out, tagged with the timestep and the potential at the spike.

Organisation (``P`` lanes, diagonal: :class:`~snnhw.ir_conv.KernelBanks`): neuron
``(f, y, x)`` lives in lane ``(f + y + x) % P`` as local map ``fl = f // P``; tap
``(f, c, i, j)`` in bank ``(f - i - j) % P``. An event at padded ``(yp, xp)`` gives bank ``k``
to lane ``(k + yp + xp) % P`` (a rotation of the banks: no lane shares one, nothing is
replicated), and each of that bank's taps updates a neuron of that lane.

* **alive masks**, per bank, one word per kernel row ``(c, i)``: bit ``j * FL2 + fl`` is the
  alive bit of tap ``(fl * P + (k + i + j) % P, c, i, j)``. Each lane walks its bank's rows
  of an event that reach existing outputs on its own, taking the lowest set bit of the row's
  word (masked to the columns that reach existing outputs) per cycle, so a row costs the lane
  ``max(1, its set bits)`` cycles and pruned taps cost none; a row of its bank without an
  alive tap it skips (a register bit per bank and row, read from the masks at ``start`` when
  the layer prunes, constant when not); the next event starts when every lane is through;
* **weights**, per bank, one word per ``((c, i, j), fl)``; **membranes**, per lane, one word
  per ``(fl, y, x)``; both read in the issue cycle and the membrane written back in the next,
  through read ports transparent to that write (a neuron updated in consecutive cycles sees
  its own last write: the only hazard of the one-stage read-modify-write);
* a neuron's potential only grows, so it crosses the threshold exactly once per image: the
  write stage logs each crossing ``(fl, y, x)`` in its lane's crossing log (its map is
  ``fl * P + (lane - y - x) % P``); the log of a timestep is resolved at its ``eot``, one
  crossing per cycle: without pointwise inhibition
  each crossing is a spike; with it a position memory keeps each position's best crossing
  (largest potential, then lowest map) and whether it has spiked, and the positions that got
  a first crossing are then walked to send one spike each.

Nothing is swept word by word when ``start`` begins an image: beside the membranes and the
position memory a :class:`~.bitmap.BitMap` keeps a bit per word, cleared 32 words a cycle
(``clear_cycles(FL * Ho * Wo)`` cycles), and a word whose bit is clear reads as 0; the
readout maxima have a valid bit per map in registers, cleared at once.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from amaranth import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ...ir import bits_for
from ...ir_conv import ConvLayerIR, KernelBanks, event_fields
from ..common import times_const
from .bitmap import BitMap

__all__ = ["ConvEngine", "KernelPortSignature", "conv_event_layout",
           "conv_spike_layout", "lowest_bit"]


class KernelPortSignature(wiring.Signature):
    """Access to a conv engine's kernels and readout maxima while it is idle (the STDP unit,
    the host), from the requester's view.

    With ``en`` high the requester drives the memories' ports: reads from bank ``lane``,
    writes to bank ``wlane`` (:class:`~snnhw.ir_conv.KernelBanks`); each ``*_raddr`` shows
    its word on ``*_rdata`` one cycle later (``m``: alive masks, address ``c * K + i``, bit
    ``j * FL2 + fl``, every bank's word at once on ``m_rall``, bank ``k`` at bits
    ``k * mask_bits``; ``w``: weights, address ``((c * K + i) * K + j) * FL + fl``; ``x``:
    readout maxima of map ``fl * P + lane``, address ``fl``); ``w_we`` writes a weight,
    ``m_we`` the mask bits set in ``m_wbits``."""

    def __init__(self, *, lanes: int, lane_bits: int, mask_addr_bits: int, mask_bits: int,
                 weight_addr_bits: int, weight_bits: int, maxima_bits: int) -> None:
        super().__init__({
            "en": Out(1),
            "lane": Out(lane_bits),
            "wlane": Out(lane_bits),
            "m_raddr": Out(mask_addr_bits),
            "m_rdata": In(mask_bits),
            "m_rall": In(lanes * mask_bits),
            "m_waddr": Out(mask_addr_bits),
            "m_wdata": Out(mask_bits),
            "m_wbits": Out(mask_bits),
            "m_we": Out(1),
            "w_raddr": Out(weight_addr_bits),
            "w_rdata": In(weight_bits),
            "w_waddr": Out(weight_addr_bits),
            "w_wdata": Out(weight_bits),
            "w_we": Out(1),
            "x_raddr": Out(maxima_bits),
            "x_rdata": In(maxima_bits),
        })


def conv_event_layout(channels: int, height: int, width: int) -> data.StructLayout:
    """An input spike event of a conv layer, or the end of the current timestep
    (:func:`snnhw.ir_conv.event_fields`)."""
    return data.StructLayout({name: unsigned(bits) for name, bits in
                              event_fields((channels, height, width))})


def conv_spike_layout(maps: int, height: int, width: int, t_bits: int,
                      v_bits: int) -> data.StructLayout:
    """An output spike: map, position, timestep and the potential at the spike; or, with
    ``eot``, the end of timestep ``t``."""
    return data.StructLayout({"f": unsigned(bits_for(maps - 1)),
                              "y": unsigned(bits_for(height - 1)),
                              "x": unsigned(bits_for(width - 1)), "t": unsigned(t_bits),
                              "v": unsigned(v_bits), "eot": unsigned(1)})


def lowest_bit(x: Value) -> tuple[Value, Value]:
    """``(x with only its lowest set bit, that bit's index)``; index 0 when ``x`` is 0.
    The isolation is ``x & -x`` (one carry chain); the index an OR per bit of it."""
    n = len(x)
    one_hot = x & (~x + 1)[:n]
    bits = []
    for k in range(bits_for(n - 1)):
        terms = [one_hot[b] for b in range(n) if b >> k & 1]
        bits.append(Cat(*terms).any() if terms else Const(0, 1))
    return one_hot, Cat(*bits)


def _residues(m: Module, name: str, n: int, lanes: int, offset: int = 0, ports: int = 1):
    """``ports`` combinational read ports of a ROM of ``(v + offset) % lanes``, ``v < n``."""
    mem = memory.Memory(shape=unsigned(bits_for(lanes - 1)), depth=max(1, n),
                        init=[(v + offset) % lanes for v in range(max(1, n))])
    m.submodules[name] = mem
    return [mem.read_port(domain="comb") for _ in range(ports)]


def _mod(v: Value, lanes: int, below: int) -> Value:
    """``v % lanes`` for ``0 <= v < below * lanes``: conditional subtractions."""
    for _ in range(below - 1):
        v = Mux(v >= lanes, v - lanes, v)
    return v


class _Phase(enum.Enum, shape=3):
    IDLE = 0  # waiting for an item (event or eot), for start or for the bitmaps' clear
    ROW = 2  # issuing the kernel rows of an event
    DRAIN = 3  # the last write of the timestep lands
    RESOLVE = 4  # walking the crossing logs of the timestep
    EMIT = 5  # walking the positions that spike (pointwise inhibition)


class ConvEngine(wiring.Component):
    """One conv layer: input events in, timestamped output spikes out.

    Parameters
    ----------
    layer : ConvLayerIR
        Shapes, kernel, padding, threshold, widths and initial weights.
    lanes : int
        Synaptic updates per cycle (maps are spread over the lanes).
    timestep_bits : int
        Width of the timestep on ``o_spike``.
    readout : bool
        The readout layer of ``max_potential`` features: with ``integrate_only`` it only
        integrates (no firing), and keeps each map's largest potential.

    Members
    -------
    i_event : In(stream.Signature(conv_event_layout(...)))
    o_spike : Out(stream.Signature(conv_spike_layout(...)))
        The spikes of each timestep, then its end (``eot``); one a cycle at most.
    start : In(1)
        Begin an image: clear the membranes' valid bits (a sweep of
        ``clear_cycles(FL * Ho * Wo)`` cycles), timestep 0.
    busy : Out(1)
        An image's bitmaps are being cleared, an event or a timestep's end is being
        processed.
    timestep : Out(timestep_bits)
    updates : Out(P)
        The lanes that do a synaptic update this cycle (for counters).
    """

    def __init__(self, layer: ConvLayerIR, *, lanes: int, timestep_bits: int,
                 readout: bool = False) -> None:
        if not isinstance(layer, ConvLayerIR):
            raise TypeError(f"Layer must be a ConvLayerIR, not {layer!r}")
        if not isinstance(lanes, int) or lanes < 1:
            raise TypeError(f"Lane count must be a positive integer, not {lanes!r}")
        self._layer = layer
        self._lanes = lanes
        self._readout = readout
        self._t_bits = timestep_bits
        c, h, w = layer.in_shape
        f, ho, wo = layer.out_shape
        super().__init__({
            "i_event": In(stream.Signature(conv_event_layout(c, h, w))),
            "o_spike": Out(stream.Signature(
                conv_spike_layout(f, ho, wo, timestep_bits, layer.membrane_bits))),
            "start": In(1),
            "busy": Out(1),
            "timestep": Out(timestep_bits),
            "updates": Out(lanes),
            "integrate_only": In(1),
            "kernel": In(KernelPortSignature(**self.kernel_port_widths())),
        })

    # -- sizes --------------------------------------------------------------------------------

    def kernel_port_widths(self) -> dict[str, int]:
        L = self._layer
        C, K = L.in_shape[0], L.kernel
        FL = self.maps_per_lane
        return {"lanes": self._lanes, "lane_bits": bits_for(self._lanes - 1),
                "mask_addr_bits": bits_for(C * K - 1), "mask_bits": K * self.mask_stride,
                "weight_addr_bits": bits_for(C * K * K * FL - 1),
                "weight_bits": L.weight_bits,
                "maxima_bits": max(bits_for(FL - 1), L.membrane_bits)}

    @property
    def layer(self) -> ConvLayerIR:
        return self._layer

    @property
    def lanes(self) -> int:
        return self._lanes

    @property
    def readout(self) -> bool:
        return self._readout

    @property
    def prunes(self) -> bool:
        """Whether the layer prunes: only then are its alive masks a memory (else every tap
        is alive for good, and the masks constants)."""
        return self._layer.prune_threshold is not None

    @property
    def maps_per_lane(self) -> int:
        """FL: local maps of each lane."""
        return self.banks.fl

    @property
    def mask_stride(self) -> int:
        """FL2: the power of two >= FL that spaces a row's columns in its mask word."""
        return self.banks.fl2

    @property
    def banks(self) -> KernelBanks:
        L = self._layer
        return KernelBanks(maps=L.maps, channels=L.in_shape[0], kernel=L.kernel,
                           lanes=self._lanes)

    def lane_weights(self, lane: int) -> list[int]:
        """Weight bank ``lane``'s initial words (:class:`~snnhw.ir_conv.KernelBanks`)."""
        return self.banks.weight_words(self._layer.weights)[lane].tolist()

    def lane_masks(self, lane: int, alive=None) -> list[int]:
        """Mask bank ``lane``'s words: ``alive`` (all taps when None)."""
        if alive is None:
            alive = np.ones(self._layer.weights.shape, dtype=bool)
        return self.banks.mask_words(alive)[lane]

    # -- elaboration --------------------------------------------------------------------------

    def elaborate(self, platform):
        m = Module()
        L = self._layer
        P, FL, FL2 = self._lanes, self.maps_per_lane, self.mask_stride
        lfl = (FL2 - 1).bit_length()
        C, H, W = L.in_shape
        F, HO, WO = L.out_shape
        K = L.kernel
        PAD = L.padding
        VB = L.membrane_bits
        npos = HO * WO
        depth_v = FL * npos

        w_rd, w_wr, mask_rd, mask_wr, v_rd, v_wr, log_rd, log_wr, fm_rd, fm_wr = \
            self._storage(m)

        phase = Signal(_Phase)
        ts = Signal(self._t_bits)
        self.debug = SimpleNamespace(phase=phase, ts=ts)
        # a valid bit per membrane word: a word not written since ``start`` reads as 0
        v_ok = [BitMap(entries=depth_v) for _ in range(P)]
        for ln, b in enumerate(v_ok):
            m.submodules[f"membrane_valid_{ln}"] = b
            m.d.comb += b.clear.eq(self.start)
        # which rows of each bank have an alive tap (bit c * K + i): the walk skips the
        # others. Constants when the layer does not prune; else read from the masks at
        # start, one row a cycle, every bank at once (C * K + 1 cycles, with the clear)
        CK = C * K
        sweeping = Signal()
        sweep = Signal(range(CK + 1))
        if self.prunes:
            nz = [Signal(CK, name=f"rows_alive_{k}") for k in range(P)]
            with m.If(self.start):
                m.d.sync += [sweeping.eq(1), sweep.eq(0)]
            with m.Elif(sweeping):
                m.d.sync += sweep.eq(sweep + 1)
                with m.If(sweep == CK):
                    m.d.sync += sweeping.eq(0)
                with m.If(sweep != 0):
                    m.d.sync += [nz[k].bit_select((sweep - 1).as_unsigned(), 1).eq(
                                     mask_rd[k].data != 0)
                                 for k in range(P)]
        else:
            nz = [Const(sum(1 << r for r, word in enumerate(self.lane_masks(k)) if word), CK)
                  for k in range(P)]
        clearing = Signal()  # the bitmaps' clear and the rows' sweep
        m.d.comb += [clearing.eq(Cat(*[b.busy for b in v_ok]).any() | sweeping),
                     self.busy.eq((phase != _Phase.IDLE) | self.start | clearing),
                     self.timestep.eq(ts)]

        lane_mdata = [Signal(K * FL2, name=f"lane_mask_{ln}") for ln in range(P)]
        walk = self._walk(m, lane_mdata, nz, phase, ts, clearing)
        low_idx, issue, yo, wbase, xp = walk.low_idx, walk.issue, walk.yo, walk.wbase, walk.xp
        kp = self.kernel

        # lane addresses of the issued updates
        s0_fl, s0_x, lane_waddr = [], [], []
        for ln in range(P):
            j = low_idx[ln] >> lfl
            fl = low_idx[ln][:lfl] if lfl else Const(0, 1)
            x_out = Signal(range(max(2, W + 2 * PAD)), name=f"s0_x_{ln}")
            m.d.comb += x_out.eq(xp - j)
            s0_fl.append(fl)
            s0_x.append(x_out)
            wa = Signal.like(w_rd[ln].addr, name=f"lane_waddr_{ln}")
            m.d.comb += wa.eq(wbase[ln] + times_const(j, FL) + fl)
            lane_waddr.append(wa)
        m.d.comb += self.updates.eq(Cat(*issue))

        # -- the banks to the lanes (KernelBanks): an event at (yp, xp) gives bank k to lane
        # (k + rot) % P, rot = (yp + xp) % P; a lane's taps all lie in its bank, and no two
        # lanes share one. Mask and weight reads are addressed with the event's rot; the
        # weight word comes back in S1, when the next event may have taken rot: S1 uses it
        # delayed (s1_rot).
        rot = walk.rot
        s1_rot = Signal.like(rot)
        m.d.sync += s1_rot.eq(rot)
        lane_wdata = [Signal(L.weight_bits, name=f"lane_weight_{ln}") for ln in range(P)]
        with m.Switch(walk.rot_m):  # at an event's take, its first rows: the new rotation
            for r in range(P):
                with m.Case(r):
                    for k in range(P):
                        m.d.comb += mask_rd[k].addr.eq(
                            Mux(kp.en, kp.m_raddr,
                                Mux(sweeping, sweep, walk.lane_maddr[(k + r) % P])))
        with m.Switch(rot):
            for r in range(P):
                with m.Case(r):
                    for k in range(P):
                        m.d.comb += w_rd[k].addr.eq(Mux(kp.en, kp.w_raddr,
                                                        lane_waddr[(k + r) % P]))
                    for ln in range(P):
                        m.d.comb += lane_mdata[ln].eq(mask_rd[(ln - r) % P].data)
        with m.Switch(s1_rot):
            for r in range(P):
                with m.Case(r):
                    for ln in range(P):
                        m.d.comb += lane_wdata[ln].eq(w_rd[(ln - r) % P].data)
        for k in range(P):
            m.d.comb += [mask_rd[k].en.eq(1), w_rd[k].en.eq(1)]

        # -- write stage (S1): add, write back, log crossings, track maxima --
        s1_valid = [Signal(name=f"s1_valid_{ln}") for ln in range(P)]
        s1_fl = [Signal(bits_for(FL - 1), name=f"s1_fl_{ln}") for ln in range(P)]
        s1_y = [Signal(range(max(2, HO)), name=f"s1_y_{ln}") for ln in range(P)]
        s1_x = [Signal(range(max(2, WO)), name=f"s1_x_{ln}") for ln in range(P)]
        s1_addr = [Signal(range(max(2, depth_v)), name=f"s1_addr_{ln}") for ln in range(P)]
        log_ptr = [Signal(range(depth_v + 1), name=f"log_ptr_{ln}") for ln in range(P)]
        v_addr0 = []
        for ln in range(P):
            a = Signal(range(max(2, depth_v)), name=f"s0_vaddr_{ln}")
            m.d.comb += a.eq(times_const(s0_fl[ln], npos) + times_const(yo[ln], WO) + s0_x[ln])
            v_addr0.append(a)
            m.d.sync += [s1_valid[ln].eq(issue[ln]), s1_fl[ln].eq(s0_fl[ln]),
                         s1_x[ln].eq(s0_x[ln]), s1_y[ln].eq(yo[ln]), s1_addr[ln].eq(a)]

        # readout maxima: per lane one word per map (a lane holds neurons of every map):
        # the tap's map is fl * P + (lane - y - x) % P; a valid bit per map in registers
        f_ok = [Signal(FL * P, name=f"maxima_valid_{ln}") for ln in range(P)]
        s0_f, s1_f = [], []
        if self._readout:
            ym = _residues(m, "out_y_mod", HO, P, ports=P)
            xm = _residues(m, "out_x_mod", WO, P, ports=P)
            for ln in range(P):
                f0 = Signal(range(FL * P), name=f"s0_f_{ln}")
                f1 = Signal.like(f0, name=f"s1_f_{ln}")
                m.d.comb += [ym[ln].addr.eq(yo[ln]), xm[ln].addr.eq(s0_x[ln]),
                             f0.eq(times_const(s0_fl[ln], P) +
                                   _mod(ln + 2 * P - ym[ln].data - xm[ln].data, P, 3))]
                m.d.sync += f1.eq(f0)
                s0_f.append(f0)
                s1_f.append(f1)
        new_v = []
        for ln in range(P):
            nv = Signal(VB + 1, name=f"new_v_{ln}")
            old = Signal(VB, name=f"old_v_{ln}")
            # the membrane's valid bit is read with it (transparent to S1's set, as the
            # membrane to S1's write)
            m.d.comb += [v_ok[ln].r_addr.eq(v_rd[ln].addr), v_ok[ln].r_en.eq(v_rd[ln].en),
                         v_ok[ln].s_addr.eq(s1_addr[ln]), v_ok[ln].s_bits.eq(1),
                         v_ok[ln].s_en.eq(s1_valid[ln])]
            m.d.comb += old.eq(Mux(v_ok[ln].r_data, v_rd[ln].data, 0))
            m.d.comb += nv.eq(old + lane_wdata[ln])
            new_v.append(nv)
            m.d.comb += [
                v_wr[ln].addr.eq(s1_addr[ln]),
                v_wr[ln].data.eq(nv),
                v_wr[ln].en.eq(s1_valid[ln]),
            ]
            crossed = (s1_valid[ln] & ~self.integrate_only & (old < L.threshold) &
                       (nv >= L.threshold))
            m.d.comb += [
                log_wr[ln].addr.eq(log_ptr[ln]),
                log_wr[ln].data.fl.eq(s1_fl[ln]), log_wr[ln].data.y.eq(s1_y[ln]),
                log_wr[ln].data.x.eq(s1_x[ln]),
                log_wr[ln].en.eq(crossed),
            ]
            with m.If(crossed):
                m.d.sync += log_ptr[ln].eq(log_ptr[ln] + 1)
            if self._readout:
                m.d.comb += [fm_rd[ln].addr.eq(Mux(kp.en, times_const(kp.x_raddr, P) + kp.lane,
                                                   s0_f[ln])),
                             fm_rd[ln].en.eq(1)]
                bigger = nv > Mux(f_ok[ln].bit_select(s1_f[ln], 1), fm_rd[ln].data, 0)
                m.d.comb += [
                    fm_wr[ln].addr.eq(s1_f[ln]),
                    fm_wr[ln].data.eq(nv),
                    fm_wr[ln].en.eq(s1_valid[ln] & bigger),
                ]
                with m.If(self.start):
                    m.d.sync += f_ok[ln].eq(0)
                with m.Elif(s1_valid[ln]):
                    m.d.sync += f_ok[ln].eq(f_ok[ln] | (Const(1, FL * P) << s1_f[ln]))

        self._kernel_port(m, w_rd, w_wr, mask_rd, mask_wr, fm_rd, f_ok)

        # -- start: the bitmaps clear, timestep 0 --
        with m.If(self.start):
            m.d.sync += [phase.eq(_Phase.IDLE), ts.eq(0)]
            m.d.sync += [p.eq(0) for p in log_ptr]

        self._resolution(m, SimpleNamespace(
            HO=HO, WO=WO, npos=npos, depth_v=depth_v, phase=phase, ts=ts,
            log_rd=log_rd, log_ptr=log_ptr, v_rd=v_rd, v_addr0=v_addr0))
        return m

    def _walk(self, m: Module, lane_mdata, nz, phase, ts, clearing) -> SimpleNamespace:
        """The issue stage (S0): takes the items, walks each event's kernel rows lane by
        lane (``lane_mdata``: the mask word of the lane's bank; ``nz``: per bank, which rows
        have an alive tap), skipping its bank's empty rows; returns per lane the tap (lowest
        bit index) and whether it issues, the output row ``yo``, weight base and next mask
        address (``lane_maddr``) of its row, the event's padded column ``xp``, its bank
        rotation ``rot`` and the rotation of this cycle's mask addresses (``rot_m``)."""
        L = self._layer
        P, FL, FL2 = self._lanes, self.maps_per_lane, self.mask_stride
        C, H, W = L.in_shape
        _, HO, WO = L.out_shape
        K, PAD = L.kernel, L.padding

        # -- issue stage (S0): an event's kernel rows, one lowest bit per lane per cycle --
        # Row ``i`` of event ``(c, y, x)`` reaches outputs ``(y + PAD - i, x + PAD - j)`` for
        # the columns ``j`` in [j_lo, j_hi]; rows run from i_lo to i_hi. Each lane walks the
        # rows on its own (its memories are its own): a lane whose row has few alive taps
        # goes on to its next row while the others are still busy, and waits (``done``) after
        # its last row until every lane is through; the next event is taken in that cycle.
        # A lane's mask word is read one cycle ahead (sync read): in the cycle its row ends
        # (at most one bit left) the next row's address is presented, and that row's first
        # cycle takes the word straight from the read port (``first``); later cycles from
        # the lane's register.
        ev = self.i_event.payload
        yp_n = Signal(range(H + 2 * PAD))
        xp_n = Signal(range(W + 2 * PAD))
        m.d.comb += [yp_n.eq(ev.y + PAD), xp_n.eq(ev.x + PAD)]

        def lo(p, n_out):  # first kernel index reaching an output: max(0, p - n_out + 1)
            return Mux(p >= n_out - 1, p - (n_out - 1), 0)

        def hi(p):  # last: min(K - 1, p)
            return Mux(p >= K - 1, K - 1, p)

        i_lo_n = Signal(range(K))
        i_hi_n = Signal(range(K))
        colmask_n = Signal(K * FL2)
        m.d.comb += [i_lo_n.eq(lo(yp_n, HO)), i_hi_n.eq(hi(yp_n))]
        j_lo_n, j_hi_n = lo(xp_n, WO), hi(xp_n)
        m.d.comb += colmask_n.eq(Cat(*[
            ((j >= j_lo_n) & (j <= j_hi_n)).replicate(FL2) for j in range(K)]))

        colmask = Signal(K * FL2)
        xp = Signal(range(max(2, W + 2 * PAD)))
        # the event's bank rotation: (yp + xp) % P
        rot = Signal(range(max(2, P)))
        rot_n = Signal.like(rot)
        (y_mod,), (x_mod,) = (_residues(m, "in_y_mod", H, P, PAD),
                              _residues(m, "in_x_mod", W, P, PAD))
        m.d.comb += [y_mod.addr.eq(ev.y), x_mod.addr.eq(ev.x),
                     rot_n.eq(_mod(y_mod.data + x_mod.data, P, 2))]

        def per_lane(shape, name):
            return [Signal(shape, name=f"{name}_{ln}") for ln in range(P)]

        ev_c = Signal(range(max(2, C)))
        yp = Signal.like(yp_n)
        row_i = per_lane(range(K), "row_i")
        pending = per_lane(K, "pending")  # the lane's rows after its current one
        first = per_lane(1, "first")
        done = per_lane(1, "done")  # the lane is through the event's rows
        yo = per_lane(range(max(2, H + 2 * PAD)), "yo")  # y + PAD - i: the row's output row
        row_addr = per_lane(range(max(2, C * K)), "row_addr")
        wbase = per_lane(range(max(2, C * K * K * FL)), "wbase")
        mk = per_lane(K * FL2, "mk")
        lane_maddr = per_lane(range(max(2, C * K)), "lane_maddr")

        rowing = phase == _Phase.ROW
        low_idx = []
        row_end = []
        through = []  # the lane is through the event's rows at the end of this cycle
        issue = []
        for ln in range(P):
            cu = Signal(K * FL2, name=f"cur_{ln}")
            m.d.comb += cu.eq(Mux(done[ln], 0, Mux(first[ln], lane_mdata[ln] & colmask,
                                                   mk[ln])))
            one_hot, idx = lowest_bit(cu)
            rest = Signal(K * FL2, name=f"rest_{ln}")
            ix = Signal(len(idx), name=f"idx_{ln}")
            m.d.comb += [rest.eq(cu & ~one_hot), ix.eq(idx)]
            low_idx.append(ix)
            row_end.append(rest == 0)
            through.append(done[ln] | (rest == 0) & (pending[ln] == 0))
            issue.append(rowing & (cu != 0))
            m.d.sync += mk[ln].eq(rest)
        event_end = Signal()
        m.d.comb += event_end.eq(rowing & Cat(*through).all())

        # next item: taken from IDLE, or in the last cycle of an event (back to back)
        take = Signal()
        m.d.comb += [
            self.i_event.ready.eq((phase == _Phase.IDLE) & ~self.start & ~clearing |
                                  event_end),
            take.eq(self.i_event.ready & self.i_event.valid),
        ]
        # the rows a lane walks: its bank's rows of the event's channel with an alive tap
        # (``nz``), in range; at the take its first, then at each row's end the next
        range_n = Cat(*[(i >= i_lo_n) & (i <= i_hi_n) for i in range(K)])
        rot_m = Signal.like(rot)  # the rotation the mask addresses of this cycle are for
        m.d.comb += rot_m.eq(Mux(take, rot_n, rot))
        rows_n = per_lane(K, "rows_n")
        with m.Switch(rot_n):
            for r in range(P):
                with m.Case(r):
                    for ln in range(P):
                        word = nz[(ln - r) % P]
                        m.d.comb += rows_n[ln].eq(
                            (word.word_select(ev.c, K) if C > 1 else word) & range_n)
        for ln in range(P):
            first_oh, first_i = lowest_bit(rows_n[ln])
            next_oh, next_i = lowest_bit(pending[ln])
            next_addr = Signal(range(max(2, C * K)), name=f"next_addr_{ln}")
            m.d.comb += [next_addr.eq(times_const(ev_c, K) + next_i),
                         lane_maddr[ln].eq(Mux(take, times_const(ev.c, K) + first_i,
                                               next_addr))]
            with m.If(rowing & ~done[ln]):
                m.d.sync += first[ln].eq(row_end[ln])
                with m.If(row_end[ln]):
                    with m.If(pending[ln] != 0):
                        m.d.sync += [row_i[ln].eq(next_i), pending[ln].eq(pending[ln] & ~next_oh),
                                     row_addr[ln].eq(next_addr), yo[ln].eq(yp - next_i),
                                     wbase[ln].eq(times_const(next_addr, K * FL))]
                    with m.Else():
                        m.d.sync += done[ln].eq(1)
            with m.If(take & ~ev.eot):
                first_addr = times_const(ev.c, K) + first_i
                m.d.sync += [first[ln].eq(1), done[ln].eq(rows_n[ln] == 0),
                             row_i[ln].eq(first_i), pending[ln].eq(rows_n[ln] & ~first_oh),
                             row_addr[ln].eq(first_addr), yo[ln].eq(yp_n - first_i),
                             wbase[ln].eq(times_const(first_addr, K * FL))]
        with m.If(take):
            with m.If(ev.eot):
                with m.If(self.integrate_only):
                    m.d.sync += [phase.eq(_Phase.IDLE), ts.eq(ts + 1)]
                with m.Else():
                    m.d.sync += phase.eq(_Phase.DRAIN)
            with m.Else():
                m.d.sync += [phase.eq(_Phase.ROW), rot.eq(rot_n), colmask.eq(colmask_n),
                             xp.eq(xp_n), yp.eq(yp_n), ev_c.eq(ev.c)]
        with m.Elif(event_end):
            m.d.sync += phase.eq(_Phase.IDLE)
        return SimpleNamespace(low_idx=low_idx, issue=issue, yo=yo, wbase=wbase, xp=xp,
                               rot=rot, rot_m=rot_m, lane_maddr=lane_maddr)

    def _storage(self, m: Module) -> tuple[list, ...]:
        """Per lane: weights, alive masks, membranes, crossing log (and readout maxima);
        returns their ports."""
        L = self._layer
        P, FL, FL2 = self._lanes, self.maps_per_lane, self.mask_stride
        C = L.in_shape[0]
        _, HO, WO = L.out_shape
        K, VB = L.kernel, L.membrane_bits
        depth_v = FL * HO * WO
        wmem, mmem, vmem, log, fmax = [], [], [], [], []
        log_layout = data.StructLayout({"fl": unsigned(bits_for(FL - 1)),
                                        "y": unsigned(bits_for(HO - 1)),
                                        "x": unsigned(bits_for(WO - 1))})
        for ln in range(P):
            wm = memory.Memory(shape=unsigned(L.weight_bits), depth=C * K * K * FL,
                               init=self.lane_weights(ln))
            vm = memory.Memory(shape=unsigned(VB), depth=depth_v, init=[])
            lg = memory.Memory(shape=log_layout, depth=depth_v, init=[])
            m.submodules[f"weights_{ln}"] = wm
            m.submodules[f"membranes_{ln}"] = vm
            m.submodules[f"crossings_{ln}"] = lg
            wmem.append(wm)
            vmem.append(vm)
            if self.prunes:
                mm = memory.Memory(shape=unsigned(K * FL2), depth=C * K,
                                   init=self.lane_masks(ln))
                m.submodules[f"masks_{ln}"] = mm
                mmem.append(mm)
            log.append(lg)
            if self._readout:
                fm = memory.Memory(shape=unsigned(VB), depth=FL * P, init=[])
                m.submodules[f"maxima_{ln}"] = fm
                fmax.append(fm)
        self.memories = {"weights": wmem, "masks": mmem, "membranes": vmem}
        w_rd = [x.read_port() for x in wmem]
        w_wr = [x.write_port() for x in wmem]
        if self.prunes:
            mask_rd = [x.read_port() for x in mmem]
            mask_wr = [x.write_port(granularity=1) for x in mmem]
        else:  # every tap stays alive: each bank's masks are constants (the same for every
            # row when the maps are a multiple of the lanes; else a ROM: a row's real maps
            # depend on it, KernelBanks)
            mask_rd = []
            for ln in range(P):
                words = self.lane_masks(ln)
                if len(set(words)) == 1:
                    mask_rd.append(SimpleNamespace(
                        addr=Signal(range(max(2, C * K)), name=f"mask_addr_{ln}"),
                        en=Signal(name=f"mask_en_{ln}"), data=Const(words[0], K * FL2)))
                else:
                    rom = memory.Memory(shape=unsigned(K * FL2), depth=C * K, init=words)
                    m.submodules[f"masks_{ln}"] = rom
                    mask_rd.append(rom.read_port())
            mask_wr = [SimpleNamespace(addr=Signal.like(r.addr), data=Signal(K * FL2),
                                       en=Signal(K * FL2)) for r in mask_rd]
        v_wr = [x.write_port() for x in vmem]
        v_rd = [x.read_port(transparent_for=(wp,)) for x, wp in zip(vmem, v_wr, strict=True)]
        log_wr = [x.write_port() for x in log]
        log_rd = [x.read_port() for x in log]
        fm_wr = [x.write_port() for x in fmax]
        fm_rd = [x.read_port(transparent_for=(wp,)) for x, wp in zip(fmax, fm_wr, strict=True)]

        return w_rd, w_wr, mask_rd, mask_wr, v_rd, v_wr, log_rd, log_wr, fm_rd, fm_wr

    def _kernel_port(self, m: Module, w_rd, w_wr, mask_rd, mask_wr, fm_rd, f_ok) -> None:
        """The kernel port: writes, and the read data of last cycle's requests."""
        P = self._lanes
        kp = self.kernel
        here = [kp.en & (kp.wlane == ln) for ln in range(P)]
        for ln in range(P):
            m.d.comb += [
                w_wr[ln].addr.eq(kp.w_waddr), w_wr[ln].data.eq(kp.w_wdata),
                w_wr[ln].en.eq(here[ln] & kp.w_we),
                # only real maps' slots can be alive: a mask written with other bits set
                # would send the engine to maps that do not exist
                mask_wr[ln].addr.eq(kp.m_waddr),
                mask_wr[ln].data.eq(kp.m_wdata & self._real_slots(m, ln, kp.m_waddr)
                                    if self.prunes else 0),
                mask_wr[ln].en.eq(Mux(here[ln] & kp.m_we, kp.m_wbits, 0)),
            ]
        m.d.comb += kp.m_rall.eq(Cat(*[mask_rd[k].data for k in range(P)]))
        r_lane = Signal(range(max(2, P)))
        m.d.sync += r_lane.eq(kp.lane)
        with m.Switch(r_lane):
            for ln in range(P):
                with m.Case(ln):
                    m.d.comb += [kp.w_rdata.eq(w_rd[ln].data), kp.m_rdata.eq(mask_rd[ln].data)]
        if self._readout:  # map fl * P + lane: the largest over the lanes; 0 if none reached
            r_f = Signal(range(self.maps_per_lane * P))
            m.d.sync += r_f.eq(times_const(kp.x_raddr, P) + kp.lane)
            best = Const(0, self._layer.membrane_bits)
            for ln in range(P):
                v = Mux(f_ok[ln].bit_select(r_f, 1), fm_rd[ln].data, 0)
                best = Mux(v > best, v, best)
            m.d.comb += kp.x_rdata.eq(best)

    def _real_slots(self, m: Module, bank: int, addr: Value) -> Value:
        """Bank ``bank``'s mask bits of real maps in row ``addr``: a constant when every row
        has the same (the maps a multiple of the lanes), else a small ROM."""
        words = self.lane_masks(bank)
        if len(set(words)) == 1:
            return Const(words[0], len(self.kernel.m_wdata))
        rom = memory.Memory(shape=unsigned(len(self.kernel.m_wdata)), depth=len(words),
                            init=words)
        m.submodules[f"real_slots_{bank}"] = rom
        port = rom.read_port(domain="comb")
        m.d.comb += port.addr.eq(addr)
        return port.data


    def _resolution(self, m: Module, s: SimpleNamespace) -> None:
        """The end of a timestep: crossings to spikes (DRAIN, RESOLVE, EMIT)."""
        L = self._layer
        P, FL = self._lanes, self.maps_per_lane
        HO, WO, npos = s.HO, s.WO, s.npos
        VB = L.membrane_bits
        phase, ts = s.phase, s.ts
        log_rd, log_ptr = s.log_rd, s.log_ptr
        v_rd, v_addr0 = s.v_rd, s.v_addr0
        pointwise = L.pointwise_inhibition

        # RESOLVE walker (R0): the lowest lane with crossings left gives one a cycle. Without
        # pointwise inhibition R2 sends the spike; ``adv`` holds R0-R2 (and their read ports)
        # while the consumer is not ready.
        rd = [Signal(range(s.depth_v + 1), name=f"res_rd_{ln}") for ln in range(P)]
        left = Cat(*[rd[ln] != log_ptr[ln] for ln in range(P)])
        walking = phase == _Phase.RESOLVE
        r2 = Signal()
        adv = Signal()
        m.d.comb += adv.eq(~r2 | self.o_spike.ready if not pointwise else 1)
        pick = Signal(range(max(2, P)))
        for ln in reversed(range(P)):
            with m.If(left[ln]):
                m.d.comb += pick.eq(ln)
        r0 = Signal()
        m.d.comb += r0.eq(walking & left.any() & adv)
        for ln in range(P):
            m.d.comb += [log_rd[ln].addr.eq(rd[ln]), log_rd[ln].en.eq(adv)]
            with m.If(r0 & (pick == ln)):
                m.d.sync += rd[ln].eq(rd[ln] + 1)
        # R1: the log word; read the neuron's potential
        r1, r1_lane = Signal(), Signal(range(max(2, P)))
        with m.If(adv):
            m.d.sync += [r1.eq(r0), r1_lane.eq(pick)]
        r1_fl = Signal(bits_for(FL - 1))
        r1_y = Signal(range(max(2, HO)))
        r1_x = Signal(range(max(2, WO)))
        with m.Switch(r1_lane):
            for ln in range(P):
                with m.Case(ln):
                    m.d.comb += [r1_fl.eq(log_rd[ln].data.fl), r1_y.eq(log_rd[ln].data.y),
                                 r1_x.eq(log_rd[ln].data.x)]
        r1_addr = times_const(r1_fl, npos) + times_const(r1_y, WO) + r1_x
        # the neuron's map: lane (f + y + x) % P holds it as local map f // P
        (y_mod,), (x_mod,) = _residues(m, "res_y_mod", HO, P), _residues(m, "res_x_mod", WO, P)
        r1_res = Signal(range(max(2, P)))
        m.d.comb += [y_mod.addr.eq(r1_y), x_mod.addr.eq(r1_x),
                     r1_res.eq(_mod(r1_lane + 2 * P - y_mod.data - x_mod.data, P, 3))]
        for ln in range(P):
            m.d.comb += [v_rd[ln].addr.eq(Mux(walking, r1_addr, v_addr0[ln])),
                         v_rd[ln].en.eq(~walking | adv)]
        # R2: the potential
        r2_lane = Signal(range(max(2, P)))
        r2_f = Signal(bits_for(L.maps - 1))
        r2_y, r2_x = Signal.like(r1_y), Signal.like(r1_x)
        with m.If(adv):
            m.d.sync += [r2.eq(r1), r2_lane.eq(r1_lane), r2_y.eq(r1_y), r2_x.eq(r1_x),
                         r2_f.eq(times_const(r1_fl, P) + r1_res)]
        r2_v = Signal(VB)
        with m.Switch(r2_lane):
            for ln in range(P):
                with m.Case(ln):
                    m.d.comb += r2_v.eq(v_rd[ln].data)

        spike = self.o_spike.payload
        m.d.comb += spike.t.eq(ts)
        if not pointwise:
            done = walking & ~left.any() & ~r1 & ~r2
            with m.If(done):  # the timestep's end goes out last
                m.d.comb += [self.o_spike.valid.eq(1), spike.eot.eq(1)]
            with m.Else():
                m.d.comb += [self.o_spike.valid.eq(r2), spike.f.eq(r2_f), spike.y.eq(r2_y),
                             spike.x.eq(r2_x), spike.v.eq(r2_v)]
            with m.If(done & self.o_spike.ready):
                m.d.sync += [phase.eq(_Phase.IDLE), ts.eq(ts + 1)]
        else:
            busy_tail = r1 | self._pointwise(m, s, r2, r2_f, r2_y, r2_x, r2_v)
            with m.If(walking & ~left.any() & ~busy_tail):
                m.d.sync += phase.eq(_Phase.EMIT)
        with m.If(phase == _Phase.DRAIN):
            m.d.sync += phase.eq(_Phase.RESOLVE)
        with m.If(self.start):
            m.d.sync += [x.eq(0) for x in rd]

    def _pointwise(self, m: Module, s: SimpleNamespace, r2, r2_f, r2_y, r2_x, r2_v) -> Value:
        """Pointwise inhibition: per position the best crossing of the timestep (R3), then
        one spike per position that got one (EMIT). Returns 'the R pipeline is busy'."""
        L = self._layer
        HO, WO, npos = s.HO, s.WO, s.npos
        VB = L.membrane_bits
        phase, ts = s.phase, s.ts
        pos_layout = data.StructLayout({"done": unsigned(1), "has": unsigned(1),
                                        "f": unsigned(bits_for(L.maps - 1)),
                                        "v": unsigned(VB)})
        pm = memory.Memory(shape=pos_layout, depth=npos, init=[])
        tl = memory.Memory(shape=data.StructLayout({"y": unsigned(bits_for(HO - 1)),
                                                    "x": unsigned(bits_for(WO - 1))}),
                           depth=npos, init=[])
        m.submodules.positions = pm
        m.submodules.touched = tl
        pm_wr = pm.write_port()
        pm_rd = pm.read_port(transparent_for=(pm_wr,))
        # a valid bit per position (cleared with the membranes' at start; never longer: npos
        # <= FL * Ho * Wo): a position not written since start reads as empty
        pm_ok = BitMap(entries=npos)
        m.submodules.position_valid = pm_ok
        m.d.comb += [pm_ok.clear.eq(self.start), pm_ok.r_addr.eq(pm_rd.addr),
                     pm_ok.r_en.eq(pm_rd.en), pm_ok.s_addr.eq(pm_wr.addr),
                     pm_ok.s_bits.eq(1), pm_ok.s_en.eq(pm_wr.en)]
        pos = Signal(pos_layout)  # the position word read, 0 if not written since start
        m.d.comb += pos.eq(Mux(pm_ok.r_data, pm_rd.data.as_value(), 0))
        tl_wr = tl.write_port()
        tl_rd = tl.read_port()
        n_touched = Signal(range(npos + 1))
        emitting = phase == _Phase.EMIT

        # R2 reads the position word; R3 compares and writes it back (transparent read: two
        # crossings of one position in consecutive cycles see each other's write).
        r3 = Signal()
        r3_f = Signal.like(r2_f)
        r3_y, r3_x = Signal.like(r2_y), Signal.like(r2_x)
        r3_v = Signal(VB)
        r3_pos = Signal(range(max(2, npos)))
        m.d.sync += [r3.eq(r2), r3_f.eq(r2_f), r3_y.eq(r2_y), r3_x.eq(r2_x), r3_v.eq(r2_v),
                     r3_pos.eq(times_const(r2_y, WO) + r2_x)]
        old = pos
        better = (r3_v > old.v) | ((r3_v == old.v) & (r3_f < old.f))
        write_best = r3 & ~old.done & (~old.has | better)
        append = r3 & ~old.done & ~old.has

        # EMIT: E0 reads the touched list, E1 the position word, E2 sends the spike and marks
        # the position done; ``adv`` holds E0-E2 while the consumer is not ready.
        e_rd = Signal(range(npos + 1))
        e0, e1, e2 = Signal(), Signal(), Signal()
        adv = Signal()
        m.d.comb += adv.eq(~e2 | self.o_spike.ready)
        m.d.comb += e0.eq(emitting & (e_rd != n_touched) & adv)
        m.d.comb += [tl_rd.addr.eq(e_rd), tl_rd.en.eq(adv)]
        e2_y, e2_x = Signal.like(r2_y), Signal.like(r2_x)
        e2_pos = Signal(range(max(2, npos)))
        e1_pos = times_const(tl_rd.data.y, WO) + tl_rd.data.x
        with m.If(adv):
            m.d.sync += [e1.eq(e0), e2.eq(e1), e2_y.eq(tl_rd.data.y), e2_x.eq(tl_rd.data.x),
                         e2_pos.eq(e1_pos)]
        with m.If(e0):
            m.d.sync += e_rd.eq(e_rd + 1)
        m.d.comb += [pm_rd.addr.eq(Mux(emitting, e1_pos, times_const(r2_y, WO) + r2_x)),
                     pm_rd.en.eq(~emitting | adv)]

        m.d.comb += [tl_wr.addr.eq(n_touched), tl_wr.data.y.eq(r3_y), tl_wr.data.x.eq(r3_x),
                     tl_wr.en.eq(append)]
        with m.If(append):
            m.d.sync += n_touched.eq(n_touched + 1)

        # the word written, whole in both cases: EMIT marks the position done, R3 its best
        emitted, best = Signal(pos_layout), Signal(pos_layout)
        m.d.comb += [emitted.eq(pos), emitted.done.eq(1),
                     best.has.eq(1), best.f.eq(r3_f), best.v.eq(r3_v)]
        m.d.comb += pm_wr.data.eq(Mux(emitting, emitted.as_value(), best.as_value()))
        with m.If(emitting):
            m.d.comb += [pm_wr.addr.eq(e2_pos), pm_wr.en.eq(e2 & self.o_spike.ready)]
        with m.Else():
            m.d.comb += [pm_wr.addr.eq(r3_pos), pm_wr.en.eq(write_best)]

        spike = self.o_spike.payload
        done = emitting & (e_rd == n_touched) & ~e1 & ~e2
        with m.If(done):  # the timestep's end goes out last
            m.d.comb += [self.o_spike.valid.eq(1), spike.eot.eq(1)]
        with m.Else():
            m.d.comb += [self.o_spike.valid.eq(e2), spike.f.eq(pos.f), spike.y.eq(e2_y),
                         spike.x.eq(e2_x), spike.v.eq(pos.v)]
        with m.If(done & self.o_spike.ready):
            m.d.sync += [phase.eq(_Phase.IDLE), ts.eq(ts + 1), n_touched.eq(0), e_rd.eq(0)]
        with m.If(self.start):
            m.d.sync += [n_touched.eq(0), e_rd.eq(0)]
        return r2 | r3
