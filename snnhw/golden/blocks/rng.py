"""The hardware's random numbers: 16-bit xorshift generators (defined in :mod:`snnhw.ir`).

Each generator steps ``s ^= s << 7; s ^= s >> 9; s ^= s << 8`` (16 bits), which visits all
65535 non-zero states. In hardware it is a few XOR gates; here its whole cycle is tabulated
once, so a generator is just a position in :data:`SEQUENCE` and a draw is a table look-up,
vectorised over channels.
"""

from __future__ import annotations

import numpy as np

from ...ir import GENERATOR_PERIOD, GENERATOR_SEQUENCE, generator_start_states, xorshift16

__all__ = ["PERIOD", "SEQUENCE", "xorshift16", "initial_states", "Generators", "position_of"]

PERIOD = GENERATOR_PERIOD
SEQUENCE = GENERATOR_SEQUENCE
_POSITION = np.empty(PERIOD + 1, dtype=np.int64)
_POSITION[SEQUENCE] = np.arange(PERIOD)


def position_of(state: int) -> int:
    """The position in :data:`SEQUENCE` of a generator state (1 to 65535)."""
    if not 1 <= state <= 0xFFFF:
        raise ValueError(f"a generator state is 1 to 65535, not {state}")
    return int(_POSITION[state])


def initial_states(n: int, seed: int) -> np.ndarray:
    """Seeded start states of ``n`` generators (see :func:`snnhw.ir.generator_start_states`)."""
    return generator_start_states(n, seed)


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
