"""Lesson 04's hand-written surrogate (sgcourse.course.custom_surrogate) and
``sgcourse.surrogate.register``.

Registration changes the process-wide registry, so those tests run in a fresh interpreter each
(the registry of this test process stays the built-in one)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from sgcourse import surrogate
from sgcourse.course import custom_surrogate as cs


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_hand_written_arctan_equals_the_library_bitwise(dtype: torch.dtype) -> None:
    x = torch.linspace(-4, 4, 201, dtype=dtype)
    upstream = torch.rand(201, dtype=dtype, generator=torch.Generator().manual_seed(0))
    results = []
    for spike in (cs.ArcTanSurrogate(alpha=3.0), surrogate.ATan(alpha=3.0)):
        xi = x.clone().requires_grad_(True)
        out = spike(xi)
        out.backward(upstream)
        results.append((out.detach(), xi.grad))
    (out_a, grad_a), (out_b, grad_b) = results
    assert out_a.dtype == dtype and torch.equal(out_a, out_b) and torch.equal(grad_a, grad_b)
    assert grad_a.abs().max() > 0


def test_arctan_surrogate_validates_alpha_and_gives_no_gradient_to_it() -> None:
    with pytest.raises(ValueError, match="alpha"):
        cs.ArcTanSurrogate(alpha=-1.0)
    x = torch.tensor([0.3], requires_grad=True)
    cs.ArcTanSpike.apply(x, 2.0).sum().backward()
    assert x.grad is not None and x.grad.item() == pytest.approx(1 / (1 + (0.3 * torch.pi) ** 2))


def test_gradcheck_passes_on_the_smooth_twins_and_catches_a_wrong_derivative() -> None:
    x = torch.randn(32, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x.requires_grad_(True)
    twin = cs.smooth_twin(cs.arctan_primitive, cs.arctan_derivative)
    assert torch.autograd.gradcheck(twin.apply, (x, 2.0))
    triangle = cs.smooth_twin(cs.TRIANGLE.primitive, cs.TRIANGLE.derivative)
    for width in (0.7, 1.0, 2.5):
        assert torch.autograd.gradcheck(triangle.apply, (x, width))
    wrong = cs.smooth_twin(cs.arctan_primitive, lambda z, a: 2 * cs.arctan_derivative(z, a))
    assert not torch.autograd.gradcheck(wrong.apply, (x, 2.0), raise_exception=False)
    assert not torch.autograd.gradcheck(cs.ArcTanSpike.apply, (x, 2.0), raise_exception=False)
    with pytest.raises(TypeError, match="callables"):
        cs.smooth_twin(cs.arctan_primitive, None)  # type: ignore[arg-type]


def test_triangle_declaration_is_piecewise_quadratic_with_alpha_one_over_width() -> None:
    x = torch.linspace(-3, 3, 121, dtype=torch.float64)
    for width in (0.5, 1.0, 2.0):
        reference = surrogate.PiecewiseQuadratic(alpha=1 / width)
        assert torch.allclose(cs.TRIANGLE.derivative(x, width), reference.derivative(x),
                              rtol=0, atol=1e-12)
        assert torch.allclose(cs.TRIANGLE.primitive(x, width), reference.primitive(x),
                              rtol=0, atol=1e-12)
    assert cs.TRIANGLE.derivative(torch.zeros(1), 1.0).item() == 1.0   # peak 1 by default
    assert "triangle" not in surrogate.available()                     # this process: built-ins


def _run(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr


def test_register_adds_a_surrogate_everywhere_and_the_fused_backend_uses_it() -> None:
    _run("""
        import torch
        from sgcourse import neuron, surrogate
        from sgcourse.course.custom_surrogate import TRIANGLE
        n = len(surrogate.available())
        cls = surrogate.register(TRIANGLE)
        assert surrogate.register(TRIANGLE) is cls                # re-running a cell is fine
        assert surrogate.available()[-1] == "triangle" and len(surrogate.available()) == n + 1
        assert surrogate.surrogate_id("triangle") == n
        assert surrogate.module_class("Triangle") is cls and surrogate.spec("triangle") is TRIANGLE
        assert surrogate.function("triangle") is cls.function
        sg = surrogate.get("triangle", width=0.5)
        assert isinstance(sg, surrogate.Surrogate) and sg.width == 0.5
        x = torch.linspace(-2, 2, 81, dtype=torch.float64, requires_grad=True)
        sg(x).backward(torch.ones_like(x))
        expected = surrogate.PiecewiseQuadratic(alpha=2.0).derivative(x.detach())
        assert torch.allclose(x.grad, expected, rtol=0, atol=1e-12)
        generator = torch.Generator().manual_seed(0)
        x_seq = 1.5 * torch.rand(16, 3, 5, dtype=torch.float64, generator=generator)
        results = []
        for backend in ("torch", "fused"):
            node = neuron.LIFNode(surrogate_function=surrogate.get("triangle"), step_mode="m",
                                  backend=backend)
            xi = x_seq.clone().requires_grad_(True)
            spikes = node(xi)
            spikes.sum().backward()
            results.append((spikes, xi.grad))
        assert torch.equal(results[0][0], results[1][0]) and results[0][0].sum() > 0
        assert torch.allclose(results[0][1], results[1][1], rtol=0, atol=1e-12)
        try:
            surrogate.get("triangle", alpha=1.0)
        except TypeError as error:
            assert "width" in str(error)
        else:
            raise AssertionError("an unknown hyper-parameter was accepted")
    """)


def test_register_refuses_bad_or_clashing_declarations() -> None:
    _run("""
        import dataclasses
        from sgcourse import surrogate
        from sgcourse.course.custom_surrogate import TRIANGLE

        def refused(declaration, error, words):
            try:
                surrogate.register(declaration)
            except error as caught:
                assert words in str(caught), caught
            else:
                raise AssertionError(f"accepted {declaration!r}")

        refused("triangle", TypeError, "SurrogateSpec")
        refused(dataclasses.replace(TRIANGLE, name="sigmoid"), ValueError, "already registered")
        refused(dataclasses.replace(TRIANGLE, class_name="ATan"), ValueError, "already registered")
        refused(dataclasses.replace(TRIANGLE, name="Tri angle"), ValueError, "snake_case")
        refused(dataclasses.replace(TRIANGLE, class_name="1x"), ValueError, "identifier")
        refused(dataclasses.replace(TRIANGLE, derivative=None), TypeError, "callables")
        refused(dataclasses.replace(TRIANGLE, forward="sample"), ValueError, "forward")
        surrogate.register(TRIANGLE)
        refused(dataclasses.replace(TRIANGLE), ValueError, "already registered")
        assert surrogate.available().count("triangle") == 1
    """)


def test_measured_gradient_and_its_figure() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = torch.arange(-10, 11, dtype=torch.float64) / 5
    spikes, grad = cs.measured_gradient(cs.ArcTanSurrogate(), x)
    assert torch.equal(spikes, (x >= 0).double()) and not x.requires_grad
    assert torch.allclose(grad, cs.arctan_derivative(x), rtol=0, atol=1e-15)
    fig = cs.plot_measured_derivative({"ours": (spikes, grad)}, x, cs.arctan_derivative(x),
                                      title="check")
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title() == "check"
    assert len(ax.get_legend().get_texts()) == len(ax.get_lines()) == 3
    with pytest.raises(TypeError, match="floating-point"):
        cs.measured_gradient(cs.ArcTanSurrogate(), torch.arange(3))
    with pytest.raises(ValueError, match="non-empty"):
        cs.plot_measured_derivative({}, x, x, "t")
    plt.close("all")


def test_triangle_declaration_source_is_the_code_that_declares_it() -> None:
    from sgcourse._checks import POSITIVE
    from sgcourse.surrogate import HyperParameter, SurrogateSpec

    source = cs.triangle_declaration_source()
    assert source.startswith("def triangle_primitive(") and source.rstrip().endswith(")")
    namespace = {"torch": torch, "SurrogateSpec": SurrogateSpec,
                 "HyperParameter": HyperParameter, "POSITIVE": POSITIVE}
    exec(source, namespace)   # the printed text runs and declares the same surrogate
    declared = namespace["TRIANGLE"]
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    assert (declared.name, declared.class_name) == (cs.TRIANGLE.name, cs.TRIANGLE.class_name)
    assert torch.equal(declared.derivative(x, 0.5), cs.TRIANGLE.derivative(x, 0.5))
    assert torch.equal(declared.primitive(x, 0.5), cs.TRIANGLE.primitive(x, 0.5))
