"""Fused kernels: what is saved, argument checks, the custom op, blocks, δ over h_seq, σ′ bits.

Companion of ``tests/test_kernels_fused.py`` (same references, from ``fused_reference``).
"""

from __future__ import annotations

import math

import pytest
import torch
from fused_reference import (
    EIF,
    HEAVISIDE,
    IZH,
    NEURONS,
    QIF,
    RESETS,
    SHAPE,
    T,
    _close,
    _close_or_more_accurate,
    _decay,
    _grads,
    _inputs,
    _leaves,
    _run_lif_pair,
    ref_eif,
    ref_izhikevich,
    ref_lif,
    ref_qif,
)

from sgcourse import surrogate
from sgcourse.kernels import _arguments, _recurrence, fused

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
