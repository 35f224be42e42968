r"""The torch backend's shared pieces: fire and reset (written once), σ′, and the block-wise BPTT.

Notation (one neuron, elementwise): :math:`H_t` charged potential, :math:`S_t = \Theta(H_t -
V_{th})`, :math:`V_t` potential after reset, :math:`g_t = \sigma'(H_t - V_{th})`, :math:`\hat
S_t` the spike with its gradient cut when ``detach_reset``.

**Reset.** Hard (``v_reset`` = :math:`V_r`): :math:`V_t = \hat S_t V_r + (1 - \hat S_t) H_t`;
soft (``v_reset=None``): :math:`V_t = H_t - \hat S_t V_{th}`. :func:`fire_and_reset` is the
only code that computes it (per step in the forward passes, per block when the backward
recomputes :math:`V_{t-1}` from the saved :math:`H_{t-1}`, so both give the same bits), and
:func:`reset_grad` its derivative:

================  =====================================  =====================
:math:`∂V_t/∂H_t`  detach_reset=False                    detach_reset=True
================  =====================================  =====================
hard               :math:`1 - S_t + (V_r - H_t) g_t`      :math:`1 - S_t`
soft               :math:`1 - V_{th} g_t`                 :math:`1`
================  =====================================  =====================

**BPTT** (:func:`bptt`). With :math:`\delta_t = dL/dH_t`, :math:`c_t = (∂L/∂S_t) g_t +
(∂L/∂V_t)_{direct}\,∂V_t/∂H_t` and :math:`m_t = (∂V_t/∂H_t)(∂H_{t+1}/∂V_t)`, both computed for a
block of time steps at once, the sequential part is one multiply-add per step,
:math:`\delta_t = c_t + m_t \delta_{t+1}` from :math:`\delta_T = 0`. Blocks run last first with
block-sized temporaries; when autograd frees the graph after the pass, δ is written over the
saved ``h_seq`` block by block (each block is read before it is overwritten).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import torch
from torch import Tensor

from sgcourse import surrogate as _surrogate

__all__ = [
    "ShiftedDerivative",
    "bptt",
    "derivative_of_h",
    "direct_terms",
    "fire_and_reset",
    "may_overwrite_saved",
    "reset_all",
    "reset_grad",
    "scalar",
    "signature_cached",
    "v_prev",
    "workspace",
]

ShiftedDerivative = Callable[[Tensor, Tensor], Tensor]  # (h, scratch) -> σ′(h − V_th)

# The backward works on blocks of time steps whose temporaries hold about this many elements
# (128 KiB in float32): large enough that each operation amortises its dispatch cost, small enough
# that the temporaries stay in cache and add little to the peak memory (instead of a dozen
# [T, ...]-sized intermediates). 2**14 to 2**17 measured the same speed on a 1-thread CPU.
BLOCK_ELEMENTS = 1 << 15


def blocks(T: int, per_step: int) -> list[tuple[int, int]]:
    """``[t0, t1)`` blocks covering ``range(T)``, last block first."""
    size = max(1, BLOCK_ELEMENTS // max(per_step, 1))
    return [(t0, min(t0 + size, T)) for t0 in range(((T - 1) // size) * size, -1, -size)]


def workspace(h_seq: Tensor) -> tuple[list[tuple[int, int]], tuple[Tensor, Tensor, Tensor]]:
    """The blocks of the backward pass and three block-sized scratch buffers."""
    spans = blocks(h_seq.shape[0], h_seq[0].numel())
    size = max(t1 - t0 for t0, t1 in spans)
    return spans, tuple(torch.empty_like(h_seq[:size]) for _ in range(3))


_SCALARS: dict[tuple[float, torch.dtype, torch.device], Tensor] = {}


def scalar(value: float, like: Tensor) -> Tensor:
    """A cached 0-dim tensor holding ``value`` in ``like``'s dtype and device (read only)."""
    key = (value, like.dtype, like.device)
    out = _SCALARS.get(key)
    if out is None:
        if len(_SCALARS) > 256:
            _SCALARS.clear()
        out = _SCALARS[key] = torch.full((), value, dtype=like.dtype, device=like.device)
    return out


# --------------------------------------------------------------------------------------------
# fire and reset


def fire_and_reset(h: Tensor, spike_out: Tensor, v_out: Tensor, v_threshold: float,
                   v_reset: float | None) -> Tensor:
    """Fire :math:`S = [H \\ge V_{th}]` into ``spike_out`` and reset into ``v_out``; returns V.

    Only float arithmetic (no boolean masks, whose kernels are slow on CPU). The hard reset is
    ``lerp(H, V_r, S)``: exactly :math:`V_r` where S = 1 and H where S = 0; the soft reset
    :math:`H - S V_{th}`. ``spike_out`` and ``v_out`` may be the same buffer.
    """
    torch.ge(h, v_threshold, out=spike_out)
    if v_reset is None:
        return torch.add(h, spike_out, alpha=-v_threshold, out=v_out)
    return torch.lerp(h, scalar(v_reset, h), spike_out, out=v_out)


def reset_all(h: Tensor, v_threshold: float, v_reset: float | None) -> Tensor:
    """The post-reset potential for every entry of ``h`` (a new tensor)."""
    out = torch.empty_like(h)
    return fire_and_reset(h, out, out, v_threshold, v_reset)


def v_prev(h_seq: Tensor, v0: Tensor, t0: int, t1: int, v_threshold: float,
           v_reset: float | None) -> Tensor:
    """:math:`V_{t-1}` for t in ``[t0, t1)``, recomputed from ``h_seq`` and ``v_init``."""
    if t0 > 0:
        return reset_all(h_seq[t0 - 1:t1 - 1], v_threshold, v_reset)
    out = torch.empty_like(h_seq[:t1])
    out[0] = v0
    if t1 > 1:
        fire_and_reset(h_seq[:t1 - 1], out[1:], out[1:], v_threshold, v_reset)
    return out


def reset_grad(h: Tensor, g: Tensor, v_threshold: float, v_reset: float | None,
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


# --------------------------------------------------------------------------------------------
# σ′(H − V_th)


def derivative_of_h(surrogate_id: int, params: tuple[float, ...], v_threshold: float
                    ) -> ShiftedDerivative:
    r"""``fn(h, out)`` → :math:`\sigma'(h - V_{th})`, using ``out`` (shaped like ``h``) as scratch.

    Bitwise equal to ``spec.derivative(h - v_threshold, *params)``: the surrogate's own in-place
    ``spec.derivative_into`` when its declaration provides one, else ``h - v_threshold`` written
    into ``out`` and ``spec.derivative`` called on it. Cached per configuration.
    """
    floats = (*(float(p) for p in params), float(v_threshold))
    # the exact bits are part of the cache key: 0.0 == -0.0 would share an entry otherwise
    return _make_derivative_of_h(surrogate_id, floats[:-1], floats[-1],
                                 tuple(f.hex() for f in floats))


@functools.lru_cache(maxsize=256)
def _make_derivative_of_h(surrogate_id: int, params: tuple[float, ...], v_threshold: float,
                          _key: tuple[str, ...]) -> ShiftedDerivative:
    spec = _surrogate.spec(_surrogate.available()[surrogate_id])
    derivative, into = spec.derivative, spec.derivative_into
    if into is not None:
        def in_place(h: Tensor, out: Tensor) -> Tensor:
            return into(h, v_threshold, out, *params)
        return in_place

    def generic(h: Tensor, out: Tensor) -> Tensor:
        return derivative(torch.sub(h, v_threshold, out=out), *params)
    return generic


# --------------------------------------------------------------------------------------------
# autograd helpers


def signature_cached(cls: type[torch.autograd.Function]) -> type[torch.autograd.Function]:
    """Store the signature of ``cls.forward`` on it (``__signature__``, the same signature).

    ``Function.apply`` binds its arguments with ``inspect.signature(cls.forward)`` on every call
    when ``setup_context`` is defined; computing that signature took about 0.15 ms per call on
    a 1-thread CPU, and ``inspect.signature`` returns a stored ``__signature__`` at once.
    """
    forward = cls.forward
    forward.__signature__ = inspect.signature(forward)  # type: ignore[attr-defined]
    return cls


def may_overwrite_saved() -> bool:
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


def direct_terms(out: Tensor, grad_spike: Tensor | None, grad_v: Tensor | None, g: Tensor,
                 dvdh: Tensor | None, scale: float = 1.0) -> None:
    r"""``out`` ← ``scale`` · :math:`((∂L/∂S_t) g_t + (∂L/∂V_t)_{direct}\,∂V_t/∂H_t)`."""
    if grad_spike is None:
        out.zero_()
    elif scale == 1.0:
        torch.mul(grad_spike.to(out.dtype), g, out=out)
    else:
        torch.addcmul(scalar(0.0, out), grad_spike.to(out.dtype), g, value=scale, out=out)
    if grad_v is not None:
        if dvdh is None:
            out.add_(grad_v.to(out.dtype), alpha=scale)
        else:
            out.addcmul_(grad_v.to(out.dtype), dvdh, value=scale)


# --------------------------------------------------------------------------------------------
# the recurrence


def bptt(grad_spike: Tensor | None, grad_v: Tensor | None, h_seq: Tensor, *,
         v_threshold: float, v_reset: float | None, detach_reset: bool,
         derivative: ShiftedDerivative, dhdv: float | Callable[[Tensor], Tensor],
         grad_v_last: Tensor | None = None,
         k_factor: Callable[[int, int], Tensor] | None = None,
         overwrite: bool = False, scale: float = 1.0) -> tuple[Tensor, Tensor | None]:
    r"""``scale`` · (:math:`\delta_t = dL/dH_t` for all t, :math:`\sum_{t,n} \delta_t f_t` or None).

    For a neuron with one state V. ``derivative(h, scratch)`` is :math:`g = \sigma'(h - V_{th})`
    (from :func:`derivative_of_h`). ``dhdv`` is :math:`∂H_{t+1}/∂V_t`, a constant or a function
    of :math:`V_t`. Per block of time steps (last first): :math:`g`, :math:`∂V/∂H`, the direct
    terms :math:`c_t` and the factors :math:`m_t` are computed at once, then
    :math:`\delta_t = c_t + m_t \delta_{t+1}` runs step by step. ``grad_v_last`` is the direct
    gradient of the final :math:`V_{T-1}` alone (when ``v_seq`` was not stored).
    ``k_factor(t0, t1)`` gives :math:`f_t` (e.g. :math:`∂H_t/∂k`) for a block; the weighted sum
    is accumulated. The recurrence is linear, so it runs on ``scale`` · δ directly (``scale`` =
    :math:`∂H/∂X`, which makes the result ``grad_x`` without another pass). With ``overwrite``
    δ is written over ``h_seq``.
    """
    T = h_seq.shape[0]
    delta = h_seq if overwrite else torch.empty_like(h_seq)
    total = None if k_factor is None else torch.zeros((), dtype=h_seq.dtype,
                                                      device=h_seq.device)
    spans, work = workspace(h_seq)
    # per-block and per-step views, made once (blocks start at multiples of ``size``)
    size = work[0].shape[0]
    ds = delta.unbind(0)
    h_blocks, d_blocks = h_seq.split(size), delta.split(size)
    gs_blocks = None if grad_spike is None else grad_spike.split(size)
    gv_blocks = None if grad_v is None else grad_v.split(size)
    for t0, t1 in spans:
        j, n = t0 // size, t1 - t0
        h = h_blocks[j]
        w = work if n == size else tuple(b[:n] for b in work)
        g = derivative(h, w[2])
        if g.dtype != h.dtype:
            g = g.to(h.dtype)
        dvdh = reset_grad(h, g, v_threshold, v_reset, detach_reset, (w[0], w[1]))
        # ∂H_{t+1}/∂V_t from V_t
        m_v = dhdv(reset_all(h, v_threshold, v_reset)) if callable(dhdv) else None
        factor = None if k_factor is None else k_factor(t0, t1)
        # reads of h_seq[t0:t1] end here
        direct_terms(d_blocks[j], None if gs_blocks is None else gs_blocks[j],
                     None if gv_blocks is None else gv_blocks[j], g, dvdh, scale)
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
            m, m_scale = dvdh, float(dhdv)  # type: ignore[arg-type]
        ms = None if m is None else m.unbind(0)
        for t in range(min(t1, T - 1) - 1, t0 - 1, -1):
            if ms is not None:
                torch.addcmul(ds[t], ms[t - t0], ds[t + 1], value=m_scale, out=ds[t])
            elif m_scale != 0.0:
                torch.add(ds[t], ds[t + 1], alpha=m_scale, out=ds[t])
        if factor is not None:
            total.add_(torch.sum(factor.mul_(d_blocks[j])))  # type: ignore[union-attr]
    return delta, total
