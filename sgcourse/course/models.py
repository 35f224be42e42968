r"""Small spiking networks for the lessons, the true-gradient spike function, and a training loop.

**The digits network** (:class:`DigitsSNN`, built by :func:`make_digits_snn`). An image
:math:`x \in [0, 1]^{64}` is presented for :math:`T` time steps as a constant input current

.. math::

    I = W_1 (g\, x) + b_1 \in \mathbb R^{H},

with a fixed input gain :math:`g`. A layer of :math:`H` leaky integrate-and-fire neurons
(:class:`sgcourse.neuron.LIFNode`, hard reset to 0, threshold 1) turns it into spike trains
:math:`S[t] \in \{0, 1\}^H`, and a linear readout of the firing rates gives the class scores

.. math::

    \text{logits} = W_2\, r + b_2, \qquad r = \frac{1}{T} \sum_{t=1}^{T} S[t],

which equals the time average of :math:`W_2 S[t] + b_2`. The hidden neurons fire through
``spike_fn``: a surrogate such as :class:`sgcourse.surrogate.Sigmoid` (Heaviside forward,
:math:`\sigma'` backward) or :class:`TrueGradient` (Heaviside forward, its true derivative, the
Dirac delta, backward).

**Why the true gradient cannot train the hidden layer.** Every path from the loss to
:math:`W_1` passes through :math:`\partial S / \partial H = \delta(H - V_{th})`, which is 0 at
every membrane potential that is not exactly at threshold. So
:math:`\partial L / \partial W_1 = 0` and only the readout :math:`W_2, b_2` learns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import nn

from sgcourse import functional, neuron, surrogate
from sgcourse._checks import POSITIVE, check_finite, check_floating_tensor, check_int, check_real
from sgcourse.datasets import DigitsSplit

__all__ = [
    "DigitsSNN",
    "Evaluation",
    "TrainingHistory",
    "TrueGradient",
    "batch_gradients",
    "dirac_delta",
    "evaluate",
    "heaviside_true_gradient",
    "make_digits_snn",
    "resolve_spike_fn",
    "train",
]

SpikeFn = Callable[[torch.Tensor], torch.Tensor]
TRUE_GRADIENT = "true_gradient"
"""The name that :func:`resolve_spike_fn` maps to :class:`TrueGradient`."""


def dirac_delta(x: torch.Tensor) -> torch.Tensor:
    r"""The Dirac delta evaluated on floats: :math:`+\infty` where ``x == 0``, else 0.

    .. math::

        \delta(x) = \begin{cases} +\infty, & x = 0 \\ 0, & x \neq 0 \end{cases}

    This is the true derivative of the Heaviside step :math:`\Theta` at each float ``x``. It is
    non-zero only on the single value 0, which a membrane potential computed from real-valued
    weights essentially never hits exactly. The dtype and device of ``x`` are kept.
    """
    check_floating_tensor(x, "x")
    return torch.where(x == 0, math.inf, 0.0).to(x.dtype)


class heaviside_true_gradient(torch.autograd.Function):
    r"""Heaviside forward, true derivative backward: ``heaviside_true_gradient.apply(x)``.

    Forward :math:`\Theta(x)` (1 for :math:`x \ge 0`, else 0); backward
    ``grad_output * dirac_delta(x)``. The gradient is exactly 0 wherever :math:`x \neq 0`; at
    :math:`x = 0` exactly it is infinite (``inf``, or ``nan`` where ``grad_output`` is 0), which is
    what the mathematics says. See :class:`TrueGradient`.
    """

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        check_floating_tensor(x, "x")
        return surrogate.heaviside(x)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        (x,) = inputs
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> torch.Tensor | None:
        (x,) = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return None
        return grad_output * dirac_delta(x)


class TrueGradient(nn.Module):
    r"""A spike function that back-propagates the *true* derivative of the Heaviside step.

    .. math::

        S = \Theta(x), \qquad \frac{\partial S}{\partial x} = \delta(x)
        = \begin{cases} +\infty, & x = 0 \\ 0, & x \neq 0 \end{cases}

    A drop-in replacement for a surrogate module (``surrogate_function=TrueGradient()`` in a
    neuron), used to show that the honest gradient of a spiking layer is zero almost everywhere.
    Unlike ``(x >= 0).float()``, which has no autograd graph at all (so ``.grad`` stays ``None``),
    this function *does* take part in back-propagation and delivers the exact zeros.

    Example::

        >>> x = torch.tensor([-0.5, 0.3, 2.0], requires_grad=True)
        >>> TrueGradient()(x).sum().backward()
        >>> x.grad
        tensor([0., 0., 0.])
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return heaviside_true_gradient.apply(x)


def resolve_spike_fn(spike_fn: str | SpikeFn) -> SpikeFn:
    """Return a spike function: ``'true_gradient'`` → :class:`TrueGradient`, another name →
    ``surrogate.get(name)`` (defaults), a callable (e.g. ``surrogate.Sigmoid()``) → itself."""
    if isinstance(spike_fn, str):
        if spike_fn.strip().lower() == TRUE_GRADIENT:
            return TrueGradient()
        return surrogate.get(spike_fn)
    if not callable(spike_fn):
        raise TypeError(f"spike_fn must be '{TRUE_GRADIENT}', a surrogate name or a callable such "
                        f"as surrogate.Sigmoid(), got {type(spike_fn).__name__}")
    return spike_fn


class DigitsSNN(nn.Module):
    r"""Linear(64 → H) → LIF (T steps) → Linear(H → 10) on firing rates; see the module docstring.

    Args:
        spike_fn: the hidden neurons' spike function (see :func:`resolve_spike_fn`).
        hidden: number :math:`H` of hidden LIF neurons.
        time_steps: number :math:`T` of time steps the image is presented for.
        input_gain: gain :math:`g` on the pixel intensities (> 0).
        tau: membrane time constant of the LIF neurons (> 1).
        num_inputs: input features (64 for 8×8 digits); num_classes: output classes.

    Shapes: input ``[N, num_inputs]`` → logits ``[N, num_classes]``. Each call starts from the
    resting state (``functional.reset_net``), so samples and batches are independent.
    """

    def __init__(self, spike_fn: str | SpikeFn, hidden: int = 64, time_steps: int = 8,
                 input_gain: float = 4.0, tau: float = 2.0, num_inputs: int = 64,
                 num_classes: int = 10) -> None:
        super().__init__()
        self.hidden = check_int("hidden", hidden, 1)
        self.time_steps = check_int("time_steps", time_steps, 1)
        self.input_gain = check_real("input_gain", input_gain, POSITIVE)
        num_inputs = check_int("num_inputs", num_inputs, 1)
        num_classes = check_int("num_classes", num_classes, 2)
        self.input_layer = nn.Linear(num_inputs, self.hidden)
        self.hidden_neurons = neuron.LIFNode(tau=tau, surrogate_function=resolve_spike_fn(spike_fn),
                                             step_mode="m")
        self.readout = nn.Linear(self.hidden, num_classes)

    def hidden_spikes(self, images: torch.Tensor) -> torch.Tensor:
        """The hidden spike trains ``[T, N, H]`` for images ``[N, num_inputs]``."""
        check_floating_tensor(images, "images")
        if images.dim() != 2 or images.shape[1] != self.input_layer.in_features:
            raise ValueError(f"images must have shape [N, {self.input_layer.in_features}], got "
                             f"{tuple(images.shape)}")
        check_finite(images, "images")
        functional.reset_net(self)
        current = self.input_layer(self.input_gain * images)
        current_seq = current.unsqueeze(0).expand(self.time_steps, *current.shape)
        return self.hidden_neurons(current_seq)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        firing_rates = self.hidden_spikes(images).mean(dim=0)
        return self.readout(firing_rates)

    def extra_repr(self) -> str:
        return f"time_steps={self.time_steps}, input_gain={self.input_gain}"


def make_digits_snn(spike_fn: str | SpikeFn = "sigmoid", hidden: int = 64, time_steps: int = 8,
                    input_gain: float = 4.0, seed: int = 0) -> DigitsSNN:
    """A :class:`DigitsSNN` whose initial weights depend only on ``seed``.

    Two calls with the same ``seed`` and sizes give identical weights, whatever ``spike_fn``, so a
    true-gradient network and a surrogate network start from the same point.
    """
    seed = check_int("seed", seed, 0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DigitsSNN(spike_fn, hidden=hidden, time_steps=time_steps, input_gain=input_gain)


class Evaluation(NamedTuple):
    """Mean cross-entropy ``loss`` and ``accuracy`` (fraction in [0, 1]) on a data set."""

    loss: float
    accuracy: float


@dataclass
class TrainingHistory:
    """What :func:`train` measured, one entry per epoch.

    Attributes:
        loss: mean training cross-entropy over the epoch's mini-batches.
        train_accuracy: accuracy on the training set, measured during the epoch.
        test_accuracy: accuracy on the test set after the epoch.
        max_abs_grad: for each parameter name, the largest :math:`|\\partial L/\\partial w|` over
            every entry and every mini-batch of the epoch (0.0 means no gradient ever arrived).
    """

    loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)
    max_abs_grad: dict[str, list[float]] = field(default_factory=dict)


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             batch_size: int = 512) -> Evaluation:
    """Mean cross-entropy and accuracy of ``model`` on ``images`` ``[N, F]``, ``labels`` ``[N]``.

    Raises :class:`ValueError` for non-finite images and for labels outside
    ``[0, number of model outputs)``, before any evaluation.
    """
    _check_model(model)
    _check_images(images, "images")
    _check_labels(labels, images)
    batch_size = check_int("batch_size", batch_size, 1)
    _check_label_range(labels, _num_outputs(model, images), "labels")
    total_loss, correct = 0.0, 0
    for start in range(0, len(labels), batch_size):
        logits = model(images[start:start + batch_size])
        batch_labels = labels[start:start + batch_size]
        total_loss += nn.functional.cross_entropy(logits, batch_labels, reduction="sum").item()
        correct += int((logits.argmax(dim=1) == batch_labels).sum())
    return Evaluation(total_loss / len(labels), correct / len(labels))


def batch_gradients(model: nn.Module, images: torch.Tensor,
                    labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """One forward and backward pass of the cross-entropy; the gradient of every parameter.

    The model's ``.grad`` fields are cleared first and left holding these gradients.
    """
    _check_model(model)
    _check_images(images, "images")
    _check_labels(labels, images)
    model.zero_grad(set_to_none=True)
    logits = model(images)
    _check_label_range(labels, _logit_classes(logits), "labels")
    nn.functional.cross_entropy(logits, labels).backward()
    return {name: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
            for name, p in model.named_parameters()}


def train(model: nn.Module, data: DigitsSplit, epochs: int = 15, lr: float = 1e-2, seed: int = 0,
          batch_size: int = 64) -> TrainingHistory:
    r"""Train ``model`` with Adam on the cross-entropy; deterministic for a given ``seed``.

    Each epoch visits the training set in an order drawn from ``seed`` and the epoch number
    (a private generator: the global random state is untouched). Adam's step is
    :math:`\Delta w = -\eta\, \hat m / (\sqrt{\hat v} + \epsilon)`, so a parameter whose gradient
    is always exactly 0 never moves.

    Args:
        model: maps images ``[N, F]`` to logits ``[N, C]``.
        data: a :class:`sgcourse.datasets.DigitsSplit` (or any tuple
            ``(x_train, y_train, x_test, y_test)``).
        epochs: passes over the training set (>= 1).
        lr: Adam learning rate :math:`\eta` (> 0).
        seed: integer >= 0 fixing the mini-batch order.
        batch_size: samples per mini-batch (>= 1).

    Returns:
        A :class:`TrainingHistory`.

    Raises:
        TypeError, ValueError: before any training, for a bad argument, for non-finite images
        (a NaN pixel would train silently to chance level), for labels outside
        ``[0, number of model outputs)``, and for test data that does not match the training
        data; the message names the offending field (``data.x_train``, ``data.y_test``, …).
    """
    _check_model(model)
    if not isinstance(data, tuple) or len(data) != 4:
        raise TypeError("data must be a DigitsSplit (x_train, y_train, x_test, y_test), got "
                        f"{type(data).__name__}")
    x_train, y_train, x_test, y_test = data
    _check_images(x_train, "data.x_train")
    _check_labels(y_train, x_train, "data.y_train")
    _check_images(x_test, "data.x_test")
    _check_labels(y_test, x_test, "data.y_test")
    if x_test.shape[1:] != x_train.shape[1:]:
        raise ValueError(f"data.x_test must have the sample shape of data.x_train, "
                         f"{tuple(x_train.shape[1:])}, got {tuple(x_test.shape[1:])}")
    epochs = check_int("epochs", epochs, 1)
    lr = check_real("lr", lr, POSITIVE)
    seed = check_int("seed", seed, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    num_classes = _num_outputs(model, x_train)
    _check_label_range(y_train, num_classes, "data.y_train")
    _check_label_range(y_test, num_classes, "data.y_test")

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = TrainingHistory(max_abs_grad={name: [] for name, _ in model.named_parameters()})
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y_train),
                               generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        total_loss, correct = 0.0, 0
        max_grad = dict.fromkeys(history.max_abs_grad, 0.0)
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            logits = model(x_train[index])
            loss = nn.functional.cross_entropy(logits, y_train[index])
            optimizer.zero_grad(set_to_none=False)
            loss.backward()
            for name, parameter in model.named_parameters():
                if parameter.grad is not None:
                    max_grad[name] = _nan_aware_max(max_grad[name],
                                                    parameter.grad.abs().max().item())
            optimizer.step()
            total_loss += loss.item() * len(index)
            correct += int((logits.argmax(dim=1) == y_train[index]).sum())
        model.eval()
        history.loss.append(total_loss / len(order))
        history.train_accuracy.append(correct / len(order))
        history.test_accuracy.append(evaluate(model, x_test, y_test).accuracy)
        for name, value in max_grad.items():
            history.max_abs_grad[name].append(value)
    return history


def _nan_aware_max(a: float, b: float) -> float:
    """max(a, b), but NaN if either is NaN (Python's ``max`` would silently drop a NaN)."""
    return math.nan if math.isnan(a) or math.isnan(b) else max(a, b)


def _check_model(model: object) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


def _check_images(images: object, name: str) -> torch.Tensor:
    """A floating tensor ``[N, *]`` with N > 0 and no NaN or infinity."""
    check_floating_tensor(images, name)
    if images.dim() < 2 or len(images) == 0:
        raise ValueError(f"{name} must have shape [N, F] (one row of features per sample, "
                         f"N > 0), got {tuple(images.shape)}")
    return check_finite(images, name)


def _logit_classes(logits: object) -> int:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise ValueError(f"model must map images [N, F] to logits [N, C], got "
                         f"{tuple(logits.shape) if isinstance(logits, torch.Tensor) else logits!r}")
    return int(logits.shape[1])


def _num_outputs(model: nn.Module, images: torch.Tensor) -> int:
    """The number C of classes the model scores: the width of its logits on one sample.

    The probe runs in eval mode without gradients, leaves the random state, the training flag
    and (through ``reset_net``) the neuron state as they were.
    """
    was_training = model.training
    devices = [images.device] if images.device.type == "cuda" else []
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            model.eval()
            logits = model(images[:1])
    finally:
        model.train(was_training)
        functional.reset_net(model)
    return _logit_classes(logits)


def _check_label_range(labels: torch.Tensor, num_classes: int, name: str) -> None:
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"{name} must hold class indices in [0, {num_classes - 1}] (the model "
                         f"has {num_classes} outputs), got values in [{low}, {high}]")


def _check_labels(labels: object, images: torch.Tensor, name: str = "labels") -> None:
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64:
        raise TypeError(f"{name} must be an int64 tensor of class indices, got "
                        f"{getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.dim() != 1 or len(labels) != len(images) or len(labels) == 0:
        raise ValueError(f"{name} must have shape [N] with N = {len(images)} (one label per "
                         f"image, N > 0), got {tuple(labels.shape)}")
