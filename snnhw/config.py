"""Network configuration: TOML in, checked and frozen dataclasses out.

Every key is declared once in :data:`SCHEMA`; loading, error messages and ``docs/config.md``
all come from that table. Nothing downstream of :mod:`snnhw.ir` reads a config.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = [
    "Field",
    "SCHEMA",
    "Config",
    "NetworkConfig",
    "InputConfig",
    "NeuronsConfig",
    "SynapsesConfig",
    "EncoderConfig",
    "StdpConfig",
    "PruningConfig",
    "HardwareConfig",
    "load_config",
    "parse_config",
    "config_markdown",
    "toml_value",
    "weight_range",
]

REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """One configuration key: its type, default, unit and allowed values."""

    name: str
    type: type
    default: Any
    unit: str
    allowed: str
    doc: str
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def int_field(name, default, low, high, unit, doc, allowed=None) -> Field:
    return Field(name, int, default, unit, allowed or f"{low} to {high}", doc, low, high)


def float_field(name, default, low, high, unit, doc, allowed=None) -> Field:
    return Field(name, float, default, unit, allowed or f"{low} to {high}", doc, low, high)


def choice_field(name, default, choices, doc) -> Field:
    return Field(name, str, default, "", " or ".join(f'"{c}"' for c in choices), doc,
                 choices=tuple(choices))


SCHEMA: dict[str, tuple[Field, ...]] = {
    "network": (
        Field("name", str, "snn", "", "letters, digits and _, starting with a letter",
              "Name of the network; the Verilog top module is called `<name>_core`."),
    ),
    "input": (
        int_field("size", REQUIRED, 1, 65536, "inputs",
             "Number of input channels (presynaptic neurons). Input events carry an index "
             "below this."),
    ),
    "neurons": (
        int_field("count", REQUIRED, 1, 65536, "neurons", "Number of output neurons in the layer."),
        choice_field("model", "lif", ("lif", "if"),
                "Neuron model: leaky integrate-and-fire, or integrate-and-fire without leak."),
        int_field("membrane_bits", 16, 2, 32, "bits",
             "Width of the signed membrane potential. Must exceed `synapses.weight_bits`."),
        int_field("threshold", REQUIRED, 1, 2**31 - 1, "membrane LSB",
             "Firing threshold: a neuron fires when its (leaked) potential is at or above it.",
             allowed="1 to 2**(membrane_bits-1) - 1"),
        int_field("leak_shift", 4, 1, 31, "bits",
             "LIF leak per timestep: `v -= v >> leak_shift` (arithmetic shift). Only for "
             "model \"lif\".",
             allowed="1 to membrane_bits - 1"),
        choice_field("reset", "zero", ("zero", "subtract"),
                "What firing does to the potential: set it to 0, or subtract the threshold."),
        int_field("refractory", 0, 0, 255, "timesteps",
             "Timesteps after a spike during which the neuron ignores input and keeps its "
             "potential."),
        choice_field("inhibition", "none", ("none", "wta"),
                "Lateral inhibition: none, or hard winner-take-all (at most one spike per "
                "timestep, by the neuron furthest above its threshold; then every membrane "
                "resets to 0)."),
        int_field("theta_increment", 0, 0, 65535, "membrane LSB",
             "Adaptive threshold: added to a neuron's threshold offset theta at each of its "
             "spikes while learning. 0 keeps thresholds fixed."),
        int_field("theta_decay_shift", 12, 1, 31, "bits",
             "After each training sample every theta decays: `theta -= theta >> shift`."),
        int_field("theta_bits", 16, 1, 24, "bits", "Width of theta (unsigned, saturating)."),
    ),
    "synapses": (
        int_field("weight_bits", 8, 1, 16, "bits",
             "Width of one synaptic weight. Signed weights need at least 2 bits."),
        Field("signed", bool, True, "", "true or false",
              "Whether weights are signed (two's complement) or unsigned."),
        choice_field("init", "uniform", ("uniform", "zeros", "file"),
                "Initial weights: seeded uniform integers in [init_low, init_high], all zero, "
                "or a NumPy `.npy` file of shape (input.size, neurons.count)."),
        int_field("init_low", 0, -32768, 65535, "weight LSB",
             "Lowest initial weight for init = \"uniform\".",
             allowed="within the weight range"),
        int_field("init_high", 0, -32768, 65535, "weight LSB",
             "Highest initial weight for init = \"uniform\" (inclusive).",
             allowed="init_low to the weight maximum"),
        int_field("init_seed", 0, 0, 2**32 - 1, "", "Seed of the uniform initial weights."),
        Field("init_file", str, "", "path", "an existing .npy file",
              "Weights for init = \"file\", relative to the config file."),
        int_field("weight_shift", 0, 0, 15, "bits",
             "An input spike adds `weight << weight_shift` to the membrane, so thresholds can "
             "stay the same when the weight width changes."),
    ),
    "encoder": (
        int_field("timesteps", 350, 1, 65535, "timesteps", "Timesteps each sample is shown for."),
        int_field("rest", 0, 0, 65535, "timesteps",
             "Rest timesteps after each presentation: the encoder is silent while the network "
             "runs on (leak, refractory count-down, any spike is counted and learned from). "
             "Each costs the cycles of an empty timestep. All state still resets when the next "
             "presentation begins.", allowed="0 to 65535 - timesteps"),
        int_field("rate_scale", 8, 1, 256, "",
             "Rate coding: pixel p (0-255) spikes in a timestep when its generator's next "
             "16-bit value is below `p * rate_scale * intensity`."),
        int_field("intensity", 2, 1, 64, "", "Starting input intensity of every sample."),
        int_field("max_tries", 1, 1, 16, "presentations",
             "A sample that makes fewer than min_spikes output spikes is shown again with "
             "intensity + 1, up to this many presentations in all."),
        int_field("min_spikes", 5, 0, 65535, "spikes", "See max_tries."),
        int_field("seed", 0, 0, 2**32 - 1, "", "Seed of the start states of the input generators."),
    ),
    "stdp": (
        Field("enabled", bool, False, "", "true or false",
              "Learn with post-synaptic-triggered trace STDP."),
        int_field("eta", 655, 0, 65535, "2**-16 weight LSB",
             "Learning rate: a post spike changes each of its weights by "
             "`((x - x_tar) * eta + u) >> 16` LSB, x being the input's trace (0-255)."),
        int_field("eta_pre", 0, 0, 65535, "2**-16 weight LSB",
             "Pair STDP's depression: each input spike lowers the input's weight to every "
             "neuron j by `(y_j * eta_pre + u) >> 16` LSB, y_j being the neuron's post-synaptic "
             "trace (0-255). 0 turns it off."),
        int_field("eta_halve_every", 0, 0, 2**31 - 1, "samples",
             "Halve eta after every this many training samples. 0 keeps it constant."),
        int_field("x_tar", 20, 0, 255, "trace units",
             "Trace offset: inputs with a trace below it are depressed."),
        choice_field("potentiation", "fixed", ("fixed", "adaptive"),
                "Potentiation rate: eta, or (adaptive) `min((eta * m) >> log2(potentiation_spikes)"
                ", 65535)` with m the most spikes any neuron has made so far in the "
                "presentation. Depression keeps eta."),
        int_field("potentiation_spikes", 4, 1, 256, "spikes",
             "The m at which adaptive potentiation equals eta.",
             allowed="a power of two, 1 to 256"),
        int_field("trace_shift", 4, 1, 8, "bits",
             "Pre-trace decay per timestep: `x -= (x + trace_round) >> trace_shift`, from 255 "
             "at a spike."),
        int_field("trace_round", 8, 0, 255, "trace units", "See trace_shift."),
        choice_field("rounding", "stochastic", ("truncate", "nearest", "stochastic"),
                "Rounding of weight updates and normalisation: u = 0, 2**15, or the input's "
                "next 16-bit random value."),
        int_field("normalize_target", 0, 0, 2**31 - 1, "weight LSB",
             "After each training sample, rescale the weights of every neuron that fired to "
             "this sum. 0 turns normalisation off."),
    ),
    "pruning": (
        Field("enabled", bool, False, "", "true or false",
              "Prune connections while learning: a pruned synapse's weight becomes 0 for good, "
              "it is never updated again and integration and STDP skip it."),
        int_field("threshold", 0, 0, 65535, "weight LSB",
             "A column pass (STDP or normalisation) that leaves an alive weight at or below "
             "this prunes it.", allowed="0 to the weight maximum"),
        int_field("warmup", 0, 0, 2**31 - 1, "samples",
             "Training samples learned before pruning starts."),
        int_field("target_permille", 0, 0, 999, "per mille",
             "Connectivity schedule: the fraction of synapses to keep, reached over "
             "schedule_samples after the warm-up. Before each sample the threshold rises by "
             "threshold_step while more are alive than the schedule allows. 0 keeps the "
             "threshold fixed."),
        int_field("schedule_samples", 10000, 1, 2**31 - 1, "samples",
             "Samples over which the schedule's goal falls from all synapses to "
             "target_permille."),
        int_field("threshold_step", 1, 1, 255, "weight LSB",
             "How much the schedule raises the threshold before a sample that is behind it."),
        int_field("chunk_bits", 16, 1, 64, "bits",
             "Alive-bitmap word scanned per lane: each word of a row costs one cycle per alive "
             "synapse in it, at least one.", allowed="a power of two, 1 to 64"),
    ),
    "hardware": (
        int_field("lanes", 1, 1, 64, "lanes",
             "Parallel neuron lanes. Each lane owns one weight bank and one state bank and "
             "does one synaptic event per cycle. Need not divide neurons.count: the last "
             "neuron group is padded with disabled neurons.",
             allowed="1 to min(64, neurons.count)"),
        int_field("timestep_bits", 16, 1, 32, "bits",
             "Width of the timestep tag on output spikes; it counts modulo 2**timestep_bits."),
        int_field("counter_bits", 32, 16, 64, "bits",
             "Width of the cycle and event counters; they saturate at their maximum."),
    ),
}

#: The sections that describe a layer: given at the top level (one layer, the form of the
#: first configs), or inside each ``[[layer]]`` table (the ordered-layers form).
LAYER_SECTIONS = ("neurons", "synapses", "stdp", "pruning")
#: Layer kinds of the ``[[layer]]`` form (``kind`` key; the default is the first).
LAYER_KINDS = ("dense",)
#: Layer kinds of convolutional networks (parsed by :mod:`snnhw.config_conv`).
CONV_LAYER_KINDS = ("conv", "pool")

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


@dataclass(frozen=True)
class NetworkConfig:
    name: str


@dataclass(frozen=True)
class InputConfig:
    size: int


@dataclass(frozen=True)
class NeuronsConfig:
    count: int
    model: str
    membrane_bits: int
    threshold: int
    leak_shift: int
    reset: str
    refractory: int
    inhibition: str
    theta_increment: int
    theta_decay_shift: int
    theta_bits: int


@dataclass(frozen=True)
class SynapsesConfig:
    weight_bits: int
    signed: bool
    init: str
    init_low: int
    init_high: int
    init_seed: int
    init_file: str
    weight_shift: int


@dataclass(frozen=True)
class EncoderConfig:
    timesteps: int
    rest: int
    rate_scale: int
    intensity: int
    max_tries: int
    min_spikes: int
    seed: int


@dataclass(frozen=True)
class StdpConfig:
    enabled: bool
    eta: int
    eta_pre: int
    eta_halve_every: int
    x_tar: int
    potentiation: str
    potentiation_spikes: int
    trace_shift: int
    trace_round: int
    rounding: str
    normalize_target: int


@dataclass(frozen=True)
class PruningConfig:
    enabled: bool
    threshold: int
    warmup: int
    target_permille: int
    schedule_samples: int
    threshold_step: int
    chunk_bits: int


@dataclass(frozen=True)
class HardwareConfig:
    lanes: int
    timestep_bits: int
    counter_bits: int


@dataclass(frozen=True)
class LayerConfig:
    """One layer of the ordered-layers form: its kind and its sections."""

    kind: str
    neurons: NeuronsConfig
    synapses: SynapsesConfig
    stdp: StdpConfig
    pruning: PruningConfig


@dataclass(frozen=True)
class Config:
    """A checked network configuration. Build one with :func:`load_config`.

    ``layers`` lists the layers in order. A config in the single-layer form (top-level
    ``[neurons]``, ``[synapses]``, ``[stdp]``, ``[pruning]``) has one ``"dense"`` layer made
    of those sections; the same sections stay reachable as ``neurons`` ... ``pruning`` (the
    first layer's), which is what the single-layer families read.
    """

    network: NetworkConfig
    input: InputConfig
    neurons: NeuronsConfig
    synapses: SynapsesConfig
    encoder: EncoderConfig
    stdp: StdpConfig
    pruning: PruningConfig
    hardware: HardwareConfig
    base_dir: Path = Path(".")
    layers: tuple[LayerConfig, ...] = ()

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The configuration with every default filled in, as plain TOML-able data."""
        return {section: dataclasses.asdict(getattr(self, section)) for section in SCHEMA}


_SECTION_TYPES = {
    "network": NetworkConfig,
    "input": InputConfig,
    "neurons": NeuronsConfig,
    "synapses": SynapsesConfig,
    "encoder": EncoderConfig,
    "stdp": StdpConfig,
    "pruning": PruningConfig,
    "hardware": HardwareConfig,
}


def toml_value(value: Any) -> str:
    """A value as the user wrote it in TOML (``true``, ``"lif"``, ``12``), for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def weight_range(bits: int, signed: bool) -> tuple[int, int]:
    """Smallest and largest weight of ``bits`` bits, two's complement or unsigned."""
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


def _type_name(t: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[t]


def check_field(path: str, field: Field, value: Any, errors: list[str]) -> Any:
    # TOML booleans are Python ints: reject them where an integer is wanted, and vice versa.
    ok = isinstance(value, field.type) and not (field.type is int and isinstance(value, bool))
    if field.type is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        errors.append(f"{path} = {toml_value(value)}: must be {_type_name(field.type)}")
        return None
    if field.choices is not None and value not in field.choices:
        errors.append(f"{path} = {toml_value(value)}: must be {field.allowed}")
        return None
    if field.low is not None and not field.low <= value <= field.high:
        errors.append(f"{path} = {toml_value(value)}: must be {field.allowed}")
        return None
    return value


def _cross_checks(c: dict[str, dict[str, Any]], explicit: set[str], base_dir: Path,
                  errors: list[str]) -> None:
    """Checks that relate several keys. Only keys that passed their own check are present."""
    net, neu, syn, hw = c["network"], c["neurons"], c["synapses"], c["hardware"]
    inp = c["input"]

    def err(path: str, msg: str) -> None:
        errors.append(f"{path} = {toml_value(_lookup(c, path))}: {msg}")

    name = net.get("name")
    if name is not None and not (name and name[0].isalpha() and set(name) <= _NAME_CHARS):
        err("network.name", "must be letters, digits and _, starting with a letter")

    wb, signed = syn.get("weight_bits"), syn.get("signed")
    if wb is not None and signed and wb < 2:
        err("synapses.weight_bits", "signed weights need at least 2 bits (or set "
            "synapses.signed = false)")
        wb = None
    mb = neu.get("membrane_bits")
    if mb is not None and wb is not None and signed is not None:
        # The membrane must hold any single weight: signed weights need one bit more than their
        # width, unsigned weights one bit more for the sign of the membrane.
        shift = syn.get("weight_shift") or 0
        need = wb + shift + 1
        if mb < need:
            what = "weight_bits + weight_shift + 1" if shift else "weight_bits + 1"
            err("neurons.membrane_bits", f"must be at least synapses.{what} = {need}")
            mb = None
    if mb is not None:
        vmax = 2 ** (mb - 1) - 1
        thr = neu.get("threshold")
        if thr is not None and thr > vmax:
            err("neurons.threshold",
                f"must be 1 to {vmax} (the largest {mb}-bit signed membrane value)")
    # leak_shift means nothing for model "if": neither its (possibly default) value is checked
    # against the membrane width there, nor is an explicit one reported twice.
    ls = neu.get("leak_shift")
    if neu.get("model") == "if":
        if "neurons.leak_shift" in explicit:
            err("neurons.leak_shift", 'applies only to model = "lif"; remove it for "if"')
    elif mb is not None and ls is not None and ls >= mb:
        err("neurons.leak_shift", f"must be 1 to {mb - 1} (membrane_bits - 1)")

    n_in, n_out = inp.get("size"), neu.get("count")
    lanes = hw.get("lanes")
    if lanes is not None and n_out is not None and lanes > n_out:
        err("hardware.lanes", f"must be 1 to {min(64, n_out)} (no more lanes than neurons)")
    if n_in is not None and n_out is not None and n_in * n_out > 2**24:
        errors.append(f"input.size * neurons.count = {n_in * n_out}: must be at most "
                      f"{2**24} synapses")

    stdp = c["stdp"]
    if stdp.get("enabled") and signed:
        err("stdp.enabled", "STDP learns unsigned weights: set synapses.signed = false")
    target = stdp.get("normalize_target")
    if target and wb is not None and n_in is not None and signed is False:
        most = n_in * (2**wb - 1)
        if target > most:
            err("stdp.normalize_target",
                f"must be 0 to {most} (input.size * the largest weight)")

    prune = c["pruning"]
    if prune.get("enabled") and stdp.get("enabled") is False:
        err("pruning.enabled", "pruning happens while learning: set stdp.enabled = true")
    cbits = prune.get("chunk_bits")
    if cbits is not None and cbits & (cbits - 1):
        err("pruning.chunk_bits", "must be a power of two, 1 to 64")
    pthr = prune.get("threshold")
    if pthr is not None and wb is not None and signed is False and pthr > 2**wb - 1:
        err("pruning.threshold", f"must be 0 to {2**wb - 1} (the weight maximum)")
    ps = stdp.get("potentiation_spikes")
    if ps is not None and ps & (ps - 1):
        err("stdp.potentiation_spikes", "must be a power of two, 1 to 256")
    enc = c["encoder"]
    steps, rest = enc.get("timesteps"), enc.get("rest")
    if steps is not None and rest is not None and steps + rest > 65535:
        err("encoder.rest", f"must be 0 to {65535 - steps} (65535 - encoder.timesteps)")

    init = syn.get("init")
    if wb is not None and signed is not None:
        wmin, wmax = weight_range(wb, signed)
        lo, hi = syn.get("init_low"), syn.get("init_high")
        if init == "uniform":
            if lo is not None and not wmin <= lo <= wmax:
                err("synapses.init_low", f"must be {wmin} to {wmax} (the weight range)")
                lo = None
            if hi is not None and not wmin <= hi <= wmax:
                err("synapses.init_high", f"must be {wmin} to {wmax} (the weight range)")
                hi = None
            if lo is not None and hi is not None and hi < lo:
                err("synapses.init_high", f"must be at least synapses.init_low = {lo}")
    for key in ("init_low", "init_high", "init_seed"):
        if init in ("zeros", "file") and f"synapses.{key}" in explicit:
            err(f"synapses.{key}", 'applies only to init = "uniform"')
    f = syn.get("init_file")
    if init == "file":
        if not f:
            errors.append('synapses.init_file: required when synapses.init = "file"')
        elif not (base_dir / f).is_file():
            err("synapses.init_file", f"no such file {str(base_dir / f)!r}")
    elif f and init is not None:  # an invalid init is already reported; don't guess
        err("synapses.init_file", 'applies only to init = "file"')


def _lookup(c: dict[str, dict[str, Any]], path: str) -> Any:
    section, key = path.split(".")
    return c[section].get(key)


def parse_config(raw: Mapping[str, Any], *, base_dir: Path | str = ".") -> Any:
    """Check a configuration given as nested dicts (as read from TOML).

    Raises
    ------
    ConfigError
        Listing every problem found, one line each.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError([f"<top level>: must be a table, not {type(raw).__name__}"])
    layers = raw.get("layer")
    if isinstance(layers, list) and any(isinstance(t, Mapping) and t.get("kind") in
                                        CONV_LAYER_KINDS for t in layers):
        from .config_conv import parse_conv_config
        return parse_conv_config(raw, base_dir=base_dir)
    if "layer" not in raw:
        config = _parse_sections(raw, base_dir)
        first = LayerConfig("dense", *(getattr(config, s) for s in LAYER_SECTIONS))
        return dataclasses.replace(config, layers=(first,))
    return _parse_layers(raw, base_dir)


def _parse_layers(raw: Mapping[str, Any], base_dir: Path | str) -> Config:
    """The ordered-layers form: ``[[layer]]`` tables, each with a ``kind`` and its layer
    sections; every message about a layer's key names it ``layer[k].section.key``."""
    layers = raw["layer"]
    if not isinstance(layers, list) or not layers or not all(isinstance(t, Mapping)
                                                             for t in layers):
        raise ConfigError(["layer: must be one or more [[layer]] tables"])
    errors = [f"{s}: give it inside [[layer]], not at the top level, when the config has "
              "[[layer]] tables" for s in LAYER_SECTIONS if s in raw]
    kinds = []
    for k, table in enumerate(layers):
        kind = table.get("kind", LAYER_KINDS[0])
        if kind not in LAYER_KINDS:
            allowed = " or ".join(f'"{x}"' for x in LAYER_KINDS + CONV_LAYER_KINDS)
            errors.append(f"layer[{k}].kind = {toml_value(kind)}: must be {allowed}")
        kinds.append(kind)
        errors += [f"layer[{k}].{key}: unknown key; allowed in [[layer]]: kind, "
                   f"{', '.join(LAYER_SECTIONS)}" for key in table
                   if key != "kind" and key not in LAYER_SECTIONS]
    if len(layers) > 1:
        errors.append(f"layer: {len(layers)} layers; the network families so far "
                      f"({', '.join(LAYER_KINDS)}) are built of one [[layer]]")
    if errors:
        raise ConfigError(errors)
    top = {s: v for s, v in raw.items() if s != "layer"}
    parsed = []
    for k, table in enumerate(layers):
        flat = top | {s: table[s] for s in LAYER_SECTIONS if s in table}
        try:
            config = _parse_sections(flat, base_dir)
        except ConfigError as e:
            raise ConfigError([_in_layer(line, k) for line in e.errors]) from None
        parsed.append(LayerConfig(kinds[k], *(getattr(config, s) for s in LAYER_SECTIONS)))
    return dataclasses.replace(config, layers=tuple(parsed))


def _in_layer(line: str, k: int) -> str:
    """A message about a layer section's key, named as the ``[[layer]]`` form spells it."""
    for s in LAYER_SECTIONS:
        if line.startswith((f"{s}.", f"{s}:", f"{s} =")):
            return f"layer[{k}].{line}"
    return line


def _parse_sections(raw: Mapping[str, Any], base_dir: Path | str) -> Config:
    errors: list[str] = []
    checked: dict[str, dict[str, Any]] = {s: {} for s in SCHEMA}
    explicit: set[str] = set()
    malformed: set[str] = set()  # sections given as non-tables: their keys are not "missing"
    for section, value in raw.items():
        if section not in SCHEMA:
            errors.append(f"{section}: unknown section; allowed: {', '.join(SCHEMA)}, layer")
            continue
        if not isinstance(value, Mapping):
            errors.append(f"{section} = {toml_value(value)}: must be a table ([{section}])")
            malformed.add(section)
            continue
        fields = {f.name: f for f in SCHEMA[section]}
        for key, v in value.items():
            path = f"{section}.{key}"
            if key not in fields:
                errors.append(f"{path}: unknown key; allowed in [{section}]: "
                              f"{', '.join(fields)}")
                continue
            explicit.add(path)
            good = check_field(path, fields[key], v, errors)
            if good is not None:
                checked[section][key] = good
    for section, fields in SCHEMA.items():
        for field in fields:
            path = f"{section}.{field.name}"
            if path in explicit:
                continue
            if field.required:
                if section in malformed:
                    continue
                errors.append(f"{path}: required key is missing ({field.unit}, "
                              f"{field.allowed})")
            else:
                checked[section][field.name] = field.default
    _cross_checks(checked, explicit, Path(base_dir), errors)
    if errors:
        raise ConfigError(errors)
    sections = {s: _SECTION_TYPES[s](**checked[s]) for s in SCHEMA}
    return Config(**sections, base_dir=Path(base_dir))


def load_config(path: str | Path) -> Config:
    """Read and check a TOML network configuration.

    Raises
    ------
    ConfigError
        If the file is missing, is not valid TOML, or any key is wrong.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError([f"{path}: cannot read config ({e.strerror})"]) from None
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not a text file (TOML must be UTF-8)"]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"{path}: not valid TOML: {e}"]) from None
    return parse_config(raw, base_dir=path.parent)


def config_markdown(schema: Mapping[str, tuple[Field, ...]] = SCHEMA,
                    fmt: Callable[[Any], str] | None = None,
                    titles: Mapping[str, str] | None = None) -> str:
    """The reference tables of ``docs/config.md``, generated from :data:`SCHEMA` (or another
    schema; ``titles`` replaces a section's heading, by default ``[section]``)."""
    fmt = fmt or (lambda v: "**required**" if v is REQUIRED else
                  ("`true`" if v is True else "`false`" if v is False else f'`"{v}"`'
                   if isinstance(v, str) else f"`{v}`"))
    out = []
    for section, fields in schema.items():
        out.append(f"### {(titles or {}).get(section, f'`[{section}]`')}\n")
        out.append("| key | type | default | unit | allowed | meaning |")
        out.append("|---|---|---|---|---|---|")
        for f in fields:
            t = {int: "integer", float: "number", str: "string", bool: "boolean"}[f.type]
            if f.type is float and f.default is not REQUIRED:
                shown = fmt(f.default) if not isinstance(f.default, float) else f"`{f.default:g}`"
            else:
                shown = fmt(f.default)
            out.append(f"| `{f.name}` | {t} | {shown} | {f.unit or '-'} | "
                       f"{f.allowed} | {f.doc} |")
        out.append("")
    return "\n".join(out)

