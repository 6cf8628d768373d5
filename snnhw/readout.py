"""The readout of a classifying network (Diehl & Cook): labels for the neurons, and a class
for each sample from the spike counts. ``snnhw train``, ``snnhw run`` and the host runtime use
it; the SoC adds up the same class votes (docs/host-protocol.md)."""

from __future__ import annotations

import numpy as np

__all__ = ["N_CLASSES", "assign_labels", "predict"]

N_CLASSES = 10  #: classes of the datasets (MNIST, Fashion-MNIST), and class votes in the SoC


def assign_labels(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Class of each neuron: the one with its highest mean spike count (ties: lower class).
    A neuron that never fired gets class 0."""
    rates = np.zeros((N_CLASSES, counts.shape[1]))
    for c in range(N_CLASSES):
        sel = labels == c
        if sel.any():
            rates[c] = counts[sel].mean(axis=0)
    return np.argmax(rates, axis=0)


def predict(counts: np.ndarray, assignments: np.ndarray) -> np.ndarray:
    """Class of each sample: the one whose neurons fired most on average (ties: lower)."""
    votes = np.zeros((len(counts), N_CLASSES))
    for c in range(N_CLASSES):
        sel = assignments == c
        if sel.any():
            votes[:, c] = counts[:, sel].mean(axis=1)
    return np.argmax(votes, axis=1)
