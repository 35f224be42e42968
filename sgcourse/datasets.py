r"""Small data sets for the lessons, built offline (nothing is downloaded at run time).

``load_digits_tensors`` turns scikit-learn's bundled handwritten digits (1797 images of
:math:`8 \times 8` pixels, 10 classes) into float32 tensors with pixel values in :math:`[0, 1]`
and a deterministic, stratified train/test split. It is the course's stand-in for MNIST: large
enough that a hidden layer matters, small enough to train a spiking network in seconds on one core.

scikit-learn is an optional dependency (the ``lessons`` extra); it is imported only when a loader
that needs it is called.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from sgcourse._checks import Domain, check_int, check_real

__all__ = ["DIGITS_MAX_PIXEL", "DigitsSplit", "load_digits_tensors"]

DIGITS_MAX_PIXEL = 16.0
"""The largest pixel value in scikit-learn's digits (pixels are integers 0…16)."""

OPEN_UNIT_INTERVAL = Domain("a finite number strictly between 0 and 1", lambda v: 0 < v < 1)


class DigitsSplit(NamedTuple):
    """A train/test split of the digits as tensors.

    Attributes:
        x_train: ``[N_train, 64]`` float32 pixel intensities in :math:`[0, 1]`.
        y_train: ``[N_train]`` int64 class labels 0…9.
        x_test: ``[N_test, 64]`` float32 pixel intensities in :math:`[0, 1]`.
        y_test: ``[N_test]`` int64 class labels 0…9.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def num_features(self) -> int:
        """Number of input features per sample (64 for the 8×8 digits)."""
        return int(self.x_train.shape[1])

    @property
    def num_classes(self) -> int:
        """Number of classes present in the labels."""
        return int(torch.cat([self.y_train, self.y_test]).max().item()) + 1


def load_digits_tensors(test_fraction: float = 0.25, seed: int = 0) -> DigitsSplit:
    r"""The 8×8 handwritten digits as a stratified, deterministic train/test split.

    Each image is flattened to 64 features and scaled to :math:`[0, 1]` by
    :math:`x = p / 16`, where :math:`p \in \{0, \dots, 16\}` is the raw pixel value. The split is
    stratified by class (each class keeps its share in both parts) and depends only on ``seed``.

    Args:
        test_fraction: share of the 1797 samples put in the test set, strictly between 0 and 1
            (default 0.25: 1347 training and 450 test samples).
        seed: integer >= 0 that fixes which samples go to the test set.

    Returns:
        A :class:`DigitsSplit` ``(x_train, y_train, x_test, y_test)`` of float32 features and
        int64 labels.

    Raises:
        TypeError, ValueError: for a ``test_fraction`` or ``seed`` of the wrong type or range.
        ImportError: when scikit-learn is not installed (``pip install "sgcourse[lessons]"``).

    Example::

        >>> data = load_digits_tensors()
        >>> data.x_train.shape, data.x_test.shape
        (torch.Size([1347, 64]), torch.Size([450, 64]))
    """
    test_fraction = check_real("test_fraction", test_fraction, OPEN_UNIT_INTERVAL)
    seed = check_int("seed", seed, 0)
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("load_digits_tensors needs scikit-learn: "
                          'pip install "sgcourse[lessons]"') from error

    digits = load_digits()
    features = torch.as_tensor(digits.data, dtype=torch.float32) / DIGITS_MAX_PIXEL
    labels = torch.as_tensor(digits.target, dtype=torch.int64)
    train_index, test_index = train_test_split(
        torch.arange(len(labels)).numpy(), test_size=test_fraction, random_state=seed,
        stratify=labels.numpy())
    train_index = torch.as_tensor(train_index)
    test_index = torch.as_tensor(test_index)
    return DigitsSplit(features[train_index], labels[train_index],
                       features[test_index], labels[test_index])
