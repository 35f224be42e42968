"""Tests of sgcourse.datasets: shapes, dtypes, scaling, determinism, stratification, validation."""

from __future__ import annotations

import pytest
import torch

from sgcourse.datasets import DigitsSplit, load_digits_tensors

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def digits() -> DigitsSplit:
    # read-only: no test modifies the returned tensors
    return load_digits_tensors()


def test_shapes_and_dtypes(digits: DigitsSplit) -> None:
    assert digits.x_train.shape == (1347, 64)
    assert digits.x_test.shape == (450, 64)
    assert digits.y_train.shape == (1347,)
    assert digits.y_test.shape == (450,)
    assert digits.x_train.dtype == digits.x_test.dtype == torch.float32
    assert digits.y_train.dtype == digits.y_test.dtype == torch.int64
    assert digits.num_features == 64
    assert digits.num_classes == 10


def test_pixels_are_scaled_to_unit_interval(digits: DigitsSplit) -> None:
    pixels = torch.cat([digits.x_train, digits.x_test])
    assert pixels.min() == 0.0
    assert pixels.max() == 1.0
    # raw pixels are integers 0..16, so every scaled value is a multiple of 1/16
    assert torch.equal(pixels * 16, (pixels * 16).round())


def test_split_is_a_partition_of_all_samples(digits: DigitsSplit) -> None:
    from sklearn.datasets import load_digits

    raw = torch.as_tensor(load_digits().data, dtype=torch.float32) / 16
    together = torch.cat([digits.x_train, digits.x_test])
    assert len(together) == len(raw) == 1797
    # same multiset of rows: sort rows lexicographically via a unique key per row
    def sorted_rows(x: torch.Tensor) -> torch.Tensor:
        return torch.stack(sorted(x, key=lambda row: tuple(row.tolist())))
    assert torch.equal(sorted_rows(together), sorted_rows(raw))


def test_split_is_stratified(digits: DigitsSplit) -> None:
    train_counts = torch.bincount(digits.y_train, minlength=10)
    test_counts = torch.bincount(digits.y_test, minlength=10)
    share = test_counts.double() / (train_counts + test_counts).double()
    assert torch.all((share - 0.25).abs() < 0.02)


def test_same_seed_same_split_other_seed_other_split(digits: DigitsSplit) -> None:
    again = load_digits_tensors(seed=0)
    for a, b in zip(digits, again, strict=True):
        assert torch.equal(a, b)
    other = load_digits_tensors(seed=1)
    assert not torch.equal(digits.y_test, other.y_test)


def test_test_fraction_sets_the_test_size() -> None:
    small = load_digits_tensors(test_fraction=0.1)
    assert len(small.y_test) == 180
    assert len(small.y_train) == 1797 - 180


@pytest.mark.parametrize("bad", [0, 1, 0.0, 1.0, -0.2, 1.5, float("nan")])
def test_test_fraction_out_of_range_raises_value_error(bad: float) -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_tensors(test_fraction=bad)


@pytest.mark.parametrize("bad", ["0.25", None, True])
def test_test_fraction_of_wrong_type_raises_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="test_fraction"):
        load_digits_tensors(test_fraction=bad)


def test_bad_seed_raises() -> None:
    with pytest.raises(ValueError, match="seed"):
        load_digits_tensors(seed=-1)
    with pytest.raises(ValueError, match="seed"):
        load_digits_tensors(seed=1.5)
    with pytest.raises(TypeError, match="seed"):
        load_digits_tensors(seed="0")


def test_test_fraction_that_leaves_a_class_out_is_refused_before_scikit_learn() -> None:
    """A stratified split needs every class in both parts: with 1797 samples and 10 classes,
    ceil(f · 1797) must lie in 10 … 1787; the limits themselves still work."""
    smallest, largest = 9.5 / 1797, 1787 / 1797
    assert len(load_digits_tensors(test_fraction=smallest).y_test) == 10
    assert len(load_digits_tensors(test_fraction=largest).y_train) == 10
    for bad in (9 / 1797, 0.001, 1787.5 / 1797, 0.999):
        with pytest.raises(ValueError, match=r"test_fraction must leave each of the 10 classes"):
            load_digits_tensors(test_fraction=bad)


def test_seed_beyond_scikit_learns_range_is_refused() -> None:
    assert len(load_digits_tensors(seed=2**32 - 1).y_test) == 450
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 4294967295\]"):
        load_digits_tensors(seed=2**32)
