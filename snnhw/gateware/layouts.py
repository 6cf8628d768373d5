"""Stream payloads, stored words and interface signatures of the neuron core, in one place."""

from __future__ import annotations

from amaranth import signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.wiring import In, Out

from ..ir import Space as IRSpace

__all__ = ["Space", "event_layout", "spike_layout", "state_layout", "HostPortSignature",
           "CountersSignature", "COUNTER_NAMES"]


#: Which memory a host access of the neuron core addresses: the spaces of
#: :class:`snnhw.ir.Space` it has (WEIGHT: ``bank`` selects the bank, ``addr`` the word;
#: STATE: ``bank`` is the lane, ``addr`` the neuron group), as an Amaranth enum (1 bit).
Space = enum.Enum("Space", [(s.name, s.value) for s in (IRSpace.WEIGHT, IRSpace.STATE)])


def event_layout(index_bits: int) -> data.StructLayout:
    """An input event: the index of a spiking input, or the end of the current timestep."""
    return data.StructLayout({"index": unsigned(index_bits), "eot": unsigned(1)})


def spike_layout(neuron_bits: int, timestep_bits: int) -> data.StructLayout:
    """An output spike: which neuron fired in which timestep."""
    return data.StructLayout({"neuron": unsigned(neuron_bits),
                              "timestep": unsigned(timestep_bits)})


def state_layout(membrane_bits: int, ref_bits: int) -> data.StructLayout:
    """One neuron's stored state: signed membrane potential and refractory countdown."""
    return data.StructLayout({"v": signed(membrane_bits), "ref": unsigned(ref_bits)})


class HostPortSignature(wiring.Signature):
    """Random access to weights and neuron state while the core is idle, from the host's view.

    A request is taken in a cycle where ``ready`` is high: ``w_en`` writes ``w_data``,
    ``r_en`` reads, and the word appears on ``r_data`` in the next cycle and stays there until
    the next read or until the core becomes busy. Requests while ``ready`` is low are ignored.
    """

    def __init__(self, *, bank_bits: int, addr_bits: int, data_bits: int,
                 space_shape=Space) -> None:
        super().__init__({
            "space": Out(space_shape),
            "bank": Out(bank_bits),
            "addr": Out(addr_bits),
            "w_data": Out(data_bits),
            "w_en": Out(1),
            "r_en": Out(1),
            "r_data": In(data_bits),
            "ready": In(1),
        })


COUNTER_NAMES = ("cycles", "busy_cycles", "synaptic_events", "input_events", "output_spikes")


class CountersSignature(wiring.Signature):
    """Saturating performance counters, read by the host (see docs/semantics.md)."""

    def __init__(self, *, counter_bits: int) -> None:
        super().__init__({name: Out(counter_bits) for name in COUNTER_NAMES})
