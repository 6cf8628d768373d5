"""Configuration checking: one clear line per mistake, defaults, examples and the reference doc."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from snnhw.config import SCHEMA, config_markdown, load_config, parse_config
from snnhw.errors import ConfigError
from snnhw.families import resolve_layer

ROOT = Path(__file__).resolve().parent.parent
BAD_CONFIGS = sorted((ROOT / "tests" / "data" / "bad_configs").glob("*.toml"))
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
CONFIG_MD = ROOT / "docs" / "config.md"
BEGIN, END = "<!-- BEGIN GENERATED -->", "<!-- END GENERATED -->"

MINIMAL = """\
[input]
size = 16

[neurons]
count = 8
threshold = 100
"""


def minimal(**sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The minimal valid configuration as nested dicts, with keys of ``sections`` merged in."""
    raw: dict[str, dict[str, Any]] = {"input": {"size": 16},
                                      "neurons": {"count": 8, "threshold": 100}}
    for section, keys in sections.items():
        raw.setdefault(section, {}).update(keys)
    return raw


def exactly(message: str) -> str:
    """A ``match=`` pattern accepting ``message`` and nothing else."""
    return f"^{re.escape(message)}$"


def expected_key(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    m = re.fullmatch(r"# expect: (.+)", first)
    assert m, f"{path.name}: first line must be '# expect: <key path>', not {first!r}"
    return m.group(1)


def load_and_resolve(path: Path) -> None:
    resolve_layer(load_config(path))


# -- one mistake, one line ---------------------------------------------------------------------


def test_bad_configs_exist():
    assert len(BAD_CONFIGS) >= 14


@pytest.mark.parametrize("path", BAD_CONFIGS, ids=lambda p: p.stem)
def test_bad_config_reports_one_line(path: Path):
    expect = expected_key(path)
    with pytest.raises(ConfigError) as info:
        load_and_resolve(path)
    errors = info.value.errors
    assert len(errors) == 1, errors
    line = errors[0]
    assert "\n" not in line
    assert expect in line
    if expect != "not valid TOML":
        # The key path leads the line, so that a user can find it at a glance.
        assert re.match(re.escape(expect) + r"[ :]", line), line


@pytest.mark.parametrize("path", BAD_CONFIGS, ids=lambda p: p.stem)
def test_cli_validate_bad_config(path: Path, capsys: pytest.CaptureFixture[str]):
    from snnhw.cli import main

    assert main(["validate", str(path)]) == 1
    captured = capsys.readouterr()
    lines = [s for s in (captured.out + captured.err).splitlines() if s.strip()]
    assert len(lines) == 1, lines
    assert expected_key(path) in lines[0]


def test_cli_validate_good_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from snnhw.cli import main

    path = tmp_path / "net.toml"
    path.write_text(MINIMAL)
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out.strip() == "OK"


# -- exact messages of the errors users meet most ----------------------------------------------


def test_threshold_above_membrane_max():
    with pytest.raises(ConfigError, match=exactly(
            "neurons.threshold = 70000: must be 1 to 32767 "
            "(the largest 16-bit signed membrane value)")):
        parse_config(minimal(neurons={"threshold": 70000}))


def test_threshold_follows_membrane_bits():
    with pytest.raises(ConfigError, match=exactly(
            "neurons.threshold = 600: must be 1 to 511 "
            "(the largest 10-bit signed membrane value)")):
        parse_config(minimal(neurons={"threshold": 600, "membrane_bits": 10},
                             synapses={"weight_bits": 4}))


def test_missing_required_key():
    with pytest.raises(ConfigError, match=exactly(
            "input.size: required key is missing (inputs, 1 to 65536)")):
        parse_config({"neurons": {"count": 8, "threshold": 100}})


def test_unknown_key_lists_allowed_keys():
    with pytest.raises(ConfigError, match=exactly(
            "neurons.tau: unknown key; allowed in [neurons]: count, model, membrane_bits, "
            "threshold, leak_shift, reset, refractory, inhibition, theta_increment, "
            "theta_decay_shift, theta_bits")):
        parse_config(minimal(neurons={"tau": 20}))


def test_unknown_section_lists_allowed_sections():
    with pytest.raises(ConfigError, match=exactly(
            "learning: unknown section; allowed: network, input, neurons, synapses, encoder, "
            "stdp, pruning, hardware, layer")):
        parse_config(minimal(learning={"rate": 1}))


def test_bool_is_not_an_integer():
    with pytest.raises(ConfigError, match=exactly("hardware.lanes = true: must be an integer")):
        parse_config(minimal(hardware={"lanes": True}))


def test_membrane_must_exceed_weights():
    with pytest.raises(ConfigError, match=exactly(
            "neurons.membrane_bits = 8: must be at least synapses.weight_bits + 1 = 9")):
        parse_config(minimal(neurons={"membrane_bits": 8}))


def test_lanes_above_count():
    with pytest.raises(ConfigError, match=exactly(
            "hardware.lanes = 16: must be 1 to 8 (no more lanes than neurons)")):
        parse_config(minimal(hardware={"lanes": 16}))


def test_choice_lists_choices():
    with pytest.raises(ConfigError, match=exactly(
            "neurons.reset = \"hold\": must be \"zero\" or \"subtract\"")):
        parse_config(minimal(neurons={"reset": "hold"}))


def test_signed_one_bit_weights():
    with pytest.raises(ConfigError, match=exactly(
            "synapses.weight_bits = 1: signed weights need at least 2 bits "
            "(or set synapses.signed = false)")):
        parse_config(minimal(synapses={"weight_bits": 1}))


def test_unsigned_one_bit_weights_are_fine():
    cfg = parse_config(minimal(synapses={"weight_bits": 1, "signed": False, "init_high": 1}))
    assert resolve_layer(cfg).wmax == 1


def test_init_range_follows_signedness():
    with pytest.raises(ConfigError, match=exactly(
            "synapses.init_low = -1: must be 0 to 255 (the weight range)")):
        parse_config(minimal(synapses={"signed": False, "init_low": -1}))


def test_leak_shift_default_ignored_for_if():
    # The default leak_shift (4) is wider than this membrane, but "if" neurons have no leak.
    cfg = parse_config(minimal(neurons={"model": "if", "membrane_bits": 4, "threshold": 7},
                               synapses={"weight_bits": 3}))
    assert resolve_layer(cfg).leak_shift == 0


def test_leak_shift_for_if_reported_once():
    with pytest.raises(ConfigError, match=exactly(
            "neurons.leak_shift = 20: applies only to model = \"lif\"; remove it for \"if\"")):
        parse_config(minimal(neurons={"model": "if", "leak_shift": 20}))


def test_init_file_missing_names_resolved_path(tmp_path: Path):
    with pytest.raises(ConfigError, match=exactly(
            f"synapses.init_file = \"w.npy\": no such file {str(tmp_path / 'w.npy')!r}")):
        parse_config(minimal(synapses={"init": "file", "init_file": "w.npy"}),
                     base_dir=tmp_path)


def test_init_file_wrong_shape(tmp_path: Path):
    np.save(tmp_path / "w.npy", np.zeros((8, 16), dtype=np.int8))
    cfg = parse_config(minimal(synapses={"init": "file", "init_file": "w.npy"}),
                       base_dir=tmp_path)
    with pytest.raises(ConfigError, match=exactly(
            "synapses.init_file = \"w.npy\": has shape (8, 16), "
            "must be (input.size, neurons.count) = (16, 8)")):
        resolve_layer(cfg)


def test_init_file_values_out_of_range(tmp_path: Path):
    w = np.zeros((16, 8), dtype=np.int16)
    w[3, 2] = 300
    np.save(tmp_path / "w.npy", w)
    cfg = parse_config(minimal(synapses={"init": "file", "init_file": "w.npy"}),
                       base_dir=tmp_path)
    with pytest.raises(ConfigError, match=exactly(
            "synapses.init_file = \"w.npy\": values 0..300 exceed the weight range -128..127")):
        resolve_layer(cfg)


def test_init_file_loads_relative_to_config(tmp_path: Path):
    w = np.arange(16 * 8, dtype=np.int64).reshape(16, 8) % 100 - 50
    np.save(tmp_path / "w.npy", w)
    path = tmp_path / "net.toml"
    path.write_text(MINIMAL + '\n[synapses]\ninit = "file"\ninit_file = "w.npy"\n')
    np.testing.assert_array_equal(resolve_layer(load_config(path)).weights, w)


def test_unreadable_config(tmp_path: Path):
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=exactly(
            f"{path}: cannot read config (No such file or directory)")):
        load_config(path)


# -- several mistakes, several lines -----------------------------------------------------------


def test_every_mistake_reported():
    raw = {
        "network": {"name": "my-net"},
        "neurons": {"count": 8, "threshold": 100, "reset": "hold", "refractory": -1},
        "hardware": {"lanes": 16, "speed": 2},
    }
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert info.value.errors == [
        "neurons.reset = \"hold\": must be \"zero\" or \"subtract\"",
        "neurons.refractory = -1: must be 0 to 255",
        "hardware.speed: unknown key; allowed in [hardware]: lanes, timestep_bits, counter_bits",
        "input.size: required key is missing (inputs, 1 to 65536)",
        "network.name = \"my-net\": must be letters, digits and _, starting with a letter",
        "hardware.lanes = 16: must be 1 to 8 (no more lanes than neurons)",
    ]
    assert str(info.value) == "\n".join(info.value.errors)


def test_every_mistake_reported_from_file(tmp_path: Path):
    path = tmp_path / "net.toml"
    path.write_text('[input]\nsize = "16"\n\n[neurons]\ncount = 0\nthreshold = 0\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [line.split(" = ")[0] for line in info.value.errors] == [
        "input.size", "neurons.count", "neurons.threshold"]


# -- defaults ----------------------------------------------------------------------------------


def test_minimal_config_resolves(tmp_path: Path):
    path = tmp_path / "net.toml"
    path.write_text(MINIMAL)
    cfg = load_config(path)
    assert cfg.base_dir == tmp_path
    d = cfg.to_dict()
    assert list(d) == list(SCHEMA)
    for section, fields in SCHEMA.items():
        assert list(d[section]) == [f.name for f in fields]
        for f in fields:
            if not f.required:
                assert d[section][f.name] == f.default, f"{section}.{f.name}"
    layer = resolve_layer(cfg)
    assert (layer.n_in, layer.n_out, layer.threshold) == (16, 8, 100)
    assert (layer.lanes, layer.membrane_bits, layer.leak_shift) == (1, 16, 4)


def test_required_keys():
    required = [f"{s}.{f.name}" for s, fields in SCHEMA.items() for f in fields if f.required]
    assert required == ["input.size", "neurons.count", "neurons.threshold"]


def test_defaults_satisfy_their_own_checks():
    for section, fields in SCHEMA.items():
        for f in fields:
            if f.required:
                continue
            assert isinstance(f.default, f.type), f"{section}.{f.name}"
            if f.low is not None:
                assert f.low <= f.default <= f.high, f"{section}.{f.name}"
            if f.choices is not None:
                assert f.default in f.choices, f"{section}.{f.name}"


# -- examples and docs -------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_config_resolves(path: Path):
    resolve_layer(load_config(path))


def test_config_md_is_generated():
    text = CONFIG_MD.read_text(encoding="utf-8")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    generated = text.split(BEGIN)[1].split(END)[0]
    assert generated.strip("\n") == config_markdown().strip("\n"), (
        "docs/config.md is stale; run: python docs/gen_config_md.py")
    from snnhw.config_conv import CONV_SCHEMA, CONV_TITLES

    conv = text.split("<!-- BEGIN GENERATED CONV -->")[1].split("<!-- END GENERATED CONV -->")[0]
    assert conv.strip("\n") == config_markdown(CONV_SCHEMA, titles=CONV_TITLES).strip("\n"), (
        "docs/config.md is stale; run: python docs/gen_config_md.py")


# -- the ordered-layers form ([[layer]]) ---------------------------------------------------

LAYERED = ROOT / "tests" / "data" / "host_tiny_20x6_layers.toml"


def test_layer_form_resolves_like_the_single_layer_form():
    """The same network in both forms: equal sections, one "dense" layer, and the same IR
    (weights, generator states, memories)."""
    from snnhw.families import resolve

    flat, layered = load_config(ROOT / "tests" / "data" / "host_tiny_20x6.toml"), load_config(
        LAYERED)
    assert layered.to_dict() == flat.to_dict()
    assert [layer.kind for layer in layered.layers] == ["dense"] == [
        layer.kind for layer in flat.layers]
    assert layered.layers[0].neurons == flat.neurons == layered.neurons
    a, b = resolve(flat), resolve(layered)
    assert (a.family, len(a.layers)) == (b.family, len(b.layers)) == ("diehl_cook", 1)
    assert np.array_equal(a.layer.weights, b.layer.weights)
    assert np.array_equal(a.layer.encoder.generator_states, b.layer.encoder.generator_states)
    assert a.layer.memories == b.layer.memories


@pytest.mark.parametrize("layers, top, message", [
    ([{"neurons": {"threshold": 100}}], {},
     "layer[0].neurons.count: required key is missing (neurons, 1 to 65536)"),
    ([{"kind": "lstm", "neurons": {"count": 8, "threshold": 100}}], {},
     'layer[0].kind = "lstm": must be "dense" or "conv" or "pool"'),
    ([{"neurons": {"count": 8, "threshold": 100}, "pool": {}}], {},
     "layer[0].pool: unknown key; allowed in [[layer]]: kind, neurons, synapses, stdp, pruning"),
    ([{"neurons": {"count": 8, "threshold": 100}}] * 2, {},
     "layer: 2 layers; the network families so far (dense) are built of one [[layer]]"),
    ([{"neurons": {"count": 8, "threshold": 100}}], {"neurons": {"count": 8}},
     "neurons: give it inside [[layer]], not at the top level, when the config has [[layer]] "
     "tables"),
    ([{"neurons": {"count": 8, "threshold": 100}, "synapses": {"weight_bits": 99}}], {},
     "layer[0].synapses.weight_bits = 99: must be 1 to 16"),
    ("dense", {}, "layer: must be one or more [[layer]] tables"),
], ids=["missing-key", "bad-kind", "unknown-section", "two-layers", "mixed-forms",
        "bad-value", "not-tables"])
def test_layer_form_errors_name_the_layer(layers, top, message):
    raw = {"input": {"size": 16}, "layer": layers, **top}
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    assert message in e.value.errors, e.value.errors
