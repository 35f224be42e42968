"""Backends agree, or refuse: dtypes, half precision, non-finite values, argument checks.

The kernel entry points (``sgcourse.kernels.fused`` and ``sgcourse.kernels.triton``, the latter
in the Triton interpreter on CPU) and the neurons' multi-step backends must give the same spikes
for the same input, with outputs in the same dtype, or raise a ``ValueError``/``TypeError``
naming the argument. ``store_v_seq=False`` must never build the ``[T, ...]`` potential sequence.
"""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

from sgcourse import neuron, surrogate
from sgcourse.kernels import fused

T, N = 12, (3, 5)
QIF = dict(tau=2.0, v_c=0.8, a0=1.0, v_rest=0.0)
EIF = dict(tau=2.0, delta_t=1.0, theta_rh=0.8, v_rest=0.0)
IZH = dict(tau=2.0, v_c=0.8, a0=1.0, v_rest=-0.1, tau_w=2.0, a=0.5, b=0.3)
COMMON = dict(v_threshold=1.0, v_reset=0.0, detach_reset=False)


def _x(seed: int, shape=(T, *N), scale: float = 1.5) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * scale


def _fused_call(kind: str, x: torch.Tensor, v0: torch.Tensor, **kw):
    sg = surrogate.Sigmoid()
    if kind == "lif":
        return fused.lif_multistep(x, v0, 0.5, decay_input=True, surrogate=sg, **COMMON, **kw)
    if kind == "qif":
        return fused.qif_multistep(x, v0, **QIF, surrogate=sg, **{**COMMON, "v_reset": -0.1},
                                   **kw)
    if kind == "eif":
        return fused.eif_multistep(x, v0, **EIF, surrogate=sg, **{**COMMON, "v_reset": -0.1},
                                   **kw)
    return fused.izhikevich_multistep(x, v0, torch.zeros_like(v0), **IZH, surrogate=sg, **COMMON,
                                      **kw)


@contextlib.contextmanager
def _interpreter():
    pytest.importorskip("triton")  # the 'triton' marker below fails a broken install instead
    from sgcourse.kernels import triton as kt

    with kt.use_interpreter():
        yield kt


# ---------------------------------------------------------------------------------------------
# output dtype: the promoted dtype of the input and the initial state, as the per-step reference


@pytest.mark.parametrize("kind", ["lif", "qif", "eif", "izhikevich"])
def test_fused_outputs_have_the_promoted_dtype(kind):
    x = _x(1)
    v0 = torch.zeros(N, dtype=torch.float64)
    out = _fused_call(kind, x, v0)
    assert all(t.dtype == torch.float64 for t in out)
    # the values are those of the float64 computation
    out64 = _fused_call(kind, x.double(), v0)
    for a, b in zip(out, out64, strict=True):
        assert torch.equal(a, b)


@pytest.mark.triton
def test_triton_refuses_a_float64_state_naming_it():
    with _interpreter() as kt, pytest.raises(TypeError, match="v_init"):
        kt.lif_multistep(_x(2), torch.zeros(N, dtype=torch.float64), 0.5, decay_input=True,
                         surrogate=surrogate.Sigmoid(), **COMMON)


@pytest.mark.triton
def test_triton_outputs_have_the_promoted_dtype():
    x, v0 = _x(3).half(), torch.zeros(N)
    with _interpreter() as kt:
        spikes, v = kt.lif_multistep(x, v0, 0.5, decay_input=True,
                                     surrogate=surrogate.Sigmoid(), **COMMON)
    ref_s, ref_v = fused.lif_multistep(x, v0, 0.5, decay_input=True,
                                       surrogate=surrogate.Sigmoid(), **COMMON)
    assert spikes.dtype == v.dtype == torch.float32 == ref_s.dtype == ref_v.dtype
    assert torch.equal(spikes, ref_s)
    torch.testing.assert_close(v, ref_v)


# ---------------------------------------------------------------------------------------------
# half precision: every backend computes in float32, so every backend fires the same spikes


def _half_reference(x: torch.Tensor, tau: float) -> torch.Tensor:
    """LIF computed in the input's half dtype (what the 'torch' backend used to do)."""
    v = torch.zeros_like(x[0])
    spikes = []
    for xt in x.unbind(0):
        h = v + (xt - v) / tau
        s = (h >= 1.0).to(x.dtype)
        v = (1 - s) * h
        spikes.append(s)
    return torch.stack(spikes)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_inputs_fire_the_same_spikes_on_every_backend(dtype):
    x = _x(4, (32, 64, 64), scale=2.2).to(dtype)
    tau = 3.0
    spikes = {}
    for backend in ("torch", "fused"):
        node = neuron.LIFNode(tau=tau, step_mode="m", backend=backend)
        spikes[backend] = node(x)
        assert spikes[backend].dtype == dtype and node.v.dtype == dtype
    assert torch.equal(spikes["torch"], spikes["fused"])
    # control: computed in half precision itself, the spikes differ
    assert not torch.equal(_half_reference(x, tau), spikes["fused"])


@pytest.mark.triton
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_half_inputs_fire_the_same_spikes_with_triton(dtype):
    x = _x(5, (16, 8, 32), scale=2.2).to(dtype)
    with _interpreter():
        triton_spikes = neuron.LIFNode(tau=3.0, step_mode="m", backend="triton")(x)
    torch_spikes = neuron.LIFNode(tau=3.0, step_mode="m", backend="torch")(x)
    assert torch.equal(triton_spikes, torch_spikes)


def test_half_inputs_give_the_same_gradients_as_float32_on_the_torch_backend():
    x = _x(6, (8, 4, 16), scale=2.2).half()
    grads = []
    for backend in ("torch", "fused"):
        xl = x.clone().requires_grad_(True)
        neuron.LIFNode(step_mode="m", backend=backend)(xl).float().sum().backward()
        assert xl.grad.dtype == torch.float16
        grads.append(xl.grad.float())
    torch.testing.assert_close(grads[0], grads[1], rtol=2e-3, atol=2e-3)


# ---------------------------------------------------------------------------------------------
# non-finite values: a ValueError from every backend and every kernel entry point

BAD = {"nan": math.nan, "+inf": math.inf, "-inf": -math.inf}


@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize("backend", ["torch", "fused"])
@pytest.mark.parametrize("cls", [neuron.IFNode, neuron.LIFNode, neuron.ParametricLIFNode,
                                 neuron.QIFNode, neuron.EIFNode, neuron.IzhikevichNode])
@pytest.mark.parametrize("v_reset", [0.0, None])
def test_non_finite_input_raises_on_every_backend(cls, backend, bad, v_reset):
    x = _x(7)
    x[3, 1, 2] = BAD[bad]
    reset = {} if v_reset is not None else {"v_reset": None}
    node = cls(step_mode="m", backend=backend, **reset)
    with pytest.raises(ValueError, match="finite"):
        node(x)


@pytest.mark.triton
@pytest.mark.parametrize("bad", list(BAD))
def test_non_finite_input_raises_with_triton(bad):
    x = _x(8)
    x[5, 0, 0] = BAD[bad]
    with _interpreter() as kt:
        with pytest.raises(ValueError, match="finite"):
            neuron.LIFNode(step_mode="m", backend="triton")(x)
        with pytest.raises(ValueError, match="v_init"):
            kt.lif_multistep(_x(8), torch.full(N, BAD[bad]), 0.5, decay_input=True,
                             surrogate=surrogate.Sigmoid(), **COMMON)


@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize("kind", ["lif", "qif", "eif", "izhikevich"])
def test_non_finite_input_raises_in_the_fused_kernels(kind, bad):
    x = _x(9)
    x[0, 2, 4] = BAD[bad]
    with pytest.raises(ValueError, match="finite"):
        _fused_call(kind, x, torch.zeros(N))
    with pytest.raises(ValueError, match="finite"):
        _fused_call(kind, _x(9), torch.full(N, BAD[bad]))


# ---------------------------------------------------------------------------------------------
# the kernel entry points check what the neurons check


def _triton_lif(**kw):
    with _interpreter() as kt:
        return kt.lif_multistep(**kw)


LIF_ENTRIES = [pytest.param(fused.lif_multistep, id="fused"),
               pytest.param(_triton_lif, id="triton", marks=pytest.mark.triton)]


@pytest.mark.parametrize("entry", LIF_ENTRIES)
@pytest.mark.parametrize(("arg", "value", "pattern"), [
    ("v_threshold", 0.0, "v_threshold must be greater than v_reset"),
    ("v_threshold", -0.5, "v_threshold must be greater than v_reset"),
    ("decay", 1.5, "decay"),
    ("decay", -0.1, "decay"),
    ("decay", torch.tensor(1.2), "decay"),
    ("decay", torch.tensor([-0.3]), "decay"),
    ("decay", math.nan, "decay"),
])
def test_lif_entry_points_reject_what_the_neurons_reject(entry, arg, value, pattern):
    kw = dict(x_seq=_x(10), v_init=torch.zeros(N), decay=0.5, decay_input=True,
              surrogate=surrogate.Sigmoid(), **COMMON)
    kw[arg] = value
    with pytest.raises(ValueError, match=pattern):
        entry(**kw)


@pytest.mark.parametrize(("kind", "arg", "value", "pattern"), [
    ("qif", "v_threshold", -0.2, "v_threshold must be greater than v_reset"),
    ("qif", "tau", 1.0, "tau"),
    ("qif", "v_rest", -0.5, "v_rest must be >= v_reset"),
    ("eif", "v_threshold", -0.1, "v_threshold must be greater than v_reset"),
    ("eif", "tau", 0.5, "tau"),
    ("izhikevich", "v_threshold", -0.1, "v_threshold must be greater than v_reset"),
    ("izhikevich", "tau_w", 1.0, "tau_w"),
])
def test_nonlinear_entry_points_reject_what_the_neurons_reject(kind, arg, value, pattern):
    params = {"qif": QIF, "eif": EIF, "izhikevich": IZH}[kind]
    kw = dict(params, v_threshold=1.0, v_reset=-0.1, detach_reset=False,
              surrogate=surrogate.Sigmoid())
    kw[arg] = value
    fn = getattr(fused, f"{kind}_multistep")
    states = (torch.zeros(N),) * (2 if kind == "izhikevich" else 1)
    with pytest.raises(ValueError, match=pattern):
        fn(_x(11), *states, **kw)
    # the neuron refuses the same value
    cls = {"qif": neuron.QIFNode, "eif": neuron.EIFNode, "izhikevich": neuron.IzhikevichNode}
    node_kw = {("delta_T" if k == "delta_t" else k): v for k, v in kw.items()
               if k not in ("surrogate",)}
    with pytest.raises(ValueError):
        cls[kind](**node_kw)


# ---------------------------------------------------------------------------------------------
# store_v_seq=False: the final state only, the same values and gradients


@pytest.mark.parametrize("kind", ["lif", "qif", "eif", "izhikevich"])
def test_store_v_seq_false_returns_the_final_states_with_their_gradients(kind):
    x = _x(12)
    results = []
    for store in (True, False):
        xl, v0 = x.clone().requires_grad_(True), torch.full(N, 0.1, requires_grad=True)
        spikes, *states = _fused_call(kind, xl, v0, store_v_seq=store)
        finals = [s[-1] for s in states] if store else states
        assert all(f.shape == N for f in finals)
        w = torch.linspace(-1, 1, math.prod(N)).reshape(N)
        loss = (spikes * 0.3).sum() + sum((f * w).sum() for f in finals)
        results.append([spikes.detach(), *(f.detach() for f in finals),
                        *torch.autograd.grad(loss, [xl, v0])])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.triton
def test_triton_store_v_seq_false_returns_the_final_v_with_its_gradient():
    x = _x(13)
    results = []
    with _interpreter() as kt:
        for store in (True, False):
            xl, v0 = x.clone().requires_grad_(True), torch.full(N, 0.1, requires_grad=True)
            spikes, v = kt.lif_multistep(xl, v0, 0.5, decay_input=True,
                                         surrogate=surrogate.Sigmoid(), store_v_seq=store,
                                         **COMMON)
            final = v[-1] if store else v
            assert final.shape == N
            loss = (spikes * 0.3).sum() + (final * 1.7).sum()
            results.append([spikes.detach(), final.detach(),
                            *torch.autograd.grad(loss, [xl, v0])])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("cls", [neuron.IFNode, neuron.LIFNode, neuron.ParametricLIFNode,
                                 neuron.QIFNode, neuron.EIFNode, neuron.IzhikevichNode])
def test_neurons_without_store_v_seq_ask_the_kernel_for_final_states_only(cls, monkeypatch):
    """The fused backend of a neuron with store_v_seq=False never gets a [T, ...] sequence."""
    calls = []
    name = {neuron.QIFNode: "qif_multistep", neuron.EIFNode: "eif_multistep",
            neuron.IzhikevichNode: "izhikevich_multistep"}.get(cls, "lif_multistep")
    original = getattr(fused, name)

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append((kwargs["store_v_seq"], [tuple(t.shape) for t in out[1:]]))
        return out

    monkeypatch.setattr(fused, name, spy)
    node = cls(step_mode="m", backend="fused")
    x = _x(14)
    node(x)
    assert calls == [(False, [N] * len(node.state_names))]
    assert node.v.shape == N and node.v_seq is None
