"""Shared by the fused-kernel tests: per-step autograd references and helpers.

The references are written from the equations (charge, fire with the surrogate module, reset)
and differentiated by autograd step by step; the fused kernels differentiate the whole loop by
hand.
"""

from __future__ import annotations

import torch

from sgcourse import surrogate
from sgcourse.kernels import fused

HEAVISIDE = [n for n in surrogate.available() if surrogate.spec(n).forward == "heaviside"]
RESETS = [0.0, -0.2, None]
T, SHAPE = 6, (3, 7)
RTOL, ATOL = 1e-5, 1e-6

QIF = dict(tau=2.0, v_c=0.8, a0=1.0, v_rest=0.0)
EIF = dict(tau=2.0, delta_t=1.0, theta_rh=0.8, v_rest=0.0)
IZH = dict(tau=2.0, v_c=0.8, a0=1.0, v_rest=-0.1, tau_w=2.0, a=0.5, b=0.3)


# ---------------------------------------------------------------------------------------------
# independent references (autograd through every step)


def _reset(h, s, v_threshold, v_reset, detach_reset):
    sd = s.detach() if detach_reset else s
    if v_reset is None:
        return h - sd * v_threshold
    return sd * v_reset + (1.0 - sd) * h


def ref_lif(x_seq, v, k, *, decay_input, v_threshold, v_reset, detach_reset, sg):
    vr = 0.0 if v_reset is None else v_reset
    spikes, vs = [], []
    for x in x_seq.unbind(0):
        if decay_input:
            h = v + k * (x - (v - vr))
        else:
            h = v - k * (v - vr) + x
        s = sg(h - v_threshold)
        v = _reset(h, s, v_threshold, v_reset, detach_reset)
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs)


def ref_qif(x_seq, v, *, tau, v_c, a0, v_rest, v_threshold, v_reset, detach_reset, sg):
    spikes, vs = [], []
    for x in x_seq.unbind(0):
        h = v + (x + a0 * (v - v_rest) * (v - v_c)) / tau
        s = sg(h - v_threshold)
        v = _reset(h, s, v_threshold, v_reset, detach_reset)
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs)


def ref_eif(x_seq, v, *, tau, delta_t, theta_rh, v_rest, v_threshold, v_reset, detach_reset, sg):
    spikes, vs = [], []
    for x in x_seq.unbind(0):
        h = v + (x + v_rest - v + delta_t * torch.exp((v - theta_rh) / delta_t)) / tau
        s = sg(h - v_threshold)
        v = _reset(h, s, v_threshold, v_reset, detach_reset)
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs)


def ref_izhikevich(x_seq, v, w, *, tau, v_c, a0, v_rest, tau_w, a, b, v_threshold, v_reset,
                   detach_reset, sg):
    spikes, vs, ws = [], [], []
    for x in x_seq.unbind(0):
        h = v + (x + a0 * (v - v_rest) * (v - v_c) - w) / tau
        w = w + (a * (h - v_rest) - w) / tau_w
        s = sg(h - v_threshold)
        sd = s.detach() if detach_reset else s
        if v_reset is None:
            v = h - sd * v_threshold
        else:
            v = (1.0 - sd) * h + s * v_reset  # the reference quirk: S V_r undetached
        w = w + b * s  # never detached
        spikes.append(s)
        vs.append(v)
        ws.append(w)
    return torch.stack(spikes), torch.stack(vs), torch.stack(ws)


# ---------------------------------------------------------------------------------------------
# helpers


def _inputs(seed, dtype=torch.float32, scale=1.2, shift=0.4, v_scale=0.3):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(T, *SHAPE, generator=gen, dtype=torch.float64) * scale + shift).to(dtype)
    v0 = (torch.randn(SHAPE, generator=gen, dtype=torch.float64) * v_scale).to(dtype)
    ws = torch.randn(T, *SHAPE, generator=gen, dtype=torch.float64).to(dtype)
    wv = torch.randn(T, *SHAPE, generator=gen, dtype=torch.float64).to(dtype)
    return x, v0, ws, wv


def _leaves(*tensors):
    return [t.detach().clone().requires_grad_(True) for t in tensors]


def _grads(loss, leaves):
    return torch.autograd.grad(loss, leaves, allow_unused=True)


def _close(actual, expected, rtol=RTOL, atol=ATOL):
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol)


def _close_or_more_accurate(actual, expected, exact, rtol=RTOL, atol=ATOL):
    """``actual`` close to the float32 reference ``expected``, or at least as accurate.

    A sum over all neurons and steps (the PLIF dL/dk) can cancel down to a small number, so two
    correct float32 evaluations in different orders may differ by more than the relative
    tolerance; then ``actual`` must be within twice the float32 reference's own error of the
    float64 reference ``exact`` (plus ``atol``).
    """
    try:
        _close(actual, expected, rtol, atol)
    except AssertionError:
        exact = exact.to(actual.dtype)
        bound = 2 * (expected - exact).abs() + atol
        assert bool(((actual - exact).abs() <= bound).all()), (actual, expected, exact)


def _has_spikes_and_silence(spikes):
    assert 0 < spikes.sum() < spikes.numel(), "test data should produce some spikes, not all"


NEURONS = [("if", False), ("lif", False), ("lif", True), ("plif", False), ("plif", True)]


def _decay(neuron, dtype):
    if neuron == "if":
        return 0.0, 0.0
    if neuron == "lif":
        return 1.0 / 3.0, 1.0 / 3.0
    w = torch.tensor(-0.4, dtype=dtype, requires_grad=True)
    return w, None


def _run_lif_pair(neuron, decay_input, v_reset, detach_reset, sg, *, use_custom_op=None,
                  dtype=torch.float32, seed=0):
    x, v0, ws, wv = _inputs(seed, dtype)
    kw = dict(decay_input=decay_input, v_threshold=1.0, v_reset=v_reset,
              detach_reset=detach_reset)
    results = []
    for which in ("ref", "fused", "ref64"):
        xl, vl = _leaves(x, v0)
        w_leaf, k = _decay(neuron, dtype)
        if which == "ref64":
            xl, vl = _leaves(x.double(), v0.double())
            if isinstance(w_leaf, torch.Tensor):
                w_leaf = w_leaf.detach().double().requires_grad_(True)
            k = k if isinstance(k, float) else None
        if k is None:
            k = torch.sigmoid(w_leaf)
        if which != "fused":
            s, v = ref_lif(xl, vl, k, sg=sg, **kw)
        else:
            s, v = fused.lif_multistep(xl, vl, k, surrogate=sg, use_custom_op=use_custom_op,
                                       **kw)
        loss = (ws.to(s.dtype) * s).sum() + (wv.to(s.dtype) * v).sum()
        leaves = [xl, vl] + ([w_leaf] if isinstance(w_leaf, torch.Tensor) else [])
        results.append((s.detach(), v.detach(), _grads(loss, leaves)))
    assert torch.equal(results[2][0].to(dtype), results[0][0])  # same spikes in float64
    return results[0], results[1], results[2][2]
