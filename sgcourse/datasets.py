r"""Small data sets for the lessons, built offline (nothing is downloaded at run time).

``load_digits_tensors`` turns scikit-learn's bundled handwritten digits (1797 images of
:math:`8 \times 8` pixels, 10 classes) into float32 tensors with pixel values in :math:`[0, 1]`
and a deterministic, stratified train/test split. It is the course's stand-in for MNIST: large
enough that a hidden layer matters, small enough to train a spiking network in seconds on one core.

``load_randman_tensors`` builds a Randman data set (Zenke & Vogels, 2021, *Neural Computation*)
from a seed: each class is a random smooth manifold, and every input unit fires exactly one spike
per sample, so only spike *timing* carries the class (``randman_spike_times``,
``spike_times_to_dense``). It needs nothing beyond torch.

scikit-learn is an optional dependency (the ``lessons`` extra); it is imported only when a loader
that needs it is called.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from sgcourse._checks import POSITIVE, Domain, check_int, check_real

__all__ = ["DIGITS_MAX_PIXEL", "DigitsSplit", "RandmanSplit", "load_digits_tensors",
           "load_randman_tensors", "randman_spike_times", "spike_times_to_dense"]

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


SEED_MAX = 2**32 - 1
"""The largest seed scikit-learn's ``random_state`` accepts."""


def _check_stratified_fraction(test_fraction: float, samples: int, classes: int) -> None:
    r"""Raise unless a stratified split of ``samples`` keeps every class in both parts.

    scikit-learn puts :math:`n_{test} = \lceil f\,n \rceil` samples in the test set and needs
    :math:`n_{test} \ge C` and :math:`n - n_{test} \ge C` for :math:`C` classes.
    """
    n_test = -int(-(test_fraction * samples) // 1)  # ceil, as scikit-learn rounds
    if n_test < classes or samples - n_test < classes:
        raise ValueError(f"test_fraction must leave each of the {classes} classes at least one "
                         f"sample in both parts: with {samples} samples it must lie in "
                         f"({(classes - 1) / samples:.4g}, {(samples - classes) / samples:.4g}], "
                         f"got {test_fraction} ({n_test} test and {samples - n_test} training "
                         f"samples)")


def load_digits_tensors(test_fraction: float = 0.25, seed: int = 0) -> DigitsSplit:
    r"""The 8×8 handwritten digits as a stratified, deterministic train/test split.

    Each image is flattened to 64 features and scaled to :math:`[0, 1]` by
    :math:`x = p / 16`, where :math:`p \in \{0, \dots, 16\}` is the raw pixel value. The split is
    stratified by class (each class keeps its share in both parts) and depends only on ``seed``.

    Args:
        test_fraction: share of the 1797 samples put in the test set, strictly between 0 and 1
            (default 0.25: 1347 training and 450 test samples).
        seed: integer in [0, 2**32 - 1] that fixes which samples go to the test set.

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
    seed = check_int("seed", seed, 0, SEED_MAX)
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("load_digits_tensors needs scikit-learn: "
                          'pip install "sgcourse[lessons]"') from error

    digits = load_digits()
    features = torch.as_tensor(digits.data, dtype=torch.float32) / DIGITS_MAX_PIXEL
    labels = torch.as_tensor(digits.target, dtype=torch.int64)
    _check_stratified_fraction(test_fraction, len(labels), int(labels.unique().numel()))
    train_index, test_index = train_test_split(
        torch.arange(len(labels)).numpy(), test_size=test_fraction, random_state=seed,
        stratify=labels.numpy())
    train_index = torch.as_tensor(train_index)
    test_index = torch.as_tensor(test_index)
    return DigitsSplit(features[train_index], labels[train_index],
                       features[test_index], labels[test_index])


# ---------------------------------------------------------------------------------------------
# Randman: random manifolds as a spike-timing classification task (Zenke & Vogels, 2021)
# ---------------------------------------------------------------------------------------------

RANDMAN_PRECISION = 1e-3
r"""Relative size of the smallest Fourier amplitude kept in a random smooth function: the
number of terms is :math:`K = \min(\lceil \mathrm{prec}^{-1/\alpha} \rceil, 1000)`."""

RANDMAN_MAX_TERMS = 1000
"""Upper bound on the number of Fourier terms of one random smooth function."""

_STEP_FRACTION = Domain("a finite number in (0, 1]", lambda v: 0 < v <= 1)


class RandmanSplit(NamedTuple):
    """A train/test split of a Randman data set: one spike per input unit and sample.

    Attributes:
        x_train: ``[N_train, units]`` float32 spike *times*: the time step (an integer stored as
            a float, in ``0 … num_steps − 1``) at which each input unit fires its one spike.
        y_train: ``[N_train]`` int64 class labels (the manifold the sample was drawn from).
        x_test: ``[N_test, units]`` float32 spike times.
        y_test: ``[N_test]`` int64 class labels.
        num_steps: the number of time steps :math:`T` of a sample.

    :func:`spike_times_to_dense` turns spike times into spike trains ``[T, N, units]``. The
    times, not the trains, are stored so that the split plugs into loops that batch along the
    first dimension (a model converts each mini-batch).
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_steps: int

    @property
    def num_features(self) -> int:
        """Number of input units (each fires exactly once per sample)."""
        return int(self.x_train.shape[1])

    @property
    def num_classes(self) -> int:
        """Number of classes (manifolds) present in the labels."""
        return int(torch.cat([self.y_train, self.y_test]).max().item()) + 1

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(x_train, y_train, x_test, y_test)``: the four tensors without ``num_steps``."""
        return self.x_train, self.y_train, self.x_test, self.y_test


def randman_num_terms(smoothness: float) -> int:
    r"""Number of Fourier terms :math:`K = \min(\lceil \mathrm{prec}^{-1/\alpha} \rceil, 1000)`,
    :math:`\mathrm{prec} = 10^{-3}`, of a random smooth function with spectral decay
    ``smoothness`` :math:`\alpha > 0` (:math:`\alpha = 2` gives 32, :math:`\alpha = 1` 1000)."""
    smoothness = check_real("smoothness", smoothness, POSITIVE)
    # the decimal exponent keeps the result exact where prec^(-1/alpha) is a whole number
    return min(math.ceil(round(RANDMAN_PRECISION ** (-1.0 / smoothness), 9)), RANDMAN_MAX_TERMS)


def random_smooth_functions(count: int, smoothness: float,
                            generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    r"""Coefficients of ``count`` independent random smooth functions on :math:`[0, 1]`.

    .. math::

        f(x) = \sum_{k=0}^{K-1} a_k\, s_k \sin\bigl(2\pi (k\, b_k\, x + c_k)\bigr), \qquad
        s_k = \frac{1}{(k+1)^{\alpha} + 1},

    with :math:`a_k, b_k, c_k \sim U(0, 1)` independently, :math:`a_0 = 0` (no constant term),
    :math:`\alpha` = ``smoothness`` and :math:`K` = :func:`randman_num_terms`. A larger
    :math:`\alpha` damps the high frequencies faster: smoother functions.

    Returns:
        ``(amplitude, frequency, phase)``, each ``[count, K]`` float64:
        :math:`a_k s_k`, :math:`k\, b_k` and :math:`c_k`.
    """
    count = check_int("count", count, 1)
    terms = randman_num_terms(smoothness)
    draws = torch.rand((3, count, terms), generator=generator, dtype=torch.float64)
    k = torch.arange(terms, dtype=torch.float64)
    spectrum = 1.0 / ((k + 1.0) ** smoothness + 1.0)
    amplitude = draws[0] * spectrum
    amplitude[:, 0] = 0.0
    return amplitude, k * draws[1], draws[2]


def evaluate_smooth_functions(coefficients: tuple[torch.Tensor, ...],
                              x: torch.Tensor) -> torch.Tensor:
    r"""Evaluate functions from :func:`random_smooth_functions`: ``[count, K]`` coefficients at
    points ``x`` ``[P]`` give ``[P, count]``, :math:`f_j(x_p)`."""
    amplitude, frequency, phase = coefficients
    angle = 2.0 * math.pi * (x.double()[:, None, None] * frequency + phase)
    return (amplitude * torch.sin(angle)).sum(dim=-1)


def randman_spike_times(num_classes: int = 10, num_units: int = 100, num_steps: int = 100,
                        samples_per_class: int = 100, manifold_dim: int = 1,
                        smoothness: float = 2.0, step_frac: float = 0.5,
                        seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""A Randman spike-timing data set (Zenke & Vogels, 2021, *Neural Computation*).

    Each class :math:`c` is a random smooth manifold of dimension :math:`D` = ``manifold_dim``
    embedded in :math:`E` = ``num_units`` dimensions: unit :math:`i` takes the value

    .. math::

        m_{c,i}(\mathbf x) = \prod_{d=1}^{D} f_{c,i,d}(x_d), \qquad \mathbf x \sim U[0, 1]^D,

    with one independent random smooth function :math:`f_{c,i,d}` (see
    :func:`random_smooth_functions`) per class, unit and manifold dimension. For each class
    ``samples_per_class`` points :math:`\mathbf x` are drawn; each unit's values are min–max
    normalised over that class's samples to :math:`u \in [0, 1)`, and the unit fires exactly
    one spike, at step :math:`t = \lfloor u \cdot T \cdot \text{step\_frac} \rfloor`.

    Every unit fires once in every sample, so spike *counts* are identical across classes:
    only spike *timing* carries the class. A larger ``smoothness`` gives smoother manifolds
    (nearby points in :math:`\mathbf x` give nearby spike patterns) and an easier task; a larger
    ``manifold_dim`` gives a harder one.

    Everything is drawn from one local :class:`torch.Generator` seeded with ``seed`` (the global
    random state is untouched): the same arguments give the same data.

    Args:
        num_classes: number of classes (manifolds), >= 2.
        num_units: number of input units :math:`E`, >= 1.
        num_steps: number of time steps :math:`T`, >= 2.
        samples_per_class: points drawn per class, >= 2 (the normalisation needs two).
        manifold_dim: intrinsic dimension :math:`D` of each manifold, >= 1.
        smoothness: spectral decay :math:`\alpha > 0` of the random functions.
        step_frac: share of the :math:`T` steps the spikes fall in, in (0, 1].
        seed: integer >= 0.

    Returns:
        ``(times, labels)``: ``times`` ``[num_classes · samples_per_class, num_units]`` int64
        spike steps in ``0 … num_steps − 1`` and ``labels`` int64, ordered class by class.
    """
    num_classes = check_int("num_classes", num_classes, 2)
    num_units = check_int("num_units", num_units, 1)
    num_steps = check_int("num_steps", num_steps, 2)
    samples_per_class = check_int("samples_per_class", samples_per_class, 2)
    manifold_dim = check_int("manifold_dim", manifold_dim, 1)
    smoothness = check_real("smoothness", smoothness, POSITIVE)
    step_frac = check_real("step_frac", step_frac, _STEP_FRACTION)
    seed = check_int("seed", seed, 0)

    generator = torch.Generator().manual_seed(seed)
    below_one = math.nextafter(1.0, 0.0)
    times, labels = [], []
    for label in range(num_classes):
        coefficients = random_smooth_functions(num_units * manifold_dim, smoothness, generator)
        points = torch.rand((samples_per_class, manifold_dim), generator=generator,
                            dtype=torch.float64)
        values = torch.ones((samples_per_class, num_units), dtype=torch.float64)
        for d in range(manifold_dim):
            per_dim = tuple(c[d * num_units:(d + 1) * num_units] for c in coefficients)
            values = values * evaluate_smooth_functions(per_dim, points[:, d])
        low, high = values.min(dim=0).values, values.max(dim=0).values
        span = torch.where(high > low, high - low, torch.ones_like(high))
        unit_values = ((values - low) / span).clamp(0.0, below_one)
        times.append(torch.floor(unit_values * (num_steps * step_frac)).to(torch.int64)
                     .clamp_(max=num_steps - 1))
        labels.append(torch.full((samples_per_class,), label, dtype=torch.int64))
    return torch.cat(times), torch.cat(labels)


def spike_times_to_dense(times: torch.Tensor, num_steps: int,
                         dtype: torch.dtype = torch.float32) -> torch.Tensor:
    r"""Spike trains ``[T, *]`` from spike times ``[*]``: :math:`S[t] = 1` where ``times == t``.

    ``times`` holds integer steps (an integer tensor, or floats with integral values such as
    :attr:`RandmanSplit.x_train`) in ``0 … num_steps − 1``; every element fires exactly once.
    """
    if not isinstance(times, torch.Tensor):
        raise TypeError(f"times must be a torch.Tensor of spike steps, got {type(times).__name__}")
    num_steps = check_int("num_steps", num_steps, 1)
    if times.is_complex() or times.dtype == torch.bool:
        raise TypeError(f"times must hold integer time steps, got dtype {times.dtype}")
    if times.is_floating_point() and not torch.equal(times, times.round()):
        raise ValueError("times must hold whole time steps (integral values)")
    if times.numel() and (times.min() < 0 or times.max() > num_steps - 1):
        raise ValueError(f"times must lie in 0 … {num_steps - 1} (num_steps = {num_steps}), got "
                         f"values in [{times.min().item():g}, {times.max().item():g}]")
    steps = torch.arange(num_steps, device=times.device).view(-1, *([1] * times.dim()))
    return (times.to(torch.int64).unsqueeze(0) == steps).to(dtype)


def load_randman_tensors(num_classes: int = 10, num_units: int = 100, num_steps: int = 100,
                         samples_per_class: int = 100, manifold_dim: int = 1,
                         smoothness: float = 2.0, step_frac: float = 0.5,
                         test_fraction: float = 0.25, seed: int = 0) -> RandmanSplit:
    """A Randman data set (:func:`randman_spike_times`) as a stratified train/test split.

    Of each class, ``round(test_fraction · samples_per_class)`` samples (at least one, and at
    least one left for training) go to the test set; both parts are shuffled. Deterministic for
    a given ``seed``; the spike times are float32 (see :class:`RandmanSplit`).
    """
    test_fraction = check_real("test_fraction", test_fraction, OPEN_UNIT_INTERVAL)
    times, labels = randman_spike_times(num_classes, num_units, num_steps, samples_per_class,
                                        manifold_dim, smoothness, step_frac, seed)
    per_class = int(samples_per_class)
    num_test = min(max(1, round(test_fraction * per_class)), per_class - 1)
    generator = torch.Generator().manual_seed(seed + 1)
    train_index, test_index = [], []
    for label in range(int(num_classes)):
        order = label * per_class + torch.randperm(per_class, generator=generator)
        test_index.append(order[:num_test])
        train_index.append(order[num_test:])
    train = torch.cat(train_index)[torch.randperm(sum(map(len, train_index)), generator=generator)]
    test = torch.cat(test_index)[torch.randperm(sum(map(len, test_index)), generator=generator)]
    features = times.to(torch.float32)
    return RandmanSplit(features[train], labels[train], features[test], labels[test],
                        int(num_steps))
