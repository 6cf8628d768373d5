"""The golden backend and Network on real MNIST digits: the same weights, thresholds,
generators, spikes, counts and counters as calling the golden model directly, with the
schedule of snnhw train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnhw.config import load_config
from snnhw.errors import ConfigError, InputError
from snnhw.families import resolve_layer
from snnhw.golden.networks.diehl_cook import LearningState, pruning_step, run_sample
from snnhw.golden.networks.diehl_cook_fast import run_samples_fast
from snnhw.host import Network, connect
from snnhw.host.golden import GoldenBackend
from snnhw.protocol import LABEL_NONE, config_hash

ROOT = Path(__file__).resolve().parents[2]
LEARNING = ROOT / "sim" / "configs" / "learning"
# adaptive potentiation with rest timesteps; pruning with a connectivity schedule (from the
# fifth sample); pair STDP with a halving learning rate
CONFIGS = ["mnist_784x16_adaptive_rest", "mnist_784x24_prune", "mnist_784x32"]
LEARN, INFER = 7, 2


@pytest.fixture(scope="module")
def digits(mnist_train):
    n = LEARN + INFER
    return mnist_train.images[:n].reshape(n, -1), mnist_train.labels[:n]


@pytest.mark.parametrize("name", CONFIGS)
def test_network_learns_like_the_golden_model(name, digits):
    layer = resolve_layer(load_config(LEARNING / f"{name}.toml"))
    images, _ = digits
    labels = np.arange(layer.n_out) % 12  # 10 and 11 do not vote
    expected = LearningState.initial(layer)
    with connect(layer, "golden") as net:
        net.set_labels(labels)
        learned = net.learn(images[:LEARN])
        inferred = net.infer(images[LEARN:])
        state = net.backend.read_state()
        counters = net.backend.counters()
    rows = []
    for s, image in enumerate(images):
        learn = s < LEARN
        prune = pruning_step(layer, expected, s, learn=learn)
        record = []
        counts, tries = run_sample(layer, expected, image, learn=learn,
                                   eta=layer.stdp.eta_at(s) if learn else 0, record=record,
                                   prune=prune)
        rows.append((counts, tries, record))
    got_counts = np.concatenate([learned.counts, inferred.counts])
    got_tries = np.concatenate([learned.presentations, inferred.presentations])
    got_spikes = np.concatenate([learned.spikes, inferred.spikes])
    for s, (counts, tries, record) in enumerate(rows):
        assert got_counts[s].tolist() == counts.tolist(), f"sample {s}"
        assert got_tries[s] == tries
        assert got_spikes[s] == sum(sum(p.spikes) for p in record)
    assert np.array_equal(state.weights, expected.weights)
    assert np.array_equal(state.theta, expected.theta)
    assert np.array_equal(state.gens.states, expected.gens.states)
    assert state.prune_threshold == expected.prune_threshold
    if layer.pruning:
        assert np.array_equal(state.alive, expected.alive)
        assert state.prune_threshold > layer.pruning.threshold, "the schedule moved it"
        assert counters.alive == int(expected.alive.sum()) < layer.n_in * layer.n_out
    # counters over all samples, from the model and its cycle model
    records = [p for _, _, rec in rows for p in rec]
    assert counters.busy_cycles == sum(p.cycles(layer) for p in records)
    assert counters.input_events == sum(int(p.events.sum()) for p in records)
    assert counters.output_spikes == sum(sum(p.spikes) for p in records)
    assert counters.presentations == len(records)
    assert counters.cycles is None and counters.weight_updates is None
    assert learned.spikes.sum() > 10, "the digits must make the network fire"
    # predictions as snnhw train makes them, from the counts and the labels
    votes = np.array([[c[labels == k].sum() / max(1, (labels == k).sum()) for k in range(10)]
                      for c in inferred.counts])
    assert inferred.predictions.tolist() == np.argmax(votes, axis=1).tolist()


def test_present_gives_spikes_votes_and_counts(digits):
    layer = resolve_layer(load_config(LEARNING / "mnist_784x16_adaptive_rest.toml"))
    images, _ = digits
    labels = np.array([3, 1, 15, 3, 0, 1, 9, 9, 12, 4, 4, 4, 2, 2, 7, 15])
    backend = GoldenBackend(layer, spike_buffer=3)
    backend.write_labels(labels)
    expected = LearningState.initial(layer)
    record = []
    counts, tries = run_sample(layer, expected, images[0], learn=True, eta=1000, record=record)
    r = backend.present(images[0], learn=True, eta=1000)
    spikes = [(p.attempt, t, j) for p in record for t, w in enumerate(p.winners) for j in w]
    assert len(spikes) > 3
    assert r.spikes == spikes[:3], "the first spike-buffer spikes are kept"
    assert r.spikes_total == len(spikes)
    assert r.presentations == tries
    assert r.counts.tolist() == counts.tolist()
    assert r.votes.tolist() == [int(counts[labels == c].sum()) for c in range(10)]
    assert backend.read_labels().tolist() == labels.tolist()
    info = backend.info()
    assert (info.config_hash, info.n_in, info.n_out, info.spike_buffer) == (
        config_hash(layer), 784, 16, 3)
    backend.clear_counters()
    assert backend.counters().busy_cycles == 0


def test_learning_matches_snnhw_train_fast_path(digits):
    """Network.learn follows the schedule of snnhw train (run_samples_fast): eta halving,
    pair STDP."""
    layer = resolve_layer(load_config(LEARNING / "mnist_784x32.toml"))
    images, _ = digits
    state = LearningState.initial(layer)
    counts, *_ = run_samples_fast(layer, state, images, learn=True)
    with connect(layer) as net:
        r = net.learn(images)
        got = net.backend.read_state()
    assert r.counts.tolist() == counts.tolist()
    assert np.array_equal(got.weights, state.weights)
    assert np.array_equal(got.gens.states, state.gens.states)


def test_state_round_trip_and_model_folder(digits, tmp_path):
    layer = resolve_layer(load_config(LEARNING / "mnist_784x24_prune.toml"))
    images, classes = digits
    with connect(layer) as net:
        net.learn(images[:LEARN])
        net.label(images, classes)
        path = net.save_model(tmp_path)
        after = net.infer(images[:2])
        assert net.assignments.max() < 10
    with connect(layer) as other:
        other.load_model(tmp_path)
        assert other.backend.read_labels().tolist() == net.assignments.tolist()
        again = other.infer(images[:2])
    assert again.counts.tolist() == after.counts.tolist()
    assert again.predictions.tolist() == after.predictions.tolist()
    assert path.name == "model.npz"
    # a whole state written and read back
    backend = GoldenBackend(layer)
    state = LearningState.initial(layer)
    state.weights[3, 5] = 0
    state.alive[3, 5] = False
    state.theta[:] = 7
    state.prune_threshold = 40
    backend.write_state(state)
    back = backend.read_state()
    assert np.array_equal(back.weights, state.weights)
    assert np.array_equal(back.alive, state.alive)
    assert back.prune_threshold == 40 and back.theta.tolist() == [7] * layer.n_out
    assert backend.alive_count() == layer.n_in * layer.n_out - 1


def test_bad_arguments_are_one_line_errors():
    layer = resolve_layer(load_config(LEARNING / "mnist_784x16_adaptive_rest.toml"))
    backend = GoldenBackend(layer)
    with pytest.raises(InputError, match=r"^a sample of 10 pixels: the network has 784 inputs$"):
        backend.present(np.zeros(10, dtype=np.uint8), learn=False)
    with pytest.raises(InputError, match=r"^pixels must be integers in 0\.\.255$"):
        backend.present(np.full(784, 256), learn=False)
    with pytest.raises(InputError, match=r"^weights must be integers in 0\.\.255$"):
        backend.write_weights(np.full((784, 16), -1))
    with pytest.raises(InputError, match=r"^labels of shape \(3,\): the network needs \(16,\)$"):
        backend.write_labels(np.zeros(3, dtype=int))
    with pytest.raises(InputError, match="the network does not prune"):
        backend.prune_threshold = 5
    assert backend.read_labels().tolist() == [LABEL_NONE] * 16
    plain = resolve_layer(load_config(ROOT / "examples" / "lif_784x100.toml"))
    with pytest.raises(ConfigError, match="the host runtime drives the learning core"):
        Network(GoldenBackend(plain))


def test_fixed_prune_threshold_cannot_move(tmp_path):
    text = (LEARNING / "mnist_784x24_prune.toml").read_text()
    path = tmp_path / "fixed.toml"
    path.write_text(text.replace("target_permille = 500\n", ""))
    layer = resolve_layer(load_config(path))
    backend = GoldenBackend(layer)
    with pytest.raises(InputError, match=r"without a connectivity schedule it is fixed at 20"):
        backend.prune_threshold = 30
    assert backend.pruning_step(10, learn=True) and backend.prune_threshold == 20
