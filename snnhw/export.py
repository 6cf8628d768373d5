"""Write the generated hardware: Verilog top, memory images, resolved config and manifest."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from amaranth.back import verilog

from .config import Config
from .errors import OutputError
from .families import load, require_network, resolve, resolve_layer
from .ir import LayerIR, dump_resolved

__all__ = ["Generated", "generate", "top_name", "write_memh", "verilog_ports"]

log = logging.getLogger(__name__)


def make_dir(path: str | Path) -> Path:
    """Create an output folder, or say in one line why it cannot be."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{path}: cannot create output folder ({e.strerror})") from None
    return path


def top_name(layer: LayerIR) -> str:
    """Name of the Verilog top module for a layer."""
    return f"{layer.name}_core"


def write_memh(path: Path, words: np.ndarray, width: int) -> None:
    """Write a ``$readmemh`` image: one hexadecimal word per line, two's complement in
    ``width`` bits."""
    digits = -(-width // 4)
    mask = (1 << width) - 1
    path.write_text("".join(f"{int(w) & mask:0{digits}x}\n" for w in words))


@dataclass(frozen=True)
class Generated:
    """Paths of what :func:`generate` wrote, and the manifest it wrote them under."""

    out_dir: Path
    verilog: Path
    manifest: dict[str, Any]
    layer: LayerIR | None  # None for families of several layers


def generate(config: Config, out_dir: str | Path) -> Generated:
    """Elaborate the core for ``config`` and write every artefact into ``out_dir``.

    Writes ``<top>.v``, one ``.memh`` image per memory bank, ``resolved_config.json`` and
    ``manifest.json`` (fields: ``top``, ``verilog``, ``memories``, ``total_memory_bits``,
    ``lanes``, the port list, the network ``family`` with its ``golden_model`` and
    ``cycle_model``, payload ``layouts`` and the ``host_spaces`` of the core's host port).
    """
    out = make_dir(out_dir)
    net = resolve(config)
    family = require_network(net, "generate")
    if family.generator is not None:  # a family with its own writer (several layers)
        manifest = load(family.generator)(config, net, out, family)
        return Generated(out_dir=out, verilog=out / manifest["verilog"], manifest=manifest,
                         layer=None)
    layer = resolve_layer(config)
    top = top_name(layer)
    core = family.core_for(layer)
    log.info("elaborating %s: %d x %d, %d lanes", top, layer.n_in, layer.n_out, layer.lanes)
    text = verilog.convert(core, name=top, emit_src=False)
    vpath = out / f"{top}.v"
    vpath.write_text(text)

    images = layer.memory_images()
    memories = []
    for mem in layer.memories:
        files = []
        for b in range(mem.count):
            if mem.name not in images:
                continue  # other memories start at zero, or are defined in the Verilog
            f = out / f"{mem.name}_{b}.memh"
            write_memh(f, images[mem.name][b], mem.width)
            files.append(f.name)
        memories.append({"name": mem.name, "banks": mem.count, "depth": mem.depth,
                         "width": mem.width, "bits": mem.bits, "init_files": files})
    dump_resolved(config, layer, out / "resolved_config.json")
    manifest = {
        "top": top,
        "verilog": vpath.name,
        "memories": memories,
        "total_memory_bits": layer.total_memory_bits,
        "lanes": layer.lanes,
        "neurons": layer.n_out,
        "inputs": layer.n_in,
        "weight_layout": "W[i, j] in bank (i + j) % lanes at address i * npl + j // lanes",
        "ports": verilog_ports(text),
        "core": type(core).__name__,
        "family": family.name,
        # the bit-exact specification of this hardware, and its cycle model
        "golden_model": family.golden,
        "cycle_model": family.cycle_model,
        "layouts": family.layouts(layer),
        # what the core's host port reaches: space number -> banks, depth, width
        "host_spaces": {s.name: {"space": int(s), "banks": m.count, "depth": m.depth,
                                 "width": m.width} for s, m in layer.host_spaces().items()},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return Generated(out_dir=out, verilog=vpath, manifest=manifest, layer=layer)


def verilog_ports(text: str) -> dict[str, dict[str, Any]]:
    """The top module's ports, read from its Verilog: name -> direction and width."""
    ports = {}
    for m in re.finditer(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+)\s*;", text, re.M):
        ports[m[3]] = {"direction": m[1], "width": int(m[2]) + 1 if m[2] else 1}
    return ports
