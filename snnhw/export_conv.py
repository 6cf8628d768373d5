"""Write the generated hardware of a TTFS conv network: the core's Verilog, its resolved
config and a manifest of what the host port reaches (docs/host-protocol.md for the SoC)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from amaranth.back import verilog

from .config import Config
from .ir_conv import ConvNetworkIR, event_fields, list_depth, list_shape, resolved_dict

__all__ = ["generate_conv", "conv_manifest"]

log = logging.getLogger(__name__)


def conv_manifest(core, net: ConvNetworkIR) -> dict:
    """What a host needs to drive the core: host spaces and their banks, registers, layouts."""
    from .gateware.networks.ttfs_conv import ConvHost

    stages = []
    for s, eng in enumerate(core.engines):
        b = eng.banks
        stages.append({
            "layer": eng.layer.name, "lanes": b.lanes, "maps_per_lane": b.fl,
            "mask_stride": b.fl2, "weight_words": b.channels * b.kernel ** 2 * b.fl,
            "mask_words": b.channels * b.kernel, "mask_width": b.kernel * b.fl2,
            "bank_of_lane_0": s << core.lane_bits})
    return {
        "host_spaces": {s.name: s.value for s in ConvHost},
        "registers": core.regs,
        "lane_bits": core.lane_bits,
        "lists": [{"depth": list_depth(net, s), "fields": event_fields(list_shape(net, s))}
                  for s in range(core.n_lists)],
        "stages": stages,
        "kernel_layout": "weight (f, c, i, j) at word ((c*K + i)*K + j)*FL + f//P of bank "
                         "stage << lane_bits | f % P; alive bit at bit j*FL2 + f//P of word "
                         "c*K + i",
    }


def generate_conv(config: Config, net: ConvNetworkIR, out: Path, family) -> dict:
    """Elaborate the conv core, write ``<name>_core.v``, ``resolved_config.json`` and
    ``manifest.json`` into ``out``; return the manifest."""
    from .export import verilog_ports
    from .gateware.networks.ttfs_conv import TtfsConvCore

    top = f"{net.name}_core"
    core = TtfsConvCore(net)
    log.info("elaborating %s: %d conv layers, %d lanes", top, len(core.engines), net.lanes)
    text = verilog.convert(core, name=top, emit_src=False)
    vpath = out / f"{top}.v"
    vpath.write_text(text)
    (out / "resolved_config.json").write_text(json.dumps(resolved_dict(net), indent=2) + "\n")
    # weights, and the alive masks of the layers that prune (the others' are constants)
    memory_bits = sum(
        e.banks.lanes * e.banks.channels * e.banks.kernel
        * (e.banks.kernel * e.banks.fl * e.layer.weight_bits
           + (e.banks.kernel * e.banks.fl2 if e.prunes else 0))
        for e in core.engines)
    manifest = {
        "top": top, "verilog": vpath.name, "lanes": net.lanes, "core": type(core).__name__,
        "family": family.name, "golden_model": family.golden,
        "cycle_model": family.cycle_model, "ports": verilog_ports(text),
        "kernel_memory_bits": memory_bits,
        **conv_manifest(core, net),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
