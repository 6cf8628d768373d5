"""Configuration of time-to-first-spike convolutional networks (the ``ttfs_conv`` family).

A config whose ``[[layer]]`` tables have ``kind = "conv"`` or ``kind = "pool"`` is checked
here: an image input with its difference-of-Gaussians and latency encoder, conv and pool
layers in order, and the readout. Every key is declared once in :data:`CONV_SCHEMA`;
loading, error messages and ``docs/config.md`` come from it. Values are the hardware's
integers wherever the hardware holds them (thresholds in weight LSB, rates in 2**-16).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import (
    CONV_LAYER_KINDS,
    REQUIRED,
    Field,
    check_field,
    choice_field,
    float_field,
    int_field,
    toml_value,
)
from .errors import ConfigError

__all__ = ["CONV_SCHEMA", "CONV_TITLES", "ConvConfig", "ConvLayerConfig", "PoolLayerConfig",
           "parse_conv_config", "conv_out", "pool_out", "max_potential"]

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

CONV_SCHEMA: dict[str, tuple[Field, ...]] = {
    "network": (
        Field("name", str, "ttfs", "", "letters, digits and _, starting with a letter",
              "Name of the network."),
        int_field("seed", 0, 0, 2**32 - 1, "",
             "Seed of the initial weights, the order of training images and the start state "
             "of each layer's rounding generator."),
    ),
    "input": (
        int_field("height", REQUIRED, 1, 4096, "pixels",
             "Image height; images are resized to it (bilinear) before encoding."),
        int_field("width", REQUIRED, 1, 4096, "pixels", "Image width."),
        int_field("timesteps", 15, 2, 255, "timesteps",
             "T: each input and each neuron spikes at most once, at a timestep 0 .. T-1."),
    ),
    "encoder": (
        int_field("size", 7, 3, 31, "pixels", "Side of the difference-of-Gaussians kernel.",
             allowed="odd, 3 to 31"),
        float_field("sigma_centre", 1.0, 0.1, 16.0, "pixels", "Sigma of the centre Gaussian."),
        float_field("sigma_surround", 2.0, 0.1, 32.0, "pixels",
               "Sigma of the surround Gaussian.", allowed="above sigma_centre, up to 32"),
        int_field("frac_bits", 6, 1, 12, "bits",
             "Kernel coefficients are the zero-mean, peak-1 DoG rounded to multiples of "
             "2**-frac_bits (signed integers)."),
        int_field("threshold", 3200, 0, 2**24, "response LSB",
             "A DoG response (pixel 0-255 times coefficient, summed) must exceed this to "
             "spike; the on channel spikes for positive responses, the off channel for "
             "negative ones. 3200 is SpykeTorch's 50 at frac_bits = 6. Rounding leaves the "
             "kernel's sum a few LSB off zero, so keep it above 255 times that sum "
             "(`ir_conv.dog_kernel`) or flat areas spike."),
    ),
    "conv": (
        int_field("maps", REQUIRED, 1, 1024, "maps", "Output feature maps (kernels)."),
        int_field("kernel", REQUIRED, 1, 63, "pixels", "Kernel side (square kernels)."),
        int_field("padding", 0, 0, 31, "pixels",
             "No-spike border added around the input on each side.",
             allowed="0 to kernel - 1"),
        int_field("threshold", REQUIRED, 1, 2**31 - 1, "weight LSB",
             "Firing threshold of the non-leaky IF neurons, in weight LSB (a weight of "
             "2**weight_bits is 1.0; Kheradpisheh's 10 is 2560 with 8-bit weights).",
             allowed="1 to the largest possible potential"),
        int_field("weight_bits", 8, 2, 16, "bits",
             "Unsigned weights 0 .. 2**weight_bits - 1, w standing for w / 2**weight_bits."),
        int_field("init_low", REQUIRED, 0, 65535, "weight LSB",
             "Initial weights are seeded uniform integers in [init_low, init_high].",
             allowed="below 2**weight_bits"),
        int_field("init_high", REQUIRED, 0, 65535, "weight LSB", "See init_low.",
             allowed="init_low to 2**weight_bits - 1"),
        int_field("winners", 1, 1, 1024, "neurons",
             "k: learning updates the kernels of up to k winners per image.",
             allowed="1 to maps"),
        int_field("radius", 0, 0, 63, "output positions",
             "A winner inhibits every map at positions within this Chebyshev distance (and "
             "its own map everywhere) from later winners of the same image."),
        Field("pointwise_inhibition", bool, True, "", "true or false",
              "At most one map spikes at each position: the first to cross its threshold "
              "(ties: the larger potential, then the lower map)."),
    ),
    "stdp": (
        int_field("images", 0, 0, 10**8, "images",
             "Training images for this layer (layer by layer, in config order); 0: it does "
             "not learn."),
        float_field("convergence", 0.01, 0.0, 0.25, "",
               "Stop training the layer early once C = mean(w(1-w)) over its weights (w in "
               "0..1) is below this; 0 never stops early."),
        int_field("a_plus", 262, 0, 65535, "2**-16",
             "Potentiation rate a+: dw = a+ w (1 - w) where the input spiked no later than "
             "the winner (262 is 0.004)."),
        int_field("a_minus", 197, 0, 65535, "2**-16",
             "Depression rate a-: dw = -a- w (1 - w) elsewhere (197 is 0.003)."),
        int_field("grow_every", 0, 0, 2**31 - 1, "images",
             "Double a+ (and a- in proportion) after every this many training images, up to "
             "a_plus_max. 0 keeps the rates."),
        int_field("a_plus_max", 9830, 1, 65535, "2**-16", "Largest a+ (9830 is 0.15).",
             allowed="a_plus to 65535"),
    ),
    "pruning": (
        Field("enabled", bool, False, "", "true or false",
              "Prune kernel taps while the layer learns: a pruned tap's weight is 0 for good, "
              "and integration and learning skip it."),
        int_field("threshold", 0, 0, 65535, "weight LSB",
             "After the warm-up, an STDP update that leaves a tap at or below this prunes it.",
             allowed="below 2**weight_bits"),
        int_field("warmup", 0, 0, 2**31 - 1, "images", "Training images of the layer before "
             "pruning starts."),
    ),
    "pool": (
        int_field("size", REQUIRED, 1, 64, "pixels", "Pooling window side (earliest spike wins)."),
        int_field("stride", 0, 0, 64, "pixels", "Window step; 0 means size."),
        int_field("padding", 0, 0, 63, "pixels", "No-spike border on each side.",
             allowed="0 to size - 1"),
    ),
    "readout": (
        choice_field("features", "max_potential", ("max_potential", "spike_times"),
                "Features for the classifier: the last conv layer's largest final potential "
                "per map (global max pooling, that layer does not fire), or T - t of every "
                "output neuron of the last layer (0: no spike)."),
        float_field("svm_c", 1.0, 1e-6, 1e6, "", "C of the linear SVM (scikit-learn LinearSVC)."),
        int_field("svm_images", 0, 0, 10**8, "images",
             "Training images for the SVM (the first of a seeded order of the readout "
             "training split); 0: the whole split."),
    ),
    "hardware": (
        int_field("lanes", 4, 1, 64, "lanes",
             "P: lanes of each conv engine, one synaptic update each per cycle. Map f is in "
             "lane f % P; need not divide the map counts."),
    ),
}

_TOP = ("network", "input", "encoder", "readout", "hardware")

#: Headings of the schema's sections in docs/config.md.
CONV_TITLES = {
    "conv": '`[[layer]]` with `kind = "conv"`',
    "stdp": "`[layer.stdp]` (of a conv layer)",
    "pruning": "`[layer.pruning]` (of a conv layer)",
    "pool": '`[[layer]]` with `kind = "pool"`',
}
_LAYER_SUBSECTIONS = {"conv": ("stdp", "pruning"), "pool": ()}


def _dataclass(section: str, extra: dict[str, type] | None = None) -> type:
    """A frozen dataclass with one field per key of ``section``."""
    names = [f.name for f in CONV_SCHEMA[section]]
    ann = {n: Any for n in names} | (extra or {})
    return dataclass(frozen=True)(type(f"{section.title()}Section", (), {"__annotations__": ann}))


NetworkSection = _dataclass("network")
InputSection = _dataclass("input")
EncoderSection = _dataclass("encoder")
StdpSection = _dataclass("stdp")
PruningSection = _dataclass("pruning")
ReadoutSection = _dataclass("readout")
HardwareSection = _dataclass("hardware")


@dataclass(frozen=True)
class ConvLayerConfig:
    """A checked ``kind = "conv"`` layer: its keys, with ``stdp`` and ``pruning`` sections."""

    maps: int
    kernel: int
    padding: int
    threshold: int
    weight_bits: int
    init_low: int
    init_high: int
    winners: int
    radius: int
    pointwise_inhibition: bool
    stdp: Any
    pruning: Any
    kind: str = "conv"


@dataclass(frozen=True)
class PoolLayerConfig:
    """A checked ``kind = "pool"`` layer."""

    size: int
    stride: int
    padding: int
    kind: str = "pool"


@dataclass(frozen=True)
class ConvConfig:
    """A checked convolutional TTFS network config. Build one with
    :func:`snnhw.config.load_config`."""

    network: Any
    input: Any
    encoder: Any
    layers: tuple[ConvLayerConfig | PoolLayerConfig, ...]
    readout: Any
    hardware: Any
    base_dir: Path = Path(".")


def conv_out(n: int, kernel: int, padding: int) -> int:
    """Output side of a stride-1 convolution (may be below 1: nothing fits)."""
    return n + 2 * padding - kernel + 1


def pool_out(n: int, size: int, stride: int, padding: int) -> int:
    """Output side of a pooling layer (may be below 1: nothing fits)."""
    return (n + 2 * padding - size) // stride + 1 if n + 2 * padding >= size else 0


def max_potential(channels: int, kernel: int, weight_bits: int) -> int:
    """The largest potential a conv neuron can reach: every tap at the largest weight."""
    return channels * kernel * kernel * (2**weight_bits - 1)


def _section(raw: Any, path: str, fields: tuple[Field, ...], errors: list[str],
             skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check one table against ``fields``; missing optional keys get their defaults."""
    out: dict[str, Any] = {}
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        errors.append(f"{path} = {toml_value(raw)}: must be a table")
        return out
    known = {f.name: f for f in fields}
    for key, value in raw.items():
        if key in skip:
            continue
        if key not in known:
            allowed = ", ".join([*known, *skip])
            errors.append(f"{path}.{key}: unknown key; allowed: {allowed}")
            continue
        good = check_field(f"{path}.{key}", known[key], value, errors)
        if good is not None:
            out[key] = good
    for f in fields:
        if f.name in raw:
            continue
        if f.required:
            errors.append(f"{path}.{f.name}: required key is missing ({f.unit}, {f.allowed})")
        else:
            out[f.name] = f.default
    return out


def _conv_checks(k: int, c: dict[str, Any], stdp: dict, prune: dict, errors: list[str]) -> None:
    p = f"layer[{k}]"

    def err(key: str, value: Any, msg: str) -> None:
        errors.append(f"{p}.{key} = {toml_value(value)}: {msg}")

    wb = c.get("weight_bits")
    if wb is not None:
        top = 2**wb - 1
        for key in ("init_low", "init_high"):
            if c.get(key) is not None and c[key] > top:
                err(key, c[key], f"must be at most 2**weight_bits - 1 = {top}")
        if prune.get("threshold") is not None and prune["threshold"] > top:
            err("pruning.threshold", prune["threshold"],
                f"must be at most 2**weight_bits - 1 = {top}")
    lo, hi = c.get("init_low"), c.get("init_high")
    if lo is not None and hi is not None and lo > hi:
        err("init_high", hi, f"must be at least init_low = {lo}")
    kern, pad = c.get("kernel"), c.get("padding")
    if kern is not None and pad is not None and pad >= kern:
        err("padding", pad, f"must be below kernel = {kern}")
    maps, win = c.get("maps"), c.get("winners")
    if maps is not None and win is not None and win > maps:
        err("winners", win, f"must be at most maps = {maps} (each map wins once per image)")
    if prune.get("enabled") and stdp.get("images") == 0:
        err("pruning.enabled", True, "pruning happens while the layer learns: set "
            "stdp.images above 0")
    ap, amax = stdp.get("a_plus"), stdp.get("a_plus_max")
    if ap is not None and amax is not None and amax < ap:
        err("stdp.a_plus_max", amax, f"must be at least stdp.a_plus = {ap}")


def _shape_checks(config: ConvConfig, errors: list[str]) -> None:
    """Walk the layer shapes: every kernel and window must fit its input; thresholds must be
    reachable; the readout must suit the last layer."""
    h, w, c = config.input.height, config.input.width, 2
    for k, layer in enumerate(config.layers):
        p = f"layer[{k}]"
        if isinstance(layer, ConvLayerConfig):
            side = layer.kernel
            ho, wo = conv_out(h, layer.kernel, layer.padding), conv_out(w, layer.kernel,
                                                                        layer.padding)
            top = max_potential(c, layer.kernel, layer.weight_bits)
            if layer.threshold > top:
                errors.append(f"{p}.threshold = {layer.threshold}: can never be reached: the "
                              f"largest potential is {c} x {side} x {side} x "
                              f"{2**layer.weight_bits - 1} = {top}")
            if top >= 2**31:
                errors.append(f"{p}.kernel = {side}: potentials up to {top} would not fit the "
                              "31-bit membranes; use fewer input maps, a smaller kernel or "
                              "narrower weights")
            c = layer.maps
        else:
            side = layer.size
            stride = layer.stride or layer.size
            ho, wo = pool_out(h, layer.size, stride, layer.padding), pool_out(
                w, layer.size, stride, layer.padding)
        if ho < 1 or wo < 1:
            what = "kernel" if isinstance(layer, ConvLayerConfig) else "size"
            errors.append(f"{p}.{what} = {side}: larger than its input of {h} x {w} (with "
                          f"padding {layer.padding}): the layer's output would be empty")
            return
        h, w = ho, wo
    if config.readout.features == "max_potential" and not isinstance(config.layers[-1],
                                                                     ConvLayerConfig):
        errors.append('readout.features = "max_potential": the last layer must be a conv '
                      'layer (global max pooling of its potentials); use "spike_times" after '
                      "a pool layer")


def parse_conv_config(raw: Mapping[str, Any], *, base_dir: Path | str = ".") -> ConvConfig:
    """Check a convolutional TTFS network config given as nested dicts (as read from TOML).

    Raises
    ------
    ConfigError
        Listing every problem found, one line each.
    """
    errors: list[str] = []
    for key in raw:
        if key not in (*_TOP, "layer"):
            errors.append(f"{key}: unknown section; allowed in a conv network: "
                          f"{', '.join(_TOP)}, layer")
    top = {s: _section(raw.get(s), s, CONV_SCHEMA[s], errors) for s in _TOP}
    enc = top["encoder"]
    if enc.get("size") is not None and enc["size"] % 2 == 0:
        errors.append(f"encoder.size = {enc['size']}: must be odd")
    sc, ss = enc.get("sigma_centre"), enc.get("sigma_surround")
    if sc is not None and ss is not None and ss <= sc:
        errors.append(f"encoder.sigma_surround = {ss}: must be above sigma_centre = {sc}")
    name = top["network"].get("name")
    if name is not None and not (name and name[0].isalpha() and set(name) <= _NAME_CHARS):
        errors.append(f"network.name = {toml_value(name)}: must be letters, digits and _, "
                      "starting with a letter")
    layers: list[ConvLayerConfig | PoolLayerConfig] = []
    tables = raw["layer"]
    for k, table in enumerate(tables):
        if not isinstance(table, Mapping):
            errors.append(f"layer[{k}]: must be a [[layer]] table")
            continue
        kind = table.get("kind")
        if kind not in CONV_LAYER_KINDS:
            errors.append(f"layer[{k}].kind = {toml_value(kind)}: must be \"conv\" or \"pool\" "
                          "in a conv network")
            continue
        subs = _LAYER_SUBSECTIONS[kind]
        body = _section(table, f"layer[{k}]", CONV_SCHEMA[kind], errors, skip=("kind", *subs))
        if kind == "pool":
            if body.get("size") is not None and body.get("padding") is not None \
                    and body["padding"] >= body["size"]:
                errors.append(f"layer[{k}].padding = {body['padding']}: must be below size = "
                              f"{body['size']}")
            layers.append(PoolLayerConfig(**body) if len(body) == 3 else None)
            continue
        stdp = _section(table.get("stdp"), f"layer[{k}].stdp", CONV_SCHEMA["stdp"], errors)
        prune = _section(table.get("pruning"), f"layer[{k}].pruning", CONV_SCHEMA["pruning"],
                         errors)
        _conv_checks(k, body, stdp, prune, errors)
        complete = (len(body) == len(CONV_SCHEMA["conv"]) and len(stdp) == len(
            CONV_SCHEMA["stdp"]) and len(prune) == len(CONV_SCHEMA["pruning"]))
        layers.append(ConvLayerConfig(**body, stdp=StdpSection(**stdp),
                                      pruning=PruningSection(**prune)) if complete else None)
    if not any(isinstance(t, Mapping) and t.get("kind") == "conv" for t in tables):
        errors.append("layer: a conv network needs at least one kind = \"conv\" layer")
    if errors:
        raise ConfigError(errors)
    config = ConvConfig(
        network=NetworkSection(**top["network"]), input=InputSection(**top["input"]),
        encoder=EncoderSection(**top["encoder"]), layers=tuple(layers),
        readout=ReadoutSection(**top["readout"]), hardware=HardwareSection(**top["hardware"]),
        base_dir=Path(base_dir))
    _shape_checks(config, errors)
    if errors:
        raise ConfigError(errors)
    return config
