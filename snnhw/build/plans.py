"""What ``snnhw build`` makes of a network, by family: the SoC's constructor, where its memories
go, what the fit check counts, its name and fingerprint. The registry
(``Family.soc_plan`` in :mod:`snnhw.families`) names a family's plan; :func:`build` runs it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..boards import Board
from ..config import Config
from ..fit import DEVICES
from ..ir import LayerIR, NetworkIR, dump_resolved

__all__ = ["SocPlan", "learning_plan", "conv_plan"]


@dataclass(frozen=True)
class SocPlan:
    """One network's build: ``make(clk_hz=, baud=, timeout_cycles=)`` gives the SoC (an
    Amaranth component with ``rx``, ``tx`` and ``busy``); ``synapse_ram`` is ``"spram"`` when
    its synapses are in the iCE40UP5K's SPRAM (the board top then makes a ``fast`` clock);
    ``fit_subject`` is what :func:`snnhw.fit.check_fit` takes; ``write_resolved(path)``
    writes ``resolved_config.json``."""

    name: str
    config_hash: int
    synapse_ram: str
    fit_subject: LayerIR | NetworkIR
    make: Callable[..., Any]
    write_resolved: Callable[[Path], None]


def learning_plan(config: Config, net: NetworkIR, board: Board) -> SocPlan:
    """The learning layer's SoC (diehl_cook): weights in SPRAM where the device has it."""
    from ..gateware.soc import SoC
    from ..protocol import config_hash

    layer = net.layer
    ram = "spram" if DEVICES[board.device].spram else "block"

    def make(**clocking: int) -> Any:
        return SoC(layer, synapse_ram=ram, **clocking)

    return SocPlan(layer.name, config_hash(layer), ram, layer, make,
                   lambda path: dump_resolved(config, layer, path))


def conv_plan(config: Config, net: NetworkIR, board: Board) -> SocPlan:
    """The conv network's SoC (:class:`snnhw.gateware.soc_conv.ConvSoC`), all in block
    RAM."""
    from ..gateware.soc_conv import ConvSoC
    from ..ir_conv import resolved_dict
    from ..protocol_conv import check_link, conv_hash

    check_link(net)  # before synthesis: words the link cannot carry

    def make(**clocking: int) -> Any:
        return ConvSoC(net, **clocking)

    def write_resolved(path: Path) -> None:  # as snnhw train writes it for a model folder
        path.write_text(json.dumps(resolved_dict(net), indent=2) + "\n")

    return SocPlan(net.name, conv_hash(net), "block", net, make, write_resolved)
