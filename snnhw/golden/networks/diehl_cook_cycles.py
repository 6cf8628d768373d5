"""Cycle model of the learning core (docs/semantics.md); the RTL's busy-cycle counter equals it.

One presentation, from its first CLEAR cycle to its PRES_END cycle, with ``G = ceil(L / P)``
list groups (``L`` non-zero pixels), ``E[s]`` input events and ``spike[s]`` (0 or 1) in
timestep ``s``:

* CLEAR: ``max(NPL, NIG)`` cycles (state groups and last-spike words, one of each per cycle);
* the encoder encodes timestep ``s`` in ``D = G + ENC_TAIL`` cycles (``1`` if ``G = 0`` or
  ``s`` is a rest timestep, ``s >= encoder.timesteps``) after its start; it starts timestep 0
  in cycle 1, and timestep ``s + 1`` once it has finished ``s`` and the processor has begun ``s``;
* the processor waits (at least one cycle) until timestep ``s`` is encoded, then integrates
  (``E[s] * NPL + 1``), scans for the winner (``NPL``), drains (``FIRE_DRAIN``), and on a spike
  resets (``NPL``) and, when learning, runs the STDP pass (``NIG + COL_TAIL``); then one cycle
  to end the step;
* after the last timestep, when learning: theta decay (``NPL + 1``), and with normalisation a scan
  of ``padded_out + 1`` cycles plus ``NORM_FIXED + 2 * NIG + DB`` per fired neuron (sum,
  divide with ``DB`` dividend bits, rescale); then ``1 + END_TAIL`` cycles to end the
  presentation.

The constants are the pipeline depths of the RTL, defined in :mod:`snnhw.ir` (docs/semantics.md
section 22) and re-exported here.

The encoder is hidden behind the processor whenever a timestep takes longer to process than
the next one takes to encode.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...ir import COL_TAIL, ENC_TAIL, END_TAIL, FIRE_DRAIN, NORM_FIXED, LayerIR

__all__ = ["presentation_cycles", "ideal_presentation_cycles", "ENC_TAIL", "FIRE_DRAIN",
           "COL_TAIL", "NORM_FIXED", "END_TAIL"]


def presentation_cycles(layer: LayerIR, nonzero: int, events: Sequence[int],
                        spikes: Sequence[int], *, learn: bool, fired: int,
                        integration: Sequence[int] | None = None) -> int:
    """Busy cycles of one presentation (see the module documentation). The learning core is
    winner-take-all: ``spikes[s]`` is 0 or 1. ``integration[s]``, with pruning, replaces the
    ``E[s] * NPL`` cycles of integrating timestep ``s`` (see ``row_cycles``)."""
    P, npl = layer.lanes, layer.npl
    nig = layer.nig
    g = -(-nonzero // P)
    d = g + ENC_TAIL if g else 1
    t = max(npl, nig)  # first WAIT cycle of timestep 0
    go = 1  # encoder start of timestep 0
    active = layer.encoder.timesteps  # the rest timesteps after these encode nothing
    if integration is None:
        integration = [e * npl for e in events]
    for s, (e, spike) in enumerate(zip(integration, spikes, strict=True)):
        visible = go + 1 + (d if s < active else 1)  # first cycle timestep s counts as encoded
        w = max(t, visible)  # the processor's last WAIT cycle
        if s + 1 < len(events):
            go = max(visible, w + 1)
        t = w + 1 + (e + 1) + npl + FIRE_DRAIN + 1
        if spike:
            t += npl + (nig + COL_TAIL if learn else 0)
    if learn:
        t += npl + 1  # DECAY: the last op's write lands a cycle after its issue
        if layer.stdp is not None and layer.stdp.normalize_target:
            db = layer.dividend_bits
            t += layer.padded_out + 1 + fired * (2 * nig + db + NORM_FIXED)
    return t + 1 + END_TAIL


def ideal_presentation_cycles(layer: LayerIR, events: Sequence[int], spikes: Sequence[int], *,
                              learn: bool, fired: int,
                              alive_events: Sequence[int] | None = None) -> int:
    """The bound of one weight read-modify-write per bank per cycle for the same work:
    ``E * NPL`` per timestep to integrate, ``NPL`` to update the neurons, and per spike
    ``NIG`` for STDP when learning; when normalising, ``2 * NIG`` per fired neuron (a read
    pass for the sum and a read-modify-write pass). With pruning, ``alive_events[s]`` (the
    alive synapses of timestep ``s``'s events) replaces ``E * NPL`` by ``ceil(alive / P)``."""
    P, npl = layer.lanes, layer.npl
    nig = layer.nig
    if alive_events is None:
        total = sum(e * npl + npl for e in events)
    else:
        total = sum(-(-a // P) + npl for a in alive_events)
    if learn:
        total += sum(spikes) * nig
        if layer.stdp is not None and layer.stdp.normalize_target:
            total += fired * 2 * nig
    return total
