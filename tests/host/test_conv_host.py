"""The conv host runtime on the golden backend: the API's refusals, state round trips, and
``snnhw run``'s model folders and one-line errors. (sim/test_soc_conv.py checks that the rtl
backend gives the same bits.)"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from snnhw.config import load_config
from snnhw.errors import InputError
from snnhw.families import resolve
from snnhw.golden.networks.ttfs_conv import ConvState
from snnhw.host import connect
from snnhw.host.conv import ConvGoldenBackend, ConvNetwork
from snnhw.host.conv_run import run_cli, run_conv

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "ttfs_rtl_tiny.toml"


@pytest.fixture(scope="module")
def net():
    return resolve(load_config(TINY))


def test_connect_gives_the_conv_runtime(net):
    with connect(TINY, backend="golden") as cnet:
        assert isinstance(cnet, ConvNetwork) and cnet.net.name == net.name
        with pytest.raises(InputError, match="takes 20 x 32"):
            cnet.encode(np.zeros((28, 28), dtype=np.uint8))


def test_golden_backend_refusals_and_state(net):
    be = ConvGoldenBackend(net)
    w, a = be.read_kernels(1)
    with pytest.raises(ValueError, match="learn 3"):
        be.run(np.full((2, 20, 32), net.timesteps), learn=3)
    with pytest.raises(ValueError, match="stage must be 0 to 1"):
        be.read_kernels(2)
    a2 = a.copy()
    a2[0, 0, 0, 0] = False
    with pytest.raises(ValueError, match="pruned tap's weight must be 0"):
        be.write_kernels(1, w, a2)
    w2 = w.copy()
    w2[0, 0, 0, 0] = 0
    be.write_kernels(1, w2, a2)
    assert be.read_register("alive1") == a.size - 1
    with pytest.raises(ValueError, match="does not prune"):
        w0 = np.zeros_like(be.read_kernels(0)[0])
        be.write_kernels(0, w0, w0 != 0)
    with pytest.raises(ValueError, match="weights must be 0 to 255"):
        be.write_kernels(1, w2 + 300, a2)
    with pytest.raises(ValueError, match="generator state is 1 to 65535"):
        be.write_register("generator0", 0)
    with pytest.raises(ValueError, match="no register"):
        be.read_register("nope")
    # a learning run, then its state written into another backend
    rng = np.random.default_rng(3)
    times = rng.integers(0, net.timesteps + 1, size=(2, 20, 32))
    r = be.run(times, learn=1)
    assert r.cycles > 0 and r.weight_updates > 0
    assert be.read_register("cycles") == r.cycles and be.read_register("learn") == 1
    with pytest.raises(ValueError, match="the last run learned"):
        be.features()
    other = ConvGoldenBackend(net)
    other.write_state(be.read_state())
    s1, s2 = be.read_state(), other.read_state()
    for i in s1.weights:
        assert np.array_equal(s1.weights[i], s2.weights[i])
        assert np.array_equal(s1.alive[i], s2.alive[i])
    assert s1.gen_pos == s2.gen_pos and s1.seen == s2.seen == {0: 1, 2: 0}
    assert ConvState.initial(net).gen_pos != s1.gen_pos
    assert np.array_equal(be.run(times).cycles, other.run(times).cycles)
    assert np.array_equal(be.features(), other.features())


def test_run_writes_a_model_that_runs_again(data_dir, tmp_path: Path):
    kw = dict(backend="golden", dataset="caltech-facemotor", data_dir=data_dir, infer=6)
    out, r = run_conv(TINY, learn=2, label=8, out_dir=tmp_path / "a", **kw)
    assert set(r["learning"]) == {"conv1", "conv2"} and r["labelling"]["images"] == 8
    assert (out / "model.npz").is_file() and (out / "config.toml").is_file()
    # the model again, without learning: same readout, same accuracy and cycles
    _, again = run_conv(TINY, model=out, out_dir=tmp_path / "b", **kw)
    assert "learning" not in again and "labelling" not in again
    assert again["accuracy"] == r["accuracy"]
    assert again["inference"]["cycles"] == r["inference"]["cycles"]
    assert again["connectivity"] == r["connectivity"]


@pytest.mark.parametrize("kw,message", [
    (dict(label=0), "no SVM to classify with"),
    (dict(label=-1), "counts of 0 or more"),
    (dict(label=1), "hold one class"),
])
def test_run_refusals(kw, message, data_dir, tmp_path: Path):
    with pytest.raises(InputError, match=message):
        run_conv(TINY, backend="golden", dataset="caltech-facemotor", data_dir=data_dir,
                 infer=2, out_dir=tmp_path / "x", **kw)
    assert not (tmp_path / "x").exists()


def test_run_cli_refuses_a_seed():
    args = SimpleNamespace(seed=3)
    with pytest.raises(InputError, match="network.seed"):
        run_cli(args, lambda stage, total: (lambda n: None))


def _tiny(**hardware_and_layers):
    """The tiny config with ``lanes`` and the first conv layer's ``maps`` changed."""
    import tomllib

    from snnhw.config import parse_config

    doc = tomllib.loads(TINY.read_text())
    doc["hardware"]["lanes"] = hardware_and_layers.get("lanes", doc["hardware"]["lanes"])
    doc["layer"][0]["maps"] = hardware_and_layers.get("maps", doc["layer"][0]["maps"])
    return resolve(parse_config(doc))


@pytest.mark.parametrize("lanes", [1, 3, 4])
def test_kernel_banks_are_numbered_as_the_core_numbers_them(lanes):
    """bank = stage << lane_bits | lane, with the core's lane bits (1 for one lane too)."""
    from amaranth.hdl import Fragment

    from snnhw.gateware.networks.ttfs_conv import TtfsConvCore
    from snnhw.protocol_conv import ConvSpace, conv_banks

    net = _tiny(lanes=lanes)
    core = TtfsConvCore(net)
    Fragment.get(core, None)  # elaborated, as a core is before it is used
    for space in (ConvSpace.WEIGHT, ConvSpace.MASK):
        banks = sorted(b for s, b in conv_banks(net) if s == space)
        assert banks == [s << core.lane_bits | ln for s in range(2) for ln in range(lanes)]


def test_words_too_wide_for_the_link_are_refused_before_any_build():
    from snnhw.errors import ConfigError
    from snnhw.host.conv import open_conv_backend

    net = _tiny(lanes=1, maps=100)  # conv1's mask words: 3 x 128 bits
    with pytest.raises(ConfigError, match="mask word of 3 x 128 bits"):
        open_conv_backend(net, "rtl")


@pytest.mark.parametrize("change,message", [
    (lambda st: st.weights[0].__setitem__((0, 0, 0, 0), 300), "weights must be 0 to 255"),
    (lambda st: st.gen_pos.__setitem__(0, 70000), "out of range"),
])
def test_run_refuses_a_model_that_does_not_suit_the_config(change, message, data_dir,
                                                           tmp_path: Path):
    from snnhw.conv_model import save_conv_model

    net = resolve(load_config(TINY))
    state = ConvState.initial(net)
    change(state)
    model = tmp_path / "model"
    model.mkdir()
    svm = {"scale": np.ones(net.feature_count), "coef": np.zeros((2, net.feature_count)),
           "intercept": np.zeros(2), "classes": np.array([0, 1])}
    save_conv_model(model, net, state, svm)
    with pytest.raises(InputError, match=message):
        run_conv(TINY, backend="golden", dataset="caltech-facemotor", data_dir=data_dir,
                 model=model, infer=2, out_dir=tmp_path / "out")
