r"""Triton source of the fused LIF kernels (imported only by :mod:`sgcourse.kernels.triton`).

Do not import this module directly: :mod:`sgcourse.kernels.triton` loads it lazily, once as
compiled ``triton.jit`` kernels (CUDA) and, on request, a second time as a separate module whose
kernels are Triton-interpreter functions (CPU, for tests). Two rules keep that possible:

* Only Triton *builtins* are used. ``tl.sum``, ``tl.zeros``, ``tl.sigmoid``, ``tl.max`` … are
  themselves ``@triton.jit`` functions of ``triton.language``, fixed as compiled or interpreted
  when ``triton.language`` is first imported, so the interpreted copy could not call them in a
  process where Triton was imported normally. Sums use ``tl.reduce`` with the local ``_add``.
* Scalar loop bounds are plain ``int`` arguments (the interpreter passes scalars as Python
  numbers), and constants are literals (compiled Triton refuses non-constexpr globals).

Notation (one neuron; all state math in float32, whatever the input dtype):

.. math::

    H_t &= V_{t-1} + k\,(X_t - (V_{t-1} - V_r)) \quad\text{(decay\_input)}, \qquad
    H_t = V_{t-1} - k\,(V_{t-1} - V_r) + X_t \quad\text{(otherwise)},\\
    S_t &= \Theta(H_t - V_{th}), \qquad
    V_t = \hat S_t V_r + (1 - \hat S_t) H_t \ \text{(hard)}, \qquad
    V_t = H_t - \hat S_t V_{th} \ \text{(soft)}.

The backward kernel runs the BPTT recurrence from :math:`\delta_T = 0` (``t = T-1 … 0``), with
:math:`g_t = \sigma'(H_t - V_{th})`:

.. math::

    \epsilon_t &= (1 - k)\,\delta_{t+1} + \partial L/\partial V_t, \qquad
    \delta_t = \partial L/\partial S_t\, g_t + \epsilon_t\, \partial V_t/\partial H_t
               + \partial L/\partial H_t,\\
    \partial L/\partial X_t &= \delta_t\, \partial H_t/\partial X_t, \qquad
    \partial L/\partial V_{init} = (1 - k)\,\delta_0, \qquad
    \partial L/\partial k = \textstyle\sum_t \delta_t\, \partial H_t/\partial k,

where :math:`\partial V/\partial H` is :math:`1 - S + (V_r - H)g` (hard), :math:`1 - S`
(hard, detach_reset), :math:`1 - V_{th}\,g` (soft), :math:`1` (soft, detach_reset);
:math:`\partial H/\partial X = k` with decay_input, else 1; and :math:`\partial H_t/\partial k =
X_t - (V_{t-1} - V_r)` with decay_input, else :math:`-(V_{t-1} - V_r)`. Only ``h_seq`` is saved:
:math:`S_t` is recomputed as :math:`H_t \ge V_{th}` and :math:`V_{t-1}` by resetting
:math:`H_{t-1}`, bit-identical to the forward pass.
"""

from __future__ import annotations

import triton
import triton.language as tl

from sgcourse.kernels._triton_surrogates import build_surrogate_grad


@triton.jit
def _add(a, b):
    return a + b


# σ′ of every surrogate with a Triton formula, generated from the surrogates' declarations
# (``triton_derivative``); its SURROGATE ids are the registry's.
surrogate_grad = build_surrogate_grad(triton, tl)


@triton.jit
def surrogate_grad_kernel(x_ptr, y_ptr, N, p0, p1, n_terms,
                          SURROGATE: tl.constexpr, BLOCK: tl.constexpr):
    """y = σ′(x) elementwise (float32); used by the tests to check ``surrogate_grad``."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    y = surrogate_grad(x, SURROGATE, p0, p1, n_terms)
    tl.store(y_ptr + offs, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _charge(v, x, k, v_reset, DECAY_INPUT: tl.constexpr):
    if DECAY_INPUT:
        h = v + k * (x - (v - v_reset))
    else:
        h = v - k * (v - v_reset) + x
    return h


@triton.jit
def _reset(h, v_threshold, v_reset, HARD_RESET: tl.constexpr):
    """V from H: the spike is recomputed as H ≥ V_th (Θ(0) = 1)."""
    if HARD_RESET:
        v = tl.where(h >= v_threshold, v_reset, h)
    else:
        v = tl.where(h >= v_threshold, h - v_threshold, h)
    return v


@triton.jit
def lif_forward_kernel(x_ptr, v_init_ptr, decay_ptr, spike_ptr, v_ptr, h_ptr, N, T,
                       v_threshold, v_reset,
                       DECAY_INPUT: tl.constexpr, HARD_RESET: tl.constexpr,
                       STORE_V_SEQ: tl.constexpr, BLOCK: tl.constexpr):
    """One program per BLOCK neurons, looping over the T time steps (arrays are [T, N]).

    With ``STORE_V_SEQ`` the potential of every step is written to ``v_ptr`` ([T, N]); without,
    only the last one ([N]).
    """
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    k = tl.load(decay_ptr).to(tl.float32)
    v = tl.load(v_init_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    x_ptrs = x_ptr + offs
    spike_ptrs = spike_ptr + offs
    v_ptrs = v_ptr + offs
    h_ptrs = h_ptr + offs
    for _ in range(T):
        x = tl.load(x_ptrs, mask=mask, other=0.0).to(tl.float32)
        h = _charge(v, x, k, v_reset, DECAY_INPUT)
        spike = tl.where(h >= v_threshold, 1.0, 0.0)
        v = _reset(h, v_threshold, v_reset, HARD_RESET)
        tl.store(spike_ptrs, spike.to(spike_ptr.dtype.element_ty), mask=mask)
        if STORE_V_SEQ:
            tl.store(v_ptrs, v.to(v_ptr.dtype.element_ty), mask=mask)
            v_ptrs += N
        tl.store(h_ptrs, h, mask=mask)
        x_ptrs += N
        spike_ptrs += N
        h_ptrs += N
    if not STORE_V_SEQ:
        tl.store(v_ptrs, v.to(v_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _backward_step(h, v_prev, x_ptrs, gs_ptrs, gv_ptrs, gh_ptrs, gx_ptrs, mask, delta_next,
                   eps_extra, k, v_threshold, v_reset, p0, p1, n_terms,
                   SURROGATE: tl.constexpr, DECAY_INPUT: tl.constexpr,
                   HARD_RESET: tl.constexpr, DETACH_RESET: tl.constexpr,
                   HAS_GRAD_SPIKE: tl.constexpr, HAS_GRAD_V: tl.constexpr,
                   HAS_GRAD_H: tl.constexpr, NEED_GRAD_DECAY: tl.constexpr):
    """One step of the recurrence: returns (δ_t, δ_t ∂H_t/∂k) and stores ∂L/∂X_t.

    ``gv_ptrs`` points at ∂L/∂V_t of this step; with ``HAS_GRAD_V`` False it is not read.
    ``eps_extra`` is added to ε_t (the gradient of the final V when only that was returned).
    """
    g = surrogate_grad(h - v_threshold, SURROGATE, p0, p1, n_terms)
    eps = delta_next * (1.0 - k) + eps_extra
    if HAS_GRAD_V:
        eps += tl.load(gv_ptrs, mask=mask, other=0.0).to(tl.float32)
    if HARD_RESET:
        dv_dh = tl.where(h >= v_threshold, 0.0, 1.0)
        if not DETACH_RESET:
            dv_dh += (v_reset - h) * g
        delta = eps * dv_dh
    else:
        if DETACH_RESET:
            delta = eps
        else:
            delta = eps * (1.0 - v_threshold * g)
    if HAS_GRAD_SPIKE:
        delta += tl.load(gs_ptrs, mask=mask, other=0.0).to(tl.float32) * g
    if HAS_GRAD_H:
        delta += tl.load(gh_ptrs, mask=mask, other=0.0).to(tl.float32)
    if DECAY_INPUT:
        grad_x = delta * k
    else:
        grad_x = delta
    tl.store(gx_ptrs, grad_x.to(gx_ptrs.dtype.element_ty), mask=mask)
    if NEED_GRAD_DECAY:
        if DECAY_INPUT:
            x = tl.load(x_ptrs, mask=mask, other=0.0).to(tl.float32)
            dk = delta * (x - (v_prev - v_reset))
        else:
            dk = delta * (v_reset - v_prev)
    else:
        dk = delta * 0.0
    return delta, dk


@triton.jit
def lif_backward_kernel(grad_spike_ptr, grad_v_ptr, grad_h_ptr, h_ptr, x_ptr, v_init_ptr,
                        decay_ptr, grad_x_ptr, grad_v_init_ptr, grad_decay_ptr, N, T, last_offset,
                        v_threshold, v_reset, p0, p1, n_terms,
                        SURROGATE: tl.constexpr, DECAY_INPUT: tl.constexpr,
                        HARD_RESET: tl.constexpr, DETACH_RESET: tl.constexpr,
                        HAS_GRAD_SPIKE: tl.constexpr, HAS_GRAD_V: tl.constexpr,
                        HAS_GRAD_H: tl.constexpr, NEED_GRAD_DECAY: tl.constexpr,
                        GRAD_V_LAST: tl.constexpr, BLOCK: tl.constexpr):
    """BPTT from t = T−1 down to 0 (T ≥ 1). ``grad_decay_ptr`` gets one partial sum per program.

    ``last_offset`` = (T − 1)·N is passed from the host (it may exceed the int32 range).
    ``GRAD_V_LAST``: ``grad_v_ptr`` holds the gradient of the final V alone ([N]; the forward
    ran without ``STORE_V_SEQ``), added to ε at t = T − 1.

    H_t is carried from one step to the next, so every ``h`` is read once; V_{t−1} is the reset
    of H_{t−1} (and V_init at t = 0, the peeled last step).
    """
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    k = tl.load(decay_ptr).to(tl.float32)
    last = last_offset
    h_ptrs = h_ptr + last + offs
    x_ptrs = x_ptr + last + offs
    gs_ptrs = grad_spike_ptr + last + offs
    gv_ptrs = grad_v_ptr + last + offs
    gh_ptrs = grad_h_ptr + last + offs
    gx_ptrs = grad_x_ptr + last + offs
    h = tl.load(h_ptrs, mask=mask, other=0.0)
    delta = tl.full([BLOCK], 0.0, tl.float32)
    dk_acc = tl.full([BLOCK], 0.0, tl.float32)
    if GRAD_V_LAST:
        extra = tl.load(grad_v_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    else:
        extra = tl.full([BLOCK], 0.0, tl.float32)
    for _ in range(T - 1):
        h_ptrs -= N
        h_prev = tl.load(h_ptrs, mask=mask, other=0.0)
        v_prev = _reset(h_prev, v_threshold, v_reset, HARD_RESET)
        delta, dk = _backward_step(h, v_prev, x_ptrs, gs_ptrs, gv_ptrs, gh_ptrs, gx_ptrs, mask,
                                   delta, extra, k, v_threshold, v_reset, p0, p1, n_terms,
                                   SURROGATE, DECAY_INPUT, HARD_RESET, DETACH_RESET,
                                   HAS_GRAD_SPIKE, HAS_GRAD_V, HAS_GRAD_H, NEED_GRAD_DECAY)
        dk_acc += dk
        extra = tl.full([BLOCK], 0.0, tl.float32)
        h = h_prev
        x_ptrs -= N
        gs_ptrs -= N
        gv_ptrs -= N
        gh_ptrs -= N
        gx_ptrs -= N
    v_init = tl.load(v_init_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    delta, dk = _backward_step(h, v_init, x_ptrs, gs_ptrs, gv_ptrs, gh_ptrs, gx_ptrs, mask,
                               delta, extra, k, v_threshold, v_reset, p0, p1, n_terms,
                               SURROGATE, DECAY_INPUT, HARD_RESET, DETACH_RESET,
                               HAS_GRAD_SPIKE, HAS_GRAD_V, HAS_GRAD_H, NEED_GRAD_DECAY)
    grad_v_init = delta * (1.0 - k)
    tl.store(grad_v_init_ptr + offs, grad_v_init.to(grad_v_init_ptr.dtype.element_ty), mask=mask)
    if NEED_GRAD_DECAY:
        dk_acc += dk
        tl.store(grad_decay_ptr + pid, tl.reduce(tl.where(mask, dk_acc, 0.0), 0, _add))
