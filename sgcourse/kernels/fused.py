r"""Fused multi-step neurons: the whole time loop in one autograd node, with a hand-written BPTT.

The reference multi-step path runs the single step ``T`` times through autograd, so autograd records
about ten nodes per step and keeps every intermediate alive. The functions here run the loop with
no autograd recording, save only the charged potential :math:`H_t` (``h_seq``) and differentiate
the loop by hand in one backward node. The code is plain torch, so it runs on every device torch
supports (CPU and CUDA); the per-step work is a few fused in-place operations on views of
preallocated ``[T, ...]`` buffers, and everything that does not depend on the recurrence (the
surrogate derivative :math:`\sigma'(H_t - V_{th})` for all ``t``, the reset factors, the input
gradient) is computed for all time steps at once.

Notation (for one neuron; every operation is elementwise). :math:`X_t` input, :math:`H_t` charged
potential, :math:`S_t = \Theta(H_t - V_{th})` spike, :math:`V_t` potential after reset,
:math:`V_{-1}` = ``v_init``, :math:`g_t = \sigma'(H_t - V_{th})` (the surrogate's ``derivative``),
:math:`\hat S_t = S_t` with the reset's gradient cut when ``detach_reset``.

**Reset** (shared by all neurons). Hard (``v_reset`` = :math:`V_r` a number):
:math:`V_t = \hat S_t V_r + (1 - \hat S_t) H_t`; soft (``v_reset=None``): :math:`V_t = H_t - \hat
S_t V_{th}`. Its derivative:

================  =====================================  =====================
:math:`∂V_t/∂H_t`  detach_reset=False                    detach_reset=True
================  =====================================  =====================
hard               :math:`1 - S_t + (V_r - H_t) g_t`      :math:`1 - S_t`
soft               :math:`1 - V_{th} g_t`                 :math:`1`
================  =====================================  =====================

**BPTT.** With :math:`\delta_t = dL/dH_t` and :math:`\varepsilon_t = dL/dV_t`, for
:math:`t = T-1, \dots, 0` and :math:`\delta_T = 0`:

.. math::

    \varepsilon_t = \frac{\partial L}{\partial V_t}\Big|_{\rm direct}
        + \delta_{t+1} \frac{\partial H_{t+1}}{\partial V_t}, \qquad
    \delta_t = \frac{\partial L}{\partial S_t} g_t
        + \varepsilon_t \frac{\partial V_t}{\partial H_t},

    \frac{dL}{dX_t} = \delta_t \frac{\partial H_t}{\partial X_t}, \qquad
    \frac{dL}{dV_{-1}} = \delta_0 \frac{\partial H_0}{\partial V_{-1}}

(the last one from :math:`\delta_0`, not from ``grad_x[0]``: SpikingJelly's 0.0.0.0.14 QIF/EIF
kernels used ``grad_x[0]`` and were off by a factor :math:`1/\tau`). The direct term is
``grad_v_seq[t]``, non-zero when ``v_seq`` (or the final ``v``) enters the loss. Writing
:math:`c_t = (\partial L/\partial S_t) g_t + (\partial L/\partial V_t)_{\rm direct}\,\partial V_t/
\partial H_t` and :math:`m_t = (\partial V_t/\partial H_t)(\partial H_{t+1}/\partial V_t)`, both
computed for all ``t`` at once, the sequential part is one multiply-add per step,
:math:`\delta_t = c_t + m_t \delta_{t+1}`.

**What is saved.** Only ``h_seq`` (in the compute dtype), plus ``v_init`` where a derivative needs
:math:`V_{t-1}`: the spike is recomputed as :math:`H_t \ge V_{th}` and :math:`V_{t-1}` as the reset
of :math:`H_{t-1}`. ``x_seq`` is never saved (for PLIF with ``decay_input`` the factor
:math:`X_t - (V_{t-1} - V_r)` is recomputed as :math:`(H_t - V_{t-1})/k`). The backward runs over
blocks of time steps, last block first, with block-sized temporaries; when autograd frees the
graph after the pass (no ``retain_graph``), δ is written over ``h_seq`` block by block (each block
is read before it is overwritten), so the backward's peak is one ``[T, ...]`` buffer lower.

**σ′.** The backward evaluates :math:`g_t` per block with the registry's ``spec.derivative`` on
a scratch buffer; for the registry's Sigmoid it runs the same operations in place (three passes
instead of six when α is a power of two ≥ 1), with bitwise the same result (tested).

**Precision.** float32 and float64 are computed in their own dtype; float16 and bfloat16 inputs
are upcast, the state math runs in float32 and the outputs are cast back (``h_seq`` is saved in
float32). Spikes have the dtype of ``x_seq``; ``v_seq`` the promoted dtype of ``x_seq`` and
``v_init``.

Functions (all return tensors of shape ``[T, *x_seq.shape[1:]]``; ``v_init`` must broadcast to
``x_seq.shape[1:]``; gradients flow to every tensor argument that requires grad):

``lif_multistep(x_seq, v_init, decay, *, decay_input, v_threshold, v_reset, detach_reset,
surrogate, use_custom_op=None, store_v_seq=True, compile_backward=False) -> (spike_seq, v_seq)``
    IF (``decay=0``, ``decay_input=False``), LIF (``decay`` = :math:`k = 1/\tau` a float) and
    ParametricLIF (``decay`` a 0-dim tensor, e.g. ``sigmoid(w)``, that may require grad). With
    :math:`V_r` = ``v_reset`` (0 for soft reset), ``decay_input=True``:
    :math:`H_t = V_{t-1} + k(X_t - (V_{t-1} - V_r))`; ``decay_input=False``:
    :math:`H_t = V_{t-1} - k(V_{t-1} - V_r) + X_t`. So :math:`∂H_t/∂V_{t-1} = 1 - k`,
    :math:`∂H_t/∂X_t = k` (``decay_input``) or 1, and
    :math:`dL/dk = \sum_{t,n} \delta_t\,∂H_t/∂k` with :math:`∂H_t/∂k = X_t - (V_{t-1} - V_r)`
    (``decay_input``) or :math:`-(V_{t-1} - V_r)`. With ``store_v_seq=False`` the second output
    is only the final :math:`V_{T-1}` (shape ``x_seq.shape[1:]``) and no ``[T, ...]`` potential
    sequence is allocated.

``qif_multistep(x_seq, v_init, *, tau, v_c, a0, v_rest, v_threshold, v_reset, detach_reset,
surrogate) -> (spike_seq, v_seq)``
    Quadratic integrate-and-fire: :math:`H_t = V + (X_t + a_0 (V - V_{rest})(V - V_c))/\tau` with
    :math:`V = V_{t-1}`; :math:`∂H/∂V = 1 + a_0(2V - V_{rest} - V_c)/\tau`, :math:`∂H/∂X = 1/\tau`.

``eif_multistep(x_seq, v_init, *, tau, delta_t, theta_rh, v_rest, v_threshold, v_reset,
detach_reset, surrogate) -> (spike_seq, v_seq)``
    Exponential integrate-and-fire:
    :math:`H_t = V + (X_t + V_{rest} - V + \Delta_T e^{(V - \theta_{rh})/\Delta_T})/\tau`;
    :math:`∂H/∂V = 1 - 1/\tau + e^{(V - \theta_{rh})/\Delta_T}/\tau`, :math:`∂H/∂X = 1/\tau`.

``izhikevich_multistep(x_seq, v_init, w_init, *, tau, v_c, a0, v_rest, tau_w, a, b, v_threshold,
v_reset, detach_reset, surrogate) -> (spike_seq, v_seq, w_seq)``
    Two states. Per step: :math:`H_t = V + (X_t + a_0(V - V_{rest})(V - V_c) - W)/\tau`
    (:math:`V = V_{t-1}, W = W_{t-1}`), adaptation
    :math:`W' = W + (a(H_t - V_{rest}) - W)/\tau_w`, fire, reset, then the jump
    :math:`W_t = W' + b S_t`. Reference quirks (SpikingJelly 0.0.0.0.14 and its GitHub
    ``AdaptBaseNode``), reproduced exactly: the hard reset is
    :math:`V_t = (1 - \hat S_t) H_t + S_t V_r` (the :math:`S_t V_r` term keeps its surrogate
    gradient even with ``detach_reset``) and the jump :math:`b S_t` is never detached. (The PyPI
    2.0.0 ``_ops`` reference detaches both reset terms; the two agree when ``detach_reset=False``.)
    Soft reset is the usual :math:`H_t - \hat S_t V_{th}`. ``w_seq`` holds :math:`W_t`.

``supports(surrogate, x_seq) -> bool``
    True when the fused path can run: a registry surrogate in spiking mode whose forward is the
    Heaviside step, and a real floating-point ``x_seq``.

The LIF path is also registered as the custom operator ``torch.ops.sgcourse.lif_multistep_fused``
(with a fake implementation and an autograd formula) so that ``torch.compile`` can trace through
it; :func:`lif_multistep` uses it automatically while compiling.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from sgcourse import surrogate as _surrogate
from sgcourse._checks import POSITIVE as _POSITIVE
from sgcourse._checks import check_bool, check_floating_tensor, check_real
from sgcourse.surrogate import _family as _surrogate_family

__all__ = [
    "eif_multistep",
    "izhikevich_multistep",
    "lif_multistep",
    "qif_multistep",
    "supports",
]

Derivative = Callable[[Tensor], Tensor]
ShiftedDerivative = Callable[[Tensor, Tensor], Tensor]  # (h, scratch) -> σ′(h − V_th)


# --------------------------------------------------------------------------------------------
# argument handling


def supports(surrogate: object, x_seq: object) -> bool:
    """Whether the fused path can run ``surrogate`` on ``x_seq``.

    It needs a registry surrogate (an instance of :class:`sgcourse.surrogate.Surrogate`) in spiking
    mode whose forward pass is the Heaviside step, and a real floating-point tensor. Any other
    callable (a lambda, a custom ``nn.Module``) returns False: the caller falls back to the
    per-step reference path.
    """
    return (isinstance(surrogate, _surrogate.Surrogate) and surrogate.spiking
            and surrogate.spec.forward == "heaviside" and isinstance(x_seq, torch.Tensor)
            and x_seq.is_floating_point())


def _check_surrogate(surrogate: object) -> tuple[int, tuple[float, ...]]:
    if not isinstance(surrogate, _surrogate.Surrogate):
        raise TypeError(f"surrogate must be a registry surrogate (an instance of "
                        f"sgcourse.surrogate.Surrogate), got {type(surrogate).__name__}; use the "
                        f"per-step reference path for other callables")
    if surrogate.spec.forward != "heaviside":
        raise ValueError(f"surrogate {surrogate.spec.class_name} samples its forward pass "
                         f"({surrogate.spec.forward}); fused kernels support only "
                         f"Heaviside-forward surrogates")
    if not surrogate.spiking:
        raise ValueError("surrogate must be in spiking mode (spiking=True) for a fused kernel")
    return _surrogate.surrogate_id(surrogate), tuple(float(p) for p in surrogate.hparams)


def _derivative(surrogate_id: int, params: Sequence[float]) -> Derivative:
    """σ′ of registry surrogate ``surrogate_id`` at hyper-parameters ``params``."""
    spec = _surrogate.spec(_surrogate.available()[surrogate_id])
    derivative = spec.derivative
    params = tuple(params)
    return lambda z: derivative(z, *params)


def _is_power_of_two(value: float) -> bool:
    return math.isfinite(value) and value > 0.0 and math.frexp(value)[0] == 0.5


def _derivative_of_h(surrogate_id: int, params: Sequence[float], v_threshold: float
                     ) -> ShiftedDerivative:
    """Cached :func:`_make_derivative_of_h` (one closure per configuration)."""
    floats = (*(float(p) for p in params), float(v_threshold))
    # the exact bits are part of the cache key: 0.0 == -0.0 would share an entry otherwise
    return _make_derivative_of_h(surrogate_id, floats[:-1], floats[-1],
                                 tuple(f.hex() for f in floats))


@functools.lru_cache(maxsize=256)
def _make_derivative_of_h(surrogate_id: int, params: tuple[float, ...], v_threshold: float,
                          _key: tuple[str, ...] = ()) -> ShiftedDerivative:
    r"""``fn(h, out)`` → :math:`\sigma'(h - V_{th})`, using ``out`` (shaped like ``h``) as scratch.

    Bitwise equal to ``spec.derivative(h - v_threshold, *params)`` (tested). Any surrogate:
    ``h - v_threshold`` is written into ``out`` and ``spec.derivative`` is called on it. The
    registry's Sigmoid (recognised by its ``spec.derivative`` being ``_sigmoid_grad``, which
    computes ``s = sigmoid(α x)`` and ``α * s * (1 - s)``) runs the same operations in place in
    ``out`` instead of allocating five temporaries. When α is a power of two, α ≥ 1 and
    :math:`\alpha V_{th}` is finite, scaling by α is exact, so :math:`\alpha(h - V_{th})` is
    computed as :math:`\alpha h - \alpha V_{th}` in one pass and ``α * s * (1 - s)`` as one
    ``sigmoid_backward`` kernel (``α (1 - s) s``): three passes instead of six, the same bits.
    """
    spec = _surrogate.spec(_surrogate.available()[surrogate_id])
    derivative = spec.derivative
    params = tuple(params)
    if derivative is not getattr(_surrogate_family, "_sigmoid_grad", None) or len(params) != 1:
        def generic(h: Tensor, out: Tensor) -> Tensor:
            return derivative(torch.sub(h, v_threshold, out=out), *params)
        return generic
    alpha = float(params[0])
    if not (_is_power_of_two(alpha) and alpha >= 1.0 and math.isfinite(alpha * v_threshold)):
        def sigmoid_derivative(h: Tensor, out: Tensor) -> Tensor:
            s = torch.sub(h, v_threshold, out=out).mul_(alpha).sigmoid_()
            one_minus_s = torch.rsub(s, 1)
            return s.mul_(alpha).mul_(one_minus_s)
        return sigmoid_derivative
    scalars: dict[tuple[torch.dtype, torch.device], tuple[Tensor, Tensor]] = {}

    def sigmoid_derivative_pow2(h: Tensor, out: Tensor) -> Tensor:
        key = (h.dtype, h.device)
        consts = scalars.get(key)
        if consts is None:
            consts = scalars[key] = (
                torch.full((), -alpha * v_threshold, dtype=h.dtype, device=h.device),
                torch.full((), alpha, dtype=h.dtype, device=h.device))
        shift, a = consts
        s = torch.add(shift, h, alpha=alpha, out=out).sigmoid_()
        return torch.ops.aten.sigmoid_backward.grad_input(a, s, grad_input=s)
    return sigmoid_derivative_pow2


def _check_x_v(x_seq: object, v_init: object, name: str = "v_init") -> tuple[Tensor, Tensor]:
    x_seq = check_floating_tensor(x_seq, "x_seq")
    if x_seq.dim() < 2:
        raise ValueError(f"x_seq must have shape [T, *neurons] with at least 2 dimensions, got "
                         f"shape {tuple(x_seq.shape)}")
    if x_seq.shape[0] < 1:
        raise ValueError("x_seq must have at least one time step (T >= 1)")
    v_init = check_floating_tensor(v_init, name)
    if v_init.device != x_seq.device:
        raise ValueError(f"{name} is on {v_init.device} but x_seq is on {x_seq.device}")
    shape = x_seq.shape[1:]
    try:
        v0 = v_init.expand(shape)
    except RuntimeError:
        raise ValueError(f"{name} of shape {tuple(v_init.shape)} does not broadcast to the "
                         f"neuron shape {tuple(shape)} of x_seq") from None
    return x_seq, v0


def _compute_dtype(*dtypes: torch.dtype) -> torch.dtype:
    out = torch.float32
    for d in dtypes:
        out = torch.promote_types(out, d)
    return out


def _reset_value(v_reset: float | None, name: str = "v_reset") -> float | None:
    return None if v_reset is None else check_real(name, v_reset)


# --------------------------------------------------------------------------------------------
# shared pieces: reset (forward), its derivative and the block-wise BPTT (backward)

# The backward works on blocks of time steps whose temporaries hold about this many elements
# (128 KiB in float32): large enough that each operation amortises its dispatch cost, small enough
# that the temporaries stay in cache and add little to the peak memory (instead of a dozen
# [T, ...]-sized intermediates). 2**14 to 2**17 measured the same speed on a 1-thread CPU.
_BLOCK_ELEMENTS = 1 << 15
_COMPILED_BLOCK_ELEMENTS = 1 << 18


def _blocks(T: int, per_step: int, elements: int | None = None) -> list[tuple[int, int]]:
    """``[t0, t1)`` blocks covering ``range(T)``, last block first."""
    size = max(1, (_BLOCK_ELEMENTS if elements is None else elements) // max(per_step, 1))
    return [(t0, min(t0 + size, T)) for t0 in range(((T - 1) // size) * size, -1, -size)]


class _Resetter:
    """Per-step fire + reset into preallocated buffers (``spike`` in the compute dtype).

    Only float arithmetic (no boolean masks, whose kernels are slow on CPU): the hard reset is
    ``lerp(H, V_r, S)``, which returns exactly :math:`V_r` where S = 1 and H where S = 0.
    """

    def __init__(self, like: Tensor, v_threshold: float, v_reset: float | None) -> None:
        self.vth = v_threshold
        self.vr = None if v_reset is None else torch.tensor(v_reset, dtype=like.dtype,
                                                            device=like.device)

    def __call__(self, h: Tensor, spike_out: Tensor, v_out: Tensor) -> None:
        torch.ge(h, self.vth, out=spike_out)
        if self.vr is None:
            torch.add(h, spike_out, alpha=-self.vth, out=v_out)
        else:
            torch.lerp(h, self.vr, spike_out, out=v_out)


def _reset_all(h: Tensor, v_threshold: float, v_reset: float | None) -> Tensor:
    """The post-reset potential for every entry of ``h`` (vectorised, same ops as forward)."""
    spike = torch.ge(h, v_threshold, out=torch.empty_like(h))
    if v_reset is None:
        return torch.add(h, spike, alpha=-v_threshold, out=spike)
    return torch.lerp(h, torch.tensor(v_reset, dtype=h.dtype, device=h.device), spike, out=spike)


def _v_prev(h_seq: Tensor, v0: Tensor, t0: int, t1: int, v_threshold: float,
            v_reset: float | None) -> Tensor:
    """:math:`V_{t-1}` for t in ``[t0, t1)``, recomputed from ``h_seq`` and ``v_init``."""
    if t0 > 0:
        return _reset_all(h_seq[t0 - 1:t1 - 1], v_threshold, v_reset)
    out = torch.empty_like(h_seq[:t1])
    out[0] = v0
    if t1 > 1:
        out[1:] = _reset_all(h_seq[:t1 - 1], v_threshold, v_reset)
    return out


def _reset_grad(h: Tensor, g: Tensor, v_threshold: float, v_reset: float | None,
                detach_reset: bool, work: tuple[Tensor, Tensor]) -> Tensor | None:
    """:math:`∂V_t/∂H_t` (None means the constant 1), written into the ``work`` buffers."""
    if v_reset is None:
        return None if detach_reset else torch.mul(g, -v_threshold, out=work[0]).add_(1.0)
    below = torch.lt(h, v_threshold, out=work[0])
    if detach_reset:
        return below
    # 1 - S + (V_r - H) g
    return below.addcmul_(h if v_reset == 0.0 else torch.sub(h, v_reset, out=work[1]), g,
                          value=-1.0)


def _izhikevich_reset_grad(h: Tensor, g: Tensor, v_threshold: float, v_reset: float | None,
                           detach_reset: bool, work: tuple[Tensor, Tensor]) -> Tensor | None:
    """Quirk: in :math:`(1 - \\hat S)H + S V_r` only the first term honours ``detach_reset``."""
    if v_reset is not None and detach_reset:
        return torch.lt(h, v_threshold, out=work[0]).add_(g, alpha=v_reset)
    return _reset_grad(h, g, v_threshold, v_reset, detach_reset, work)


def _workspace(h_seq: Tensor, elements: int | None = None
               ) -> tuple[list[tuple[int, int]], tuple[Tensor, Tensor, Tensor]]:
    """The blocks of the backward pass and three block-sized scratch buffers."""
    blocks = _blocks(h_seq.shape[0], h_seq[0].numel(), elements)
    size = max(t1 - t0 for t0, t1 in blocks)
    return blocks, tuple(torch.empty_like(h_seq[:size]) for _ in range(3))


def _signature_cached(cls: type[torch.autograd.Function]) -> type[torch.autograd.Function]:
    """Store the signature of ``cls.forward`` on it (``__signature__``, the same signature).

    ``Function.apply`` binds its arguments with ``inspect.signature(cls.forward)`` on every call
    when ``setup_context`` is defined; computing that signature took about 0.15 ms per call on
    a 1-thread CPU, and ``inspect.signature`` returns a stored ``__signature__`` at once.
    """
    forward = cls.forward
    forward.__signature__ = inspect.signature(forward)  # type: ignore[attr-defined]
    return cls


_ZEROS: dict[tuple[torch.dtype, torch.device], Tensor] = {}


def _zero(like: Tensor) -> Tensor:
    """A cached 0-dim zero of ``like``'s dtype and device (read only)."""
    key = (like.dtype, like.device)
    zero = _ZEROS.get(key)
    if zero is None:
        zero = _ZEROS[key] = torch.zeros((), dtype=like.dtype, device=like.device)
    return zero


def _direct_terms(out: Tensor, grad_spike: Tensor | None, grad_v: Tensor | None, g: Tensor,
                  dvdh: Tensor | None, scale: float = 1.0) -> None:
    r"""``out`` ← ``scale`` · :math:`((∂L/∂S_t) g_t + (∂L/∂V_t)_{direct}\,∂V_t/∂H_t)`."""
    if grad_spike is None:
        out.zero_()
    elif scale == 1.0:
        torch.mul(grad_spike.to(out.dtype), g, out=out)
    else:
        torch.addcmul(_zero(out), grad_spike.to(out.dtype), g, value=scale, out=out)
    if grad_v is not None:
        if dvdh is None:
            out.add_(grad_v.to(out.dtype), alpha=scale)
        else:
            out.addcmul_(grad_v.to(out.dtype), dvdh, value=scale)


def _may_overwrite_saved() -> bool:
    """Whether this backward pass may reuse the storage of its saved ``h_seq`` for δ.

    Only when autograd frees the graph after this pass (no ``retain_graph`` / ``create_graph``):
    then nothing reads ``h_seq`` again, and writing δ over it saves one ``[T, ...]`` buffer at the
    backward's peak. The query is a private torch function; without it the storage is never
    reused.
    """
    keep_graph = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    if keep_graph is None or torch._C._are_functorch_transforms_active():
        return False
    try:
        return not keep_graph()
    except RuntimeError:  # not inside a backward pass
        return False


_COMPILED_TERMS: dict[tuple[int, tuple[float, ...]], Callable[..., Any]] = {}


def _compiled_terms(surrogate_id: int, params: Sequence[float]) -> Callable[..., Any]:
    r"""``torch.compile``-d per-block terms of the LIF backward, cached per surrogate.

    ``terms(h, grad_spike, grad_v, v_threshold, v_reset, hard, detach, scale)`` returns
    ``(scale · c, ∂V/∂H or None)`` for a block, the same quantities as the eager
    :func:`_bptt` computes with about ten separate elementwise passes, but generated as one
    fused loop (Inductor; on CPU this needs a C++ compiler). The first calls of each
    configuration compile (seconds; twice, because torch.compile specialises the block at time
    offset 0 apart from the others); later calls reuse the compiled code.
    """
    key = (surrogate_id, tuple(params))
    fn = _COMPILED_TERMS.get(key)
    if fn is None:
        derivative = _derivative(surrogate_id, params)

        def terms(h: Tensor, grad_spike: Tensor | None, grad_v: Tensor | None,
                  v_threshold: float, v_reset: float, hard: bool, detach: bool,
                  scale: float) -> tuple[Tensor, Tensor | None]:
            g = derivative(h - v_threshold)
            dvdh: Tensor | None
            if hard:
                dvdh = (h < v_threshold).to(h.dtype)
                if not detach:
                    dvdh = dvdh + (v_reset - h) * g
            else:
                dvdh = None if detach else 1.0 - v_threshold * g
            c = torch.zeros_like(h) if grad_spike is None else grad_spike.to(h.dtype) * g
            if grad_v is not None:
                c = c + (grad_v.to(h.dtype) if dvdh is None else grad_v.to(h.dtype) * dvdh)
            return c * scale, dvdh

        fn = torch.compile(terms, dynamic=True)
        _COMPILED_TERMS[key] = fn
    return fn


def _bptt(grad_spike: Tensor | None, grad_v: Tensor | None, h_seq: Tensor, *,
          v_threshold: float, v_reset: float | None, detach_reset: bool,
          derivative: ShiftedDerivative, dhdv: float | Callable[[Tensor], Tensor],
          grad_v_last: Tensor | None = None,
          k_factor: Callable[[int, int], Tensor] | None = None,
          overwrite: bool = False, scale: float = 1.0,
          terms: Callable[..., Any] | None = None) -> tuple[Tensor, Tensor | None]:
    r"""``scale`` · (:math:`\delta_t = dL/dH_t` for all t, :math:`\sum_{t,n} \delta_t f_t` or None).

    For a neuron with one state V. ``derivative(h, scratch)`` is :math:`g = \sigma'(h - V_{th})`
    (from :func:`_derivative_of_h`). ``dhdv`` is :math:`∂H_{t+1}/∂V_t`, a constant or a function
    of :math:`V_t`. Per block of time steps (last first): :math:`g`, :math:`∂V/∂H`, the direct
    terms :math:`c_t` and the factors :math:`m_t = (∂V_t/∂H_t)(∂H_{t+1}/∂V_t)` are computed at
    once, then :math:`\delta_t = c_t + m_t \delta_{t+1}` runs step by step. ``grad_v_last`` is
    the direct gradient of the final :math:`V_{T-1}` alone (when ``v_seq`` was not stored).
    ``k_factor(t0, t1)`` gives :math:`f_t` (e.g. :math:`∂H_t/∂k`) for a block; the weighted sum
    is accumulated. The recurrence is linear, so it runs on ``scale`` · δ directly (``scale`` =
    :math:`∂H/∂X`, which makes the result ``grad_x`` without another pass). With ``overwrite`` δ
    is written over ``h_seq`` (everything a block needs from
    ``h_seq`` is read before its δ is written, and earlier blocks are untouched). ``terms``
    (from :func:`_compiled_terms`, constant ``dhdv`` only) computes :math:`c` and
    :math:`∂V/∂H` of a block in one compiled kernel instead.
    """
    T = h_seq.shape[0]
    delta = h_seq if overwrite else torch.empty_like(h_seq)
    total = None if k_factor is None else torch.zeros((), dtype=h_seq.dtype,
                                                      device=h_seq.device)
    # a compiled block is one kernel call: larger blocks amortise its call overhead
    blocks, work = _workspace(h_seq, _COMPILED_BLOCK_ELEMENTS if terms is not None else None)
    # per-block and per-step views, made once (blocks start at multiples of ``size``)
    size = work[0].shape[0]
    ds = delta.unbind(0)
    h_blocks, d_blocks = h_seq.split(size), delta.split(size)
    gs_blocks = None if grad_spike is None else grad_spike.split(size)
    gv_blocks = None if grad_v is None else grad_v.split(size)
    for t0, t1 in blocks:
        j, n = t0 // size, t1 - t0
        h = h_blocks[j]
        gs_block = None if gs_blocks is None else gs_blocks[j]
        gv_block = None if gv_blocks is None else gv_blocks[j]
        w = work if n == size else tuple(b[:n] for b in work)
        if terms is not None and not callable(dhdv):
            c, dvdh = terms(h, gs_block, gv_block, v_threshold,
                            0.0 if v_reset is None else v_reset, v_reset is not None,
                            detach_reset, scale)
            m_v = None
            factor = None if k_factor is None else k_factor(t0, t1)
            d_blocks[j].copy_(c)  # reads of h_seq[t0:t1] end before this write
        else:
            g = derivative(h, w[2])
            if g.dtype != h.dtype:
                g = g.to(h.dtype)
            dvdh = _reset_grad(h, g, v_threshold, v_reset, detach_reset, (w[0], w[1]))
            # ∂H_{t+1}/∂V_t from V_t
            m_v = dhdv(_reset_all(h, v_threshold, v_reset)) if callable(dhdv) else None
            factor = None if k_factor is None else k_factor(t0, t1)
            # reads of h_seq[t0:t1] end here
            _direct_terms(d_blocks[j], gs_block, gv_block, g, dvdh, scale)
        if grad_v_last is not None and t1 == T:
            if dvdh is None:
                delta[T - 1].add_(grad_v_last.to(h.dtype), alpha=scale)
            else:
                delta[T - 1].addcmul_(grad_v_last.to(h.dtype), dvdh[T - 1 - t0], value=scale)
        # δ_t = c_t + m_t δ_{t+1} with m_t = m[t] · m_scale
        m: Tensor | None
        if m_v is not None:
            m, m_scale = (m_v if dvdh is None else m_v.mul_(dvdh)), 1.0
        else:
            m, m_scale = dvdh, float(dhdv)
        ms = None if m is None else m.unbind(0)
        for t in range(min(t1, T - 1) - 1, t0 - 1, -1):
            if ms is not None:
                torch.addcmul(ds[t], ms[t - t0], ds[t + 1], value=m_scale, out=ds[t])
            elif m_scale != 0.0:
                torch.add(ds[t], ds[t + 1], alpha=m_scale, out=ds[t])
        if factor is not None:
            total.add_(torch.sum(factor.mul_(d_blocks[j])))
    return delta, total


# --------------------------------------------------------------------------------------------
# IF / LIF / PLIF


def _lif_forward(x_seq: Tensor, v0: Tensor, k: float, decay_input: bool, v_threshold: float,
                 v_reset: float | None, store_v_seq: bool = True
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """(spike_seq, v_seq or the last V, h_seq) in the compute dtype; no autograd recording."""
    ct = _compute_dtype(x_seq.dtype, v0.dtype)
    with torch.no_grad():
        x = x_seq.to(ct)
        vr = 0.0 if v_reset is None else v_reset
        h_seq = torch.empty_like(x)
        # without store_v_seq two [*] buffers take turns holding V_t
        v_seq = torch.empty_like(x) if store_v_seq else torch.empty_like(x[:2])
        spike = torch.empty_like(x)
        beta, bias = 1.0 - k, (k * vr if k != 0.0 else 0.0)
        fire = _Resetter(x, v_threshold, v_reset)
        v = v0.to(ct)
        v_views = v_seq.unbind(0)
        # H_t = (k X_t + k V_r) + (1 - k) V_{t-1} (decay_input) or (X_t + k V_r) + (1 - k) V_{t-1},
        # the same operations in the same order as a whole-sequence input pass would do, but
        # one step at a time, so that H_t is still in cache when it is charged, fired and reset
        hard = fire.vr is not None
        for t, (xt, h, s) in enumerate(zip(x.unbind(0), h_seq.unbind(0), spike.unbind(0),
                                           strict=True)):
            if decay_input:
                torch.mul(xt, k, out=h)
                if bias != 0.0:
                    h.add_(bias)
                h.add_(v, alpha=beta)
            elif bias != 0.0:
                torch.add(xt, bias, out=h).add_(v, alpha=beta)
            else:
                torch.add(xt, v, alpha=beta, out=h)
            v = v_views[t] if store_v_seq else v_views[t % 2]
            # fire and reset (_Resetter, inlined)
            torch.ge(h, v_threshold, out=s)
            if hard:
                torch.lerp(h, fire.vr, s, out=v)
            else:
                torch.add(h, s, alpha=-v_threshold, out=v)
    return spike, (v_seq if store_v_seq else v), h_seq


def _lif_backward(grad_spike: Tensor | None, grad_v: Tensor | None, h_seq: Tensor, v0: Tensor,
                  k: float, decay_input: bool, v_threshold: float, v_reset: float | None,
                  detach_reset: bool, derivative: ShiftedDerivative, need_k: bool,
                  grad_v_last: Tensor | None = None, overwrite: bool = False,
                  terms: Callable[..., Any] | None = None
                  ) -> tuple[Tensor, Tensor, Tensor | None]:
    r"""(δ·∂H/∂X, δ_0·∂H_0/∂V_{-1}, dL/dk or None), all in the compute dtype."""
    vr = 0.0 if v_reset is None else v_reset

    def dh_dk(t0: int, t1: int) -> Tensor:
        v_prev = _v_prev(h_seq, v0.to(h_seq.dtype), t0, t1, v_threshold, v_reset)
        if decay_input:
            # X_t - (V_{t-1} - V_r) = (H_t - V_{t-1}) / k: x_seq is not saved
            return v_prev.neg_().add_(h_seq[t0:t1]).div_(k)
        return v_prev.sub_(vr).neg_()

    # ∂H/∂X = k is folded into the recurrence (returned δ is k δ) unless k = 0
    scale = k if (decay_input and k != 0.0) else 1.0
    delta, grad_k = _bptt(grad_spike, grad_v, h_seq, v_threshold=v_threshold, v_reset=v_reset,
                          detach_reset=detach_reset, derivative=derivative, dhdv=1.0 - k,
                          grad_v_last=grad_v_last, k_factor=dh_dk if need_k else None,
                          overwrite=overwrite, scale=scale, terms=terms)
    grad_v0 = delta[0] * ((1.0 - k) / scale)
    if grad_k is not None and scale != 1.0:
        grad_k.div_(scale)
    if decay_input and scale == 1.0:
        delta.mul_(k)
    return delta, grad_v0, grad_k


@_signature_cached
class _LIFMultiStep(torch.autograd.Function):
    """The LIF loop as one autograd node (eager path); see the module docstring for the math."""

    @staticmethod
    def forward(x_seq: Tensor, v0: Tensor, decay: Tensor | float, decay_input: bool,
                v_threshold: float, v_reset: float | None, detach_reset: bool,
                surrogate_id: int, params: tuple[float, ...], store_v_seq: bool,
                compile_backward: bool) -> tuple[Tensor, ...]:
        k = float(decay)
        spike, v_seq, h_seq = _lif_forward(x_seq, v0, k, decay_input, v_threshold, v_reset,
                                           store_v_seq)
        return spike.to(x_seq.dtype), v_seq.to(torch.promote_types(x_seq.dtype, v0.dtype)), h_seq

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        (x_seq, v0, decay, decay_input, v_threshold, v_reset, detach_reset, sid, params, _,
         compile_backward) = inputs
        h_seq = output[2]
        ctx.mark_non_differentiable(h_seq)
        ctx.set_materialize_grads(False)
        need_k = isinstance(decay, Tensor) and ctx.needs_input_grad[2]
        # v_init is needed only to recompute V_{-1} for dL/dk
        ctx.save_for_backward(h_seq, v0 if need_k else None)
        ctx.config = (float(decay), decay_input, v_threshold, v_reset, detach_reset, sid, params,
                      compile_backward)
        ctx.dtypes = (x_seq.dtype, v0.dtype, decay.dtype if isinstance(decay, Tensor) else None)

    @staticmethod
    def backward(ctx: Any, grad_spike: Tensor | None, grad_v: Tensor | None,
                 _grad_h: Tensor | None) -> tuple[Tensor | None, ...]:
        h_seq, v0 = ctx.saved_tensors
        k, decay_input, v_threshold, v_reset, detach_reset, sid, params, compiled = ctx.config
        need_x, need_v, need_k = ctx.needs_input_grad[:3]
        none = (None,) * 8
        if grad_spike is None and grad_v is None:
            return (None, None, None, *none)
        last = grad_v is not None and grad_v.dim() < h_seq.dim()  # v_seq was not stored
        grad_x, grad_v0, grad_k = _lif_backward(
            grad_spike, None if last else grad_v, h_seq, v0, k, decay_input, v_threshold,
            v_reset, detach_reset, _derivative_of_h(sid, params, v_threshold),
            need_k and v0 is not None,
            grad_v_last=grad_v if last else None, overwrite=_may_overwrite_saved(),
            terms=_compiled_terms(sid, params) if compiled else None)
        x_dtype, v_dtype, k_dtype = ctx.dtypes
        return (grad_x.to(x_dtype) if need_x else None,
                grad_v0.to(v_dtype) if need_v else None,
                grad_k.to(k_dtype) if (need_k and grad_k is not None) else None, *none)


# custom operator: the same path, traceable by torch.compile ----------------------------------


@torch.library.custom_op("sgcourse::lif_multistep_fused", mutates_args=())
def _lif_op(x_seq: Tensor, v_init: Tensor, decay: Tensor, decay_input: bool, v_threshold: float,
            v_reset: float | None, detach_reset: bool, surrogate_id: int,
            surrogate_params: list[float]) -> tuple[Tensor, Tensor, Tensor]:
    """Forward of the fused LIF loop: (spike_seq, v_seq, h_seq); ``v_init`` of shape x_seq[0]."""
    spike, v_seq, h_seq = _lif_forward(x_seq, v_init, float(decay), decay_input, v_threshold,
                                       v_reset)
    return (spike.to(x_seq.dtype), v_seq.to(torch.promote_types(x_seq.dtype, v_init.dtype)),
            h_seq)


@_lif_op.register_fake
def _(x_seq, v_init, decay, decay_input, v_threshold, v_reset, detach_reset, surrogate_id,
      surrogate_params):
    ct = _compute_dtype(x_seq.dtype, v_init.dtype)
    return (torch.empty_like(x_seq),
            torch.empty_like(x_seq, dtype=torch.promote_types(x_seq.dtype, v_init.dtype)),
            torch.empty_like(x_seq, dtype=ct))


@torch.library.custom_op("sgcourse::lif_multistep_fused_backward", mutates_args=())
def _lif_op_backward(grad_spike: Tensor, grad_v: Tensor, h_seq: Tensor, v_init: Tensor,
                     decay: Tensor, decay_input: bool, v_threshold: float, v_reset: float | None,
                     detach_reset: bool, surrogate_id: int, surrogate_params: list[float],
                     need_k: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Backward of ``lif_multistep_fused``: (grad_x, grad_v_init, grad_decay)."""
    grad_x, grad_v0, grad_k = _lif_backward(
        grad_spike, grad_v, h_seq, v_init, float(decay), decay_input, v_threshold, v_reset,
        detach_reset, _derivative_of_h(surrogate_id, surrogate_params, v_threshold), need_k)
    if grad_k is None:
        grad_k = torch.zeros((), dtype=h_seq.dtype, device=h_seq.device)
    return (grad_x.to(grad_spike.dtype), grad_v0.to(v_init.dtype),
            grad_k.reshape(decay.shape).to(decay.dtype))


@_lif_op_backward.register_fake
def _(grad_spike, grad_v, h_seq, v_init, decay, decay_input, v_threshold, v_reset, detach_reset,
      surrogate_id, surrogate_params, need_k):
    return (torch.empty_like(grad_spike), torch.empty_like(v_init), torch.empty_like(decay))


def _lif_op_setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
    x_seq, v_init, decay, *config = inputs
    ctx.mark_non_differentiable(output[2])
    ctx.save_for_backward(output[2], v_init, decay)
    ctx.config = tuple(config)
    ctx.x_dtype = x_seq.dtype


def _lif_op_autograd(ctx: Any, grad_spike: Tensor | None, grad_v: Tensor | None,
                     _grad_h: Tensor | None) -> tuple[Tensor | None, ...]:
    h_seq, v_init, decay = ctx.saved_tensors
    decay_input, v_threshold, v_reset, detach_reset, sid, params = ctx.config
    if grad_spike is None:
        grad_spike = torch.zeros_like(h_seq, dtype=ctx.x_dtype)
    if grad_v is None:
        grad_v = torch.zeros_like(h_seq)
    grad_x, grad_v0, grad_k = torch.ops.sgcourse.lif_multistep_fused_backward(
        grad_spike, grad_v, h_seq, v_init, decay, decay_input, v_threshold, v_reset,
        detach_reset, sid, params, bool(ctx.needs_input_grad[2]))
    return (grad_x if ctx.needs_input_grad[0] else None,
            grad_v0 if ctx.needs_input_grad[1] else None,
            grad_k if ctx.needs_input_grad[2] else None,
            None, None, None, None, None, None)


_lif_op.register_autograd(_lif_op_autograd, setup_context=_lif_op_setup_context)


def _check_decay(decay: object) -> Tensor | float:
    if isinstance(decay, Tensor):
        if decay.numel() != 1:
            raise ValueError(f"decay must be a float or a 0-dim tensor, got a tensor of shape "
                             f"{tuple(decay.shape)}")
        check_floating_tensor(decay, "decay")
        return decay.reshape(())
    k = check_real("decay", decay)
    if not 0.0 <= k <= 1.0:
        raise ValueError(f"decay must be in [0, 1] (k = 1/tau), got {k}")
    return k


def lif_multistep(x_seq: Tensor, v_init: Tensor, decay: float | Tensor, *, decay_input: bool,
                  v_threshold: float, v_reset: float | None, detach_reset: bool,
                  surrogate: _surrogate.Surrogate, use_custom_op: bool | None = None,
                  store_v_seq: bool = True, compile_backward: bool = False
                  ) -> tuple[Tensor, Tensor]:
    r"""Fused multi-step IF / LIF / ParametricLIF: ``(spike_seq, v_seq)``, both ``[T, ...]``.

    ``decay`` is :math:`k = 1/\tau` (a float; 0 with ``decay_input=False`` gives IF) or a 0-dim
    tensor that may require grad (ParametricLIF, :math:`k = \mathrm{sigmoid}(w)`). With
    :math:`V_r` = ``v_reset`` (0 for the soft reset ``v_reset=None``):

    .. math::

        H_t = \begin{cases} V_{t-1} + k\,(X_t - (V_{t-1} - V_r)) & \text{decay\_input} \\
              V_{t-1} - k\,(V_{t-1} - V_r) + X_t & \text{otherwise} \end{cases},\qquad
        S_t = \Theta(H_t - V_{th}),

    then the hard or soft reset (module docstring). ``v_seq`` holds the post-reset :math:`V_t`.
    The backward pass is the hand-written BPTT of the module docstring; only ``h_seq`` is saved
    (and ``v_init`` when ``decay`` requires grad). Gradients flow to ``x_seq``, ``v_init`` and a
    tensor ``decay`` (summed over time and neurons).

    ``store_v_seq=False`` returns ``(spike_seq, v_last)`` with ``v_last`` = :math:`V_{T-1}` of
    shape ``x_seq.shape[1:]`` and never materialises the ``[T, ...]`` potential sequence (one
    ``[T, ...]`` tensor less at the forward's peak), like SpikingJelly's default
    ``store_v_seq=False``.

    ``compile_backward=True`` (eager path only): the per-block elementwise terms of the backward
    (surrogate derivative, reset derivative, direct terms) run as one ``torch.compile``-d kernel
    instead of about ten torch operations; the first call of each configuration compiles
    (seconds; on CPU a C++ compiler is needed), later calls reuse it.

    ``use_custom_op``: route through ``torch.ops.sgcourse.lif_multistep_fused`` (default: only
    while ``torch.compile`` traces; the eager path uses an autograd Function with less overhead).
    """
    x_seq, v0 = _check_x_v(x_seq, v_init)
    k = _check_decay(decay)
    decay_input = check_bool("decay_input", decay_input)
    detach_reset = check_bool("detach_reset", detach_reset)
    v_threshold = check_real("v_threshold", v_threshold)
    v_reset = _reset_value(v_reset)
    sid, params = _check_surrogate(surrogate)
    store_v_seq = check_bool("store_v_seq", store_v_seq)
    compile_backward = check_bool("compile_backward", compile_backward)
    if use_custom_op is None:
        use_custom_op = torch.compiler.is_compiling()
    if use_custom_op:
        k_t = k if isinstance(k, Tensor) else torch.tensor(k, dtype=torch.float64)
        spike, v_seq, _ = torch.ops.sgcourse.lif_multistep_fused(
            x_seq, v0, k_t, decay_input, v_threshold, v_reset, detach_reset, sid, list(params))
        return spike, (v_seq if store_v_seq else v_seq[-1])
    spike, v_seq, _ = _LIFMultiStep.apply(x_seq, v0, k, decay_input, v_threshold, v_reset,
                                          detach_reset, sid, params, store_v_seq,
                                          compile_backward)
    return spike, v_seq


# --------------------------------------------------------------------------------------------
# QIF / EIF: one state, a non-linear charge; ∂H/∂V depends on V_{t-1}


def _qif_charge_grad(v_prev: Tensor, k: float, a0: float, v_rest: float, v_c: float) -> Tensor:
    r""":math:`∂H/∂V = 1 + k a_0 (2V - V_{rest} - V_c)` for all t."""
    return torch.mul(v_prev, 2.0 * k * a0).add_(1.0 - k * a0 * (v_rest + v_c))


def _eif_charge_grad(v_prev: Tensor, k: float, delta_t: float, theta_rh: float) -> Tensor:
    r""":math:`∂H/∂V = 1 - k + k e^{(V - \theta_{rh})/\Delta_T}` for all t."""
    return torch.sub(v_prev, theta_rh).div_(delta_t).exp_().mul_(k).add_(1.0 - k)


def _nonlinear_forward(kind: str, x_seq: Tensor, v0: Tensor, p: tuple[float, ...],
                       v_threshold: float, v_reset: float | None
                       ) -> tuple[Tensor, Tensor, Tensor]:
    ct = _compute_dtype(x_seq.dtype, v0.dtype)
    with torch.no_grad():
        x = x_seq.to(ct)
        h_seq, v_seq, spike = (torch.empty_like(x) for _ in range(3))
        fire = _Resetter(x, v_threshold, v_reset)
        tmp, tmp2 = torch.empty_like(x[0]), torch.empty_like(x[0])
        v = v0.to(ct)
        if kind == "qif":
            k, a0, v_rest, v_c = p
            torch.mul(x, k, out=h_seq)  # k X_t for all t
            for t in range(x.shape[0]):
                h = h_seq[t]
                torch.sub(v, v_rest, out=tmp)
                torch.sub(v, v_c, out=tmp2)
                h.add_(v).addcmul_(tmp, tmp2, value=k * a0)
                fire(h, spike[t], v_seq[t])
                v = v_seq[t]
        else:  # eif
            k, delta_t, theta_rh, v_rest = p
            torch.add(x, v_rest, out=h_seq).mul_(k)  # k (X_t + V_rest) for all t
            for t in range(x.shape[0]):
                h = h_seq[t]
                torch.sub(v, theta_rh, out=tmp)
                tmp.div_(delta_t).exp_()
                h.add_(v, alpha=1.0 - k).add_(tmp, alpha=k * delta_t)
                fire(h, spike[t], v_seq[t])
                v = v_seq[t]
    return spike, v_seq, h_seq


@_signature_cached
class _NonlinearMultiStep(torch.autograd.Function):
    """QIF / EIF loop as one autograd node; saves ``h_seq`` and ``v_init``."""

    @staticmethod
    def forward(x_seq: Tensor, v0: Tensor, kind: str, p: tuple[float, ...], v_threshold: float,
                v_reset: float | None, detach_reset: bool, surrogate_id: int,
                params: tuple[float, ...]) -> tuple[Tensor, ...]:
        spike, v_seq, h_seq = _nonlinear_forward(kind, x_seq, v0, p, v_threshold, v_reset)
        return spike.to(x_seq.dtype), v_seq.to(torch.promote_types(x_seq.dtype, v0.dtype)), h_seq

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        x_seq, v0, *config = inputs
        ctx.mark_non_differentiable(output[2])
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(output[2], v0)
        ctx.config = tuple(config)
        ctx.dtypes = (x_seq.dtype, v0.dtype)

    @staticmethod
    def backward(ctx: Any, grad_spike: Tensor | None, grad_v: Tensor | None,
                 _grad_h: Tensor | None) -> tuple[Tensor | None, ...]:
        none = (None,) * 7
        if grad_spike is None and grad_v is None:
            return (None, None, *none)
        h_seq, v0 = ctx.saved_tensors
        kind, p, v_threshold, v_reset, detach_reset, sid, params = ctx.config
        k = p[0]
        if kind == "qif":
            def dhdv(v: Tensor) -> Tensor:
                return _qif_charge_grad(v, k, p[1], p[2], p[3])
        else:
            def dhdv(v: Tensor) -> Tensor:
                return _eif_charge_grad(v, k, p[1], p[2])
        # returns k δ: ∂H/∂X = k folded into the recurrence
        delta, _ = _bptt(grad_spike, grad_v, h_seq, v_threshold=v_threshold, v_reset=v_reset,
                         detach_reset=detach_reset,
                         derivative=_derivative_of_h(sid, params, v_threshold),
                         dhdv=dhdv, overwrite=_may_overwrite_saved(), scale=k)
        need_x, need_v = ctx.needs_input_grad[:2]
        x_dtype, v_dtype = ctx.dtypes
        grad_v0 = ((delta[0] * dhdv(v0.to(h_seq.dtype)).div_(k)).to(v_dtype) if need_v
                   else None)
        grad_x = delta.to(x_dtype) if need_x else None
        return (grad_x, grad_v0, *none)


def _neuron_args(v_threshold: object, v_reset: object, detach_reset: object,
                 surrogate: object) -> tuple[float, float | None, bool, int, tuple[float, ...]]:
    sid, params = _check_surrogate(surrogate)
    return (check_real("v_threshold", v_threshold), _reset_value(v_reset),
            check_bool("detach_reset", detach_reset), sid, params)


def qif_multistep(x_seq: Tensor, v_init: Tensor, *, tau: float, v_c: float, a0: float,
                  v_rest: float, v_threshold: float, v_reset: float | None, detach_reset: bool,
                  surrogate: _surrogate.Surrogate) -> tuple[Tensor, Tensor]:
    r"""Fused multi-step quadratic integrate-and-fire: ``(spike_seq, v_seq)``.

    .. math::

        H_t = V_{t-1} + \frac{1}{\tau}\bigl(X_t + a_0 (V_{t-1} - V_{rest})(V_{t-1} - V_c)\bigr),
        \qquad S_t = \Theta(H_t - V_{th}),

    then the hard (``v_reset`` a number) or soft (``None``) reset. BPTT with
    :math:`∂H_t/∂V_{t-1} = 1 + a_0(2V_{t-1} - V_{rest} - V_c)/\tau` and :math:`∂H_t/∂X_t = 1/\tau`;
    :math:`dL/dV_{init} = \delta_0\,∂H_0/∂V_{-1}`. Saves ``h_seq`` and ``v_init``.
    ``tau`` > 0 (SpikingJelly asserts > 1), ``a0`` > 0.
    """
    x_seq, v0 = _check_x_v(x_seq, v_init)
    k = 1.0 / check_real("tau", tau, _POSITIVE)
    p = (k, check_real("a0", a0, _POSITIVE), check_real("v_rest", v_rest),
         check_real("v_c", v_c))
    spike, v_seq, _ = _NonlinearMultiStep.apply(
        x_seq, v0, "qif", p, *_neuron_args(v_threshold, v_reset, detach_reset, surrogate))
    return spike, v_seq


def eif_multistep(x_seq: Tensor, v_init: Tensor, *, tau: float, delta_t: float, theta_rh: float,
                  v_rest: float, v_threshold: float, v_reset: float | None, detach_reset: bool,
                  surrogate: _surrogate.Surrogate) -> tuple[Tensor, Tensor]:
    r"""Fused multi-step exponential integrate-and-fire: ``(spike_seq, v_seq)``.

    .. math::

        H_t = V_{t-1} + \frac{1}{\tau}\Bigl(X_t + V_{rest} - V_{t-1}
              + \Delta_T \exp\frac{V_{t-1} - \theta_{rh}}{\Delta_T}\Bigr),
        \qquad S_t = \Theta(H_t - V_{th}),

    then the hard or soft reset. BPTT with :math:`∂H_t/∂V_{t-1} = 1 - 1/\tau +
    e^{(V_{t-1} - \theta_{rh})/\Delta_T}/\tau` and :math:`∂H_t/∂X_t = 1/\tau`;
    :math:`dL/dV_{init} = \delta_0\,∂H_0/∂V_{-1}`. Saves ``h_seq`` and ``v_init``.
    """
    x_seq, v0 = _check_x_v(x_seq, v_init)
    k = 1.0 / check_real("tau", tau, _POSITIVE)
    p = (k, check_real("delta_t", delta_t, _POSITIVE), check_real("theta_rh", theta_rh),
         check_real("v_rest", v_rest))
    spike, v_seq, _ = _NonlinearMultiStep.apply(
        x_seq, v0, "eif", p, *_neuron_args(v_threshold, v_reset, detach_reset, surrogate))
    return spike, v_seq


# --------------------------------------------------------------------------------------------
# Izhikevich: two states (V, W)


def _izhikevich_forward(x_seq: Tensor, v0: Tensor, w0: Tensor, p: tuple[float, ...],
                        v_threshold: float, v_reset: float | None
                        ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    k, a0, v_rest, v_c, lam, a_w, b = p  # lam = 1 - 1/tau_w, a_w = a / tau_w
    ct = _compute_dtype(x_seq.dtype, v0.dtype, w0.dtype)
    with torch.no_grad():
        x = x_seq.to(ct)
        h_seq, v_seq, w_seq, spike = (torch.empty_like(x) for _ in range(4))
        fire = _Resetter(x, v_threshold, v_reset)
        tmp, tmp2 = torch.empty_like(x[0]), torch.empty_like(x[0])
        torch.mul(x, k, out=h_seq)  # k X_t for all t
        v, w = v0.to(ct), w0.to(ct)
        for t in range(x.shape[0]):
            h = h_seq[t]
            torch.sub(v, v_rest, out=tmp)
            torch.sub(v, v_c, out=tmp2)
            h.add_(v).addcmul_(tmp, tmp2, value=k * a0).sub_(w, alpha=k)
            fire(h, spike[t], v_seq[t])
            # W_t = lam W + a_w (H - V_rest) + b S
            w_t = w_seq[t]
            torch.sub(h, v_rest, out=tmp)
            torch.mul(w, lam, out=w_t)
            w_t.add_(tmp, alpha=a_w)
            if b != 0.0:
                w_t.add_(spike[t], alpha=b)
            v, w = v_seq[t], w_t
    return spike, v_seq, w_seq, h_seq


@_signature_cached
class _IzhikevichMultiStep(torch.autograd.Function):
    """Izhikevich loop as one autograd node; saves ``h_seq`` and ``v_init``."""

    @staticmethod
    def forward(x_seq: Tensor, v0: Tensor, w0: Tensor, p: tuple[float, ...], v_threshold: float,
                v_reset: float | None, detach_reset: bool, surrogate_id: int,
                params: tuple[float, ...]) -> tuple[Tensor, ...]:
        spike, v_seq, w_seq, h_seq = _izhikevich_forward(x_seq, v0, w0, p, v_threshold, v_reset)
        st = torch.promote_types(x_seq.dtype, v0.dtype)
        return (spike.to(x_seq.dtype), v_seq.to(st),
                w_seq.to(torch.promote_types(x_seq.dtype, w0.dtype)), h_seq)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        x_seq, v0, w0, *config = inputs
        ctx.mark_non_differentiable(output[3])
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(output[3], v0)
        ctx.config = tuple(config)
        ctx.dtypes = (x_seq.dtype, v0.dtype, w0.dtype)

    @staticmethod
    def backward(ctx: Any, grad_spike: Tensor | None, grad_v: Tensor | None,
                 grad_w: Tensor | None, _grad_h: Tensor | None) -> tuple[Tensor | None, ...]:
        none = (None,) * 6
        if grad_spike is None and grad_v is None and grad_w is None:
            return (None, None, None, *none)
        h_seq, v0 = ctx.saved_tensors
        p, v_threshold, v_reset, detach_reset, sid, params = ctx.config
        k, a0, v_rest, v_c, lam, a_w, b = p
        derivative = _derivative_of_h(sid, params, v_threshold)
        T = h_seq.shape[0]
        delta = h_seq if _may_overwrite_saved() else torch.empty_like(h_seq)
        blocks, work = _workspace(h_seq)
        gw = grad_w
        omega = (torch.zeros_like(h_seq[0]) if gw is None
                 else gw[T - 1].to(h_seq.dtype, copy=True))
        nxt = torch.empty_like(omega)
        for t0, t1 in blocks:
            h = h_seq[t0:t1]
            n = t1 - t0
            g = derivative(h, work[2][:n]).to(h.dtype)
            dvdh = _izhikevich_reset_grad(h, g, v_threshold, v_reset, detach_reset,
                                          (work[0][:n], work[1][:n]))
            m = _qif_charge_grad(_reset_all(h, v_threshold, v_reset), k, a0, v_rest, v_c)
            # reads of h_seq[t0:t1] end here (delta may share its storage)
            _direct_terms(delta[t0:t1], None if grad_spike is None else grad_spike[t0:t1],
                          None if grad_v is None else grad_v[t0:t1], g, dvdh)
            if dvdh is not None:
                m.mul_(dvdh)
            q = g.mul_(b).add_(a_w)  # ∂W_t/∂H_t = a/τ_w + b g_t (the jump is never detached)
            for t in range(t1 - 1, t0 - 1, -1):
                i = t - t0
                if t < T - 1:
                    # ω_t = (dL/dW_t)_direct + λ ω_{t+1} − k δ_{t+1}
                    if gw is None:
                        torch.mul(omega, lam, out=nxt)
                    else:
                        torch.add(gw[t].to(h.dtype), omega, alpha=lam, out=nxt)
                    nxt.sub_(delta[t + 1], alpha=k)
                    omega, nxt = nxt, omega
                    # δ_t = c_t + m_t δ_{t+1} + q_t ω_t
                    torch.addcmul(delta[t], m[i], delta[t + 1], out=delta[t])
                delta[t].addcmul_(q[i], omega)
        need_x, need_v, need_w = ctx.needs_input_grad[:3]
        x_dtype, v_dtype, w_dtype = ctx.dtypes
        ct = h_seq.dtype
        grad_v0 = ((delta[0] * _qif_charge_grad(v0.to(ct), k, a0, v_rest, v_c)).to(v_dtype)
                   if need_v else None)
        grad_w0 = (omega * lam).sub_(delta[0], alpha=k).to(w_dtype) if need_w else None
        grad_x = delta.mul_(k).to(x_dtype) if need_x else None
        return (grad_x, grad_v0, grad_w0, *none)


def izhikevich_multistep(x_seq: Tensor, v_init: Tensor, w_init: Tensor, *, tau: float,
                         v_c: float, a0: float, v_rest: float, tau_w: float, a: float, b: float,
                         v_threshold: float, v_reset: float | None, detach_reset: bool,
                         surrogate: _surrogate.Surrogate) -> tuple[Tensor, Tensor, Tensor]:
    r"""Fused multi-step Izhikevich neuron: ``(spike_seq, v_seq, w_seq)``.

    Per step, with :math:`V = V_{t-1}`, :math:`W = W_{t-1}`:

    .. math::

        H_t &= V + \tfrac{1}{\tau}\bigl(X_t + a_0 (V - V_{rest})(V - V_c) - W\bigr), \qquad
        S_t = \Theta(H_t - V_{th}),\\
        V_t &= (1 - \hat S_t) H_t + S_t V_r \ \text{(hard)} \quad\text{or}\quad
              H_t - \hat S_t V_{th} \ \text{(soft)},\\
        W_t &= W + \tfrac{1}{\tau_w}\bigl(a (H_t - V_{rest}) - W\bigr) + b S_t .

    Reference quirks reproduced: :math:`S_t V_r` and :math:`b S_t` use the undetached spike
    (only the :math:`(1 - \hat S_t)` factor honours ``detach_reset``). BPTT with
    :math:`\omega_t = dL/dW_t`: :math:`\omega_t = (∂L/∂W_t)_{direct} + (1 - 1/\tau_w)\omega_{t+1}
    - \delta_{t+1}/\tau` and :math:`\delta_t = (∂L/∂S_t) g_t + \varepsilon_t ∂V_t/∂H_t
    + (a/\tau_w + b g_t)\omega_t`; :math:`dL/dW_{init} = (1 - 1/\tau_w)\omega_0 - \delta_0/\tau`.
    Saves ``h_seq`` and ``v_init`` (``W`` enters linearly, so it is not needed in the backward).
    """
    x_seq, v0 = _check_x_v(x_seq, v_init)
    _, w0 = _check_x_v(x_seq, w_init, "w_init")
    tau_w = check_real("tau_w", tau_w, _POSITIVE)
    p = (1.0 / check_real("tau", tau, _POSITIVE), check_real("a0", a0, _POSITIVE),
         check_real("v_rest", v_rest), check_real("v_c", v_c), 1.0 - 1.0 / tau_w,
         check_real("a", a) / tau_w, check_real("b", b))
    spike, v_seq, w_seq, _ = _IzhikevichMultiStep.apply(
        x_seq, v0, w0, p, *_neuron_args(v_threshold, v_reset, detach_reset, surrogate))
    return spike, v_seq, w_seq
