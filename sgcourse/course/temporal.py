r"""Learning in time (lesson 08): a recurrent LIF layer and the controls that show what BPTT adds.

**The recurrent LIF layer** (:class:`RecurrentLIF`). Input frames :math:`X[t] \in \mathbb R^F`
and the layer's own spikes of the previous step drive :math:`H` LIF neurons:

.. math::

    I[t] &= W_{in} X[t] + b + W_{rec}\, S[t-1] \\
    H[t] &= V[t-1] + \tfrac{1}{\tau}\bigl(I[t] - (V[t-1] - V_{reset})\bigr) \\
    S[t] &= \Theta\bigl(H[t] - V_{th}\bigr), \qquad
    V[t] = S[t]\, V_{reset} + (1 - S[t])\, H[t],

with :math:`V[-1] = V_{reset} = 0` and :math:`S[-1] = 0`. The charge, fire and reset are those of
:class:`sgcourse.neuron.LIFNode` (or :class:`~sgcourse.neuron.ParametricLIFNode`, whose
:math:`\tau` is learned), called one step at a time.

**Memory modes**, the controls of lesson 08 (``memory=``):

* ``'bptt'``: the full model; back-propagation through time follows both carriers of memory,
  the membrane :math:`V[t-1] \to H[t]` and the recurrent spikes :math:`S[t-1] \to I[t]`.
* ``'detached'``: the *same forward pass* (same spikes, same outputs), but :math:`V[t-1]` and
  :math:`S[t-1]` enter step :math:`t` as constants in the backward pass. A loss at step
  :math:`t` then trains only through what happens within step :math:`t`: truncated BPTT with a
  window of one step. Detaching only the membrane would not do: the gradient would still reach
  earlier steps through the recurrent spikes.
* ``'memoryless'``: the forward pass has no memory either: every step starts from
  :math:`V[t-1] = V_{reset}` and :math:`S[t-1] = 0`, so :math:`S[t]` depends on :math:`X[t]`
  alone.
* ``'membrane_detached'``: the same forward pass, with only :math:`V[t-1]` detached; the
  gradient still reaches earlier steps through the recurrent spikes (a control that isolates the
  membrane's share of the gradient, and a reminder of how easily a control leaks).

**A sequence classifier** (:class:`SequenceClassifier`): an encoder turns a sample into frames
``[T, N, F]``, the recurrent layer turns them into spikes, and a linear read-out gives class
scores from the **last step only**, :math:`W_{out} S[T-1] + b_{out}` (``readout='last'``: the
network must carry the evidence to the end), or from the average over the steps
(``readout='mean'``, which lets a network without memory collect evidence in the read-out and
so hides what memory adds). Three encoders: :class:`RowEncoder` shows an 8×8 digit one row per
step, :class:`SpikeTimeEncoder` turns Randman spike times into spike trains, and
:class:`LatencyCodeEncoder` is the latency code of lesson 03 (with it,
:func:`make_latency_digits_classifier` rebuilds lesson 03's network with the memory controls).
:class:`SpikeCountClassifier` is the rate-code baseline: a linear classifier of each input's
spike count (a different model, so it checks that counts carry nothing, and is no control for the
network; the controls are the memory modes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from sgcourse import encoding, neuron
from sgcourse._checks import POSITIVE, check_bool, check_floating_tensor, check_int, check_real
from sgcourse.base import check_sequence
from sgcourse.datasets import spike_times_to_dense

__all__ = [
    "MEMORY_MODES",
    "READOUTS",
    "LatencyCodeEncoder",
    "RecurrentLIF",
    "RowEncoder",
    "SequenceClassifier",
    "SpikeCountClassifier",
    "SpikeTimeEncoder",
    "make_latency_digits_classifier",
    "make_randman_classifier",
    "make_row_digits_classifier",
    "make_spike_count_classifier",
    "plot_learning_curves",
    "plot_spike_rasters",
]

MEMORY_MODES: tuple[str, ...] = ("bptt", "detached", "memoryless", "membrane_detached")
"""Values of ``memory``: full BPTT, the same forward with the past detached, no memory at all,
and the same forward with only the membrane detached (the recurrent spikes keep their gradient)."""

READOUTS: tuple[str, ...] = ("last", "mean")
"""Values of ``readout``: the last step's spikes only, or the average over all steps."""

SurrogateFn = Callable[[torch.Tensor], torch.Tensor]


def _check_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return str(value)


class RecurrentLIF(nn.Module):
    r"""A layer of LIF neurons with recurrent connections; see the module docstring.

    Args:
        in_features: size :math:`F` of an input frame.
        hidden: number of neurons :math:`H`.
        tau: membrane time constant (> 1); with ``learn_tau`` the initial value.
        learn_tau: learn :math:`\tau` (a :class:`~sgcourse.neuron.ParametricLIFNode`, one
            :math:`\tau` shared by the layer) instead of keeping it fixed.
        memory: ``'bptt'``, ``'detached'``, ``'memoryless'`` or ``'membrane_detached'`` (see
            :data:`MEMORY_MODES` and the module docstring).
        recurrent: include :math:`W_{rec} S[t-1]` (``False``: a feed-forward LIF layer).
        surrogate_function: the spike function (default: a fresh ``surrogate.Sigmoid()``).

    Shapes: ``x_seq`` ``[T, N, F]`` → spikes ``[T, N, H]``. Every call starts from rest
    (:math:`V[-1] = 0`, :math:`S[-1] = 0`); the layer keeps no state between calls.

    Example::

        >>> layer = RecurrentLIF(8, 32, memory='detached')
        >>> layer(torch.rand(5, 4, 8)).shape
        torch.Size([5, 4, 32])
    """

    def __init__(self, in_features: int, hidden: int, tau: float = 2.0, learn_tau: bool = False,
                 memory: str = "bptt", recurrent: bool = True,
                 surrogate_function: SurrogateFn | None = None) -> None:
        super().__init__()
        in_features = check_int("in_features", in_features, 1)
        self.hidden = check_int("hidden", hidden, 1)
        self.memory = _check_choice("memory", memory, MEMORY_MODES)
        self.recurrent = check_bool("recurrent", recurrent)
        learn_tau = check_bool("learn_tau", learn_tau)
        self.input_layer = nn.Linear(in_features, self.hidden)
        self.recurrent_layer = (nn.Linear(self.hidden, self.hidden, bias=False)
                                if self.recurrent else None)
        if learn_tau:
            self.neurons: neuron.LIFNode | neuron.ParametricLIFNode = neuron.ParametricLIFNode(
                init_tau=tau, surrogate_function=surrogate_function)
        else:
            self.neurons = neuron.LIFNode(tau=tau, surrogate_function=surrogate_function)

    @property
    def tau(self) -> float:
        r"""The current membrane time constant :math:`\tau` (learned with ``learn_tau``)."""
        return float(self.neurons.tau)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        check_floating_tensor(check_sequence(x_seq), "x_seq")
        if x_seq.dim() != 3 or x_seq.shape[2] != self.input_layer.in_features:
            raise ValueError(f"x_seq must have shape [T, N, {self.input_layer.in_features}], got "
                             f"{tuple(x_seq.shape)}")
        currents = self.input_layer(x_seq)  # all steps at once: W_in X[t] + b
        rest = torch.full_like(currents[0], self.neurons.v_reset_or_zero)
        silent = torch.zeros_like(currents[0])
        v, spikes_prev = rest, silent
        outputs = []
        for current in currents.unbind(0):
            if self.memory == "detached":
                v, spikes_prev = v.detach(), spikes_prev.detach()
            elif self.memory == "membrane_detached":
                v = v.detach()
            elif self.memory == "memoryless":
                v, spikes_prev = rest, silent
            if self.recurrent_layer is not None:
                current = current + self.recurrent_layer(spikes_prev)
            spikes_prev, (v,) = self.neurons.step(current, (v,))
            outputs.append(spikes_prev)
        return torch.stack(outputs)

    def extra_repr(self) -> str:
        return f"memory={self.memory!r}, recurrent={self.recurrent}"


class RowEncoder(nn.Module):
    r"""An image ``[N, R·C]`` shown one row per step: frames ``[R, N, C]``,
    :math:`X[t] = g\,x_{t,:}` (row :math:`t` of the image).

    ``rows`` is :math:`R` (8 for the 8×8 digits) and ``gain`` :math:`g > 0` scales the
    intensities.
    """

    def __init__(self, rows: int = 8, gain: float = 2.0) -> None:
        super().__init__()
        self.rows = check_int("rows", rows, 1)
        self.gain = check_real("gain", gain, POSITIVE)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_floating_tensor(images, "images")
        if images.dim() != 2 or images.shape[1] % self.rows:
            raise ValueError(f"images must have shape [N, {self.rows}·columns], got "
                             f"{tuple(images.shape)}")
        return (self.gain * images).view(len(images), self.rows, -1).transpose(0, 1)

    def extra_repr(self) -> str:
        return f"rows={self.rows}, gain={self.gain}"


class SpikeTimeEncoder(nn.Module):
    r"""Spike times ``[N, units]`` (one spike per unit) → frames ``[T, N, units]``,
    :math:`X[t] = g\,S_{in}[t]`: the spike trains scaled by ``gain`` :math:`g > 0`."""

    def __init__(self, num_steps: int, gain: float = 1.0) -> None:
        super().__init__()
        self.num_steps = check_int("num_steps", num_steps, 1)
        self.gain = check_real("gain", gain, POSITIVE)

    def forward(self, times: torch.Tensor) -> torch.Tensor:
        return self.gain * spike_times_to_dense(times, self.num_steps, dtype=torch.float32)

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}, gain={self.gain}"


class LatencyCodeEncoder(nn.Module):
    r"""Images ``[N, F]`` in :math:`[0, 1]` → frames ``[T, N, F]``, :math:`X[t] = g\,S_{in}[t]`:
    the latency code of :func:`sgcourse.encoding.latency_encode` (one spike per pixel, at step
    :math:`\mathrm{round}((T-1)(1 - x_i))`) scaled by ``gain`` :math:`g > 0`, as in lesson 03's
    :class:`sgcourse.course.bptt.LatencySNN`."""

    def __init__(self, num_steps: int, gain: float = 2.0) -> None:
        super().__init__()
        self.num_steps = check_int("num_steps", num_steps, 1)
        self.gain = check_real("gain", gain, POSITIVE)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.gain * encoding.latency_encode(images, self.num_steps)

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}, gain={self.gain}"


class SequenceClassifier(nn.Module):
    r"""encoder → :class:`RecurrentLIF` → linear read-out of the last step (or of the mean).

    ``readout='last'``: logits :math:`= W_{out} S[T-1] + b_{out}`; ``'mean'``:
    :math:`\frac1T \sum_t (W_{out} S[t] + b_{out})`. Input ``[N, F]`` → logits
    ``[N, num_classes]``, so it trains with :func:`sgcourse.course.models.train`.
    """

    def __init__(self, encoder: nn.Module, layer: RecurrentLIF, num_classes: int,
                 readout: str = "last") -> None:
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise TypeError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
        if not isinstance(layer, RecurrentLIF):
            raise TypeError(f"layer must be a RecurrentLIF, got {type(layer).__name__}")
        self.encoder = encoder
        self.layer = layer
        self.readout_mode = _check_choice("readout", readout, READOUTS)
        self.readout = nn.Linear(layer.hidden, check_int("num_classes", num_classes, 2))

    def hidden_spikes(self, inputs: torch.Tensor) -> torch.Tensor:
        """The recurrent layer's spikes ``[T, N, H]``."""
        return self.layer(self.encoder(inputs))

    def logits_from_spikes(self, spikes: torch.Tensor) -> torch.Tensor:
        """The read-out of hidden spikes ``[T, N, H]``: logits ``[N, num_classes]``."""
        if self.readout_mode == "last":
            return self.readout(spikes[-1])
        return self.readout(spikes).mean(dim=0)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.logits_from_spikes(self.hidden_spikes(inputs))

    def extra_repr(self) -> str:
        return f"readout={self.readout_mode!r}"


class SpikeCountClassifier(nn.Module):
    r"""The rate-code baseline: a linear classifier of each input unit's spike count.

    logits :math:`= W \sum_t X[t] + b`, with :math:`X` the encoder's frames ``[T, N, F]``. When
    every unit fires exactly once (Randman), the counts are the same for every sample and this
    classifier can do no better than always answering one class.
    """

    def __init__(self, encoder: nn.Module, num_features: int, num_classes: int) -> None:
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise TypeError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
        self.encoder = encoder
        self.readout = nn.Linear(check_int("num_features", num_features, 1),
                                 check_int("num_classes", num_classes, 2))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.readout(self.encoder(inputs).sum(dim=0))


def plot_learning_curves(curves: dict[str, Sequence[float]], title: str,
                         chance: float | None = None) -> Any:
    """Test accuracy against the epoch, one line per entry of ``curves`` (label → accuracies);
    ``chance``, if given, is drawn as a dotted line."""
    if not isinstance(curves, dict) or not curves:
        raise ValueError("curves must be a non-empty dict {label: [accuracy per epoch]}")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for label, accuracy in curves.items():
        ax.plot(range(1, len(accuracy) + 1), list(accuracy), marker="o", markersize=3,
                label=label)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle=":", label=f"chance ({chance:.2f})")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (fraction)")
    ax.set_ylim(0.0, 1.0)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_spike_rasters(rasters: dict[str, torch.Tensor], title: str) -> Any:
    """One raster per entry (label → spikes ``[T, units]``), side by side: a dot where a unit
    fires. Each panel's title is its label (one kind of mark per panel, so no legend)."""
    if not isinstance(rasters, dict) or not rasters:
        raise ValueError("rasters must be a non-empty dict {label: spikes [T, units]}")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rasters), figsize=(3.2 * len(rasters), 3.2), sharey=True,
                             squeeze=False)
    for ax, (label, spikes) in zip(axes[0], rasters.items(), strict=True):
        steps, units = torch.nonzero(spikes.detach() > 0, as_tuple=True)
        ax.plot(steps.numpy(), units.numpy(), "|", markersize=4)
        ax.set_xlim(-0.5, spikes.shape[0] - 0.5)
        ax.set_xlabel("time step $t$")
        ax.set_title(label, fontsize="medium")
    axes[0][0].set_ylabel("input unit")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _seeded(seed: int, build: Callable[[], nn.Module]) -> nn.Module:
    seed = check_int("seed", seed, 0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def make_row_digits_classifier(memory: str = "bptt", readout: str = "last", hidden: int = 128,
                               tau: float = 2.0, learn_tau: bool = False, recurrent: bool = True,
                               input_gain: float = 2.0,
                               surrogate_function: SurrogateFn | None = None,
                               seed: int = 0) -> SequenceClassifier:
    """Digits shown row by row (8 steps of 8 pixels) to a recurrent LIF layer, read out at the
    end. The initial weights depend only on ``seed`` (not on ``memory`` or ``readout``), so the
    controls start from the same network."""
    return _seeded(seed, lambda: SequenceClassifier(
        RowEncoder(rows=8, gain=input_gain),
        RecurrentLIF(8, hidden, tau=tau, learn_tau=learn_tau, memory=memory,
                     recurrent=recurrent, surrogate_function=surrogate_function),
        num_classes=10, readout=readout))


def make_latency_digits_classifier(memory: str = "bptt", hidden: int = 64, num_steps: int = 8,
                                   tau: float = 2.0, input_gain: float = 2.0,
                                   seed: int = 0) -> SequenceClassifier:
    """Lesson 03's latency network (:func:`sgcourse.course.bptt.make_latency_snn`: latency code,
    one feed-forward LIF layer, read-out averaged over the steps) with a ``memory`` control.

    With ``memory='bptt'`` it computes the same logits as ``make_latency_snn(hidden, num_steps,
    tau, seed)`` (the same layers, created in the same order from ``seed``)."""
    return _seeded(seed, lambda: SequenceClassifier(
        LatencyCodeEncoder(num_steps, gain=input_gain),
        RecurrentLIF(64, hidden, tau=tau, memory=memory, recurrent=False),
        num_classes=10, readout="mean"))


def make_randman_classifier(num_units: int, num_steps: int, num_classes: int,
                            memory: str = "bptt", readout: str = "last", hidden: int = 64,
                            tau: float = 2.0, learn_tau: bool = False, recurrent: bool = True,
                            input_gain: float = 10.0, surrogate_function: SurrogateFn | None = None,
                            seed: int = 0) -> SequenceClassifier:
    """Randman spike trains to a recurrent LIF layer, read out at the end; weights from ``seed``."""
    return _seeded(seed, lambda: SequenceClassifier(
        SpikeTimeEncoder(num_steps, gain=input_gain),
        RecurrentLIF(num_units, hidden, tau=tau, learn_tau=learn_tau, memory=memory,
                     recurrent=recurrent, surrogate_function=surrogate_function),
        num_classes=num_classes, readout=readout))


def make_spike_count_classifier(num_units: int, num_steps: int, num_classes: int,
                                seed: int = 0) -> SpikeCountClassifier:
    """The rate-code baseline for Randman: a linear classifier of the input spike counts."""
    return _seeded(seed, lambda: SpikeCountClassifier(SpikeTimeEncoder(num_steps), num_units,
                                                      num_classes))
