r"""Fused IF / LIF / ParametricLIF: the forward loop, its BPTT and the ``torch.compile`` custom op.

With :math:`k` the decay and :math:`V_r` = ``v_reset`` (0 for a soft reset):

.. math::

    H_t = \begin{cases} V_{t-1} + k\,(X_t - (V_{t-1} - V_r)) & \text{decay\_input} \\
          V_{t-1} - k\,(V_{t-1} - V_r) + X_t & \text{otherwise} \end{cases}

so :math:`∂H_t/∂V_{t-1} = 1 - k`, :math:`∂H_t/∂X_t = k` (``decay_input``) or 1, and
:math:`dL/dk = \sum_{t,n} \delta_t\,∂H_t/∂k` with :math:`∂H_t/∂k = X_t - (V_{t-1} - V_r)`
(``decay_input``, recomputed as :math:`(H_t - V_{t-1})/k`: ``x_seq`` is not saved) or
:math:`-(V_{t-1} - V_r)`. Only ``h_seq`` is saved (and ``v_init`` when ``decay`` needs a
gradient). Without ``store_v_seq`` two ``[*]`` buffers take turns holding :math:`V_t`, so no
``[T, ...]`` potential sequence exists at any time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sgcourse._checks import check_bool
from sgcourse.kernels import _arguments as args
from sgcourse.kernels import _recurrence as rec

__all__ = ["lif_multistep"]


def _lif_forward(x_seq: Tensor, v0: Tensor, k: float, decay_input: bool, v_threshold: float,
                 v_reset: float | None, store_v_seq: bool = True
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """(spike_seq, v_seq or the last V, h_seq) in the compute dtype; no autograd recording.

    The charge is :func:`sgcourse.neuron._lif.leaky_charge`'s expression, operation for
    operation (``(V - V_r)`` is just ``V`` when :math:`V_r = 0`, and IF's ``V - 0·V + X`` is
    ``V + X``: neither changes a bit), so the potentials equal the torch backend's exactly.
    """
    ct = args.compute_dtype(x_seq.dtype, v0.dtype)
    with torch.no_grad():
        x = x_seq.to(ct)
        vr = 0.0 if v_reset is None else v_reset
        h_seq = torch.empty_like(x)
        v_seq = torch.empty_like(x) if store_v_seq else torch.empty_like(x[:2])
        spike = torch.empty_like(x)
        v = v0.to(ct)
        v_views = v_seq.unbind(0)
        # one step at a time, so that H_t is still in cache when it is fired and reset; the
        # spike slot of step t holds an intermediate until the fire overwrites it
        for t, (xt, h, s) in enumerate(zip(x.unbind(0), h_seq.unbind(0), spike.unbind(0),
                                           strict=True)):
            leak = v if vr == 0.0 else torch.sub(v, vr, out=s)  # V - V_r
            if decay_input:  # V + (X - (V - V_r)) k
                torch.sub(xt, leak, out=h).mul_(k).add_(v)
            elif k == 0.0:  # IF: V + X
                torch.add(v, xt, out=h)
            else:  # V - (V - V_r) k + X
                torch.sub(v, torch.mul(leak, k, out=s), out=h).add_(xt)
            v = rec.fire_and_reset(h, s, v_views[t] if store_v_seq else v_views[t % 2],
                                   v_threshold, v_reset)
    return spike, (v_seq if store_v_seq else v), h_seq


def _lif_backward(grad_spike: Tensor | None, grad_v: Tensor | None, h_seq: Tensor, v0: Tensor,
                  k: float, decay_input: bool, v_threshold: float, v_reset: float | None,
                  detach_reset: bool, derivative: rec.ShiftedDerivative, need_k: bool,
                  overwrite: bool = False) -> tuple[Tensor, Tensor, Tensor | None]:
    r"""(δ·∂H/∂X, δ_0·∂H_0/∂V_{-1}, dL/dk or None), all in the compute dtype.

    ``grad_v`` is the gradient of ``v_seq`` (``[T, ...]``) or of the final V alone
    (``[...]``, when ``v_seq`` was not stored).
    """
    vr = 0.0 if v_reset is None else v_reset
    last = grad_v is not None and grad_v.dim() < h_seq.dim()

    def dh_dk(t0: int, t1: int) -> Tensor:
        v_prev = rec.v_prev(h_seq, v0.to(h_seq.dtype), t0, t1, v_threshold, v_reset)
        if decay_input:
            # X_t - (V_{t-1} - V_r) = (H_t - V_{t-1}) / k: x_seq is not saved
            return v_prev.neg_().add_(h_seq[t0:t1]).div_(k)
        return v_prev.sub_(vr).neg_()

    # ∂H/∂X = k is folded into the recurrence (returned δ is k δ) unless k = 0
    scale = k if (decay_input and k != 0.0) else 1.0
    delta, grad_k = rec.bptt(grad_spike, None if last else grad_v, h_seq,
                             v_threshold=v_threshold, v_reset=v_reset,
                             detach_reset=detach_reset, derivative=derivative, dhdv=1.0 - k,
                             grad_v_last=grad_v if last else None,
                             k_factor=dh_dk if need_k else None, overwrite=overwrite,
                             scale=scale)
    grad_v0 = delta[0] * ((1.0 - k) / scale)
    if grad_k is not None and scale != 1.0:
        grad_k.div_(scale)
    if decay_input and scale == 1.0:
        delta.mul_(k)
    return delta, grad_v0, grad_k


def _outputs(spike: Tensor, v: Tensor, h_seq: Tensor, x_seq: Tensor, v0: Tensor
             ) -> tuple[Tensor, Tensor, Tensor]:
    out = args.result_dtype(x_seq.dtype, v0.dtype)
    return spike.to(out), v.to(out), h_seq


@rec.signature_cached
class _LIFMultiStep(torch.autograd.Function):
    """The LIF loop as one autograd node (eager path); see the module docstring for the math."""

    @staticmethod
    def forward(x_seq: Tensor, v0: Tensor, decay: Tensor | float, decay_input: bool,
                v_threshold: float, v_reset: float | None, detach_reset: bool,
                surrogate_id: int, params: tuple[float, ...], store_v_seq: bool
                ) -> tuple[Tensor, ...]:
        spike, v, h_seq = _lif_forward(x_seq, v0, float(decay), decay_input, v_threshold,
                                       v_reset, store_v_seq)
        return _outputs(spike, v, h_seq, x_seq, v0)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        x_seq, v0, decay, decay_input, v_threshold, v_reset, detach_reset, sid, params, _ = inputs
        h_seq = output[2]
        ctx.mark_non_differentiable(h_seq)
        ctx.set_materialize_grads(False)
        need_k = isinstance(decay, Tensor) and ctx.needs_input_grad[2]
        # v_init is needed only to recompute V_{-1} for dL/dk
        ctx.save_for_backward(h_seq, v0 if need_k else None)
        ctx.config = (float(decay), decay_input, v_threshold, v_reset, detach_reset, sid, params)
        ctx.dtypes = (x_seq.dtype, v0.dtype, decay.dtype if isinstance(decay, Tensor) else None)

    @staticmethod
    def backward(ctx: Any, grad_spike: Tensor | None, grad_v: Tensor | None,
                 _grad_h: Tensor | None) -> tuple[Tensor | None, ...]:
        h_seq, v0 = ctx.saved_tensors
        k, decay_input, v_threshold, v_reset, detach_reset, sid, params = ctx.config
        need_x, need_v, need_k = ctx.needs_input_grad[:3]
        none = (None,) * 7
        if grad_spike is None and grad_v is None:
            return (None, None, None, *none)
        grad_x, grad_v0, grad_k = _lif_backward(
            grad_spike, grad_v, h_seq, v0, k, decay_input, v_threshold, v_reset, detach_reset,
            rec.derivative_of_h(sid, params, v_threshold), need_k and v0 is not None,
            overwrite=rec.may_overwrite_saved())
        x_dtype, v_dtype, k_dtype = ctx.dtypes
        return (grad_x.to(x_dtype) if need_x else None,
                grad_v0.to(v_dtype) if need_v else None,
                grad_k.to(k_dtype) if (need_k and grad_k is not None) else None, *none)


# custom operator: the same path, traceable by torch.compile ----------------------------------


@torch.library.custom_op("sgcourse::lif_multistep_fused", mutates_args=())
def _lif_op(x_seq: Tensor, v_init: Tensor, decay: Tensor, decay_input: bool, v_threshold: float,
            v_reset: float | None, detach_reset: bool, surrogate_id: int,
            surrogate_params: list[float], store_v_seq: bool = True
            ) -> tuple[Tensor, Tensor, Tensor]:
    """Forward of the fused LIF loop: (spike_seq, v_seq or the last V, h_seq)."""
    spike, v, h_seq = _lif_forward(x_seq, v_init, float(decay), decay_input, v_threshold,
                                   v_reset, store_v_seq)
    return _outputs(spike, v, h_seq, x_seq, v_init)


@_lif_op.register_fake
def _(x_seq, v_init, decay, decay_input, v_threshold, v_reset, detach_reset, surrogate_id,
      surrogate_params, store_v_seq=True):
    out = args.result_dtype(x_seq.dtype, v_init.dtype)
    v_like = x_seq if store_v_seq else x_seq[0]
    return (torch.empty_like(x_seq, dtype=out), torch.empty_like(v_like, dtype=out),
            torch.empty_like(x_seq, dtype=args.compute_dtype(x_seq.dtype, v_init.dtype)))


@torch.library.custom_op("sgcourse::lif_multistep_fused_backward", mutates_args=())
def _lif_op_backward(grad_spike: Tensor, grad_v: Tensor, h_seq: Tensor, v_init: Tensor,
                     decay: Tensor, decay_input: bool, v_threshold: float, v_reset: float | None,
                     detach_reset: bool, surrogate_id: int, surrogate_params: list[float],
                     need_k: bool, x_dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
    """Backward of ``lif_multistep_fused``: (grad_x, grad_v_init, grad_decay)."""
    grad_x, grad_v0, grad_k = _lif_backward(
        grad_spike, grad_v, h_seq, v_init, float(decay), decay_input, v_threshold, v_reset,
        detach_reset, rec.derivative_of_h(surrogate_id, tuple(surrogate_params), v_threshold),
        need_k)
    if grad_k is None:
        grad_k = torch.zeros((), dtype=h_seq.dtype, device=h_seq.device)
    return (grad_x.to(x_dtype), grad_v0.to(v_init.dtype),
            grad_k.reshape(decay.shape).to(decay.dtype))


@_lif_op_backward.register_fake
def _(grad_spike, grad_v, h_seq, v_init, decay, decay_input, v_threshold, v_reset, detach_reset,
      surrogate_id, surrogate_params, need_k, x_dtype):
    return (torch.empty_like(h_seq, dtype=x_dtype), torch.empty_like(v_init),
            torch.empty_like(decay))


def _lif_op_setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
    x_seq, v_init, decay, *config = inputs
    ctx.mark_non_differentiable(output[2])
    ctx.save_for_backward(output[2], v_init, decay)
    ctx.config = tuple(config)
    ctx.x_dtype = x_seq.dtype
    ctx.v_shape = output[1].shape


def _lif_op_autograd(ctx: Any, grad_spike: Tensor | None, grad_v: Tensor | None,
                     _grad_h: Tensor | None) -> tuple[Tensor | None, ...]:
    h_seq, v_init, decay = ctx.saved_tensors
    decay_input, v_threshold, v_reset, detach_reset, sid, params, *_ = ctx.config
    if grad_spike is None:
        grad_spike = torch.zeros_like(h_seq)
    if grad_v is None:
        grad_v = h_seq.new_zeros(ctx.v_shape)
    grad_x, grad_v0, grad_k = torch.ops.sgcourse.lif_multistep_fused_backward(
        grad_spike, grad_v, h_seq, v_init, decay, decay_input, v_threshold, v_reset,
        detach_reset, sid, params, bool(ctx.needs_input_grad[2]), ctx.x_dtype)
    return (grad_x if ctx.needs_input_grad[0] else None,
            grad_v0 if ctx.needs_input_grad[1] else None,
            grad_k if ctx.needs_input_grad[2] else None,
            None, None, None, None, None, None, None)


_lif_op.register_autograd(_lif_op_autograd, setup_context=_lif_op_setup_context)


def lif_multistep(x_seq: Tensor, v_init: Tensor, decay: float | Tensor, *, decay_input: bool,
                  v_threshold: float, v_reset: float | None, detach_reset: bool,
                  surrogate: Any, use_custom_op: bool | None = None,
                  store_v_seq: bool = True) -> tuple[Tensor, Tensor]:
    r"""Fused multi-step IF / LIF / ParametricLIF: ``(spike_seq, v_seq)``, both ``[T, ...]``.

    ``decay`` is :math:`k = 1/\tau` in [0, 1] (a float; 0 with ``decay_input=False`` gives IF)
    or a one-element tensor that may require grad (ParametricLIF, :math:`k =
    \mathrm{sigmoid}(w)`). With :math:`V_r` = ``v_reset`` (0 for the soft reset
    ``v_reset=None``):

    .. math::

        H_t = \begin{cases} V_{t-1} + k\,(X_t - (V_{t-1} - V_r)) & \text{decay\_input} \\
              V_{t-1} - k\,(V_{t-1} - V_r) + X_t & \text{otherwise} \end{cases},\qquad
        S_t = \Theta(H_t - V_{th}),

    then the hard or soft reset (``v_threshold`` must exceed a hard ``v_reset``). ``v_seq``
    holds the post-reset :math:`V_t`. The backward pass is the hand-written BPTT of
    :mod:`sgcourse.kernels.fused`; only ``h_seq`` is saved (and ``v_init`` when ``decay``
    requires grad). Gradients flow to ``x_seq``, ``v_init`` and a tensor ``decay`` (summed over
    time and neurons). Outputs have the promoted dtype of ``x_seq`` and ``v_init``; float16 and
    bfloat16 are computed in float32.

    ``store_v_seq=False`` returns ``(spike_seq, v_last)`` with ``v_last`` = :math:`V_{T-1}` of
    shape ``x_seq.shape[1:]`` and never materialises the ``[T, ...]`` potential sequence (one
    ``[T, ...]`` tensor less at the forward's peak), like SpikingJelly's default
    ``store_v_seq=False``.

    ``use_custom_op``: route through ``torch.ops.sgcourse.lif_multistep_fused`` (default: only
    while ``torch.compile`` traces; the eager path uses an autograd Function with less
    overhead).

    Raises ``ValueError`` when the final potential is not finite (a NaN or infinity in the
    input or ``v_init``).
    """
    x_seq, v0 = args.check_sequence_and_state(x_seq, v_init)
    k = args.check_decay(decay)
    decay_input = check_bool("decay_input", decay_input)
    v_threshold, v_reset, detach_reset = args.check_neuron(v_threshold, v_reset, detach_reset)
    sid, params = args.check_surrogate(surrogate)
    store_v_seq = check_bool("store_v_seq", store_v_seq)
    if use_custom_op is None:
        use_custom_op = torch.compiler.is_compiling()
    if use_custom_op:
        k_t = k if isinstance(k, Tensor) else torch.tensor(k, dtype=torch.float64)
        spike, v, _ = torch.ops.sgcourse.lif_multistep_fused(
            x_seq, v0, k_t, decay_input, v_threshold, v_reset, detach_reset, sid, list(params),
            store_v_seq)
    else:
        spike, v, _ = _LIFMultiStep.apply(x_seq, v0, k, decay_input, v_threshold, v_reset,
                                          detach_reset, sid, params, store_v_seq)
    if not torch.compiler.is_compiling():
        args.check_finite_potential(v.detach() if not store_v_seq else v.detach()[-1])
    return spike, v
