"""Backends against the per-step 'torch' reference, at the neuron level.

For every configuration (hard/soft reset × detach_reset × decay_input × several surrogates) the
fused backend (and the Triton backend, run here through the Triton interpreter on CPU) must give
identical spikes and, in float32, values and gradients within a relative error of 1e-5. Two
chained calls make the gradient also flow through the initial state ``v``.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from sgcourse import neuron, surrogate
from sgcourse.neuron import _dispatch

SURROGATES = ["sigmoid", "atan", "piecewise_quadratic", "erf"]
REL = 1e-5


def assert_rel_close(actual, expected, what):
    scale = expected.abs().max().clamp_min(1e-12)
    err = ((actual - expected).abs().max() / scale).item()
    assert err <= REL, f"{what}: relative error {err:.3g} > {REL}"


def build(name, v_reset, detach_reset, decay_input, sg, backend):
    common = {"v_reset": v_reset, "detach_reset": detach_reset, "step_mode": "m",
              "surrogate_function": surrogate.get(sg), "backend": backend, "store_v_seq": True}
    if name == "if":
        return neuron.IFNode(**common)
    if name == "lif":
        return neuron.LIFNode(tau=2.5, decay_input=decay_input, **common)
    if name == "plif":
        return neuron.ParametricLIFNode(init_tau=2.5, decay_input=decay_input, **common)
    if name == "qif":
        return neuron.QIFNode(**common)
    if name == "eif":
        return neuron.EIFNode(**common)
    return neuron.IzhikevichNode(a=0.5, b=0.3, **common)


DEFAULT_RESET = {"qif": -0.1, "eif": -0.1}


def run_twice(node, x1, x2):
    """Two chained calls; loss = Σ S·w + Σ v_seq·u + Σ v_final; returns values and gradients."""
    gen = torch.Generator().manual_seed(9)
    a, b = x1.clone().requires_grad_(True), x2.clone().requires_grad_(True)
    spikes = torch.cat((node(a), node(b)))
    w = torch.rand(spikes.shape, generator=gen)
    u = torch.rand(spikes.shape, generator=gen)
    loss = (spikes * w).sum() + (node.v_seq * u).sum() + node.v.sum()
    params = list(node.parameters())
    grads = torch.autograd.grad(loss, [a, b, *params])
    return spikes, node.v_seq, grads


def check_parity(name, v_reset, detach_reset, decay_input, sg, backend):
    drive = {"lif": 2.5, "plif": 2.5}.get(name, 1.2)
    gen = torch.Generator().manual_seed(0)
    x1 = torch.rand((6, 4, 5), generator=gen) * drive - 0.1
    x2 = torch.rand((5, 4, 5), generator=gen) * drive - 0.1
    reference = build(name, v_reset, detach_reset, decay_input, sg, "torch")
    candidate = build(name, v_reset, detach_reset, decay_input, sg, backend)
    assert candidate._implementation(x1) is _dispatch.lookup(type(candidate), "m", backend)
    s_ref, v_ref, g_ref = run_twice(reference, x1, x2)
    s, v, g = run_twice(candidate, x1, x2)
    assert 0 < s_ref.sum() < s_ref.numel()
    assert torch.equal(s, s_ref), "spikes differ"
    assert_rel_close(v, v_ref, "v_seq")
    for i, (actual, expected) in enumerate(zip(g, g_ref, strict=True)):
        assert_rel_close(actual, expected, f"gradient {i}")


def fused_cases():
    for name in ["if", "lif", "plif", "qif", "eif", "izhikevich"]:
        decay_inputs = [True, False] if name in {"lif", "plif"} else [None]
        details = [False] if name == "izhikevich" else [False, True]
        for v_reset, detach, decay_input, sg in itertools.product(
                [DEFAULT_RESET.get(name, 0.0), None], details, decay_inputs, SURROGATES):
            yield pytest.param(name, v_reset, detach, decay_input, sg,
                               id=f"{name}-vr{v_reset}-detach{detach}-di{decay_input}-{sg}")


@pytest.mark.parametrize(("name", "v_reset", "detach_reset", "decay_input", "sg"),
                         list(fused_cases()))
def test_fused_matches_torch(name, v_reset, detach_reset, decay_input, sg):
    check_parity(name, v_reset, detach_reset, decay_input, sg, "fused")


def triton_cases():
    configs = itertools.product(["if", "lif", "plif"], [0.0, None], [False, True],
                                [True, False])
    for i, (name, v_reset, detach, decay_input) in enumerate(configs):
        if name == "if" and not decay_input:
            continue
        sg = SURROGATES[i % len(SURROGATES)]
        yield pytest.param(name, v_reset, detach, decay_input if name != "if" else None, sg,
                           id=f"{name}-vr{v_reset}-detach{detach}-di{decay_input}-{sg}")


@pytest.mark.triton  # skipped only when Triton is not installed (tests/conftest.py)
@pytest.mark.parametrize(("name", "v_reset", "detach_reset", "decay_input", "sg"),
                         list(triton_cases()))
def test_triton_matches_torch_in_the_interpreter(name, v_reset, detach_reset, decay_input, sg):
    from sgcourse.kernels import triton as triton_kernels

    with triton_kernels.use_interpreter():
        check_parity(name, v_reset, detach_reset, decay_input, sg, "triton")


# ---- automatic selection and errors --------------------------------------------------------------
@pytest.mark.parametrize("cls", [neuron.IFNode, neuron.LIFNode, neuron.ParametricLIFNode,
                                 neuron.QIFNode, neuron.EIFNode, neuron.IzhikevichNode])
def test_multi_step_default_backend_is_fused(cls):
    node = cls(step_mode="m")
    assert node.backend is None
    x = torch.rand(3, 2)
    assert node._implementation(x) is _dispatch.lookup(cls, "m", "fused")


def test_automatic_selection_falls_back_to_torch():
    x = torch.rand(3, 2)
    torch_impl = _dispatch.lookup(neuron.LIFNode, "m", "torch")
    custom = neuron.LIFNode(step_mode="m", surrogate_function=lambda h: (h >= 0).float())
    assert custom._implementation(x) is torch_impl
    assert neuron.KLIFNode(step_mode="m")._implementation(x) is torch_impl
    assert neuron.CUBALIFNode(step_mode="m")._implementation(x) is torch_impl
    izh = neuron.IzhikevichNode(step_mode="m", detach_reset=True)
    assert izh._implementation(x) is torch_impl

    class MyLIF(neuron.LIFNode):  # a subclass may change the charge: never run the parent kernel
        pass

    assert MyLIF(step_mode="m").supported_backends == ("torch",)
    assert MyLIF(step_mode="m")._implementation(x) is _dispatch.lookup(MyLIF, "m", "torch")


def test_supported_backends_come_from_the_table():
    assert neuron.LIFNode(step_mode="m").supported_backends == ("torch", "fused", "triton")
    assert neuron.QIFNode(step_mode="m").supported_backends == ("torch", "fused")
    assert neuron.LIFNode(step_mode="s").supported_backends == ("torch",)
    with pytest.raises(ValueError, match=r"supported backends: \('torch',\)"):
        neuron.LIFNode(step_mode="s", backend="fused")
    with pytest.raises(ValueError, match=r"supported backends: \('torch', 'fused'\)"):
        neuron.QIFNode(step_mode="m", backend="triton")


def test_explicit_kernel_backend_that_cannot_run_explains_why():
    node = neuron.LIFNode(step_mode="m", backend="fused",
                          surrogate_function=lambda h: (h >= 0).float())
    with pytest.raises(ValueError, match="backend='torch'"):
        node(torch.rand(3, 2))
    node = neuron.IzhikevichNode(step_mode="m", backend="fused", detach_reset=True)
    with pytest.raises(ValueError, match="detach_reset=True"):
        node(torch.rand(3, 2))


@pytest.mark.triton
def test_triton_on_cpu_tensors_says_cuda_is_needed():
    node = neuron.LIFNode(step_mode="m", backend="triton")
    with pytest.raises(ValueError, match="CUDA"):
        node(torch.rand(3, 2))


def test_missing_kernel_module_keeps_the_import_error(monkeypatch):
    monkeypatch.setitem(_dispatch._KERNEL_MODULES, "fused", "sgcourse.kernels.no_such_module")
    with pytest.raises(_dispatch.KernelUnavailableError, match="no_such_module"):
        neuron.LIFNode(step_mode="m", backend="fused")
    node = neuron.LIFNode(step_mode="m")  # automatic selection quietly uses torch
    assert node._implementation(torch.rand(2, 2)) is _dispatch.lookup(neuron.LIFNode, "m",
                                                                      "torch")


@pytest.mark.slow
def test_torch_compile_matches_eager():
    from sgcourse import functional, layer

    torch.manual_seed(0)
    net = torch.nn.Sequential(layer.Linear(3, 4), neuron.LIFNode(),
                              neuron.IFNode(v_reset=None))
    functional.set_step_mode(net, "m")
    compiled = torch.compile(net, backend="aot_eager")
    x = torch.rand(5, 2, 3) * 2
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out_compiled = compiled(a)
    out_compiled.sum().backward()
    functional.reset_net(net)
    out_eager = net(b)
    out_eager.sum().backward()
    assert torch.equal(out_compiled, out_eager)
    torch.testing.assert_close(a.grad, b.grad)


def graph_node_names(tensor):
    seen, stack, names = set(), [tensor.grad_fn], []
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.append(type(fn).__name__)
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return names


def test_torch_backend_iterates_with_unbind_not_indexing():
    # x_seq[t] in the loop would give T SelectBackward nodes, each zero-filling a [T, ...]
    # gradient in backward (quadratic in T); unbind gives a single UnbindBackward node.
    x = torch.rand(16, 3, requires_grad=True)
    names = graph_node_names(neuron.LIFNode(step_mode="m", backend="torch")(x))
    assert "UnbindBackward0" in names
    assert not any(name.startswith("SelectBackward") for name in names)


def test_missing_triton_package_keeps_the_import_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "triton", None)  # makes `import triton` fail
    node = neuron.LIFNode(step_mode="m", backend="triton")
    with pytest.raises(ValueError,
                       match=r"Triton cannot be imported \(ModuleNotFoundError: import of triton"):
        node(torch.rand(3, 2))
