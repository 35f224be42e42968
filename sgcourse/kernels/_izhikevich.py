r"""Fused Izhikevich neuron: two states (V, W), one autograd node with a hand-written BPTT.

Per step, with :math:`V = V_{t-1}`, :math:`W = W_{t-1}`: :math:`H_t = V + (X_t + a_0(V -
V_{rest})(V - V_c) - W)/\tau`, adaptation :math:`W' = W + (a(H_t - V_{rest}) - W)/\tau_w`, fire,
reset, then the jump :math:`W_t = W' + b S_t`. Reference quirks (SpikingJelly 0.0.0.0.14 and its
GitHub ``AdaptBaseNode``), reproduced exactly: the hard reset is :math:`V_t = (1 - \hat S_t) H_t +
S_t V_r` (the :math:`S_t V_r` term keeps its surrogate gradient even with ``detach_reset``) and
the jump :math:`b S_t` is never detached. (The PyPI 2.0.0 ``_ops`` reference detaches both reset
terms; the two agree when ``detach_reset=False``, the only case the neuron sends here.) Soft
reset is the usual :math:`H_t - \hat S_t V_{th}`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from sgcourse._checks import POSITIVE, check_bool, check_real
from sgcourse.kernels import _arguments as args
from sgcourse.kernels import _recurrence as rec
from sgcourse.kernels._nonlinear import qif_charge_grad

__all__ = ["izhikevich_multistep"]


def _izhikevich_reset_grad(h: Tensor, g: Tensor, v_threshold: float, v_reset: float | None,
                           detach_reset: bool, work: tuple[Tensor, Tensor]) -> Tensor | None:
    """Quirk: in :math:`(1 - \\hat S)H + S V_r` only the first term honours ``detach_reset``."""
    if v_reset is not None and detach_reset:
        return torch.lt(h, v_threshold, out=work[0]).add_(g, alpha=v_reset)
    return rec.reset_grad(h, g, v_threshold, v_reset, detach_reset, work)

def _izhikevich_forward(x_seq: Tensor, v0: Tensor, w0: Tensor, p: tuple[float, ...],
                        v_threshold: float, v_reset: float | None, store_v_seq: bool
                        ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(spike_seq, v_seq, w_seq, h_seq) in the compute dtype; without ``store_v_seq`` the
    second and third are the final V and W only."""
    k, a0, v_rest, v_c, lam, a_w, b = p  # lam = 1 - 1/tau_w, a_w = a / tau_w
    ct = args.compute_dtype(x_seq.dtype, v0.dtype, w0.dtype)
    with torch.no_grad():
        x = x_seq.to(ct)
        h_seq, spike = torch.empty_like(x), torch.empty_like(x)
        v_seq, w_seq = ((torch.empty_like(x), torch.empty_like(x)) if store_v_seq
                        else (torch.empty_like(x[:2]), torch.empty_like(x[:2])))
        v_views, w_views = v_seq.unbind(0), w_seq.unbind(0)
        tmp, tmp2 = torch.empty_like(x[0]), torch.empty_like(x[0])
        torch.mul(x, k, out=h_seq)  # k X_t for all t
        v, w = v0.to(ct), w0.to(ct)
        for t in range(x.shape[0]):
            h = h_seq[t]
            torch.sub(v, v_rest, out=tmp)
            torch.sub(v, v_c, out=tmp2)
            h.add_(v).addcmul_(tmp, tmp2, value=k * a0).sub_(w, alpha=k)
            i = t if store_v_seq else t % 2
            v_t = rec.fire_and_reset(h, spike[t], v_views[i], v_threshold, v_reset)
            # W_t = lam W + a_w (H - V_rest) + b S
            w_t = w_views[i]
            torch.sub(h, v_rest, out=tmp)
            torch.mul(w, lam, out=w_t)
            w_t.add_(tmp, alpha=a_w)
            if b != 0.0:
                w_t.add_(spike[t], alpha=b)
            v, w = v_t, w_t
    if not store_v_seq:
        return spike, v, w, h_seq
    return spike, v_seq, w_seq, h_seq


@rec.signature_cached
class _IzhikevichMultiStep(torch.autograd.Function):
    """Izhikevich loop as one autograd node; saves ``h_seq`` and ``v_init``."""

    @staticmethod
    def forward(x_seq: Tensor, v0: Tensor, w0: Tensor, p: tuple[float, ...], v_threshold: float,
                v_reset: float | None, detach_reset: bool, surrogate_id: int,
                params: tuple[float, ...], store_v_seq: bool) -> tuple[Tensor, ...]:
        spike, v, w, h_seq = _izhikevich_forward(x_seq, v0, w0, p, v_threshold, v_reset,
                                                 store_v_seq)
        out = args.result_dtype(x_seq.dtype, v0.dtype, w0.dtype)
        return spike.to(out), v.to(out), w.to(out), h_seq

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
        none = (None,) * 7
        if grad_spike is None and grad_v is None and grad_w is None:
            return (None, None, None, *none)
        h_seq, v0 = ctx.saved_tensors
        p, v_threshold, v_reset, detach_reset, sid, params, _ = ctx.config
        k, a0, v_rest, v_c, lam, a_w, b = p
        derivative = rec.derivative_of_h(sid, params, v_threshold)
        T = h_seq.shape[0]
        delta = h_seq if rec.may_overwrite_saved() else torch.empty_like(h_seq)
        blocks, work = rec.workspace(h_seq)
        # without store_v_seq the gradients reach only the final V and W
        v_last = grad_v is not None and grad_v.dim() < h_seq.dim()
        w_last = grad_w is not None and grad_w.dim() < h_seq.dim()
        gv, gw = (None if v_last else grad_v), (None if w_last else grad_w)
        omega = (torch.zeros_like(h_seq[0]) if grad_w is None
                 else (grad_w if w_last else grad_w[T - 1]).to(h_seq.dtype, copy=True))
        nxt = torch.empty_like(omega)
        for t0, t1 in blocks:
            h = h_seq[t0:t1]
            n = t1 - t0
            g = derivative(h, work[2][:n]).to(h.dtype)
            dvdh = _izhikevich_reset_grad(h, g, v_threshold, v_reset, detach_reset,
                                          (work[0][:n], work[1][:n]))
            m = qif_charge_grad(rec.reset_all(h, v_threshold, v_reset), k, a0, v_rest, v_c)
            # reads of h_seq[t0:t1] end here (delta may share its storage)
            rec.direct_terms(delta[t0:t1], None if grad_spike is None else grad_spike[t0:t1],
                             None if gv is None else gv[t0:t1], g, dvdh)
            if v_last and t1 == T:
                last = grad_v.to(h.dtype)  # type: ignore[union-attr]
                if dvdh is None:
                    delta[T - 1].add_(last)
                else:
                    delta[T - 1].addcmul_(last, dvdh[T - 1 - t0])
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
        grad_v0 = ((delta[0] * qif_charge_grad(v0.to(ct), k, a0, v_rest, v_c)).to(v_dtype)
                   if need_v else None)
        grad_w0 = (omega * lam).sub_(delta[0], alpha=k).to(w_dtype) if need_w else None
        grad_x = delta.mul_(k).to(x_dtype) if need_x else None
        return (grad_x, grad_v0, grad_w0, *none)


def izhikevich_multistep(x_seq: Tensor, v_init: Tensor, w_init: Tensor, *, tau: float,
                         v_c: float, a0: float, v_rest: float, tau_w: float, a: float, b: float,
                         v_threshold: float, v_reset: float | None, detach_reset: bool,
                         surrogate: Any, store_v_seq: bool = True
                         ) -> tuple[Tensor, Tensor, Tensor]:
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
    Checks as :class:`~sgcourse.neuron.IzhikevichNode`: ``tau`` and ``tau_w`` > 1, ``a0`` > 0,
    ``v_threshold`` > ``v_reset``. ``store_v_seq=False`` returns the final V and W only
    (shape ``x_seq.shape[1:]``) and allocates no ``[T, ...]`` state sequence.
    """
    x_seq, v0 = args.check_sequence_and_state(x_seq, v_init)
    _, w0 = args.check_sequence_and_state(x_seq, w_init, "w_init")
    tau_w = args.check_time_constant("tau_w", tau_w)
    p = (1.0 / args.check_time_constant("tau", tau), check_real("a0", a0, POSITIVE),
         check_real("v_rest", v_rest), check_real("v_c", v_c), 1.0 - 1.0 / tau_w,
         check_real("a", a) / tau_w, check_real("b", b))
    v_threshold, v_reset, detach_reset = args.check_neuron(v_threshold, v_reset, detach_reset)
    sid, params = args.check_surrogate(surrogate)
    store_v_seq = check_bool("store_v_seq", store_v_seq)
    spike, v, w, _ = _IzhikevichMultiStep.apply(x_seq, v0, w0, p, v_threshold, v_reset,
                                                detach_reset, sid, params, store_v_seq)
    args.check_finite_potential(v.detach()[-1] if store_v_seq else v.detach())
    return spike, v, w
