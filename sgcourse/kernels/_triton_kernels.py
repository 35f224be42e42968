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


@triton.jit
def _add(a, b):
    return a + b


@triton.jit
def surrogate_grad(x, SURROGATE: tl.constexpr, p0, p1, n_terms):
    r"""σ′(x) in float32 for the surrogate with registry id ``SURROGATE``.

    ``p0``, ``p1`` are its float hyper-parameters in declaration order (unused ones are 0);
    ``n_terms`` is the integer ``n`` of SquarewaveFourierSeries (a loop bound). The formulas are
    those of :mod:`sgcourse.surrogate._family`, and the tests compare them with it for every
    registered surrogate. Ids without a formula here fail at compile time.
    """
    ax = tl.abs(x)
    if SURROGATE == 0:  # sigmoid: α s (1 − s), s = sgm(αx)
        s = 1.0 / (1.0 + tl.exp(-p0 * x))
        y = p0 * s * (1.0 - s)
    elif SURROGATE == 1:  # atan: (α/2) / (1 + (π α x / 2)²)
        z = 1.5707963267948966 * p0 * x  # π/2
        y = (0.5 * p0) / (1.0 + z * z)
    elif SURROGATE == 2:  # piecewise_quadratic: max(0, α − α²|x|)
        y = tl.maximum(p0 - p0 * p0 * ax, 0.0)
    elif SURROGATE == 3:  # piecewise_exp: (α/2) e^{−α|x|}
        y = 0.5 * p0 * tl.exp(-p0 * ax)
    elif SURROGATE == 4:  # soft_sign: α / (2 (1 + α|x|)²)
        d = 1.0 + p0 * ax
        y = p0 / (2.0 * d * d)
    elif SURROGATE == 5:  # super_spike: α / (1 + |x|)²
        d = 1.0 + ax
        y = p0 / (d * d)
    elif SURROGATE == 6:  # erf: (α/√π) e^{−α²x²}
        z = p0 * x
        y = (p0 * 0.5641895835477563) * tl.exp(-(z * z))  # 1/√π
    elif SURROGATE == 7:  # nonzero_sign_log_abs: α / (1 + α|x|)
        y = p0 / (1.0 + p0 * ax)
    elif SURROGATE == 8:  # piecewise_leaky_relu (w, c): 1/(2w) if |x| < w else c
        y = p1 + (0.5 / p0 - p1) * tl.where(ax < p0, 1.0, 0.0)
    elif SURROGATE == 9:  # squarewave_fourier_series (n, T): (4/T) Σ_{i<n} cos((2i−1) 2π x / T)
        omega = 6.283185307179586 / p1  # 2π/T
        acc = x * 0.0
        for i in range(1, n_terms):
            acc += tl.cos((2.0 * i - 1.0) * omega * x)
        y = (4.0 / p1) * acc
    elif SURROGATE == 10:  # s2nn (α, β): sigmoid branch for x < 0, β / (x + 1) for x ≥ 0
        s = 1.0 / (1.0 + tl.exp(-p0 * x))
        y = tl.where(x < 0.0, p0 * s * (1.0 - s), p1 / (tl.maximum(x, 0.0) + 1.0))
    elif SURROGATE == 11:  # q_pseudo_spike: (1 + 2|x|/(α − 1))^{−α}
        y = tl.exp2(-p0 * tl.log2(1.0 + 2.0 * ax / (p0 - 1.0)))
    elif SURROGATE == 12:  # leaky_k_relu (leak, k): k for x ≥ 0, leak below
        y = p0 + (p1 - p0) * tl.where(x >= 0.0, 1.0, 0.0)
    elif SURROGATE == 13:  # fake_numerical_gradient: min(1/|x|, α)
        y = tl.minimum(1.0 / ax, p0)
    elif SURROGATE == 14:  # log_tailed_relu: α for x ≤ 0, 1/max(x, 1) above
        y = tl.where(x <= 0.0, p0, 1.0 / tl.maximum(x, 1.0))
    elif SURROGATE == 15:  # rect: α 1[|x| < 1/(2α)]
        y = p0 * tl.where(ax < 0.5 / p0, 1.0, 0.0)
    elif SURROGATE == 16:  # deterministic_pass: 1
        y = x * 0.0 + 1.0
    else:
        tl.static_assert(False, "no Triton σ′ for this surrogate id")
    return y


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
                       BLOCK: tl.constexpr):
    """One program per BLOCK neurons, looping over the T time steps (arrays are [T, N])."""
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
        tl.store(v_ptrs, v.to(v_ptr.dtype.element_ty), mask=mask)
        tl.store(h_ptrs, h, mask=mask)
        x_ptrs += N
        spike_ptrs += N
        v_ptrs += N
        h_ptrs += N


@triton.jit
def _backward_step(h, v_prev, x_ptrs, gs_ptrs, gv_ptrs, gh_ptrs, gx_ptrs, mask, delta_next,
                   k, v_threshold, v_reset, p0, p1, n_terms,
                   SURROGATE: tl.constexpr, DECAY_INPUT: tl.constexpr,
                   HARD_RESET: tl.constexpr, DETACH_RESET: tl.constexpr,
                   HAS_GRAD_SPIKE: tl.constexpr, HAS_GRAD_V: tl.constexpr,
                   HAS_GRAD_H: tl.constexpr, NEED_GRAD_DECAY: tl.constexpr):
    """One step of the recurrence: returns (δ_t, δ_t ∂H_t/∂k) and stores ∂L/∂X_t."""
    g = surrogate_grad(h - v_threshold, SURROGATE, p0, p1, n_terms)
    eps = delta_next * (1.0 - k)
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
                        BLOCK: tl.constexpr):
    """BPTT from t = T−1 down to 0 (T ≥ 1). ``grad_decay_ptr`` gets one partial sum per program.

    ``last_offset`` = (T − 1)·N is passed from the host (it may exceed the int32 range).

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
    for _ in range(T - 1):
        h_ptrs -= N
        h_prev = tl.load(h_ptrs, mask=mask, other=0.0)
        v_prev = _reset(h_prev, v_threshold, v_reset, HARD_RESET)
        delta, dk = _backward_step(h, v_prev, x_ptrs, gs_ptrs, gv_ptrs, gh_ptrs, gx_ptrs, mask,
                                   delta, k, v_threshold, v_reset, p0, p1, n_terms,
                                   SURROGATE, DECAY_INPUT, HARD_RESET, DETACH_RESET,
                                   HAS_GRAD_SPIKE, HAS_GRAD_V, HAS_GRAD_H, NEED_GRAD_DECAY)
        dk_acc += dk
        h = h_prev
        x_ptrs -= N
        gs_ptrs -= N
        gv_ptrs -= N
        gh_ptrs -= N
        gx_ptrs -= N
    v_init = tl.load(v_init_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    delta, dk = _backward_step(h, v_init, x_ptrs, gs_ptrs, gv_ptrs, gh_ptrs, gx_ptrs, mask,
                               delta, k, v_threshold, v_reset, p0, p1, n_terms,
                               SURROGATE, DECAY_INPUT, HARD_RESET, DETACH_RESET,
                               HAS_GRAD_SPIKE, HAS_GRAD_V, HAS_GRAD_H, NEED_GRAD_DECAY)
    grad_v_init = delta * (1.0 - k)
    tl.store(grad_v_init_ptr + offs, grad_v_init.to(grad_v_init_ptr.dtype.element_ty), mask=mask)
    if NEED_GRAD_DECAY:
        dk_acc += dk
        tl.store(grad_decay_ptr + pid, tl.reduce(tl.where(mask, dk_acc, 0.0), 0, _add))
