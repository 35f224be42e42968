r"""Choosing a surrogate (lesson 07): shape × steepness sweeps, silent neurons, rate regularisation.

**Shape and steepness, separated.** Every registered surrogate's default :math:`\sigma'` has its
peak at 1 (see :mod:`sgcourse.surrogate`). :class:`SteepenedSurrogate` keeps that *shape* and
changes only its *steepness* :math:`k`:

.. math::

    S = \Theta(x) \text{ forward}, \qquad
    \frac{\partial S}{\partial x} := c\,\sigma'_{\rm shape}(k\,x) \text{ backward},

so the peak is :math:`c` (the *scale*, 1 unless set) whatever :math:`k`, and the width of the
bump is :math:`\propto 1/k`: a small :math:`k` is flat (every neuron gets nearly the same
gradient, however far it is from threshold), a large :math:`k` is steep (only neurons within
:math:`\sim 1/k` of threshold get any). This is the steepness :math:`\beta` of SuperSpike's
:math:`1/(\beta|x| + 1)^2` (Zenke & Ganguli, 2018), applied to every shape. ``cutoff`` sets
:math:`\sigma'` to 0 beyond :math:`|kx| > a`, a control for what a shape's tails contribute.

:func:`sweep` trains one small network per (shape, steepness) from the same initial weights and
returns the grid of test accuracies; :func:`plot_accuracy_grid` draws it as a heat map.

**Silent neurons and a rate regulariser.** A neuron that never fires on the training set is
*silent*; with a steep surrogate and its potential far below threshold, it also gets (almost)
no gradient, so it may stay silent for good. :func:`silent_fraction` measures the share of such
neurons; :func:`rate_penalty` is a lower bound on each neuron's firing rate
:math:`\nu_i = \frac{1}{T N}\sum_{t,n} S_{t,n,i}`,

.. math::

    R = \frac{1}{H}\sum_{i=1}^{H} \max(0,\ \nu_{\rm target} - \nu_i)^2,

added to the loss as :math:`L + \lambda R` by :func:`train_with_rate_penalty` (Zenke & Vogels,
2021, use lower and upper bounds of this kind), which also records the hidden firing rate of every
mini-batch (:func:`plot_training_rates` draws it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from sgcourse import surrogate
from sgcourse._checks import NONNEGATIVE, POSITIVE, check_floating_tensor, check_int, check_real
from sgcourse.course.models import DigitsSNN, evaluate
from sgcourse.course.temporal import SequenceClassifier

__all__ = [
    "RegularisedHistory",
    "SteepenedSurrogate",
    "SweepResult",
    "plot_accuracy_grid",
    "plot_steepened_shapes",
    "plot_training_rates",
    "rate_penalty",
    "silent_fraction",
    "sweep",
    "train_with_rate_penalty",
]

class _SteepenedSpike(torch.autograd.Function):
    """Θ(x) forward; ``slope_fn(x)`` backward (a :meth:`SteepenedSurrogate.derivative`)."""

    @staticmethod
    def forward(x: torch.Tensor, slope_fn: Any) -> torch.Tensor:
        return surrogate.heaviside(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, ctx.slope_fn = inputs
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None, None
        return grad_output * ctx.slope_fn(x).to(grad_output.dtype), None


def _cut(slope: torch.Tensor, kx: torch.Tensor, cutoff: float | None) -> torch.Tensor:
    """``slope`` with 0 where :math:`|kx| > ` ``cutoff`` (unchanged for ``cutoff=None``)."""
    return slope if cutoff is None else torch.where(kx.abs() > cutoff, 0.0, slope)


class SteepenedSurrogate(nn.Module):
    r"""A registered surrogate's shape at steepness :math:`k` and scale :math:`c`.

    Forward :math:`\Theta(x)`; backward :math:`c\,\sigma'(k x)` where :math:`\sigma'` is the
    surrogate ``shape`` at its default hyper-parameters (peak 1). Peak :math:`c`, width
    :math:`\propto 1/k`. ``SteepenedSurrogate('sigmoid', k)`` equals ``Sigmoid(alpha=4k)``
    divided by :math:`k` in the backward pass.

    With ``cutoff`` :math:`a`, the slope is set to 0 where :math:`|kx| > a`: the shape's tails
    are removed and only the bump within :math:`a/k` of threshold is kept (a control for what
    the tails contribute).

    Args:
        shape: a surrogate name (``surrogate.available()``).
        steepness: :math:`k > 0`.
        scale: :math:`c > 0`.
        cutoff: :math:`a > 0`, or ``None`` (default) for the whole shape.
    """

    def __init__(self, shape: str, steepness: float = 1.0, scale: float = 1.0,
                 cutoff: float | None = None) -> None:
        super().__init__()
        self.base = surrogate.get(shape)
        self.steepness = check_real("steepness", steepness, POSITIVE)
        self.scale = check_real("scale", scale, POSITIVE)
        self.cutoff = None if cutoff is None else check_real("cutoff", cutoff, POSITIVE)

    @property
    def shape(self) -> str:
        """The surrogate's name."""
        return self.base.spec.name

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`c\,\sigma'(k x)` (0 where :math:`|kx| >` ``cutoff``), the backward slope."""
        kx = self.steepness * x
        return _cut(self.scale * self.base.derivative(kx), kx, self.cutoff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_floating_tensor(x, "x")
        return _SteepenedSpike.apply(x, self.derivative)

    def extra_repr(self) -> str:
        cut = "" if self.cutoff is None else f", cutoff={self.cutoff:g}"
        return f"shape={self.shape!r}, steepness={self.steepness:g}, scale={self.scale:g}{cut}"


@dataclass
class SweepResult:
    """Test accuracies of a :func:`sweep`: ``accuracy[i][j]`` for ``shapes[i]``, ``steepness[j]``.

    ``firing_rate[i][j]`` is the hidden layer's mean firing rate on the test set after training
    (spikes per neuron and step), when the model exposes ``hidden_spikes``; NaN otherwise.
    """

    shapes: list[str]
    steepness: list[float]
    accuracy: list[list[float]] = field(default_factory=list)
    firing_rate: list[list[float]] = field(default_factory=list)

    def as_tensor(self) -> torch.Tensor:
        """``accuracy`` as a float64 tensor ``[len(shapes), len(steepness)]``."""
        return torch.tensor(self.accuracy, dtype=torch.float64)

    def best(self) -> tuple[str, float, float]:
        """``(shape, steepness, accuracy)`` of the best cell."""
        grid = self.as_tensor()
        i, j = divmod(int(grid.argmax()), grid.shape[1])
        return self.shapes[i], self.steepness[j], float(grid[i, j])


ModelBuilder = Callable[[nn.Module], nn.Module]
Trainer = Callable[[nn.Module], Any]


def sweep(build: ModelBuilder, train: Trainer, test: tuple[torch.Tensor, torch.Tensor],
          shapes: Sequence[str], steepness: Sequence[float],
          progress: Callable[[Any], Any] | None = None) -> SweepResult:
    r"""Train ``build(SteepenedSurrogate(shape, k))`` with ``train(model)`` for every cell.

    ``build`` must give the same initial weights for every spike function (seed it inside), so
    that the cells differ only in the surrogate. ``test`` is ``(inputs, labels)``; the accuracy
    is measured with :func:`sgcourse.course.models.evaluate`. ``progress`` wraps the iterable of
    cells (e.g. ``tqdm``).
    """
    if not callable(build) or not callable(train):
        raise TypeError("build and train must be callables: build(spike_fn) -> model, "
                        "train(model) -> anything")
    shapes = [surrogate.spec(name).name for name in shapes]
    steepness = [check_real("steepness", k, POSITIVE) for k in steepness]
    if not shapes or not steepness:
        raise ValueError("shapes and steepness must be non-empty")
    inputs, labels = test
    result = SweepResult(shapes, steepness)
    cells = [(i, j) for i in range(len(shapes)) for j in range(len(steepness))]
    grid = [[math.nan] * len(steepness) for _ in shapes]
    rates = [[math.nan] * len(steepness) for _ in shapes]
    for i, j in (progress(cells) if progress is not None else cells):
        model = build(SteepenedSurrogate(shapes[i], steepness[j]))
        train(model)
        model.eval()
        grid[i][j] = evaluate(model, inputs, labels).accuracy
        hidden = getattr(model, "hidden_spikes", None)
        if callable(hidden):
            with torch.no_grad():
                rates[i][j] = float(hidden(inputs).mean())
    result.accuracy, result.firing_rate = grid, rates
    return result


def plot_accuracy_grid(result: SweepResult, title: str) -> Any:
    """Heat map of ``result.accuracy``: shapes down, steepness across, values written in."""
    import matplotlib.pyplot as plt

    grid = result.as_tensor().numpy()
    fig, ax = plt.subplots(figsize=(1.1 * len(result.steepness) + 2.6,
                                    0.55 * len(result.shapes) + 1.6))
    image = ax.imshow(grid, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            ax.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center",
                    color="black" if grid[i, j] > 0.6 else "white", fontsize="small")
    ax.set_xticks(range(len(result.steepness)), [f"{k:g}" for k in result.steepness])
    ax.set_yticks(range(len(result.shapes)),
                  [surrogate.spec(s).class_name for s in result.shapes])
    ax.set_xlabel(r"steepness $k$ of $\sigma'(kx)$ (width $\propto 1/k$; dimensionless)")
    ax.set_ylabel("surrogate shape")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="test accuracy (fraction)")
    fig.tight_layout()
    return fig


def plot_steepened_shapes(shapes: Sequence[str], steepness: Sequence[float],
                          x_range: tuple[float, float] = (-3.0, 3.0)) -> Any:
    r"""Two panels: left, :math:`\sigma'(x)` of each shape at :math:`k = 1` (peak 1); right, the
    first shape at each steepness :math:`k`."""
    import matplotlib.pyplot as plt

    shapes = [surrogate.spec(name).name for name in shapes]
    steepness = [check_real("steepness", k, POSITIVE) for k in steepness]
    x = torch.linspace(*x_range, 601, dtype=torch.float64)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.6), sharey=True)
    for name in shapes:
        left.plot(x, SteepenedSurrogate(name).derivative(x), label=surrogate.spec(name).class_name)
    left.set_title("The shapes compared, all with peak 1 ($k = 1$)")
    for k in steepness:
        right.plot(x, SteepenedSurrogate(shapes[0], k).derivative(x), label=f"$k = {k:g}$")
    right.set_title(f"{surrogate.spec(shapes[0]).class_name}: steepness $k$ sets the width")
    for ax in (left, right):
        ax.set_xlabel(r"$x = H - V_{th}$ (membrane potential minus threshold)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    left.set_ylabel(r"surrogate derivative $\sigma'(kx)$")
    fig.tight_layout()
    return fig


def plot_training_rates(histories: Mapping[str, RegularisedHistory], title: str) -> Any:
    """The hidden firing rate of each training mini-batch (``batch_rate``), one line per run."""
    import matplotlib.pyplot as plt

    if not histories:
        raise ValueError("histories must name at least one run")
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    for label, history in histories.items():
        ax.plot(range(1, len(history.batch_rate) + 1), history.batch_rate, label=label)
    ax.set_xlabel("training step (mini-batch)")
    ax.set_ylabel("hidden firing rate (spikes per neuron and step)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def silent_fraction(spikes: torch.Tensor) -> float:
    """The share of neurons that never fire in ``spikes`` ``[T, N, H]`` (over all T and N)."""
    check_floating_tensor(spikes, "spikes")
    if spikes.dim() != 3:
        raise ValueError(f"spikes must have shape [T, N, H], got {tuple(spikes.shape)}")
    return float((spikes.detach().sum(dim=(0, 1)) == 0).double().mean())


def rate_penalty(spikes: torch.Tensor, target: float) -> torch.Tensor:
    r"""Lower-bound rate penalty :math:`\frac1H \sum_i \max(0, \nu_{\rm target} - \nu_i)^2`.

    ``spikes`` ``[T, N, H]`` (with the autograd graph), ``target`` :math:`\ge 0` in spikes per
    step. Only neurons firing less than ``target`` contribute; the gradient pushes them up.
    """
    check_floating_tensor(spikes, "spikes")
    if spikes.dim() != 3:
        raise ValueError(f"spikes must have shape [T, N, H], got {tuple(spikes.shape)}")
    target = check_real("target", target, NONNEGATIVE)
    rates = spikes.mean(dim=(0, 1))
    return torch.relu(target - rates).pow(2).mean()


def _spike_readout(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The map hidden spikes ``[T, N, H]`` → logits of a lesson network: a
    :class:`~sgcourse.course.temporal.SequenceClassifier`'s ``logits_from_spikes``, or the
    rate read-out ``readout(mean over t)`` of a :class:`~sgcourse.course.models.DigitsSNN`."""
    if isinstance(model, SequenceClassifier):
        return model.logits_from_spikes
    if isinstance(model, DigitsSNN):
        return lambda spikes: model.readout(spikes.mean(dim=0))
    raise TypeError(f"model must be a SequenceClassifier or a DigitsSNN, got "
                    f"{type(model).__name__}")


@dataclass
class RegularisedHistory:
    """Per epoch: mean training loss (without the penalty), mean penalty, test accuracy and the
    silent fraction of the hidden layer on the training set. Per mini-batch (``batch_rate``):
    the hidden layer's mean firing rate on that mini-batch (spikes per neuron and step), measured
    in the forward pass just before the update."""

    loss: list[float] = field(default_factory=list)
    penalty: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    silent: list[float] = field(default_factory=list)
    batch_rate: list[float] = field(default_factory=list)


def train_with_rate_penalty(model: SequenceClassifier | DigitsSNN, data: tuple[torch.Tensor, ...],
                            epochs: int = 10, lr: float = 1e-2, rate_weight: float = 0.0,
                            target_rate: float = 0.02, seed: int = 0,
                            batch_size: int = 64) -> RegularisedHistory:
    r"""Adam on :math:`L_{CE} + \lambda R` (:func:`rate_penalty` of the hidden spikes).

    ``rate_weight`` :math:`\lambda = 0` trains without the penalty (the control). Mini-batch
    order from ``seed`` and the epoch (a private generator), as in
    :func:`sgcourse.course.models.train`.
    """
    read_out = _spike_readout(model)
    if not isinstance(data, tuple) or len(data) != 4:
        raise TypeError("data must be a split (x_train, y_train, x_test, y_test), e.g. a "
                        f"DigitsSplit or RandmanSplit.tensors(), got {type(data).__name__}")
    x_train, y_train, x_test, y_test = data
    epochs = check_int("epochs", epochs, 1)
    lr = check_real("lr", lr, POSITIVE)
    rate_weight = check_real("rate_weight", rate_weight, NONNEGATIVE)
    target_rate = check_real("target_rate", target_rate, NONNEGATIVE)
    seed = check_int("seed", seed, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = RegularisedHistory()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y_train),
                               generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        total_loss = total_penalty = 0.0
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            spikes = model.hidden_spikes(x_train[index])
            loss = nn.functional.cross_entropy(read_out(spikes), y_train[index])
            penalty = rate_penalty(spikes, target_rate)
            optimizer.zero_grad(set_to_none=True)
            (loss + rate_weight * penalty).backward()
            optimizer.step()
            total_loss += loss.item() * len(index)
            total_penalty += penalty.item() * len(index)
            history.batch_rate.append(float(spikes.detach().mean()))
        model.eval()
        history.loss.append(total_loss / len(order))
        history.penalty.append(total_penalty / len(order))
        history.test_accuracy.append(evaluate(model, x_test, y_test).accuracy)
        with torch.no_grad():
            history.silent.append(silent_fraction(model.hidden_spikes(x_train)))
    return history
