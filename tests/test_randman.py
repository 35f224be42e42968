"""Tests of the Randman generator in sgcourse.datasets (Zenke & Vogels 2021 spike-timing task)."""

from __future__ import annotations

import math

import pytest
import torch

from sgcourse.datasets import (
    RandmanSplit,
    evaluate_smooth_functions,
    load_randman_tensors,
    randman_num_terms,
    randman_spike_times,
    random_smooth_functions,
    spike_times_to_dense,
)

SMALL = {"num_classes": 4, "num_units": 20, "num_steps": 30, "samples_per_class": 25}


def test_shapes_dtypes_and_range() -> None:
    times, labels = randman_spike_times(**SMALL, seed=3)
    assert times.shape == (100, 20) and times.dtype == torch.int64
    assert labels.shape == (100,) and labels.dtype == torch.int64
    assert torch.equal(torch.bincount(labels), torch.full((4,), 25))
    # step_frac = 0.5: every spike falls in the first half of the 30 steps
    assert times.min() >= 0 and times.max() <= 14
    # and the normalisation spreads each unit over that window: first and last step are used
    assert times.min() == 0 and times.max() == 14


def test_step_frac_one_uses_the_whole_window() -> None:
    times, _ = randman_spike_times(**SMALL, step_frac=1.0, seed=3)
    assert times.max() == SMALL["num_steps"] - 1


def test_exactly_one_spike_per_unit_and_sample() -> None:
    times, _ = randman_spike_times(**SMALL, manifold_dim=2, seed=1)
    spikes = spike_times_to_dense(times, SMALL["num_steps"])
    assert spikes.shape == (30, 100, 20) and spikes.dtype == torch.float32
    assert torch.equal(spikes.sum(dim=0), torch.ones(100, 20))
    assert set(spikes.unique().tolist()) == {0.0, 1.0}
    # the spike sits at the stated time
    assert torch.equal(spikes.argmax(dim=0), times)


def test_same_seed_same_data_other_seed_other_data() -> None:
    a = randman_spike_times(**SMALL, seed=7)
    b = randman_spike_times(**SMALL, seed=7)
    c = randman_spike_times(**SMALL, seed=8)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_global_random_state_untouched() -> None:
    before = torch.random.get_rng_state()
    randman_spike_times(**SMALL, seed=0)
    load_randman_tensors(**SMALL, seed=0)
    assert torch.equal(before, torch.random.get_rng_state())


def test_classes_differ_in_timing_but_not_in_counts() -> None:
    times, labels = randman_spike_times(num_classes=5, num_units=30, num_steps=40,
                                        samples_per_class=60, seed=0)
    counts = spike_times_to_dense(times, 40).sum(dim=0)
    assert torch.equal(counts, torch.ones_like(counts))      # counts carry nothing
    # nearest neighbour in spike-time space, reference = one half, scored on the other half
    fit = torch.arange(len(labels)) % 2 == 0
    distances = torch.cdist(times[~fit].double(), times[fit].double())
    accuracy = (labels[fit][distances.argmin(dim=1)] == labels[~fit]).double().mean().item()
    assert accuracy > 0.8        # chance is 0.2: the timing patterns of the classes differ


def test_number_of_fourier_terms() -> None:
    assert randman_num_terms(2.0) == 32                       # ceil(1000 ** 0.5)
    assert randman_num_terms(3.0) == 10                       # 1000 ** (1/3) = 10 exactly
    assert randman_num_terms(1.0) == 1000                     # capped
    assert randman_num_terms(0.5) == 1000


def test_random_functions_have_no_constant_term_and_decaying_spectrum() -> None:
    amplitude, frequency, phase = random_smooth_functions(50, 2.0, torch.Generator().manual_seed(0))
    assert amplitude.shape == frequency.shape == phase.shape == (50, 32)
    assert torch.all(amplitude[:, 0] == 0)
    k = torch.arange(32, dtype=torch.float64)
    assert torch.all(amplitude <= 1.0 / ((k + 1) ** 2 + 1))   # a_k s_k with a_k <= 1
    assert torch.all((frequency >= 0) & (frequency <= k))     # k b_k with b_k in [0, 1)


@pytest.mark.parametrize("rough, smooth", [(1.5, 3.0), (2.0, 4.0)])
def test_larger_smoothness_gives_smoother_functions(rough: float, smooth: float) -> None:
    """Roughness = mean |second difference| on a fine grid, relative to the function's range."""
    x = torch.linspace(0, 1, 2001, dtype=torch.float64)

    def roughness(alpha: float) -> float:
        f = evaluate_smooth_functions(
            random_smooth_functions(20, alpha, torch.Generator().manual_seed(1)), x)
        span = f.max(dim=0).values - f.min(dim=0).values
        return ((f[2:] - 2 * f[1:-1] + f[:-2]).abs().mean(dim=0) / span).mean().item()

    assert roughness(smooth) < 0.5 * roughness(rough)


def test_smoother_manifolds_give_nearby_points_nearby_spike_times() -> None:
    """Along a 1-D manifold, neighbouring points in x give closer spike patterns when smooth."""
    def neighbour_jump(alpha: float) -> float:
        times, _ = randman_spike_times(num_classes=2, num_units=50, num_steps=200,
                                       samples_per_class=300, smoothness=alpha, step_frac=1.0,
                                       seed=2)
        # mean nearest-neighbour distance among class 0's samples, relative to the mean distance
        t = times[:300].double()
        d = torch.cdist(t, t)
        d.fill_diagonal_(math.inf)
        return (d.min(dim=1).values / d[d.isfinite()].mean()).mean().item()

    assert neighbour_jump(4.0) < neighbour_jump(1.0)


def test_split_partitions_stratifies_and_is_deterministic() -> None:
    split = load_randman_tensors(**SMALL, test_fraction=0.2, seed=5)
    assert isinstance(split, RandmanSplit) and split.num_steps == 30
    assert split.x_train.dtype == torch.float32 and split.y_train.dtype == torch.int64
    assert split.x_train.shape == (80, 20) and split.x_test.shape == (20, 20)
    assert torch.equal(torch.bincount(split.y_test), torch.full((4,), 5))
    assert split.num_features == 20 and split.num_classes == 4
    times, _ = randman_spike_times(**SMALL, seed=5)
    together = torch.cat([split.x_train, split.x_test]).to(torch.int64)
    assert sorted(map(tuple, together.tolist())) == sorted(map(tuple, times.tolist()))
    again = load_randman_tensors(**SMALL, test_fraction=0.2, seed=5)
    for a, b in zip(split.tensors(), again.tensors(), strict=True):
        assert torch.equal(a, b)
    assert spike_times_to_dense(split.x_test, split.num_steps).sum(0).eq(1).all()


@pytest.mark.parametrize("kwargs, error, words", [
    ({"num_classes": 1}, ValueError, "num_classes"),
    ({"num_units": 0}, ValueError, "num_units"),
    ({"num_steps": 1}, ValueError, "num_steps"),
    ({"samples_per_class": 1}, ValueError, "samples_per_class"),
    ({"manifold_dim": 0}, ValueError, "manifold_dim"),
    ({"smoothness": 0.0}, ValueError, "smoothness"),
    ({"smoothness": math.nan}, ValueError, "smoothness"),
    ({"step_frac": 1.5}, ValueError, "step_frac"),
    ({"step_frac": 0.0}, ValueError, "step_frac"),
    ({"seed": -1}, ValueError, "seed"),
    ({"num_units": 2.5}, ValueError, "num_units"),
    ({"num_classes": "3"}, TypeError, "num_classes"),
    ({"smoothness": True}, TypeError, "smoothness"),
])
def test_bad_arguments_are_named(kwargs: dict, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        randman_spike_times(**kwargs)


def test_bad_split_and_dense_arguments() -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        load_randman_tensors(**SMALL, test_fraction=1.0)
    with pytest.raises(TypeError, match="times"):
        spike_times_to_dense([1, 2], 3)
    with pytest.raises(ValueError, match="times must lie in"):
        spike_times_to_dense(torch.tensor([0, 3]), 3)
    with pytest.raises(ValueError, match="whole time steps"):
        spike_times_to_dense(torch.tensor([0.5]), 3)
    with pytest.raises(TypeError, match="integer time steps"):
        spike_times_to_dense(torch.tensor([True]), 3)
    with pytest.raises(ValueError, match="num_steps"):
        spike_times_to_dense(torch.tensor([0]), 0)
