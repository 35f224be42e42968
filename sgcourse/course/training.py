r"""Build and train a spiking network by hand: encoders, a convolutional SNN, read-outs, losses.

The pieces of lesson 06, each small enough to read in one go.

**Shapes.** A spiking network runs for :math:`T` time steps; in multi-step mode every tensor that
flows through it has the shape ``[T, N, ...]`` (time first, then the batch). :func:`encode`
turns a batch of static images ``[N, ...]`` with intensities in :math:`[0, 1]` into such a
sequence:

* ``'direct'``: the image itself at every step, :math:`X[t] = x` (a constant input current; the
  first convolution and its LIF neurons then act as a learnable encoder);
* ``'poisson'``: :math:`X[t] \sim \text{Bernoulli}(x)` independently at each step (rate code,
  :func:`sgcourse.encoding.poisson_encode`);
* ``'latency'``: one spike per pixel, earlier for brighter pixels
  (:func:`sgcourse.encoding.latency_encode`).

**The network** (:func:`make_conv_snn`): two blocks Conv2d → BatchNorm2d → LIF → MaxPool2d, then
Flatten → Linear to the classes, and a read-out layer, all from :mod:`sgcourse.layer` and
:mod:`sgcourse.neuron` in multi-step mode. The read-out is either

* ``'spikes'``: a :class:`~sgcourse.neuron.LIFNode` per class; the output is its spike train
  :math:`S[t] \in \{0, 1\}`, and the class score is the firing rate
  :math:`r_c = \frac1T \sum_t S_c[t]`;
* ``'membrane'``: a :class:`~sgcourse.neuron.NonSpikingLIFNode` per class (it integrates but never
  fires); the output is its potential :math:`V[t]`, and the score is
  :math:`\bar V_c = \frac1T \sum_t V_c[t]`.

Either way the network returns ``[T, N, C]`` and :func:`class_scores` averages over time.

**Losses** (:func:`readout_loss`): ``'cross_entropy'`` on the scores,
:math:`L = -\log \mathrm{softmax}(s)_y`, or ``'mse_rate'``, the mean squared error between the
scores and a target firing rate of 1 for the right class and 0 for the others,
:math:`L = \frac1C \sum_c (r_c - [c = y])^2` (SpikingJelly's MNIST tutorials).

**A training step** (:func:`train_step`): forward, loss, ``zero_grad``, ``backward``, ``step``,
then :func:`sgcourse.functional.reset_net`, so that the next batch starts from the resting state
and with a fresh autograd graph.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sgcourse import encoding, functional, layer, neuron
from sgcourse._checks import POSITIVE, check_floating_tensor, check_int, check_real
from sgcourse.base import MemoryModule
from sgcourse.course.models import Evaluation, TrainingHistory
from sgcourse.datasets import DigitsSplit

__all__ = [
    "ENCODERS",
    "LOSSES",
    "READOUTS",
    "as_images",
    "class_scores",
    "encode",
    "evaluate",
    "make_conv_snn",
    "minibatches",
    "readout_loss",
    "record_spikes",
    "stateful_modules",
    "tied_fraction",
    "trace_shapes",
    "train_snn",
    "train_step",
]

ENCODERS: tuple[str, ...] = ("direct", "poisson", "latency")
"""The encoders of :func:`encode`."""

READOUTS: tuple[str, ...] = ("spikes", "membrane")
"""The read-out layers of :func:`make_conv_snn`."""

LOSSES: tuple[str, ...] = ("cross_entropy", "mse_rate")
"""The losses of :func:`readout_loss`."""


def _choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return str(value)


def as_images(features: torch.Tensor, side: int = 8) -> torch.Tensor:
    """Flat images ``[N, side·side]`` → ``[N, 1, side, side]`` (one channel), for convolutions."""
    check_floating_tensor(features, "features")
    side = check_int("side", side, 1)
    if features.dim() != 2 or features.shape[1] != side * side:
        raise ValueError(f"features must have shape [N, {side * side}], got "
                         f"{tuple(features.shape)}")
    return features.reshape(len(features), 1, side, side)


def encode(images: torch.Tensor, time_steps: int, encoder: str = "direct",
           generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Static inputs ``[N, ...]`` with values in :math:`[0, 1]` → a sequence ``[T, N, ...]``.

    ``'direct'``: :math:`X[t] = x` for every t (an expanded view, no copy); ``'poisson'``:
    :math:`X[t] \sim \text{Bernoulli}(x)` (``generator`` makes it reproducible); ``'latency'``:
    one spike per element at step :math:`\mathrm{round}((T-1)(1-x))`.
    """
    check_floating_tensor(images, "images")
    time_steps = check_int("time_steps", time_steps, 1)
    encoder = _choice("encoder", encoder, ENCODERS)
    if encoder == "poisson":
        return encoding.poisson_encode(images, time_steps, generator=generator)
    if encoder == "latency":
        return encoding.latency_encode(images, time_steps)
    if images.numel() and (images.min() < 0 or images.max() > 1):
        raise ValueError("images must hold intensities in [0, 1], got values in "
                         f"[{images.min().item():.4g}, {images.max().item():.4g}]")
    return images.unsqueeze(0).expand(time_steps, *images.shape)


def make_conv_snn(readout: str = "membrane", channels: tuple[int, int] = (8, 16),
                  tau: float = 2.0, image_size: int = 8, num_classes: int = 10,
                  seed: int = 0) -> nn.Sequential:
    r"""A small convolutional SNN in multi-step mode, ``[T, N, 1, S, S]`` → ``[T, N, C]``.

    ``Conv2d(1, c1, 3, padding=1) → BatchNorm2d → LIF → MaxPool2d(2) →
    Conv2d(c1, c2, 3, padding=1) → BatchNorm2d → LIF → MaxPool2d(2) → Flatten →
    Linear(c2·(S/4)², C) →`` read-out: ``LIFNode`` (``readout='spikes'``, output spikes) or
    ``NonSpikingLIFNode(decode=None)`` (``readout='membrane'``, output the potential trace).
    All LIF neurons have time constant ``tau``, threshold 1, hard reset to 0 and the default
    sigmoid surrogate. The convolutions have no bias (the batch norm that follows has one).
    Initial weights depend only on ``seed``.
    """
    readout = _choice("readout", readout, READOUTS)
    if (not isinstance(channels, tuple | list) or len(channels) != 2):
        raise TypeError(f"channels must be a pair (c1, c2) of ints, got {channels!r}")
    c1 = check_int("channels[0]", channels[0], 1)
    c2 = check_int("channels[1]", channels[1], 1)
    tau = check_real("tau", tau, POSITIVE)
    image_size = check_int("image_size", image_size, 4)
    if image_size % 4:
        raise ValueError(f"image_size must be a multiple of 4 (two 2×2 poolings), got "
                         f"{image_size}")
    num_classes = check_int("num_classes", num_classes, 2)
    seed = check_int("seed", seed, 0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        output: nn.Module = (neuron.LIFNode(tau=tau) if readout == "spikes"
                             else neuron.NonSpikingLIFNode(tau=tau, decode=None))
        net = nn.Sequential(
            layer.Conv2d(1, c1, 3, padding=1, bias=False), layer.BatchNorm2d(c1),
            neuron.LIFNode(tau=tau), layer.MaxPool2d(2),
            layer.Conv2d(c1, c2, 3, padding=1, bias=False), layer.BatchNorm2d(c2),
            neuron.LIFNode(tau=tau), layer.MaxPool2d(2),
            layer.Flatten(), layer.Linear(c2 * (image_size // 4) ** 2, num_classes),
            output,
        )
    functional.set_step_mode(net, "m")
    return net


def class_scores(output: torch.Tensor) -> torch.Tensor:
    r"""The time average of a network's output ``[T, N, C]`` → scores ``[N, C]``.

    For spikes this is the firing rate :math:`r = \frac1T \sum_t S[t]`; for a membrane trace the
    mean potential :math:`\frac1T \sum_t V[t]`.
    """
    check_floating_tensor(output, "output")
    if output.dim() != 3:
        raise ValueError(f"output must have shape [T, N, C], got {tuple(output.shape)}")
    return output.mean(dim=0)


def readout_loss(output: torch.Tensor, labels: torch.Tensor,
                 loss: str = "cross_entropy") -> torch.Tensor:
    r"""The loss of a network output ``[T, N, C]`` for labels ``[N]``, averaged over the batch.

    ``'cross_entropy'``: :math:`-\log \mathrm{softmax}(s)_y` on the scores :math:`s` of
    :func:`class_scores`; ``'mse_rate'``: :math:`\frac1C \sum_c (s_c - [c = y])^2`, the squared
    distance of the firing rates to the target rates (1 for the label, 0 elsewhere).
    """
    loss = _choice("loss", loss, LOSSES)
    scores = class_scores(output)
    _check_labels(labels, len(scores))
    if loss == "cross_entropy":
        return nn.functional.cross_entropy(scores, labels)
    target = nn.functional.one_hot(labels, scores.shape[1]).to(scores.dtype)
    return nn.functional.mse_loss(scores, target)


def train_step(model: nn.Module, x_seq: torch.Tensor, labels: torch.Tensor,
               optimizer: torch.optim.Optimizer, loss: str = "cross_entropy") -> float:
    """One training step; returns the batch loss as a float.

    ``output = model(x_seq)``; the loss of :func:`readout_loss`; ``optimizer.zero_grad()``;
    ``loss.backward()`` (back-propagation through time); ``optimizer.step()``; then
    ``functional.reset_net(model)`` so the next batch starts from rest with a fresh graph.
    Returning ``loss.item()`` (a float) keeps no reference to the step's autograd graph.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    value = readout_loss(model(x_seq), labels, loss)
    optimizer.zero_grad()
    value.backward()
    optimizer.step()
    functional.reset_net(model)
    return value.item()


def minibatches(num_samples: int, batch_size: int, seed: int) -> list[torch.Tensor]:
    """Indices of a random split of ``range(num_samples)`` into mini-batches, fixed by ``seed``.

    All batches have ``batch_size`` samples except possibly the last. A private generator is
    used: the global random state is untouched.
    """
    num_samples = check_int("num_samples", num_samples, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    seed = check_int("seed", seed, 0)
    order = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed))
    return list(order.split(batch_size))


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, time_steps: int,
             encoder: str = "direct", batch_size: int = 150, reset: bool = True,
             seed: int = 0) -> Evaluation:
    """Mean cross-entropy of the scores and accuracy of ``model`` on ``images`` ``[N, ...]``.

    The images are encoded with ``encoder`` over ``time_steps`` (``seed`` fixes the Poisson
    draws) and run in batches of ``batch_size``. With ``reset=True`` the network is reset before
    every batch (the right way); ``reset=False`` leaves the state of one batch in place for the
    next, the mistake lesson 06 measures (all batches must then have the same size). The network
    is put in ``eval()`` mode and left reset.
    """
    check_floating_tensor(images, "images")
    _check_labels(labels, len(images))
    batch_size = check_int("batch_size", batch_size, 1)
    if not isinstance(reset, bool):
        raise TypeError(f"reset must be a bool, got {type(reset).__name__}")
    generator = torch.Generator().manual_seed(check_int("seed", seed, 0))
    model.eval()
    functional.reset_net(model)
    total_loss, correct = 0.0, 0
    for start in range(0, len(labels), batch_size):
        if reset:
            functional.reset_net(model)
        batch_images = images[start:start + batch_size]
        batch_labels = labels[start:start + batch_size]
        scores = class_scores(model(encode(batch_images, time_steps, encoder, generator)))
        total_loss += nn.functional.cross_entropy(scores, batch_labels, reduction="sum").item()
        correct += int((scores.argmax(dim=1) == batch_labels).sum())
    functional.reset_net(model)
    return Evaluation(total_loss / len(labels), correct / len(labels))


def train_snn(model: nn.Module, data: DigitsSplit, time_steps: int, encoder: str = "direct",
              loss: str = "cross_entropy", epochs: int = 4, lr: float = 1e-2,
              batch_size: int = 64, seed: int = 0, progress: bool = False) -> TrainingHistory:
    r"""Train ``model`` with Adam and :func:`train_step`; one history entry per epoch.

    ``data`` holds images ``[N, ...]`` (e.g. ``as_images`` of the digits) and labels. Each epoch
    draws its mini-batch order from ``seed`` and the epoch number, and its Poisson spikes from a
    generator seeded the same way, so a run is reproducible. ``history.loss`` is the mean
    training loss, ``history.train_accuracy`` the accuracy on the training batches during the
    epoch, ``history.test_accuracy`` :func:`evaluate` on the test set after it
    (``max_abs_grad`` stays empty). ``progress=True`` shows a tqdm bar over the steps.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(data, tuple) or len(data) != 4:
        raise TypeError("data must be a DigitsSplit (x_train, y_train, x_test, y_test), got "
                        f"{type(data).__name__}")
    x_train, y_train, x_test, y_test = data
    check_floating_tensor(x_train, "data.x_train")
    _check_labels(y_train, len(x_train), "data.y_train")
    time_steps = check_int("time_steps", time_steps, 1)
    encoder = _choice("encoder", encoder, ENCODERS)
    loss = _choice("loss", loss, LOSSES)
    epochs = check_int("epochs", epochs, 1)
    lr = check_real("lr", lr, POSITIVE)
    batch_size = check_int("batch_size", batch_size, 1)
    seed = check_int("seed", seed, 0)

    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = TrainingHistory()
    steps = epochs * -(-len(y_train) // batch_size)
    bar = _progress(steps, progress)
    for epoch in range(epochs):
        epoch_seed = seed * 100_003 + epoch
        generator = torch.Generator().manual_seed(epoch_seed)
        model.train()
        functional.reset_net(model)
        total_loss, correct = 0.0, 0
        for index in minibatches(len(y_train), batch_size, epoch_seed):
            x_seq = encode(x_train[index], time_steps, encoder, generator)
            output = model(x_seq)
            value = readout_loss(output, y_train[index], loss)
            optimizer.zero_grad()
            value.backward()
            optimizer.step()
            functional.reset_net(model)
            total_loss += value.item() * len(index)
            correct += int((class_scores(output).argmax(dim=1) == y_train[index]).sum())
            if bar is not None:
                bar.update(1)
        history.loss.append(total_loss / len(y_train))
        history.train_accuracy.append(correct / len(y_train))
        history.test_accuracy.append(evaluate(model, x_test, y_test, time_steps, encoder,
                                              seed=seed).accuracy)
    if bar is not None:
        bar.close()
    return history


def _progress(total: int, show: bool) -> Any:
    if not isinstance(show, bool):
        raise TypeError(f"progress must be a bool, got {type(show).__name__}")
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="training steps")


def stateful_modules(model: nn.Module) -> list[str]:
    """Names of the submodules whose state differs from its reset value (e.g. a neuron holding a
    membrane potential tensor from the last batch); ``[]`` right after ``reset_net``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    found = []
    for name, module in model.named_modules():
        if not isinstance(module, MemoryModule):
            continue
        for memory, value in module.named_memories():
            if not _same_value(value, module.get_reset_value(memory)):
                found.append(name or "<model>")
                break
    return found


def _same_value(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
                and a.shape == b.shape and torch.equal(a, b))
    return a == b


@torch.no_grad()
def record_spikes(model: nn.Module, x_seq: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run ``model`` on ``x_seq`` and return the output ``[T, N, ...]`` of every spiking neuron
    layer (:class:`sgcourse.neuron.BaseNode`), keyed by module name, flattened to
    ``[T, N, K]``. The network is reset before and after."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    recorded: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, neuron.BaseNode):
            handles.append(module.register_forward_hook(_recorder(recorded, name)))
    functional.reset_net(model)
    try:
        model(x_seq)
    finally:
        for handle in handles:
            handle.remove()
        functional.reset_net(model)
    return recorded


def _recorder(store: dict[str, torch.Tensor], name: str) -> Any:
    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        store[name] = output.detach().flatten(2)
    return hook


def tied_fraction(scores: torch.Tensor) -> float:
    """The fraction of rows of ``scores`` ``[N, C]`` whose largest value occurs more than once.

    For such a sample ``argmax`` picks the first of the tied classes, whatever the network
    "meant". Spike counts over T steps take only T + 1 values, so ties are common.
    """
    check_floating_tensor(scores, "scores")
    if scores.dim() != 2 or scores.shape[0] == 0:
        raise ValueError(f"scores must have shape [N, C] with N > 0, got {tuple(scores.shape)}")
    top = scores.max(dim=1, keepdim=True).values
    return float(((scores == top).sum(dim=1) > 1).double().mean())


def _check_labels(labels: object, count: int, name: str = "labels") -> None:
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64:
        raise TypeError(f"{name} must be an int64 tensor of class indices, got "
                        f"{getattr(labels, 'dtype', type(labels).__name__)}")
    if labels.dim() != 1 or len(labels) != count or count == 0:
        raise ValueError(f"{name} must have shape [N] with N = {count} (one label per sample, "
                         f"N > 0), got {tuple(labels.shape)}")


@torch.no_grad()
def trace_shapes(model: nn.Sequential, x_seq: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """``(layer, output shape)`` for each child of a sequential ``model`` run on ``x_seq``,
    starting with ``('input', x_seq.shape)``. The network is reset before and after."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential, got {type(model).__name__}")
    check_floating_tensor(x_seq, "x_seq")
    shapes = [("input", tuple(x_seq.shape))]
    functional.reset_net(model)
    try:
        x = x_seq
        for name, module in model.named_children():
            x = module(x)
            shapes.append((f"{name}: {type(module).__name__}", tuple(x.shape)))
    finally:
        functional.reset_net(model)
    return shapes
