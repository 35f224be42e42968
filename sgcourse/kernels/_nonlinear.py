r"""Fused QIF and EIF: one state and a non-linear charge (its ∂H/∂V depends on V_{t-1}).

QIF: :math:`H_t = V + (X_t + a_0 (V - V_{rest})(V - V_c))/\tau` with :math:`V = V_{t-1}`;
:math:`∂H/∂V = 1 + a_0(2V - V_{rest} - V_c)/\tau`, :math:`∂H/∂X = 1/\tau`.

EIF: :math:`H_t = V + (X_t + V_{rest} - V + \Delta_T e^{(V - \theta_{rh})/\Delta_T})/\tau`;
:math:`∂H/∂V = 1 - 1/\tau + e^{(V - \theta_{rh})/\Delta_T}/\tau`, :math:`∂H/∂X = 1/\tau`.

Both save ``h_seq`` and ``v_init``; :math:`V_{t-1}` is recomputed as the reset of
:math:`H_{t-1}`, and :math:`dL/dV_{init} = \delta_0\,∂H_0/∂V_{-1}` (from :math:`\delta_0`, not
from ``grad_x[0]``: SpikingJelly's 0.0.0.0.14 QIF/EIF kernels used ``grad_x[0]`` and were off
by a factor :math:`1/\tau`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sgcourse._checks import POSITIVE, check_bool, check_real
from sgcourse.kernels import _arguments as args
from sgcourse.kernels import _recurrence as rec

__all__ = ["eif_multistep", "qif_charge_grad", "qif_multistep"]


def qif_charge_grad(v_prev: Tensor, k: float, a0: float, v_rest: float, v_c: float) -> Tensor:
    r""":math:`∂H/∂V = 1 + k a_0 (2V - V_{rest} - V_c)` for all t (a new tensor)."""
    return torch.mul(v_prev, 2.0 * k * a0).add_(1.0 - k * a0 * (v_rest + v_c))


def _eif_charge_grad(v_prev: Tensor, k: float, delta_t: float, theta_rh: float) -> Tensor:
    r""":math:`∂H/∂V = 1 - k + k e^{(V - \theta_{rh})/\Delta_T}` for all t (a new tensor)."""
    return torch.sub(v_prev, theta_rh).div_(delta_t).exp_().mul_(k).add_(1.0 - k)


def _nonlinear_forward(kind: str, x_seq: Tensor, v0: Tensor, p: tuple[float, ...],
                       v_threshold: float, v_reset: float | None, store_v_seq: bool
                       ) -> tuple[Tensor, Tensor, Tensor]:
    """(spike_seq, v_seq or the last V, h_seq) in the compute dtype; no autograd recording."""
    ct = args.compute_dtype(x_seq.dtype, v0.dtype)
    with torch.no_grad():
        x = x_seq.to(ct)
        h_seq, spike = torch.empty_like(x), torch.empty_like(x)
        v_seq = torch.empty_like(x) if store_v_seq else torch.empty_like(x[:2])
        v_views = v_seq.unbind(0)
        tmp, tmp2 = torch.empty_like(x[0]), torch.empty_like(x[0])
        v = v0.to(ct)
        if kind == "qif":
            k, a0, v_rest, v_c = p
            torch.mul(x, k, out=h_seq)  # k X_t for all t
        else:
            k, delta_t, theta_rh, v_rest = p
            torch.add(x, v_rest, out=h_seq).mul_(k)  # k (X_t + V_rest) for all t
        for t in range(x.shape[0]):
            h = h_seq[t]
            if kind == "qif":
                torch.sub(v, v_rest, out=tmp)
                torch.sub(v, v_c, out=tmp2)
                h.add_(v).addcmul_(tmp, tmp2, value=k * a0)
            else:
                torch.sub(v, theta_rh, out=tmp)
                tmp.div_(delta_t).exp_()
                h.add_(v, alpha=1.0 - k).add_(tmp, alpha=k * delta_t)
            v = rec.fire_and_reset(h, spike[t], v_views[t] if store_v_seq else v_views[t % 2],
                                   v_threshold, v_reset)
    return spike, (v_seq if store_v_seq else v), h_seq


@rec.signature_cached
class _NonlinearMultiStep(torch.autograd.Function):
    """QIF / EIF loop as one autograd node; saves ``h_seq`` and ``v_init``."""

    @staticmethod
    def forward(x_seq: Tensor, v0: Tensor, kind: str, p: tuple[float, ...], v_threshold: float,
                v_reset: float | None, detach_reset: bool, surrogate_id: int,
                params: tuple[float, ...], store_v_seq: bool) -> tuple[Tensor, ...]:
        spike, v, h_seq = _nonlinear_forward(kind, x_seq, v0, p, v_threshold, v_reset,
                                             store_v_seq)
        out = args.result_dtype(x_seq.dtype, v0.dtype)
        return spike.to(out), v.to(out), h_seq

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        x_seq, v0, *config = inputs
        ctx.mark_non_differentiable(output[2])
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(output[2], v0)
        ctx.config = tuple(config[:-1])
        ctx.dtypes = (x_seq.dtype, v0.dtype)

    @staticmethod
    def backward(ctx: Any, grad_spike: Tensor | None, grad_v: Tensor | None,
                 _grad_h: Tensor | None) -> tuple[Tensor | None, ...]:
        none = (None,) * 8
        if grad_spike is None and grad_v is None:
            return (None, None, *none)
        h_seq, v0 = ctx.saved_tensors
        kind, p, v_threshold, v_reset, detach_reset, sid, params = ctx.config
        k = p[0]
        if kind == "qif":
            def dhdv(v: Tensor) -> Tensor:
                return qif_charge_grad(v, k, p[1], p[2], p[3])
        else:
            def dhdv(v: Tensor) -> Tensor:
                return _eif_charge_grad(v, k, p[1], p[2])
        last = grad_v is not None and grad_v.dim() < h_seq.dim()
        # returns k δ: ∂H/∂X = k folded into the recurrence
        delta, _ = rec.bptt(grad_spike, None if last else grad_v, h_seq,
                            v_threshold=v_threshold, v_reset=v_reset, detach_reset=detach_reset,
                            derivative=rec.derivative_of_h(sid, params, v_threshold), dhdv=dhdv,
                            grad_v_last=grad_v if last else None,
                            overwrite=rec.may_overwrite_saved(), scale=k)
        need_x, need_v = ctx.needs_input_grad[:2]
        x_dtype, v_dtype = ctx.dtypes
        grad_v0 = ((delta[0] * dhdv(v0.to(h_seq.dtype)).div_(k)).to(v_dtype) if need_v
                   else None)
        grad_x = delta.to(x_dtype) if need_x else None
        return (grad_x, grad_v0, *none)


def _run(kind: str, x_seq: object, v_init: object, p: tuple[float, ...], v_threshold: object,
         v_reset: object, detach_reset: object, surrogate: object, store_v_seq: object
         ) -> tuple[Tensor, Tensor]:
    x_seq, v0 = args.check_sequence_and_state(x_seq, v_init)
    v_threshold, v_reset, detach_reset = args.check_neuron(v_threshold, v_reset, detach_reset)
    sid, params = args.check_surrogate(surrogate)
    store_v_seq = check_bool("store_v_seq", store_v_seq)
    spike, v, _ = _NonlinearMultiStep.apply(x_seq, v0, kind, p, v_threshold, v_reset,
                                            detach_reset, sid, params, store_v_seq)
    args.check_finite_potential(v.detach()[-1] if store_v_seq else v.detach())
    return spike, v


def qif_multistep(x_seq: Tensor, v_init: Tensor, *, tau: float, v_c: float, a0: float,
                  v_rest: float, v_threshold: float, v_reset: float | None, detach_reset: bool,
                  surrogate: Any, store_v_seq: bool = True) -> tuple[Tensor, Tensor]:
    r"""Fused multi-step quadratic integrate-and-fire: ``(spike_seq, v_seq)``.

    .. math::

        H_t = V_{t-1} + \frac{1}{\tau}\bigl(X_t + a_0 (V_{t-1} - V_{rest})(V_{t-1} - V_c)\bigr),
        \qquad S_t = \Theta(H_t - V_{th}),

    then the hard (``v_reset`` a number) or soft (``None``) reset. BPTT with
    :math:`∂H_t/∂V_{t-1} = 1 + a_0(2V_{t-1} - V_{rest} - V_c)/\tau` and :math:`∂H_t/∂X_t = 1/\tau`.
    Checks as :class:`~sgcourse.neuron.QIFNode`: ``tau`` > 1, ``a0`` > 0, ``v_threshold`` >
    ``v_reset`` and ``v_rest`` >= ``v_reset`` (hard reset). ``store_v_seq=False``: the second
    output is the final potential only, as in :func:`~sgcourse.kernels.fused.lif_multistep`.
    """
    k = 1.0 / args.check_time_constant("tau", tau)
    p = (k, check_real("a0", a0, POSITIVE), check_real("v_rest", v_rest), check_real("v_c", v_c))
    if v_reset is not None and check_real("v_reset", v_reset) > p[2]:
        raise ValueError(f"v_rest must be >= v_reset, got v_rest={p[2]} and v_reset={v_reset}")
    return _run("qif", x_seq, v_init, p, v_threshold, v_reset, detach_reset, surrogate,
                store_v_seq)


def eif_multistep(x_seq: Tensor, v_init: Tensor, *, tau: float, delta_t: float, theta_rh: float,
                  v_rest: float, v_threshold: float, v_reset: float | None, detach_reset: bool,
                  surrogate: Any, store_v_seq: bool = True) -> tuple[Tensor, Tensor]:
    r"""Fused multi-step exponential integrate-and-fire: ``(spike_seq, v_seq)``.

    .. math::

        H_t = V_{t-1} + \frac{1}{\tau}\Bigl(X_t + V_{rest} - V_{t-1}
              + \Delta_T \exp\frac{V_{t-1} - \theta_{rh}}{\Delta_T}\Bigr),
        \qquad S_t = \Theta(H_t - V_{th}),

    then the hard or soft reset. BPTT with :math:`∂H_t/∂V_{t-1} = 1 - 1/\tau +
    e^{(V_{t-1} - \theta_{rh})/\Delta_T}/\tau` and :math:`∂H_t/∂X_t = 1/\tau`. Checks as
    :class:`~sgcourse.neuron.EIFNode`: ``tau`` > 1, ``delta_t`` > 0, ``v_threshold`` >
    ``v_reset``.
    """
    k = 1.0 / args.check_time_constant("tau", tau)
    p = (k, check_real("delta_t", delta_t, POSITIVE), check_real("theta_rh", theta_rh),
         check_real("v_rest", v_rest))
    return _run("eif", x_seq, v_init, p, v_threshold, v_reset, detach_reset, surrogate,
                store_v_seq)
