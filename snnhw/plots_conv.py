"""Plots of a trained TTFS conv network (``snnhw train`` writes them into the model folder):

- ``features.png``: what each conv layer's maps learned, in input pixels: conv1's kernels as
  on minus off pictures, deeper maps reconstructed by placing the pictures of the maps below
  at their kernel taps, weighted by the taps' weights (pooling strides included);
- ``convergence.png``: each layer's convergence ``C = mean(w (1 - w))`` while it learns;
- ``connectivity.png``: each layer's fraction of alive taps while it learns (with pruning);
- ``spike_maps.png``: one test image's spike times, the input's on and off channels and the
  earliest spike over the maps of each layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .ir_conv import ConvNetworkIR, PoolLayerIR

__all__ = ["write_plots", "reconstructions"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def reconstructions(net: ConvNetworkIR, weights: dict[int, np.ndarray]) -> list[np.ndarray]:
    """Per conv layer, ``(maps, side, side)`` pictures of its maps in input pixels."""
    out = []
    below: np.ndarray | None = None  # (channels, s, s) pictures of the input to this layer
    stride = 1
    for layer in net.layers:
        if isinstance(layer, PoolLayerIR):
            stride *= layer.stride
            continue
        w = weights[layer.index].astype(np.float64) / layer.full_scale
        if below is None:
            pics = w[:, 0] - w[:, 1]
        else:
            k, s = layer.kernel, below.shape[-1]
            side = (k - 1) * stride + s
            pics = np.zeros((layer.maps, side, side))
            for i in range(k):
                for j in range(k):
                    pics[:, i * stride:i * stride + s, j * stride:j * stride + s] += np.einsum(
                        "fc,cyx->fyx", w[:, :, i, j], below)
        out.append(pics)
        below = pics / np.maximum(np.abs(pics).max(axis=(1, 2), keepdims=True), 1e-12)
    return out


def _features_plot(path: Path, net: ConvNetworkIR, weights: dict[int, np.ndarray]) -> None:
    plt = _plt()
    recs = reconstructions(net, weights)
    convs = net.conv_layers
    cols = min(10, max(r.shape[0] for r in recs))
    rows = [-(-r.shape[0] // cols) for r in recs]
    fig, axes = plt.subplots(sum(rows), cols, figsize=(cols * 1.0, sum(rows) * 1.05 + 0.4),
                             dpi=100, squeeze=False)
    row = 0
    for layer, rec, nrow in zip(convs, recs, rows, strict=True):
        for q in range(nrow * cols):
            ax = axes[row + q // cols, q % cols]
            ax.set_axis_off()
            if q < rec.shape[0]:
                m = max(abs(rec[q]).max(), 1e-12)
                ax.imshow(rec[q], cmap="gray", vmin=-m, vmax=m)
                if q == 0:
                    ax.set_title(layer.name, fontsize=7, loc="left", pad=2)
        row += nrow
    fig.suptitle("learned features (on minus off, in input pixels)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _curves_plot(path: Path, net: ConvNetworkIR, logs: dict[int, Any], key: str, ylabel: str,
                 others: dict[int, Any] | None = None) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    for layer in net.conv_layers:
        log = logs.get(layer.index)
        if not log or not log.curve:
            continue
        n = [p["images"] for p in log.curve]
        line, = ax.plot(n, [p[key] for p in log.curve], marker=".", label=layer.name)
        if layer.prune_threshold is not None and key == "connectivity" and layer.prune_warmup:
            ax.axvline(layer.prune_warmup, color=line.get_color(), linestyle=":")
        if others and others.get(layer.index) and others[layer.index].curve:
            o = others[layer.index].curve
            ax.plot([p["images"] for p in o], [p[key] for p in o], linestyle="--",
                    color=line.get_color(), label=f"{layer.name}, unpruned")
    ax.set_xlabel("training images of the layer")
    ax.set_ylabel(ylabel)
    if key == "connectivity":
        ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no layer learned", ha="center", va="center",
                transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _spike_maps_plot(path: Path, net: ConvNetworkIR, maps: list[np.ndarray]) -> None:
    plt = _plt()
    T = net.timesteps
    panels = [("input on", maps[0][0]), ("input off", maps[0][1])]
    for layer, m in zip(net.layers, maps[1:], strict=False):
        panels.append((f"{layer.name} ({m.shape[0]} maps)", m.min(axis=0)))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.6), dpi=100,
                             squeeze=False)
    for ax, (title, img) in zip(axes[0], panels, strict=True):
        shown = np.ma.masked_equal(img, T)
        im = ax.imshow(shown, cmap="viridis_r", vmin=0, vmax=T - 1)
        ax.set_title(title, fontsize=7)
        ax.set_axis_off()
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.7, label="spike time (blank: none)")
    fig.savefig(path)
    plt.close(fig)


def write_plots(out: Path, net: ConvNetworkIR, run: Any, unpruned: Any | None) -> None:
    """Write the plots of a training ``run`` (and its unpruned twin, if any) into ``out``."""
    _features_plot(out / "features.png", net, run.state.weights)
    _curves_plot(out / "convergence.png", net, run.layers, "convergence",
                 "convergence C = mean(w (1 - w))")
    if any(c.prune_threshold is not None for c in net.conv_layers):
        _curves_plot(out / "connectivity.png", net, run.layers, "connectivity",
                     "taps alive (fraction)", unpruned.layers if unpruned else None)
    _spike_maps_plot(out / "spike_maps.png", net, run.sample_maps)
