r"""Why spikes (lesson 10): operations, sparsity and energy of a spiking network and its ANN twin.

**Two kinds of operation.** A dense layer :math:`y = W x + b` of an artificial neural network
(ANN) with :math:`F_{in}` inputs and :math:`F_{out}` outputs performs, per sample,

.. math::

    \text{MACs} = F_{in} \cdot F_{out}

multiply-accumulate operations, whatever the values of :math:`x` (zeros included). In a spiking
network the input of a hidden layer is a spike train :math:`S_i[t] \in \{0, 1\}`: a spike of
neuron :math:`i` adds the column :math:`W_{:, i}` to the targets' input currents, one *addition*
per outgoing synapse (no multiplication, the spike is 1), and a silent neuron costs nothing.
With :math:`f_i` the fan-out of neuron :math:`i` (the number of neurons it connects to), the
synaptic operations (SynOps, accumulates) per sample are

.. math::

    \text{SynOps} = \sum_{t=0}^{T-1} \sum_i S_i[t]\, f_i
    = \nu \cdot F_{in} \cdot F_{out} \quad \text{for a dense layer,}

with :math:`\nu` the mean number of spikes per neuron and sample. So a spiking layer performs
fewer operations than its ANN twin exactly when :math:`\nu < 1`, and costs less energy when
:math:`\nu\,E_{AC} < E_{MAC}`.

**Energy per operation** (:data:`HOROWITZ_45NM_PJ`): Horowitz (2014), *Computing's energy problem
(and what we can do about it)*, ISSCC, for a 45 nm process: a 32-bit floating-point add
:math:`E_{AC} \approx 0.9` pJ, a multiply 3.7 pJ, so a multiply-accumulate
:math:`E_{MAC} \approx 4.6` pJ; reading 32 bits from a small SRAM cache about 5 pJ and from DRAM
about 640 pJ. These are estimates for one process; memory access, not arithmetic, dominates on
conventional hardware.

**What is counted** (:func:`count_operations`, with forward hooks): every ``nn.Linear`` (and
:class:`sgcourse.layer.Linear`). A layer whose input holds only 0s and 1s is event-driven: its
operations are SynOps, the number of non-zero inputs times ``out_features``. Any other input is
analog: its operations are MACs, ``in_features × out_features`` per input row. Every spiking
neuron (:class:`sgcourse.neuron.BaseNode`) also updates its state once per time step; those
*neuron updates* (``T × neurons`` per sample, about one multiply-accumulate each for a LIF) are
counted separately. Other layers with weights are not supported.

**The twins** (:func:`make_twins`): :class:`SpikingMLP` presents a digit for :math:`T` steps as a
constant current (the first layer is analog and computed once), hidden layers of LIF neurons,
and a linear read-out averaged over time; :class:`ANNTwin` is the same architecture with ReLU
instead of LIF and the same initial weights.

**Sparsity on purpose** (:func:`train_with_rate_penalty`): the loss
:math:`L = \mathrm{CE} + \lambda\,\bar r`, where :math:`\bar r` is the mean firing rate of all
hidden neurons over time steps and samples, trades accuracy for fewer spikes.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from sgcourse import functional, layer, neuron
from sgcourse._checks import NONNEGATIVE, POSITIVE, check_floating_tensor, check_int, check_real
from sgcourse.course.models import Evaluation, evaluate
from sgcourse.datasets import DigitsSplit

__all__ = [
    "E_AC_PJ",
    "E_MAC_PJ",
    "HOROWITZ_45NM_PJ",
    "ANNTwin",
    "EnergyEstimate",
    "LayerOps",
    "OperationCount",
    "SparsityRun",
    "SpikingMLP",
    "ann_twin",
    "count_operations",
    "energy_estimate",
    "make_twins",
    "plot_accuracy_versus_synops",
    "train_with_rate_penalty",
]

HOROWITZ_45NM_PJ: dict[str, float] = {
    "32-bit int add": 0.1,
    "32-bit float add": 0.9,
    "32-bit int multiply": 3.1,
    "32-bit float multiply": 3.7,
    "32-bit SRAM read (8 KB cache)": 5.0,
    "32-bit DRAM read": 640.0,
}
"""Energy per operation in picojoules, 45 nm (Horowitz 2014, ISSCC), as commonly quoted."""

E_AC_PJ: float = HOROWITZ_45NM_PJ["32-bit float add"]
"""One accumulate (a spike adds a weight): a 32-bit float add, 0.9 pJ."""

E_MAC_PJ: float = HOROWITZ_45NM_PJ["32-bit float add"] + HOROWITZ_45NM_PJ["32-bit float multiply"]
"""One multiply-accumulate: a 32-bit float multiply and add, 3.7 + 0.9 = 4.6 pJ."""


# --------------------------------------------------------------------------------------------
# the twins


def _check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    if not isinstance(sizes, Sequence) or isinstance(sizes, str) or len(sizes) < 3:
        raise ValueError(f"sizes must list at least (inputs, hidden, classes), got {sizes!r}")
    return tuple(check_int(f"sizes[{i}]", s, 1) for i, s in enumerate(sizes))


class SpikingMLP(nn.Module):
    r"""Digits → ``Linear`` → LIF → (``Linear`` → LIF) … → ``Linear`` read-out, over T steps.

    The image :math:`x` enters as the constant current :math:`I = W_1 (g x) + b_1` at every step
    (the first layer is analog; it is computed once). Each hidden layer is a multi-step
    :class:`~sgcourse.neuron.LIFNode` (hard reset to 0, threshold 1, Sigmoid surrogate, fused
    backend); the following layers receive spikes. The logits are the time average of the
    read-out, :math:`\frac1T \sum_t (W_L S^{L-1}[t] + b_L)`.

    Args:
        sizes: ``(inputs, hidden_1, …, hidden_k, classes)``, at least one hidden layer.
        time_steps: :math:`T`; tau: the LIF time constant; input_gain: :math:`g > 0`.
    """

    def __init__(self, sizes: Sequence[int] = (64, 128, 128, 10), time_steps: int = 8,
                 tau: float = 2.0, input_gain: float = 4.0) -> None:
        super().__init__()
        sizes = _check_sizes(sizes)
        self.sizes = sizes
        self.time_steps = check_int("time_steps", time_steps, 1)
        self.input_gain = check_real("input_gain", input_gain, POSITIVE)
        self.input_layer = nn.Linear(sizes[0], sizes[1])
        self.hidden_layers = nn.ModuleList(
            layer.Linear(a, b, step_mode="m") for a, b in itertools.pairwise(sizes[1:-1]))
        self.neurons = nn.ModuleList(neuron.LIFNode(tau=tau, step_mode="m")
                                     for _ in sizes[1:-1])
        self.readout = layer.Linear(sizes[-2], sizes[-1], step_mode="m")

    def run(self, images: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(logits [N, classes], [spikes [T, N, hidden] of each hidden layer])``."""
        check_floating_tensor(images, "images")
        if images.dim() != 2 or images.shape[1] != self.sizes[0]:
            raise ValueError(f"images must have shape [N, {self.sizes[0]}], got "
                             f"{tuple(images.shape)}")
        functional.reset_net(self)
        current = self.input_layer(self.input_gain * images)
        spikes = self.neurons[0](current.unsqueeze(0).expand(self.time_steps, *current.shape))
        all_spikes = [spikes]
        for linear, lif in zip(self.hidden_layers, self.neurons[1:], strict=True):
            spikes = lif(linear(spikes))
            all_spikes.append(spikes)
        return self.readout(spikes).mean(dim=0), all_spikes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.run(images)[0]

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, time_steps={self.time_steps}, input_gain={self.input_gain}"


class ANNTwin(nn.Module):
    """The ANN with the architecture of a :class:`SpikingMLP`: ReLU instead of LIF, no time.

    ``forward(images) = layers(input_gain * images)`` with ``layers`` an ``nn.Sequential`` of
    ``nn.Linear`` and ``nn.ReLU``.
    """

    def __init__(self, layers: nn.Sequential, input_gain: float) -> None:
        super().__init__()
        self.layers = layers
        self.input_gain = check_real("input_gain", input_gain, POSITIVE)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        check_floating_tensor(images, "images")
        return self.layers(self.input_gain * images)


def _plain_linear(source: nn.Linear) -> nn.Linear:
    target = nn.Linear(source.in_features, source.out_features, bias=source.bias is not None)
    target.load_state_dict(copy.deepcopy(source.state_dict()))
    return target


def ann_twin(snn: SpikingMLP) -> ANNTwin:
    """The :class:`ANNTwin` of ``snn``: same layer sizes and (copied) weights, ReLU for LIF."""
    if not isinstance(snn, SpikingMLP):
        raise TypeError(f"snn must be a SpikingMLP, got {type(snn).__name__}")
    modules: list[nn.Module] = [_plain_linear(snn.input_layer), nn.ReLU()]
    for linear in snn.hidden_layers:
        modules += [_plain_linear(linear), nn.ReLU()]
    modules.append(_plain_linear(snn.readout))
    return ANNTwin(nn.Sequential(*modules), snn.input_gain)


def make_twins(sizes: Sequence[int] = (64, 128, 128, 10), time_steps: int = 8, tau: float = 2.0,
               input_gain: float = 4.0, seed: int = 0) -> tuple[SpikingMLP, ANNTwin]:
    """A :class:`SpikingMLP` whose initial weights depend only on ``seed``, and its ANN twin."""
    seed = check_int("seed", seed, 0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        snn = SpikingMLP(sizes, time_steps=time_steps, tau=tau, input_gain=input_gain)
    return snn, ann_twin(snn)


# --------------------------------------------------------------------------------------------
# counting operations


@dataclass(frozen=True)
class LayerOps:
    """Operations of one linear layer, per sample.

    Attributes:
        name: the module's name in the model; kind: ``'MAC'`` (analog input) or ``'SynOp'``
        (spike input); ops: operations per sample; dense_ops: ``in_features × out_features`` per
        input row and sample (what a dense layer would do with the same input);
        nonzero_fraction: share of the layer's input entries that are non-zero.
    """

    name: str
    kind: str
    ops: float
    dense_ops: float
    nonzero_fraction: float


@dataclass(frozen=True)
class OperationCount:
    """Per-sample operation counts of a model on a batch (see :func:`count_operations`)."""

    layers: tuple[LayerOps, ...]
    neuron_updates: float = 0.0

    @property
    def macs(self) -> float:
        """Multiply-accumulates per sample (layers with analog input)."""
        return sum(item.ops for item in self.layers if item.kind == "MAC")

    @property
    def synops(self) -> float:
        """Synaptic operations (accumulates) per sample (layers with spike input)."""
        return sum(item.ops for item in self.layers if item.kind == "SynOp")

    def table(self) -> str:
        """One line per layer: kind, operations, non-zero share of the input."""
        lines = [f"{'layer':<16} {'kind':<6} {'ops/sample':>12} {'dense ops':>11} "
                 f"{'input non-zero':>15}"]
        for item in self.layers:
            lines.append(f"{item.name:<16} {item.kind:<6} {item.ops:>12,.0f} "
                         f"{item.dense_ops:>11,.0f} {item.nonzero_fraction:>15.3f}")
        if self.neuron_updates:
            lines.append(f"{'neuron updates':<16} {'MAC':<6} {self.neuron_updates:>12,.0f}")
        return "\n".join(lines)


def _is_spike_tensor(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


@torch.no_grad()
def count_operations(model: nn.Module, images: torch.Tensor) -> OperationCount:
    """Count operations per sample of ``model(images)`` with forward hooks (module docstring).

    ``images`` is ``[N, F]``; counts are divided by ``N``. Raises ``ValueError`` for a model with
    convolutions (not counted here) or without a linear layer.
    """
    check_floating_tensor(images, "images")
    if images.dim() < 1 or len(images) == 0:
        raise ValueError(f"images must be a non-empty batch [N, F], got {tuple(images.shape)}")
    unsupported = [name for name, m in model.named_modules()
                   if isinstance(m, nn.modules.conv._ConvNd)]
    if unsupported:
        raise ValueError(f"count_operations counts linear layers only; {unsupported} are "
                         f"convolutions")
    samples = len(images)
    layers: list[LayerOps] = []
    updates = [0.0]
    handles = []

    def linear_hook(name: str) -> Any:
        def hook(module: nn.Linear, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            x = inputs[0]
            rows = x.numel() / module.in_features
            dense = rows * module.in_features * module.out_features / samples
            nonzero = int(torch.count_nonzero(x))
            if _is_spike_tensor(x):
                kind, ops = "SynOp", nonzero * module.out_features / samples
            else:
                kind, ops = "MAC", dense
            layers.append(LayerOps(name, kind, ops, dense, nonzero / max(x.numel(), 1)))
        return hook

    def neuron_hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: Any) -> None:
        updates[0] += inputs[0].numel() / samples

    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook(name)))
        elif isinstance(module, neuron.BaseNode):
            handles.append(module.register_forward_hook(neuron_hook))
    if not handles:
        raise ValueError("the model has no nn.Linear layer to count")
    try:
        model(images)
    finally:
        for handle in handles:
            handle.remove()
    return OperationCount(tuple(layers), updates[0])


@dataclass(frozen=True)
class EnergyEstimate:
    """Energy per sample in nanojoules, split into multiply-accumulates and accumulates."""

    mac_nj: float
    ac_nj: float

    @property
    def total_nj(self) -> float:
        return self.mac_nj + self.ac_nj


def energy_estimate(count: OperationCount, e_mac_pj: float = E_MAC_PJ,
                    e_ac_pj: float = E_AC_PJ) -> EnergyEstimate:
    r""":math:`E = E_{MAC}\,(\text{MACs} + \text{neuron updates}) + E_{AC}\,\text{SynOps}`, in nJ.

    Arithmetic only: the energy of moving weights and activations (memory access, which
    dominates on CPUs and GPUs) is not included.
    """
    if not isinstance(count, OperationCount):
        raise TypeError(f"count must be an OperationCount, got {type(count).__name__}")
    e_mac_pj = check_real("e_mac_pj", e_mac_pj, NONNEGATIVE)
    e_ac_pj = check_real("e_ac_pj", e_ac_pj, NONNEGATIVE)
    return EnergyEstimate(1e-3 * e_mac_pj * (count.macs + count.neuron_updates),
                          1e-3 * e_ac_pj * count.synops)


# --------------------------------------------------------------------------------------------
# training with a firing-rate penalty


@dataclass
class SparsityRun:
    """One network trained with :func:`train_with_rate_penalty`.

    Attributes:
        rate_penalty: :math:`\\lambda`; loss: mean training loss per epoch (cross-entropy plus
        penalty); test: the final test :class:`~sgcourse.course.models.Evaluation`;
        firing_rate: the mean firing rate of all hidden neurons on the test set (spikes per
        neuron per step); spikes_per_neuron: :math:`\\nu = T \\cdot` firing_rate.
    """

    rate_penalty: float
    loss: list[float] = field(default_factory=list)
    test: Evaluation = field(default_factory=lambda: Evaluation(math.nan, math.nan))
    firing_rate: float = math.nan
    spikes_per_neuron: float = math.nan


def _mean_rate(spikes: list[torch.Tensor]) -> torch.Tensor:
    total = sum(s.sum() for s in spikes)
    count = sum(s.numel() for s in spikes)
    return total / count


def train_with_rate_penalty(model: SpikingMLP, data: DigitsSplit, rate_penalty: float = 0.0,
                            epochs: int = 10, lr: float = 1e-2, seed: int = 0,
                            batch_size: int = 64) -> SparsityRun:
    r"""Adam on :math:`\mathrm{CE} + \lambda\,\bar r` (module docstring); deterministic per seed.

    Each epoch visits the training set in an order drawn from ``seed`` and the epoch number (a
    private generator). :math:`\lambda` = ``rate_penalty`` >= 0; 0 is plain cross-entropy.
    """
    if not isinstance(model, SpikingMLP):
        raise TypeError(f"model must be a SpikingMLP, got {type(model).__name__}")
    rate_penalty = check_real("rate_penalty", rate_penalty, NONNEGATIVE)
    epochs, seed = check_int("epochs", epochs, 1), check_int("seed", seed, 0)
    lr, batch_size = check_real("lr", lr, POSITIVE), check_int("batch_size", batch_size, 1)
    x_train, y_train, x_test, y_test = data
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    run = SparsityRun(rate_penalty)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(y_train),
                               generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        total = 0.0
        for index in order.split(batch_size):
            logits, spikes = model.run(x_train[index])
            loss = (nn.functional.cross_entropy(logits, y_train[index])
                    + rate_penalty * _mean_rate(spikes))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        run.loss.append(total / len(y_train))
    model.eval()
    run.test = evaluate(model, x_test, y_test)
    with torch.no_grad():
        run.firing_rate = float(_mean_rate(model.run(x_test)[1]))
    run.spikes_per_neuron = model.time_steps * run.firing_rate
    return run


def plot_accuracy_versus_synops(points: Sequence[tuple[float, float, float]], ann_macs: float,
                                ann_accuracy: float) -> Any:
    """Test accuracy against SynOps per sample, one point per penalty ``(λ, synops, accuracy)``,
    with the ANN twin (its MACs, its accuracy) for reference. Returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    xs = [p[1] for p in points]
    ys = [p[2] for p in points]
    ax.plot(xs, ys, "o-", label="SNN, one point per penalty $\\lambda$")
    leftmost = min(xs)
    for penalty, x, y in zip((p[0] for p in points), xs, ys, strict=True):
        # labels below-left of each point, away from the ANN's star (which sits to the right of
        # the sparse points); the leftmost point's label goes right, to stay inside the axes
        left = x > leftmost
        ax.annotate(f"$\\lambda$={penalty:g}", (x, y), textcoords="offset points",
                    xytext=(-6 if left else 6, -14), ha="right" if left else "left", fontsize=8)
    ax.plot([ann_macs], [ann_accuracy], "*", markersize=14, zorder=1,
            label="ANN twin (x = its MACs)")
    ax.axvline(ann_macs, color="gray", linestyle=":", label="ANN twin's MACs per sample")
    ax.set_xlabel("operations per sample, hidden + read-out layers (SynOps; ANN: MACs)")
    ax.set_ylabel("test accuracy (fraction correct)")
    ax.set_title("Fewer spikes, fewer operations: accuracy holds until silence")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig
