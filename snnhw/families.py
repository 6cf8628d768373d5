"""Network families: the one place that dispatches on the kind of network.

A family is a set of files: an IR builder (in :mod:`snnhw.ir`), a golden network and its cycle
model (``snnhw/golden/networks/``), a gateware core (``snnhw/gateware/networks/``), its host
link's memory spaces, and the verbs it supports. This module maps a family's name to them;
export, build, fit, verify, host, train and the CLI ask it, and no other module branches on
the family. A new family is a new :class:`Family` entry in :data:`FAMILIES` (see
docs/architecture.md).

Everything heavy (Amaranth, numba, cocotb) is named by a ``"module:attribute"`` reference and
imported only when asked for, so asking which family a config belongs to stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .config import Config, toml_value
from .config_conv import ConvConfig
from .errors import ConfigError
from .ir import (
    LayerIR,
    LearningLayerIR,
    NetworkIR,
    resolve_dense_layer,
    resolve_learning_layer,
)
from .ir_conv import ConvLayerIR, resolve_conv_network

__all__ = ["Family", "FAMILIES", "VERBS", "family_of", "family_for", "resolve", "resolve_layer",
           "require", "require_network", "load"]

#: What a user can ask of a network, by CLI verb: simulate (random or given input spikes on
#: the golden model), train and evaluate (a dataset on the golden model), generate and verify
#: (Verilog of the core, checked against the golden model), build (a bitstream of the SoC)
#: and run (the host runtime, on a board, on RTL or on the golden model).
VERBS = ("simulate", "train", "evaluate", "generate", "verify", "build", "run")


def load(ref: str) -> Any:
    """The object a ``"package.module:attribute"`` reference names, imported now."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Family:
    """One network family and everything that serves it.

    ``claims`` says whether a checked config describes a network of this family (the first
    family in :data:`FAMILIES` that claims it gets it); ``build_ir`` resolves it. The
    references name the golden model, its cycle model, the gateware core (``None``: golden
    model only), the cocotb bench and the host link's memory spaces. ``verbs`` are the verbs
    the family supports at all; ``refusals(verb, layer, source)`` gives the error lines for a
    verb that cannot run this network (one per reason; empty: it can).
    """

    name: str
    summary: str
    claims: Callable[[Config], bool]
    build_ir: Callable[[Config], NetworkIR]
    layer_type: type
    golden: str
    cycle_model: str
    core: str | None
    verify_bench: str
    verify_input: str  # "events": input spike trains; "samples": dataset images
    refusals: Callable[[str, LayerIR, str], list[str]]
    layouts: Callable[[LayerIR], dict[str, list]]
    memory_spaces: str | None = None
    verbs: frozenset[str] = field(default_factory=frozenset)
    train_cli: str | None = None  # "module:function(args, progress) -> exit status"
    evaluate_cli: str | None = None
    generator: str | None = None  # "module:function(config, net, out, family) -> manifest"
    verifier: str | None = None  # "module:function(config_path, **options) -> VerifyResult"
    # the host runtime, when the family has its own: "module:function(net, backend,
    # **options) -> network" (snnhw.host.connect) and "module:function(args, progress) ->
    # exit status" (snnhw run)
    host: str | None = None
    run_cli: str | None = None
    fit_memories: str | None = None  # "module:function(net) -> tuple[MemoryIR, ...]": the
    # SoC's memories for the fit check (None: the layer's LayerIR.memories and the SoC's)
    soc_plan: str | None = None  # "module:function(config, net, board) -> SocPlan" (build)

    def core_for(self, layer: LayerIR, **options: Any) -> Any:
        """The gateware core (an Amaranth component) of ``layer``."""
        if self.core is None:  # pragma: no cover - every family so far has a core
            raise ConfigError([f"{layer.name}: the {self.name} family has no gateware"])
        return load(self.core)(layer, **options)


# -- lif_layer: one dense layer of LIF/IF neurons, input spikes in, output spikes out --------

_LEARNING_SETUP = ('stdp.enabled = true, neurons.inhibition = "wta" and '
                   "synapses.signed = false")


def _refuse_learning_verbs(verb: str, layer: LayerIR, source: str) -> list[str]:
    """Why a network without learning cannot ``train``, ``run`` or ``build``."""
    if verb in ("train", "evaluate"):
        return ["stdp.enabled = false: set it to true to train this network"]
    if verb == "run":
        return [f"{layer.name}: the host runtime drives the learning core; set "
                f"{_LEARNING_SETUP}"]
    if verb == "build":
        return [f"{source}: snnhw build makes the learning SoC: the config needs "
                f"{_LEARNING_SETUP}"]
    return []


def _lif_layouts(layer: LayerIR) -> dict[str, list]:
    return {
        "i_event__payload": [["index", layer.index_bits], ["eot", 1]],
        "o_spike__payload": [["neuron", layer.neuron_bits], ["timestep", layer.timestep_bits]],
        "state_word": [["v", layer.membrane_bits], ["ref", layer.ref_bits]],
    }


def _lif_network(config: Config) -> NetworkIR:
    layer = resolve_dense_layer(config)
    return NetworkIR(family="lif_layer", name=layer.name, n_in=layer.n_in, encoder=None,
                     layers=(layer,), readout="spikes")


# -- diehl_cook: the learning layer (Diehl & Cook / FSpiNN), with its on-chip encoder ---------

def _learning_features(layer: LearningLayerIR) -> list[str]:
    """Config keys of features beyond the plain LIF/IF layer in use."""
    used = []
    if layer.inhibition != "none":
        used.append(f"neurons.inhibition = {toml_value(layer.inhibition)}")
    if layer.theta_increment:
        used.append(f"neurons.theta_increment = {layer.theta_increment}")
    if layer.stdp is not None:
        used.append("stdp.enabled = true")
    return used


def _claims_learning(config: Config) -> bool:
    n = config.neurons
    return n.inhibition != "none" or n.theta_increment != 0 or config.stdp.enabled


def _has_core(layer: LearningLayerIR) -> bool:
    """The learning core is STDP with winner-take-all on unsigned weights; other learning
    networks run only in the golden model."""
    return layer.stdp is not None and layer.inhibition == "wta" and not layer.weight_signed


def _refuse_dc(verb: str, layer: LearningLayerIR, source: str) -> list[str]:
    features = _learning_features(layer)
    if verb == "simulate":
        return [f"{f}: snnhw simulate runs plain LIF/IF layers; use snnhw train for learning "
                "networks" for f in features]
    if verb in ("train", "evaluate") and layer.stdp is None:
        return ["stdp.enabled = false: set it to true to train this network"]
    if verb in ("generate", "verify") and not _has_core(layer):
        return [f"{f}: the learning core needs {_LEARNING_SETUP}; other learning networks run "
                "only in the golden model (snnhw train)" for f in features]
    if verb in ("build", "run") and not _has_core(layer):
        return _refuse_learning_verbs(verb, layer, source)
    return []


def _dc_layouts(layer: LearningLayerIR) -> dict[str, list]:
    return {
        "i_pixel__payload": [["value", 8]],
        "o_spike__payload": [["neuron", layer.neuron_bits], ["timestep", layer.t_bits],
                             ["attempt", 4]],
        "state_word": [["v", layer.membrane_bits], ["ref", layer.ref_bits],
                       ["count", layer.count_bits]],
    }


def _dc_network(config: Config) -> NetworkIR:
    layer = resolve_learning_layer(config)
    return NetworkIR(family="diehl_cook", name=layer.name, n_in=layer.n_in,
                     encoder=layer.encoder, layers=(layer,), readout="votes")


# -- ttfs_conv: deep time-to-first-spike conv networks learning by layer-wise STDP ----------

def _refuse_conv(verb: str, layer: ConvLayerIR, source: str) -> list[str]:
    if verb == "simulate":
        return [f"{source}: snnhw simulate runs plain LIF/IF layers; a ttfs_conv network "
                "runs with snnhw train, verify or run"]
    return []


#: The families, in the order they are asked whether they claim a config.
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family(
        name="ttfs_conv",
        summary="a deep time-to-first-spike convolutional network: DoG and rank-order "
                "encoder, conv and pool layers of one-spike IF neurons learning by layer-wise "
                "multiplicative STDP with kernel pruning, SVM readout (Kheradpisheh et al. "
                "2018; Nguyen et al. 2021)",
        claims=lambda config: isinstance(config, ConvConfig),
        build_ir=resolve_conv_network,
        layer_type=ConvLayerIR,
        golden="snnhw.golden.networks.ttfs_conv:learn_image",
        cycle_model="snnhw.golden.networks.ttfs_conv_cycles:run_cycles",
        core="snnhw.gateware.networks.ttfs_conv:TtfsConvCore",
        verify_bench="snnhw.verify.conv_tb",
        verify_input="images",
        refusals=_refuse_conv,
        layouts=lambda layer: {},
        verbs=frozenset(("train", "evaluate", "generate", "verify", "build", "run")),
        train_cli="snnhw.train_conv:train_cli",
        evaluate_cli="snnhw.train_conv:evaluate_cli",
        generator="snnhw.export_conv:generate_conv",
        verifier="snnhw.verify.conv_runner:verify_conv",
        host="snnhw.host.conv:connect_conv",
        run_cli="snnhw.host.conv_run:run_cli",
        fit_memories="snnhw.protocol_conv:conv_soc_memories",
        soc_plan="snnhw.build.plans:conv_plan",
    ),
    Family(
        name="diehl_cook",
        summary="a learning layer of adaptive-threshold LIF neurons with winner-take-all, an "
                "on-chip rate encoder, STDP and optional pruning (Diehl & Cook, FSpiNN)",
        claims=_claims_learning,
        build_ir=_dc_network,
        layer_type=LearningLayerIR,
        golden="snnhw.golden.networks.diehl_cook:run_sample",
        cycle_model="snnhw.golden.networks.diehl_cook_cycles:presentation_cycles",
        core="snnhw.gateware.networks.diehl_cook:LearningCore",
        verify_bench="snnhw.verify.learning_tb",
        verify_input="samples",
        refusals=_refuse_dc,
        layouts=_dc_layouts,
        memory_spaces="snnhw.protocol:memory_spaces",
        soc_plan="snnhw.build.plans:learning_plan",
        verbs=frozenset(("train", "evaluate", "generate", "verify", "build", "run")),
        train_cli="snnhw.train:train_cli",
        evaluate_cli="snnhw.train:evaluate_cli",
    ),
    Family(
        name="lif_layer",
        summary="one dense layer of LIF/IF neurons: input spikes in, output spikes out",
        claims=lambda config: True,
        build_ir=_lif_network,
        layer_type=LayerIR,
        golden="snnhw.golden.networks.lif_layer:LayerModel",
        cycle_model="snnhw.golden.networks.lif_layer_cycles:cycle_model",
        core="snnhw.gateware.networks.lif_layer:NeuronCore",
        verify_bench="snnhw.verify.core_tb",
        verify_input="events",
        refusals=_refuse_learning_verbs,
        layouts=_lif_layouts,
        verbs=frozenset(("simulate", "generate", "verify")),
    ),
)}


def family_of(config: Config) -> Family:
    """The family a checked config belongs to."""
    return next(f for f in FAMILIES.values() if f.claims(config))


def family_for(layer: LayerIR) -> Family:
    """The family whose IR builder makes layers like ``layer``."""
    for f in FAMILIES.values():
        if type(layer) is f.layer_type:
            return f
    raise TypeError(f"Layer must be a resolved layer of a network family, not {layer!r}")


def resolve(config: Config) -> NetworkIR:
    """Resolve a checked config into the network IR of its family."""
    return family_of(config).build_ir(config)


def resolve_layer(config: Config) -> LayerIR:
    """The layer of a single-layer network (lif_layer, diehl_cook). For a network of several
    layers, :class:`ConfigError` naming the verbs its family has."""
    net = resolve(config)
    if len(net.layers) != 1:
        verbs = [v for v in VERBS if v in FAMILIES[net.family].verbs]
        raise ConfigError([f"{net.name}: a {net.family} network of {len(net.layers)} layers: "
                           f"only snnhw {', '.join(verbs)} take it"])
    return net.layer


def require_network(net: NetworkIR, verb: str, source: str = "") -> Family:
    """The family of ``net``, when it can do ``verb`` (see :func:`require`)."""
    conv = next((x for x in net.layers if isinstance(x, ConvLayerIR)), None)
    return require(conv if conv is not None else net.layers[0], verb, source or net.name)


def require(layer: LayerIR, verb: str, source: str = "") -> Family:
    """The family of ``layer``, when it can do ``verb``; else :class:`ConfigError` with one
    line per reason. ``source`` (the config's path) is named in messages that need it."""
    if verb not in VERBS:  # pragma: no cover - a programming error
        raise ValueError(f"Verb must be one of {', '.join(VERBS)}, not {verb!r}")
    fam = family_for(layer)
    lines = fam.refusals(verb, layer, source or layer.name)
    if lines or verb not in fam.verbs:
        raise ConfigError(lines or [f"{layer.name}: a {fam.name} network cannot {verb}"])
    return fam
