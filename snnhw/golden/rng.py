"""The hardware's random numbers: 16-bit xorshift generators, one per input channel.

Each generator steps ``s ^= s << 7; s ^= s >> 9; s ^= s << 8`` (16 bits), which visits all
65535 non-zero states. In hardware it is a few XOR gates; here its whole cycle is tabulated
once, so a generator is just a position in :data:`SEQUENCE` and a draw is a table look-up,
vectorised over channels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PERIOD", "SEQUENCE", "xorshift16", "initial_states", "Generators"]

PERIOD = 65535


def xorshift16(s: int) -> int:
    """One step of the generator (the hardware's combinational update)."""
    s ^= (s << 7) & 0xFFFF
    s ^= s >> 9
    s ^= (s << 8) & 0xFFFF
    return s


def _sequence() -> np.ndarray:
    seq = np.empty(PERIOD, dtype=np.int64)
    s = 1
    for k in range(PERIOD):
        seq[k] = s
        s = xorshift16(s)
    if s != 1 or len(set(seq.tolist())) != PERIOD:  # pragma: no cover - a property of the map
        raise AssertionError("xorshift16 (7, 9, 8) must have period 65535")
    return seq


SEQUENCE: np.ndarray = _sequence()
SEQUENCE.setflags(write=False)
_POSITION = np.empty(PERIOD + 1, dtype=np.int64)
_POSITION[SEQUENCE] = np.arange(PERIOD)


def initial_states(n: int, seed: int) -> np.ndarray:
    """Seeded, distinct-looking non-zero start states of ``n`` generators (the hardware's
    memory image)."""
    rng = np.random.default_rng(seed)
    return SEQUENCE[rng.integers(0, PERIOD, size=n)]


class Generators:
    """``n`` independent generators; ``draw(idx)`` steps the chosen ones and returns their new
    states, in the order of ``idx`` (which must not repeat)."""

    def __init__(self, states: np.ndarray) -> None:
        states = np.asarray(states, dtype=np.int64)
        if np.any(states <= 0) or np.any(states > 0xFFFF):
            raise ValueError("generator states must be in 1..65535")
        self.pos = _POSITION[states]

    @property
    def states(self) -> np.ndarray:
        return SEQUENCE[self.pos]

    def draw(self, idx: np.ndarray | slice) -> np.ndarray:
        self.pos[idx] += 1
        self.pos[idx] %= PERIOD
        return SEQUENCE[self.pos[idx]]
