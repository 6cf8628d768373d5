"""The image encoder of TTFS conv networks: on/off difference-of-Gaussians responses and the
rank-order latency code (docs/semantics.md, "Encoder")."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["dog_responses", "rank_latency", "encode_image"]


def dog_responses(image: np.ndarray, kernel: np.ndarray, threshold: int) -> np.ndarray:
    """``(2, H, W)`` int64: the on channel holds each response ``r`` above ``threshold``, the
    off channel each ``-r`` above it, 0 elsewhere. ``r[y, x]`` is the sum of ``kernel[i, j] *
    image[y + i - c, x + j - c]`` (``c`` the kernel's centre; pixels outside the image are 0)."""
    c = kernel.shape[0] // 2
    padded = np.pad(np.asarray(image, dtype=np.int64), c)
    r = np.einsum("yxij,ij->yx", sliding_window_view(padded, kernel.shape), kernel)
    return np.stack([np.where(r > threshold, r, 0), np.where(-r > threshold, -r, 0)])


def rank_latency(values: np.ndarray, timesteps: int) -> np.ndarray:
    """Spike times of non-negative ``values``: a value of 0 never spikes (time ``T``); of the
    ``N`` non-zero values, one with ``g`` values strictly greater spikes at ``g * T // N``.
    Equal values spike together; the strongest spikes at 0."""
    flat = values.ravel()
    nz = flat > 0
    n = int(nz.sum())
    times = np.full(flat.shape, timesteps, dtype=np.int64)
    if n:
        v = flat[nz]
        greater = n - np.searchsorted(np.sort(v), v, side="right")
        times[nz] = greater * timesteps // n
    return times.reshape(values.shape)


def encode_image(image: np.ndarray, kernel: np.ndarray, threshold: int,
                 timesteps: int) -> np.ndarray:
    """``(2, H, W)`` spike times of a grey ``image`` (0-255), ``T`` where no spike."""
    return rank_latency(dog_responses(image, kernel, threshold), timesteps)
