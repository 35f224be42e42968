r"""Back-propagation through time (BPTT) for lesson 03: gradients of a LIF neuron, a timing task.

A multi-step neuron unrolls into a chain over time: :math:`V[t-1] \to H[t] \to V[t]`. With
:math:`\delta_t = dL/dH_t` and :math:`\varepsilon_t = dL/dV_t`, BPTT runs backwards from
:math:`\delta_T = 0`:

.. math::

    \varepsilon_t = \Bigl(\frac{\partial L}{\partial V_t}\Bigr)_{\rm direct}
        + \delta_{t+1}\,\frac{\partial H_{t+1}}{\partial V_t}, \qquad
    \delta_t = \frac{\partial L}{\partial S_t}\, g_t
        + \varepsilon_t\,\frac{\partial V_t}{\partial H_t},
    \qquad \frac{dL}{dX_t} = \delta_t\,\frac{\partial H_t}{\partial X_t},

with :math:`g_t = \sigma'(H_t - V_{th})`; for a LIF with ``decay_input=True``,
:math:`\partial H_{t+1}/\partial V_t = 1 - 1/\tau` and :math:`\partial H_t/\partial X_t = 1/\tau`.

* :func:`input_gradients` returns :math:`dL/dX_t` for one neuron, through any backend;
* :class:`LatencySNN` is a small network for a task where only spike *timing* carries the
  information: latency-coded digits (every pixel spikes exactly once).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sgcourse import encoding, functional, neuron
from sgcourse._checks import check_floating_tensor, check_int, check_real

__all__ = ["LOSSES", "LatencySNN", "input_gradients", "make_latency_snn",
           "plot_input_gradients"]

LOSSES: tuple[str, ...] = ("spike_count", "final_v")
"""Losses of :func:`input_gradients`: the number of spikes, or the last post-reset potential."""


def input_gradients(x_seq: torch.Tensor, loss: str = "spike_count", backend: str = "torch",
                    **lif_kwargs: object) -> tuple[torch.Tensor, torch.Tensor]:
    r"""``(spikes, dL/dX)`` for ``LIFNode(step_mode='m', backend=backend, **lif_kwargs)``.

    ``x_seq`` is the input ``[T, *]`` (float64 recommended for comparisons); the loss is
    ``'spike_count'`` (:math:`L = \sum_t S_t`, summed over neurons) or ``'final_v'``
    (:math:`L = V_{T-1}`, summed over neurons). Both results have the shape of ``x_seq``.
    """
    check_floating_tensor(x_seq, "x_seq")
    if x_seq.dim() < 2:
        raise ValueError(f"x_seq must have shape [T, N, ...], got {tuple(x_seq.shape)}")
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    node = neuron.LIFNode(step_mode="m", backend=backend, store_v_seq=True, **lif_kwargs)
    x = x_seq.detach().clone().requires_grad_(True)
    spikes = node(x)
    value = spikes.sum() if loss == "spike_count" else node.v_seq[-1].sum()
    (grad,) = torch.autograd.grad(value, x)
    return spikes.detach(), grad


def plot_input_gradients(gradients: dict[float, torch.Tensor]) -> Any:
    r"""Log plot of :math:`|dL/dX_t|` against the lag :math:`T-1-t`, one line per τ (the keys).

    Each line is drawn with the prediction :math:`\frac1\tau(1 - \frac1\tau)^{T-1-t}` (dotted).
    Returns the matplotlib Figure (made with ``pyplot``).
    """
    if not isinstance(gradients, dict) or not gradients:
        raise ValueError("gradients must be a non-empty dict {tau: dL/dX [T]}")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for index, (tau, grad) in enumerate(gradients.items()):
        values = grad.detach().reshape(len(grad), -1)[:, 0].double().flip(0).abs()
        lag = torch.arange(len(values), dtype=torch.float64)
        line, = ax.semilogy(lag.numpy(), values.numpy(), marker="o", markersize=3,
                            linestyle="none", label=rf"autograd, $\tau = {tau:g}$")
        ax.semilogy(lag.numpy(), ((1 / tau) * (1 - 1 / tau) ** lag).numpy(), ":",
                    color=line.get_color(),
                    label=r"$\frac{1}{\tau}(1-\frac{1}{\tau})^{k}$" if index == 0 else None)
    ax.set_xlabel("lag $k = T - 1 - t$ (steps before the loss)")
    ax.set_ylabel(r"$|\partial V[T-1] / \partial X[t]|$ (dimensionless)")
    ax.set_title(r"Gradient to earlier inputs decays like $(1 - 1/\tau)^k$")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    return fig


class LatencySNN(nn.Module):
    r"""Latency code → Linear(64 → H) → LIF → Linear(H → 10), logits = time-mean of the readout.

    An image :math:`x \in [0, 1]^{64}` becomes :math:`T` frames with
    :func:`sgcourse.encoding.latency_encode` (pixel :math:`i` spikes once, at step
    :math:`\mathrm{round}((T-1)(1 - x_i))`: bright pixels early). So every input neuron fires
    exactly once per image: spike *counts* carry no information, only spike *times* do. The LIF
    layer (``tau``, hard reset) sees the weighted input spikes; the class scores are
    :math:`\frac1T \sum_t (W_2 S[t] + b_2)`. Trained by BPTT through the LIF loop.

    Shapes: images ``[N, 64]`` → logits ``[N, 10]``; each call starts from rest.
    """

    def __init__(self, hidden: int = 64, time_steps: int = 12, tau: float = 2.0,
                 input_gain: float = 2.0, num_inputs: int = 64, num_classes: int = 10) -> None:
        super().__init__()
        self.time_steps = check_int("time_steps", time_steps, 2)
        self.input_gain = check_real("input_gain", input_gain)
        self.input_layer = nn.Linear(check_int("num_inputs", num_inputs, 1),
                                     check_int("hidden", hidden, 1))
        self.hidden_neurons = neuron.LIFNode(tau=tau, step_mode="m")
        self.readout = nn.Linear(hidden, check_int("num_classes", num_classes, 2))

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The input spike trains ``[T, N, 64]``: one spike per pixel."""
        return encoding.latency_encode(images, self.time_steps)

    def hidden_spikes(self, images: torch.Tensor) -> torch.Tensor:
        """The hidden spike trains ``[T, N, H]``."""
        functional.reset_net(self)
        current = self.input_layer(self.input_gain * self.encode(images))
        return self.hidden_neurons(current)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.readout(self.hidden_spikes(images)).mean(dim=0)

    def extra_repr(self) -> str:
        return f"time_steps={self.time_steps}, input_gain={self.input_gain}"


def make_latency_snn(hidden: int = 64, time_steps: int = 12, tau: float = 2.0,
                     seed: int = 0) -> LatencySNN:
    """A :class:`LatencySNN` whose initial weights depend only on ``seed``."""
    seed = check_int("seed", seed, 0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LatencySNN(hidden=hidden, time_steps=time_steps, tau=tau)
