"""Fused multi-step kernels against an independent per-step autograd reference.

The references below are written from the equations (charge, fire with the surrogate module,
reset) and differentiated by autograd step by step; the fused kernels differentiate the whole loop
by hand. Spikes must be identical, potentials and every gradient close.
"""

from __future__ import annotations

import math

import pytest
import torch

from sgcourse import surrogate
from sgcourse.kernels import _arguments, _recurrence, fused

HEAVISIDE = [n for n in surrogate.available() if surrogate.spec(n).forward == "heaviside"]
RESETS = [0.0, -0.2, None]
T, SHAPE = 6, (3, 7)
RTOL, ATOL = 1e-5, 1e-6


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


# ---------------------------------------------------------------------------------------------
# IF / LIF / PLIF parity


@pytest.mark.parametrize("name", HEAVISIDE)
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("v_reset", RESETS)
@pytest.mark.parametrize(("neuron", "decay_input"), NEURONS)
def test_lif_family_matches_reference(neuron, decay_input, v_reset, detach_reset, name):
    sg = surrogate.get(name)
    (s_ref, v_ref, g_ref), (s, v, g), g64 = _run_lif_pair(neuron, decay_input, v_reset,
                                                          detach_reset, sg)
    _has_spikes_and_silence(s_ref)
    assert torch.equal(s, s_ref)
    _close(v, v_ref)
    assert len(g) == len(g_ref)
    for actual, expected, exact in zip(g, g_ref, g64, strict=True):
        _close_or_more_accurate(actual, expected, exact)


@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("v_reset", RESETS)
@pytest.mark.parametrize(("neuron", "decay_input"), NEURONS)
def test_custom_op_path_matches_reference(neuron, decay_input, v_reset, detach_reset):
    sg = surrogate.ATan()
    (s_ref, v_ref, g_ref), (s, v, g), g64 = _run_lif_pair(neuron, decay_input, v_reset,
                                                          detach_reset, sg, use_custom_op=True)
    assert torch.equal(s, s_ref)
    _close(v, v_ref)
    for actual, expected, exact in zip(g, g_ref, g64, strict=True):
        _close_or_more_accurate(actual, expected, exact)


@pytest.mark.parametrize("v_reset", RESETS)
def test_lif_float64_matches_reference_tightly(v_reset):
    sg = surrogate.Sigmoid()
    (s_ref, v_ref, g_ref), (s, v, g), _ = _run_lif_pair("plif", True, v_reset, False, sg,
                                                        dtype=torch.float64)
    assert torch.equal(s, s_ref)
    _close(v, v_ref, rtol=1e-12, atol=1e-12)
    for actual, expected in zip(g, g_ref, strict=True):
        _close(actual, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss_on", ["spikes", "v_seq"])
def test_lif_loss_on_one_output_only(loss_on):
    x, v0, ws, _ = _inputs(3)
    sg = surrogate.Sigmoid()
    kw = dict(decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=False)
    grads = []
    for fn in (lambda a, b: ref_lif(a, b, 0.5, sg=sg, **kw),
               lambda a, b: fused.lif_multistep(a, b, 0.5, surrogate=sg, **kw)):
        xl, vl = _leaves(x, v0)
        s, v = fn(xl, vl)
        out = s if loss_on == "spikes" else v
        grads.append(_grads((ws * out).sum(), [xl, vl]))
    for actual, expected in zip(grads[1], grads[0], strict=True):
        _close(actual, expected)


def test_needs_input_grad_is_honoured():
    x, v0, _, _ = _inputs(4)
    x.requires_grad_(True)
    s, v = fused.lif_multistep(x, v0, 0.5, decay_input=True, v_threshold=1.0, v_reset=0.0,
                               detach_reset=False, surrogate=surrogate.Sigmoid())
    (s.sum() + v.sum()).backward()
    assert x.grad is not None and v0.grad is None
    # nothing requires grad: plain tensors out
    s, v = fused.lif_multistep(x.detach(), v0, 0.5, decay_input=True, v_threshold=1.0,
                               v_reset=0.0, detach_reset=False, surrogate=surrogate.Sigmoid())
    assert not s.requires_grad and not v.requires_grad


def test_broadcast_v_init_gets_summed_gradient():
    x, _, ws, wv = _inputs(5)
    sg = surrogate.Sigmoid()
    kw = dict(decay_input=False, v_threshold=1.0, v_reset=None, detach_reset=False)
    got = []
    for fn in (ref_lif, fused.lif_multistep):
        xl = x.clone().requires_grad_(True)
        v0 = torch.tensor(0.1, requires_grad=True)
        if fn is ref_lif:
            s, v = fn(xl, v0.expand(SHAPE), 0.25, sg=sg, **kw)
        else:
            s, v = fn(xl, v0, 0.25, surrogate=sg, **kw)
        got.append(_grads((ws * s).sum() + (wv * v).sum(), [xl, v0]))
    assert got[1][1].shape == ()
    for actual, expected in zip(got[1], got[0], strict=True):
        _close(actual, expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_compute_in_float32(dtype):
    x, v0, ws, wv = _inputs(6)
    sg = surrogate.Sigmoid()
    kw = dict(decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=False)
    x_half, v_half = _leaves(x.to(dtype), v0.to(dtype))
    s, v = fused.lif_multistep(x_half, v_half, 0.5, surrogate=sg, **kw)
    assert s.dtype == dtype and v.dtype == dtype
    x32, v32 = _leaves(x_half.detach().float(), v_half.detach().float())
    s32, v32_seq = fused.lif_multistep(x32, v32, 0.5, surrogate=sg, **kw)
    assert torch.equal(s.float(), s32)
    assert torch.equal(v, v32_seq.to(dtype))
    loss = (ws.to(dtype) * s).float().sum() + (wv.to(dtype) * v).float().sum()
    loss.backward()
    ((ws.to(dtype).float() * s32).sum() + (wv.to(dtype).float() * v32_seq).sum()).backward()
    assert x_half.grad.dtype == dtype
    _close(x_half.grad.float(), x32.grad.to(dtype).float(), rtol=1e-2, atol=1e-2)


def test_single_time_step_and_higher_rank_input():
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(1, 2, 3, 4, generator=gen) + 0.8
    v0 = torch.zeros(2, 3, 4)
    sg = surrogate.SuperSpike()
    kw = dict(decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=False)
    xl, vl = _leaves(x, v0)
    s, v = fused.lif_multistep(xl, vl, 0.5, surrogate=sg, **kw)
    gf = _grads(s.sum() + v.sum(), [xl, vl])
    xr, vr = _leaves(x, v0)
    s2, v2 = ref_lif(xr, vr, 0.5, sg=sg, **kw)
    gr = _grads(s2.sum() + v2.sum(), [xr, vr])
    assert torch.equal(s, s2)
    for actual, expected in zip(gf, gr, strict=True):
        _close(actual, expected)


# ---------------------------------------------------------------------------------------------
# QIF / EIF / Izhikevich parity

QIF = dict(tau=2.0, v_c=0.8, a0=1.0, v_rest=0.0)
EIF = dict(tau=2.0, delta_t=1.0, theta_rh=0.8, v_rest=0.0)
IZH = dict(tau=2.0, v_c=0.8, a0=1.0, v_rest=-0.1, tau_w=2.0, a=0.5, b=0.3)
SOME = ["sigmoid", "atan", "piecewise_leaky_relu", "rect", "s2nn", "super_spike"]


@pytest.mark.parametrize("name", SOME)
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("v_reset", [-0.1, 0.0, None])
@pytest.mark.parametrize("kind", ["qif", "eif"])
def test_qif_eif_match_reference(kind, v_reset, detach_reset, name):
    x, v0, ws, wv = _inputs(11, scale=0.8, shift=0.3, v_scale=0.2)
    sg = surrogate.get(name)
    params, ref, fn = ((QIF, ref_qif, fused.qif_multistep) if kind == "qif"
                       else (EIF, ref_eif, fused.eif_multistep))
    kw = dict(params, v_threshold=1.0, v_reset=v_reset, detach_reset=detach_reset)
    out = []
    for f in (ref, fn):
        xl, vl = _leaves(x, v0)
        s, v = f(xl, vl, sg=sg, **kw) if f is ref else f(xl, vl, surrogate=sg, **kw)
        out.append((s.detach(), v.detach(),
                    _grads((ws * s).sum() + (wv * v).sum(), [xl, vl])))
    (s_ref, v_ref, g_ref), (s, v, g) = out
    _has_spikes_and_silence(s_ref)
    assert torch.equal(s, s_ref)
    _close(v, v_ref)
    for actual, expected in zip(g, g_ref, strict=True):
        _close(actual, expected, rtol=2e-5)


@pytest.mark.parametrize("name", SOME)
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("v_reset", [0.0, -0.2, None])
def test_izhikevich_matches_reference(v_reset, detach_reset, name):
    x, v0, ws, wv = _inputs(12, scale=0.8, shift=0.4, v_scale=0.2)
    gen = torch.Generator().manual_seed(13)
    w0 = torch.randn(SHAPE, generator=gen) * 0.1
    www = torch.randn(T, *SHAPE, generator=gen)
    sg = surrogate.get(name)
    kw = dict(IZH, v_threshold=1.0, v_reset=v_reset, detach_reset=detach_reset)
    out = []
    for f in (ref_izhikevich, fused.izhikevich_multistep):
        xl, vl, wl = _leaves(x, v0, w0)
        if f is ref_izhikevich:
            s, v, w = f(xl, vl, wl, sg=sg, **kw)
        else:
            s, v, w = f(xl, vl, wl, surrogate=sg, **kw)
        loss = (ws * s).sum() + (wv * v).sum() + (www * w).sum()
        out.append((s.detach(), v.detach(), w.detach(), _grads(loss, [xl, vl, wl])))
    (s_ref, v_ref, w_ref, g_ref), (s, v, w, g) = out
    _has_spikes_and_silence(s_ref)
    assert torch.equal(s, s_ref)
    _close(v, v_ref)
    _close(w, w_ref)
    for actual, expected in zip(g, g_ref, strict=True):
        _close(actual, expected, rtol=2e-5)


def test_izhikevich_spike_only_loss():
    x, v0, ws, _ = _inputs(14, scale=0.8, shift=0.4, v_scale=0.2)
    w0 = torch.zeros(SHAPE)
    sg = surrogate.ATan()
    kw = dict(IZH, v_threshold=1.0, v_reset=0.0, detach_reset=False)
    got = []
    for f in (ref_izhikevich, fused.izhikevich_multistep):
        xl, vl, wl = _leaves(x, v0, w0)
        s, _, _ = f(xl, vl, wl, sg=sg, **kw) if f is ref_izhikevich else f(
            xl, vl, wl, surrogate=sg, **kw)
        got.append(_grads((ws * s).sum(), [xl, vl, wl]))
    for actual, expected in zip(got[1], got[0], strict=True):
        _close(actual, expected, rtol=2e-5)


def test_qif_v_init_gradient_comes_from_delta0_not_grad_x():
    # the SpikingJelly 0.0.0.0.14 QIF/EIF kernels returned grad_x[0] (an extra factor 1/tau)
    x, v0, ws, _ = _inputs(15, scale=0.5, shift=0.2, v_scale=0.1)
    sg = surrogate.Sigmoid()
    kw = dict(QIF, v_threshold=1.0, v_reset=-0.1, detach_reset=False)
    xl, vl = _leaves(x, v0)
    s, v = fused.qif_multistep(xl, vl, surrogate=sg, **kw)
    gx, gv = _grads((ws * s).sum() + v.sum(), [xl, vl])
    xr, vr = _leaves(x, v0)
    s2, v2 = ref_qif(xr, vr, sg=sg, **kw)
    _, gv_ref = _grads((ws * s2).sum() + v2.sum(), [xr, vr])
    _close(gv, gv_ref)
    assert not torch.allclose(gv, gx[0])


# ---------------------------------------------------------------------------------------------
# gradcheck (float64): the v_seq path with detach_reset=True, where the hand-written backward is
# the true derivative of the forward away from threshold crossings (the spike path uses the
# surrogate by design, so it is checked against the reference above instead).


def _gc_inputs(seed):
    x, v0, _, _ = _inputs(seed, torch.float64, scale=0.6, shift=0.3, v_scale=0.2)
    x, v0 = x[:4, :2, :3].contiguous(), v0[:2, :3].contiguous()
    return x.requires_grad_(True), v0.requires_grad_(True)


@pytest.mark.parametrize("v_reset", [0.0, -0.2, None])
@pytest.mark.parametrize("decay_input", [False, True])
def test_gradcheck_lif_and_plif_v_path(v_reset, decay_input):
    x, v0 = _gc_inputs(21)
    w = torch.tensor(-0.3, dtype=torch.float64, requires_grad=True)
    sg = surrogate.Sigmoid()

    def f(x, v0, w):
        return fused.lif_multistep(x, v0, torch.sigmoid(w), decay_input=decay_input,
                                   v_threshold=1.0, v_reset=v_reset, detach_reset=True,
                                   surrogate=sg)[1]

    assert torch.autograd.gradcheck(f, (x, v0, w))
    assert torch.autograd.gradcheck(lambda x, v0: fused.lif_multistep(
        x, v0, 0.25, decay_input=decay_input, v_threshold=1.0, v_reset=v_reset,
        detach_reset=True, surrogate=sg)[1], (x, v0))


@pytest.mark.parametrize("v_reset", [-0.1, None])
@pytest.mark.parametrize("kind", ["qif", "eif", "izhikevich"])
def test_gradcheck_nonlinear_v_path(kind, v_reset):
    x, v0 = _gc_inputs(22)
    sg = surrogate.ATan()
    kw = dict(v_threshold=1.0, v_reset=v_reset, detach_reset=True, surrogate=sg)
    if kind == "qif":
        def f(x, v0):
            return fused.qif_multistep(x, v0, **QIF, **kw)[1]
        args = (x, v0)
    elif kind == "eif":
        def f(x, v0):
            return fused.eif_multistep(x, v0, **EIF, **kw)[1]
        args = (x, v0)
    else:
        w0 = (torch.zeros_like(v0) + 0.05).requires_grad_(True)
        params = dict(IZH, b=0.0)  # b S_t is never detached: keep the W path smooth
        kw["v_reset"] = 0.0 if v_reset is not None else None  # S V_r is never detached

        def f(x, v0, w0):
            _, v, w = fused.izhikevich_multistep(x, v0, w0, **params, **kw)
            return v, w
        args = (x, v0, w0)
    assert torch.autograd.gradcheck(f, args)


# ---------------------------------------------------------------------------------------------
# memory: only h_seq (and v_init where dL/dk or dH/dV needs V_{t-1}) is saved


class _SavedBytes:
    def __init__(self):
        self.tensors = []

    def pack(self, t):
        self.tensors.append((tuple(t.shape), t.element_size() * t.numel()))
        return t

    @staticmethod
    def unpack(t):
        return t


@pytest.mark.parametrize("neuron", ["lif", "plif", "qif", "izhikevich"])
def test_only_h_seq_is_saved(neuron):
    x, v0, _, _ = _inputs(30)
    x.requires_grad_(True)
    sg = surrogate.Sigmoid()
    rec = _SavedBytes()
    with torch.autograd.graph.saved_tensors_hooks(rec.pack, rec.unpack):
        if neuron in ("lif", "plif"):
            k = 0.5 if neuron == "lif" else torch.sigmoid(torch.zeros((), requires_grad=True))
            rec.tensors.clear()  # sigmoid above saves its output
            fused.lif_multistep(x, v0, k, decay_input=True, v_threshold=1.0, v_reset=0.0,
                                detach_reset=False, surrogate=sg)
        elif neuron == "qif":
            fused.qif_multistep(x, v0, **QIF, v_threshold=1.0, v_reset=-0.1,
                                detach_reset=False, surrogate=sg)
        else:
            fused.izhikevich_multistep(x, v0, torch.zeros(SHAPE), **IZH, v_threshold=1.0,
                                       v_reset=0.0, detach_reset=False, surrogate=sg)
    shapes = [s for s, _ in rec.tensors]
    expected = [(T, *SHAPE)] if neuron == "lif" else [(T, *SHAPE), SHAPE]
    assert shapes == expected
    assert sum(b for _, b in rec.tensors) <= (T + 1) * math.prod(SHAPE) * 4


def test_saves_far_less_than_the_per_step_reference():
    x, v0, _, _ = _inputs(31)
    x.requires_grad_(True)
    sg = surrogate.Sigmoid()
    kw = dict(decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=False)
    totals = []
    for fn in (lambda: ref_lif(x, v0, 0.5, sg=sg, **kw),
               lambda: fused.lif_multistep(x, v0, 0.5, surrogate=sg, **kw)):
        rec = _SavedBytes()
        with torch.autograd.graph.saved_tensors_hooks(rec.pack, rec.unpack):
            fn()
        totals.append(sum(b for _, b in rec.tensors))
    assert totals[1] * 3 <= totals[0]


# ---------------------------------------------------------------------------------------------
# bad inputs and supports()


def _call(x=None, v0=None, sg=None, **over):
    x = torch.randn(3, 4) if x is None else x
    v0 = torch.zeros(4) if v0 is None else v0
    kw = dict(decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=False,
              surrogate=surrogate.Sigmoid() if sg is None else sg)
    kw.update(over)
    decay = kw.pop("decay", 0.5)
    return fused.lif_multistep(x, v0, decay, **kw)


def test_bad_inputs_raise_naming_the_argument():
    with pytest.raises(TypeError, match="x_seq"):
        _call(x=torch.ones(3, 4, dtype=torch.int64))
    with pytest.raises(TypeError, match="x_seq"):
        _call(x=[[1.0, 2.0]])
    with pytest.raises(ValueError, match="x_seq"):
        _call(x=torch.randn(4))
    with pytest.raises(ValueError, match="v_init"):
        _call(v0=torch.zeros(5))
    with pytest.raises(TypeError, match="v_init"):
        _call(v0=torch.zeros(4, dtype=torch.int32))
    with pytest.raises(ValueError, match="surrogate"):
        _call(sg=surrogate.PoissonPass())
    with pytest.raises(ValueError, match="spiking"):
        _call(sg=surrogate.Sigmoid(spiking=False))
    with pytest.raises(TypeError, match="surrogate"):
        _call(sg=lambda z: (z >= 0).float())
    with pytest.raises(ValueError, match="decay"):
        _call(decay=1.5)
    with pytest.raises(ValueError, match="decay"):
        _call(decay=torch.ones(2))
    with pytest.raises(TypeError, match="decay_input"):
        _call(decay_input=1)
    with pytest.raises(TypeError, match="v_threshold"):
        _call(v_threshold="1")
    with pytest.raises(ValueError, match="v_reset"):
        _call(v_reset=float("nan"))
    with pytest.raises(ValueError, match="tau"):
        fused.qif_multistep(torch.randn(3, 4), torch.zeros(4), **dict(QIF, tau=-1.0),
                            v_threshold=1.0, v_reset=-0.1, detach_reset=False,
                            surrogate=surrogate.Sigmoid())
    with pytest.raises(ValueError, match="w_init"):
        fused.izhikevich_multistep(torch.randn(3, 4), torch.zeros(4), torch.zeros(3), **IZH,
                                   v_threshold=1.0, v_reset=0.0, detach_reset=False,
                                   surrogate=surrogate.Sigmoid())


def test_supports():
    x = torch.randn(3, 4)
    assert fused.supports(surrogate.Sigmoid(), x)
    assert all(fused.supports(surrogate.get(n), x) for n in HEAVISIDE)
    assert not fused.supports(surrogate.PoissonPass(), x)
    assert not fused.supports(surrogate.Sigmoid(spiking=False), x)
    assert not fused.supports(lambda z: (z >= 0).float(), x)
    assert not fused.supports(surrogate.Sigmoid(), torch.ones(3, 4, dtype=torch.int64))


def test_surrogate_hyperparameters_are_read_at_call_time():
    x, v0, ws, _ = _inputs(40)
    sg = surrogate.Sigmoid(alpha=4.0)
    kw = dict(decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=False)
    xl = x.clone().requires_grad_(True)
    (ws * fused.lif_multistep(xl, v0, 0.5, surrogate=sg, **kw)[0]).sum().backward()
    sg.alpha = 9.0
    xr = x.clone().requires_grad_(True)
    (ws * ref_lif(xr, v0, 0.5, sg=sg, **kw)[0]).sum().backward()
    xf = x.clone().requires_grad_(True)
    (ws * fused.lif_multistep(xf, v0, 0.5, surrogate=sg, **kw)[0]).sum().backward()
    _close(xf.grad, xr.grad)
    assert not torch.allclose(xl.grad, xf.grad)


# ---------------------------------------------------------------------------------------------
# custom operator: opcheck and torch.compile


def _op_args(requires_grad):
    x, v0, _, _ = _inputs(50)
    return (x.requires_grad_(requires_grad), v0.requires_grad_(requires_grad),
            torch.tensor(0.4, dtype=torch.float64, requires_grad=requires_grad), True, 1.0, 0.0,
            False, surrogate.surrogate_id("sigmoid"), [4.0])


@pytest.mark.parametrize("requires_grad", [False, True])
def test_opcheck(requires_grad):
    torch.library.opcheck(torch.ops.sgcourse.lif_multistep_fused.default,
                          _op_args(requires_grad))


@pytest.mark.slow
def test_torch_compile_smoke():
    sg = surrogate.Sigmoid()
    x, v0, ws, wv = _inputs(51)

    def step(x, v0, w):
        s, v = fused.lif_multistep(x, v0, torch.sigmoid(w), decay_input=True, v_threshold=1.0,
                                   v_reset=None, detach_reset=False, surrogate=sg)
        return (ws * s).sum() + (wv * v).sum()

    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    leaves_c = _leaves(x, v0, torch.tensor(-0.2))
    leaves_e = _leaves(x, v0, torch.tensor(-0.2))
    loss_c = compiled(*leaves_c)
    loss_e = step(*leaves_e)
    _close(loss_c, loss_e)
    for actual, expected in zip(_grads(loss_c, leaves_c), _grads(loss_e, leaves_e), strict=True):
        _close(actual, expected)


# ---------------------------------------------------------------------------------------------
# the backward runs over blocks of time steps: check block boundaries (blocks of 1, 2 and 4
# steps, the last one partial) against the reference


@pytest.mark.parametrize("block_steps", [1, 2, 4])
@pytest.mark.parametrize("kind", ["lif", "plif", "qif", "eif", "izhikevich"])
def test_blocked_backward_matches_reference(monkeypatch, kind, block_steps):
    monkeypatch.setattr(_recurrence, "BLOCK_ELEMENTS", block_steps * math.prod(SHAPE))
    assert len(_recurrence.blocks(T, math.prod(SHAPE))) == -(-T // block_steps)
    sg = surrogate.Sigmoid()
    if kind in ("lif", "plif"):
        for v_reset in RESETS:
            (s_ref, v_ref, g_ref), (s, v, g), g64 = _run_lif_pair(kind, True, v_reset, False,
                                                                  sg)
            assert torch.equal(s, s_ref)
            _close(v, v_ref)
            for actual, expected, exact in zip(g, g_ref, g64, strict=True):
                _close_or_more_accurate(actual, expected, exact)
        return
    x, v0, ws, wv = _inputs(60, scale=0.8, shift=0.4, v_scale=0.2)
    w0 = torch.full(SHAPE, 0.05)
    www = torch.randn(T, *SHAPE, generator=torch.Generator().manual_seed(61))
    grads = []
    for use_ref in (True, False):
        xl, vl, wl = _leaves(x, v0, w0)
        kw = dict(v_threshold=1.0, v_reset=-0.1, detach_reset=False)
        if kind == "qif":
            s, v = (ref_qif(xl, vl, sg=sg, **QIF, **kw) if use_ref
                    else fused.qif_multistep(xl, vl, surrogate=sg, **QIF, **kw))
            loss, leaves = (ws * s).sum() + (wv * v).sum(), [xl, vl]
        elif kind == "eif":
            s, v = (ref_eif(xl, vl, sg=sg, **EIF, **kw) if use_ref
                    else fused.eif_multistep(xl, vl, surrogate=sg, **EIF, **kw))
            loss, leaves = (ws * s).sum() + (wv * v).sum(), [xl, vl]
        else:
            s, v, w = (ref_izhikevich(xl, vl, wl, sg=sg, **IZH, **kw) if use_ref
                       else fused.izhikevich_multistep(xl, vl, wl, surrogate=sg, **IZH, **kw))
            loss, leaves = (ws * s).sum() + (wv * v).sum() + (www * w).sum(), [xl, vl, wl]
        grads.append(_grads(loss, leaves))
    for actual, expected in zip(grads[1], grads[0], strict=True):
        _close(actual, expected, rtol=2e-5)


# ---------------------------------------------------------------------------------------------
# store_v_seq=False: only the final potential is returned (and differentiated)


@pytest.mark.parametrize("use_custom_op", [False, True])
@pytest.mark.parametrize("v_reset", RESETS)
@pytest.mark.parametrize(("neuron", "decay_input"), NEURONS)
def test_store_v_seq_false_returns_and_differentiates_the_last_v(neuron, decay_input, v_reset,
                                                                use_custom_op):
    x, v0, ws, _ = _inputs(70)
    wl = torch.randn(SHAPE, generator=torch.Generator().manual_seed(71))
    sg = surrogate.ATan()
    kw = dict(decay_input=decay_input, v_threshold=1.0, v_reset=v_reset, detach_reset=False)
    out = []
    for use_ref in (True, False):
        xl, vl = _leaves(x, v0)
        w_leaf, k = _decay(neuron, torch.float32)
        if k is None:
            k = torch.sigmoid(w_leaf)
        if use_ref:
            s, v = ref_lif(xl, vl, k, sg=sg, **kw)
            v = v[-1]
        else:
            s, v = fused.lif_multistep(xl, vl, k, surrogate=sg, store_v_seq=False,
                                       use_custom_op=use_custom_op, **kw)
        assert v.shape == SHAPE
        leaves = [xl, vl] + ([w_leaf] if isinstance(w_leaf, torch.Tensor) else [])
        out.append((s.detach(), v.detach(), _grads((ws * s).sum() + (wl * v).sum(), leaves)))
    (s_ref, v_ref, g_ref), (s, v, g) = out
    assert torch.equal(s, s_ref)
    _close(v, v_ref)
    for actual, expected in zip(g, g_ref, strict=True):
        _close(actual, expected)


def test_store_v_seq_false_allocates_one_sequence_less():
    x, v0, _, _ = _inputs(72)
    sg = surrogate.Sigmoid()
    kw = dict(decay_input=True, v_threshold=1.0, v_reset=0.0, detach_reset=False, surrogate=sg)
    s_last, v_last = fused.lif_multistep(x, v0, 0.5, store_v_seq=False, **kw)
    s_seq, v_seq = fused.lif_multistep(x, v0, 0.5, **kw)
    assert torch.equal(s_last, s_seq)
    assert torch.equal(v_last, v_seq[-1])
    assert v_last.untyped_storage().nbytes() <= 2 * v0.numel() * v0.element_size()


# ---------------------------------------------------------------------------------------------
# when the graph is freed after the backward pass, δ is written over the saved h_seq; with
# retain_graph the saved h_seq stays intact for the next pass


def _fused_call(kind, xl, vl, sg):
    kw = dict(v_threshold=1.0, v_reset=0.0, detach_reset=False, surrogate=sg)
    if kind == "lif":
        s, v = fused.lif_multistep(xl, vl, 0.5, decay_input=True, **kw)
        return s, v
    if kind == "qif":
        return fused.qif_multistep(xl, vl, **QIF, **kw)
    s, v, _ = fused.izhikevich_multistep(xl, vl, torch.zeros(SHAPE), **IZH, **kw)
    return s, v


@pytest.mark.parametrize("kind", ["lif", "qif", "izhikevich"])
def test_retain_graph_backward_twice_gives_the_same_gradient(kind):
    x, v0, ws, wv = _inputs(80, scale=0.8, shift=0.4, v_scale=0.2)
    xl, vl = _leaves(x, v0)
    s, v = _fused_call(kind, xl, vl, surrogate.Sigmoid())
    loss = (ws * s).sum() + (wv * v).sum()
    first = torch.autograd.grad(loss, [xl, vl], retain_graph=True)
    second = torch.autograd.grad(loss, [xl, vl])  # frees the graph (may overwrite h_seq)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)


def test_single_backward_reuses_the_saved_h_seq_storage():
    x, v0, ws, _ = _inputs(81)
    xl = x.clone().requires_grad_(True)
    saved = []

    def pack(t):
        saved.append(t.untyped_storage().data_ptr())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        s, _ = fused.lif_multistep(xl, v0, 0.5, decay_input=True, v_threshold=1.0, v_reset=0.0,
                                   detach_reset=False, surrogate=surrogate.Sigmoid(),
                                   store_v_seq=False)
    (ws * s).sum().backward()
    assert xl.grad.untyped_storage().data_ptr() == saved[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("v_reset", RESETS)
def test_cuda_tensors_match_the_cpu_result(v_reset):
    x, v0, ws, wv = _inputs(90)
    sg = surrogate.Sigmoid()
    kw = dict(decay_input=True, v_threshold=1.0, v_reset=v_reset, detach_reset=False, surrogate=sg)
    out = []
    for device in ("cpu", "cuda"):
        xl, vl = _leaves(x.to(device), v0.to(device))
        w = torch.tensor(-0.3, device=device, requires_grad=True)
        s, v = fused.lif_multistep(xl, vl, torch.sigmoid(w), **kw)
        loss = (ws.to(device) * s).sum() + (wv.to(device) * v).sum()
        out.append([t.cpu() for t in (s, v, *_grads(loss, [xl, vl, w]))])
    assert torch.equal(out[0][0], out[1][0])
    for actual, expected in zip(out[1][1:], out[0][1:], strict=True):
        _close(actual, expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# σ′(H − V_th) in the backward: the in-place evaluation (a Sigmoid fast path) must give the same
# bits as the registry's spec.derivative


def _same_bits(a, b):
    """Equal values, equal signs of zeros, NaN where the other has NaN."""
    nan = a.isnan()
    return (a.dtype == b.dtype and torch.equal(nan, b.isnan())
            and torch.equal(a[~nan], b[~nan])
            and torch.equal(torch.signbit(a[~nan]), torch.signbit(b[~nan])))


def _derivative_inputs(dtype, v_threshold):
    gen = torch.Generator().manual_seed(7)
    parts = [torch.randn(4096, generator=gen, dtype=dtype) * scale
             for scale in (0.01, 0.3, 1.0, 10.0, 1e3)]
    special = torch.tensor([0.0, -0.0, 1e30, -1e30, math.inf, -math.inf, 1e-40, v_threshold,
                            v_threshold + 1e-7, v_threshold - 1e-7], dtype=dtype)
    return torch.cat([*parts, special]).reshape(2, -1)  # [2 steps, neurons]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("v_threshold", [1.0, 0.3, -0.7, 0.0])
@pytest.mark.parametrize("name", HEAVISIDE)
def test_derivative_of_h_is_bitwise_spec_derivative(name, v_threshold, dtype):
    sg = surrogate.get(name)
    sid, params = _arguments.check_surrogate(sg)
    fn = _recurrence.derivative_of_h(sid, params, v_threshold)
    h = _derivative_inputs(dtype, v_threshold)
    h_before = h.clone()
    got = fn(h, torch.full_like(h, 123.0))  # the scratch buffer starts with garbage
    want = surrogate.spec(name).derivative(h - v_threshold, *params)
    assert torch.equal(h, h_before)  # h is read only
    assert _same_bits(got, want)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("v_threshold", [1.0, 0.3, -0.7])
@pytest.mark.parametrize("alpha", [4.0, 1.0, 16.0, 0.5, 2.5, 0.3, 3.0])
def test_sigmoid_fast_derivative_is_bitwise_spec_derivative(alpha, v_threshold, dtype):
    sg = surrogate.Sigmoid(alpha=alpha)
    sid, params = _arguments.check_surrogate(sg)
    fn = _recurrence.derivative_of_h(sid, params, v_threshold)
    assert fn.__name__ == "in_place"  # the declaration's derivative_into is used
    h = _derivative_inputs(dtype, v_threshold)
    want = surrogate.spec("sigmoid").derivative(h - v_threshold, alpha)
    scratch = torch.empty_like(h)
    got = fn(h, scratch)
    assert got.data_ptr() == scratch.data_ptr()  # computed in the scratch buffer
    assert _same_bits(got, want)
    # a block view of a larger buffer (as the backward passes it) gives the same bits
    big = torch.empty(3, *h.shape[1:], dtype=dtype)
    assert _same_bits(fn(h[1:], big[:1]), want[1:])
