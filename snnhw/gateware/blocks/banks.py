"""The learning core's memory banks, each one :class:`amaranth.lib.memory.Memory` (or, for
the weights and the pruning bitmap on the iCE40UP5K, an :class:`SPRAMStore`) with its ``init``
from the IR; the layout is in :mod:`snnhw.gateware.networks.diehl_cook`'s docstring and in
``LayerIR.memories``."""

from __future__ import annotations

from types import SimpleNamespace

from amaranth import Module, unsigned
from amaranth.lib import data, memory

from ...ir import LayerIR
from ..spram import SPRAMStore

__all__ = ["add_banks", "bank_ports"]


def add_banks(m: Module, L: LayerIR, *, state_l: data.StructLayout, list_l: data.StructLayout,
              last_l: data.StructLayout, ev_l: data.StructLayout, spram: bool,
              alive_spram: bool) -> SimpleNamespace:
    """Add the layer's memories to ``m`` (as ``<name>_<bank>`` submodules) and return them:
    ``W`` weights, ``S`` neuron state, ``TH`` thresholds, ``LST`` the sample's list, ``EG``
    and ``IG`` the encoder's and the inputs' generators, ``LS`` last spikes, ``EV`` events
    (lists of P banks), ``AL`` the alive bitmap (pruning; else empty), ``trace_rom``."""
    P, NPL, NIG, wb, sd = L.lanes, L.npl, L.nig, L.weight_bits, L.stdp
    pair = bool(sd.eta_pre)
    gens = L.encoder.generator_states
    banks = L.weight_banks()
    W, S, TH, LST, EG, IG, LS, EV = [], [], [], [], [], [], [], []
    for b in range(P):
        def mem(name, shape, depth, init=(), b=b):
            mm = memory.Memory(shape=shape, depth=max(1, depth), init=list(init))
            m.submodules[f"{name}_{b}"] = mm
            return mm
        slots = [int(gens[k]) for k in range(b, L.n_in, P)]
        inputs = [int(gens[L.n_in + i]) for i in range(b, L.n_in, P)]
        if spram:
            store = SPRAMStore(width=wb, depth=L.bank_depth)
            m.submodules[f"weights_{b}"] = store
            W.append(store)
        else:
            W.append(mem("weights", unsigned(wb), L.bank_depth, banks[b].tolist()))
        if pair:  # each neuron's depression generator starts from the IR's state
            S.append(mem("state", state_l, NPL, [
                {"gen": int(gens[2 * L.n_in + k * P + b]) if k * P + b < L.n_out else 1}
                for k in range(NPL)]))
        else:
            S.append(mem("state", state_l, NPL))
        TH.append(mem("theta", unsigned(L.theta_bits), NPL))
        LST.append(mem("list", list_l, NIG))
        EG.append(mem("enc_gen", unsigned(16), NIG, slots + [1] * (NIG - len(slots))))
        IG.append(mem("in_gen", unsigned(16), NIG, inputs + [1] * (NIG - len(inputs))))
        LS.append(mem("last", last_l, NIG))
        EV.append(mem("events", ev_l, 2 * NIG))
    AL = []  # pruning: the alive bitmap, in the weights' banks (LayerIR.alive_location)
    if L.pruning:
        C = L.pruning.chunk_bits
        for b, image in enumerate(L.alive_banks()):
            if alive_spram:
                # the row walk's next event comes straight from a block RAM (late), and no
                # bitmap word is read in the cycle after it is written (no forwarding)
                mm = SPRAMStore(width=C, depth=len(image), late=True, forward=False)
            else:
                mm = memory.Memory(shape=unsigned(C), depth=len(image), init=image.tolist())
            m.submodules[f"alive_{b}"] = mm
            AL.append(mm)
    trace_rom = memory.Memory(shape=unsigned(8), depth=sd.trace_depth,
                              init=sd.trace_table[:sd.trace_depth].tolist())
    m.submodules.trace_rom = trace_rom
    return SimpleNamespace(W=W, S=S, TH=TH, LST=LST, EG=EG, IG=IG, LS=LS, EV=EV, AL=AL,
                           trace_rom=trace_rom)


def bank_ports(mems, spram: bool):
    """A read port and a write port of each memory; of an :class:`SPRAMStore`, its members
    under a Memory port's names."""
    if spram:
        return ([SimpleNamespace(addr=w.rd_addr, data=w.rd_data) for w in mems],
                [SimpleNamespace(addr=w.wr_addr, data=w.wr_data, en=w.wr_en) for w in mems])
    return [w.read_port() for w in mems], [w.write_port() for w in mems]
