r"""Fused multi-step neurons: the whole time loop in one autograd node, with a hand-written BPTT.

The reference multi-step path runs the single step ``T`` times through autograd, so autograd records
about ten nodes per step and keeps every intermediate alive. The functions here run the loop with
no autograd recording, save only the charged potential :math:`H_t` (``h_seq``) and differentiate
the loop by hand in one backward node. The code is plain torch, so it runs on every device torch
supports (CPU and CUDA); the per-step work is a few fused in-place operations on views of
preallocated ``[T, ...]`` buffers, and everything that does not depend on the recurrence (the
surrogate derivative :math:`\sigma'(H_t - V_{th})`, the reset factors, the input gradient) is
computed for blocks of time steps at once.

Notation (for one neuron; every operation is elementwise). :math:`X_t` input, :math:`H_t` charged
potential, :math:`S_t = \Theta(H_t - V_{th})` spike, :math:`V_t` potential after reset,
:math:`V_{-1}` = ``v_init``, :math:`g_t = \sigma'(H_t - V_{th})` (the surrogate's ``derivative``),
:math:`\hat S_t = S_t` with the reset's gradient cut when ``detach_reset``.

**BPTT.** With :math:`\delta_t = dL/dH_t` and :math:`\varepsilon_t = dL/dV_t`, for
:math:`t = T-1, \dots, 0` and :math:`\delta_T = 0`:

.. math::

    \varepsilon_t = \frac{\partial L}{\partial V_t}\Big|_{\rm direct}
        + \delta_{t+1} \frac{\partial H_{t+1}}{\partial V_t}, \qquad
    \delta_t = \frac{\partial L}{\partial S_t} g_t
        + \varepsilon_t \frac{\partial V_t}{\partial H_t},

    \frac{dL}{dX_t} = \delta_t \frac{\partial H_t}{\partial X_t}, \qquad
    \frac{dL}{dV_{-1}} = \delta_0 \frac{\partial H_0}{\partial V_{-1}}.

The direct term is ``grad_v_seq[t]``, non-zero when ``v_seq`` (or the final ``v``) enters the
loss. Where the code lives:

=============================================  =============================================
:mod:`sgcourse.kernels._recurrence`            the reset rule and its derivative (written
                                               once), σ′ of the saved :math:`H`, the
                                               block-wise recurrence shared by every neuron
:mod:`sgcourse.kernels._lif`                   IF / LIF / ParametricLIF (and the
                                               ``torch.compile`` custom op)
:mod:`sgcourse.kernels._nonlinear`             QIF / EIF
:mod:`sgcourse.kernels._izhikevich`            Izhikevich (two states)
:mod:`sgcourse.kernels._arguments`             argument checks and dtype rules, shared with
                                               :mod:`sgcourse.kernels.triton`
=============================================  =============================================

**What is saved.** Only ``h_seq`` (in the compute dtype), plus ``v_init`` where a derivative needs
:math:`V_{t-1}`: the spike is recomputed as :math:`H_t \ge V_{th}` and :math:`V_{t-1}` as the reset
of :math:`H_{t-1}`. ``x_seq`` is never saved. When autograd frees the graph after the backward
pass (no ``retain_graph``), δ is written over ``h_seq`` block by block, so the backward's peak is
one ``[T, ...]`` buffer lower.

**σ′.** The backward evaluates :math:`g_t` per block with the surrogate's declaration: its
in-place ``spec.derivative_into`` when it has one (Sigmoid does: three passes instead of six at
a power-of-two α ≥ 1, the same bits), else ``spec.derivative`` on a scratch buffer. No kernel
names a surrogate.

**Precision and dtypes.** float32 and float64 are computed in their own dtype; float16 and
bfloat16 are computed in float32 and the outputs cast back. Every output (spikes and state
sequences) has the promoted dtype of ``x_seq`` and the initial states, as in the per-step
``'torch'`` backend. A non-finite final potential (a NaN or infinity in the input or the initial
state) raises ``ValueError``.

Functions (the state sequences are ``[T, *x_seq.shape[1:]]``, or with ``store_v_seq=False`` the
final states only; initial states must broadcast to ``x_seq.shape[1:]``; gradients flow to every
tensor argument that requires grad):

``lif_multistep(x_seq, v_init, decay, *, decay_input, v_threshold, v_reset, detach_reset,
surrogate, use_custom_op=None, store_v_seq=True) -> (spike_seq, v_seq)``
    IF (``decay=0``, ``decay_input=False``), LIF (``decay`` = :math:`k = 1/\tau`) and
    ParametricLIF (``decay`` a one-element tensor, e.g. ``sigmoid(w)``, that may require grad).

``qif_multistep(x_seq, v_init, *, tau, v_c, a0, v_rest, v_threshold, v_reset, detach_reset,
surrogate, store_v_seq=True) -> (spike_seq, v_seq)``
    Quadratic integrate-and-fire.

``eif_multistep(x_seq, v_init, *, tau, delta_t, theta_rh, v_rest, v_threshold, v_reset,
detach_reset, surrogate, store_v_seq=True) -> (spike_seq, v_seq)``
    Exponential integrate-and-fire.

``izhikevich_multistep(x_seq, v_init, w_init, *, tau, v_c, a0, v_rest, tau_w, a, b, v_threshold,
v_reset, detach_reset, surrogate, store_v_seq=True) -> (spike_seq, v_seq, w_seq)``
    Two states, with the reference quirks described in :mod:`sgcourse.kernels._izhikevich`.

``supports(surrogate, x_seq) -> bool``
    True when the fused path can run: a registry surrogate in spiking mode whose forward is the
    Heaviside step, and a real floating-point ``x_seq``.

Every entry point checks its arguments as the neuron classes do (``v_threshold`` > a hard
``v_reset``, a decay in [0, 1], time constants > 1, …) and raises ``TypeError`` /
``ValueError`` naming the argument.

The LIF path is also registered as the custom operator ``torch.ops.sgcourse.lif_multistep_fused``
(with a fake implementation and an autograd formula) so that ``torch.compile`` can trace through
it; :func:`lif_multistep` uses it automatically while compiling.
"""

from __future__ import annotations

import torch

from sgcourse.kernels._arguments import kernel_surrogate
from sgcourse.kernels._izhikevich import izhikevich_multistep
from sgcourse.kernels._lif import lif_multistep
from sgcourse.kernels._nonlinear import eif_multistep, qif_multistep

__all__ = [
    "eif_multistep",
    "izhikevich_multistep",
    "lif_multistep",
    "qif_multistep",
    "supports",
]


def supports(surrogate: object, x_seq: object) -> bool:
    """Whether the fused path can run ``surrogate`` on ``x_seq``.

    It needs a registry surrogate (an instance of :class:`sgcourse.surrogate.Surrogate`) in spiking
    mode whose forward pass is the Heaviside step, and a real floating-point tensor. Any other
    callable (a lambda, a custom ``nn.Module``) returns False: the caller falls back to the
    per-step reference path.
    """
    return (kernel_surrogate(surrogate) and isinstance(x_seq, torch.Tensor)
            and x_seq.is_floating_point())
