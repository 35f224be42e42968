r"""Every neuron × every backend with a non-zero ``v_reset``, against per-step reference equations.

A reset bug that only shows when :math:`V_{reset} \ne 0` (e.g. a hard reset that forgets its
:math:`\hat S\,V_{reset}` term) is invisible with ``v_reset`` 0 or ``None``. Here every spiking
neuron class of :mod:`sgcourse.neuron` runs with :math:`V_{reset} \in \{-0.3, 0.2\}` (and the soft
reset), ``detach_reset`` both ways, in single-step mode and with every multi-step backend of its
``supported_backends`` (Triton through the interpreter on CPU tensors), and is compared with the
equations written out below, independently of the library:

.. math::

    S[t] = \Theta(H[t] - V_{th}), \qquad
    V[t] = \begin{cases} \hat S[t]\,V_{reset} + (1 - \hat S[t])\,H[t] & \text{hard} \\
                         H[t] - \hat S[t]\,V_{th} & \text{soft} \end{cases}

with :math:`\hat S = S` or (``detach_reset``) :math:`S` with its gradient cut, the state starting
at :math:`V_{reset}` (hard) or 0 (soft), and the charge :math:`H[t]` of each class from its
docstring (see ``REFERENCES``). :math:`\Theta` is the Heaviside step forward and the surrogate's
:math:`\sigma'` backward (the same surrogate module in both computations).

Checks: identical spikes; outputs, :math:`V[t]` (``v_seq``), the final state and the gradients of
a loss touching all of them, with respect to the inputs of two chained calls (so the gradient also
flows through the stored state) and every parameter, within a float32 relative error of 1e-5 (the
max-abs error over the max-abs reference value). Each kernel backend is also compared directly
with the ``'torch'`` backend (backend parity).
"""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
from torch import nn

from sgcourse import neuron, surrogate

V_RESETS = (-0.3, 0.2, None)
"""Two non-zero hard-reset values (below and above 0) and the soft reset."""
REL = 1e-5
PARAMETER_REL = 1e-4
"""For the gradient of a learnable parameter (PLIF's w, KLIF's k): one float32 sum over every
step and neuron, of terms that cancel, which autograd (a partial sum per use of k) and a kernel
(one sum, with ∂H/∂k recomputed as (H − V)/k) accumulate differently: they differ by about 1e-5."""
T1, T2, SHAPE = 5, 4, (3, 7)
SURROGATES = ("sigmoid", "atan", "erf")

State = tuple[torch.Tensor, ...]
Params = dict[str, torch.Tensor]
Options = dict[str, Any]
Out = tuple[torch.Tensor, State]


# ------------------------------------------------------------------------------------------
# Independent per-step references
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """Hyper-parameters shared by every neuron of one test case."""

    v_reset: float | None
    detach_reset: bool
    v_threshold: float
    sg: Callable[[torch.Tensor], torch.Tensor]

    def fire(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(S, Ŝ): the spike, and the spike used by the reset."""
        s = self.sg(h - self.v_threshold)
        return s, (s.detach() if self.detach_reset else s)

    def reset(self, h: torch.Tensor, s_hat: torch.Tensor) -> torch.Tensor:
        if self.v_reset is None:
            return h - s_hat * self.v_threshold
        return s_hat * self.v_reset + (1 - s_hat) * h

    @property
    def v_r(self) -> float:
        """The leak target of the LIF family: V_reset, or 0 for a soft reset."""
        return 0.0 if self.v_reset is None else self.v_reset


def leaky(x: torch.Tensor, v: torch.Tensor, k: float | torch.Tensor, v_r: float,
          decay_input: bool) -> torch.Tensor:
    """H = V + k(X − (V − V_r)) with decay_input, else H = V − k(V − V_r) + X."""
    return v + k * (x - (v - v_r)) if decay_input else v - k * (v - v_r) + x


def step_if(x: torch.Tensor, state: State, p: Params, r: Run, o: Options) -> Out:
    (v,) = state
    h = v + x
    s, s_hat = r.fire(h)
    return s, (r.reset(h, s_hat),)


def step_lif(x: torch.Tensor, state: State, p: Params, r: Run, o: Options) -> Out:
    (v,) = state
    h = leaky(x, v, 1.0 / o["tau"], r.v_r, o["decay_input"])
    s, s_hat = r.fire(h)
    return s, (r.reset(h, s_hat),)


def step_plif(x: torch.Tensor, state: State, p: Params, r: Run, o: Options) -> Out:
    (v,) = state
    h = leaky(x, v, torch.sigmoid(p["w"]), r.v_r, o["decay_input"])
    s, s_hat = r.fire(h)
    return s, (r.reset(h, s_hat),)


def step_klif(x: torch.Tensor, state: State, p: Params, r: Run, o: Options) -> Out:
    """H = ReLU(k·H_LIF); with scale_reset the reset acts on H/k."""
    (v,) = state
    k = p["k"]
    h = torch.relu(k * leaky(x, v, 1.0 / o["tau"], r.v_r, o["decay_input"]))
    s, s_hat = r.fire(h)
    if not o["scale_reset"]:
        return s, (r.reset(h, s_hat),)
    if r.v_reset is None:
        return s, ((h - s_hat * r.v_threshold) / k,)
    return s, (s_hat * r.v_reset + (1 - s_hat) * h / k,)


def step_liaf(x: torch.Tensor, state: State, p: Params, r: Run, o: Options) -> Out:
    """Analog output act(H − V_th) or act(H); fires and resets internally like a LIF."""
    (v,) = state
    h = leaky(x, v, 1.0 / o["tau"], r.v_r, o["decay_input"])
    y = o["act"](h - r.v_threshold if o["threshold_related"] else h)
    _, s_hat = r.fire(h)
    return y, (r.reset(h, s_hat),)


def step_qif(x: torch.Tensor, state: State, p: Params, r: Run, o: Options) -> Out:
    (v,) = state
    h = v + (x + o["a0"] * (v - o["v_rest"]) * (v - o["v_c"])) / o["tau"]
    s, s_hat = r.fire(h)
    return s, (r.reset(h, s_hat),)


def step_eif(x: torch.Tensor, state: State, p: Params, r: Run, o: Options) -> Out:
    (v,) = state
    upswing = o["delta_T"] * torch.exp((v - o["theta_rh"]) / o["delta_T"])
    h = v + (x + o["v_rest"] - v + upswing) / o["tau"]
    s, s_hat = r.fire(h)
    return s, (r.reset(h, s_hat),)


def step_izhikevich(x: torch.Tensor, state: State, p: Params, r: Run, o: Options) -> Out:
    """Charge with −W, adapt W with H, fire, reset V, W jumps by b·Ŝ."""
    v, w = state
    h = v + (x + o["a0"] * (v - o["v_rest"]) * (v - o["v_c"]) - w) / o["tau"]
    w = w + (o["a"] * (h - o["v_rest"]) - w) / o["tau_w"]
    s, s_hat = r.fire(h)
    return s, (r.reset(h, s_hat), w + o["b"] * s_hat)


def step_cuba(x: torch.Tensor, state: State, p: Params, r: Run, o: Options) -> Out:
    """I = c·I + X, H = v_decay·V + I; state (V, I)."""
    v, i = state
    i = o["c_decay"] * i + x
    h = o["v_decay"] * v + i
    s, s_hat = r.fire(h)
    return s, (r.reset(h, s_hat), i)


@dataclass(frozen=True)
class Reference:
    """One neuron configuration: how to build it, and its per-step reference equations."""

    id: str
    cls: type
    step: Callable[..., tuple[torch.Tensor, State]]
    options: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments (besides the common ones), also read by ``step``."""
    extra_state: dict[str, float] = field(default_factory=dict)
    """Initial values of the states after ``v`` (e.g. Izhikevich's ``w``)."""
    params: dict[str, float] = field(default_factory=dict)
    """Values given to the neuron's parameters (so that they matter, e.g. KLIF's k ≠ 1)."""
    drive: float = 1.2
    v_threshold: float = 1.0

    def build(self, run: Run, step_mode: str, backend: str | None) -> neuron.BaseNode:
        node = self.cls(**self.reference_options(run), v_threshold=self.v_threshold,
                        v_reset=run.v_reset, surrogate_function=run.sg,
                        detach_reset=run.detach_reset, step_mode=step_mode, backend=backend,
                        store_v_seq=True)
        with torch.no_grad():
            for name, value in self.params.items():
                getattr(node, name).fill_(value)
        return node

    def reference_options(self, run: Run) -> dict[str, Any]:
        """The options; ``v_rest`` raised to ``v_reset`` if lower (QIF needs v_rest >= v_reset)."""
        options = dict(self.options)
        if "v_rest" in options and run.v_reset is not None:
            options["v_rest"] = max(options["v_rest"], run.v_reset)
        return options


REFERENCES = (
    Reference("IF", neuron.IFNode, step_if),
    Reference("LIF-di", neuron.LIFNode, step_lif, dict(tau=2.5, decay_input=True), drive=2.5),
    Reference("LIF-nodi", neuron.LIFNode, step_lif, dict(tau=2.5, decay_input=False)),
    Reference("PLIF-di", neuron.ParametricLIFNode, step_plif,
              dict(init_tau=2.5, decay_input=True), drive=2.5),
    Reference("PLIF-nodi", neuron.ParametricLIFNode, step_plif,
              dict(init_tau=3.0, decay_input=False)),
    Reference("KLIF", neuron.KLIFNode, step_klif,
              dict(scale_reset=False, tau=2.5, decay_input=True), params=dict(k=0.8), drive=3.0),
    Reference("KLIF-scale_reset", neuron.KLIFNode, step_klif,
              dict(scale_reset=True, tau=2.5, decay_input=False), params=dict(k=0.8),
              drive=1.5),
    Reference("LIAF-relu-thr", neuron.LIAFNode, step_liaf,
              dict(act=nn.ReLU(), threshold_related=True, tau=2.5, decay_input=True), drive=2.5),
    Reference("LIAF-tanh", neuron.LIAFNode, step_liaf,
              dict(act=nn.Tanh(), threshold_related=False, tau=2.5, decay_input=False)),
    Reference("QIF", neuron.QIFNode, step_qif,
              dict(tau=2.0, v_c=0.8, a0=1.0, v_rest=0.0)),
    Reference("EIF", neuron.EIFNode, step_eif,
              dict(tau=2.0, delta_T=1.0, theta_rh=0.8, v_rest=0.0)),
    Reference("Izhikevich", neuron.IzhikevichNode, step_izhikevich,
              dict(tau=2.0, v_c=0.8, a0=1.0, v_rest=-0.1, w_rest=0.1, tau_w=2.0, a=0.5, b=0.3),
              extra_state=dict(w=0.1), drive=2.0),
    Reference("CUBA", neuron.CUBALIFNode, step_cuba, dict(c_decay=0.5, v_decay=0.75),
              extra_state=dict(i=0.0), drive=0.8, v_threshold=0.5),
)

# Configurations a backend refuses on purpose (tested to raise, not run).
REFUSED = {
    ("Izhikevich", "fused", True): "the fused Izhikevich kernel keeps SpikingJelly 0.0.0.0.14's "
                                   "undetached reset gradient, so it refuses detach_reset=True",
}


def reference_run(ref: Reference, run: Run, params: Params, x_seq: torch.Tensor,
                  state: State) -> tuple[torch.Tensor, torch.Tensor, State]:
    """(outputs [T, ...], V[t] [T, ...], final state) by the per-step equations."""
    options = ref.reference_options(run)
    outputs, potentials = [], []
    for x in x_seq.unbind(0):
        out, state = ref.step(x, state, params, run, options)
        outputs.append(out)
        potentials.append(state[0])
    return torch.stack(outputs), torch.stack(potentials), state


def initial_state(ref: Reference, run: Run, frame: torch.Tensor) -> State:
    return (torch.full_like(frame, run.v_r),
            *(torch.full_like(frame, value) for value in ref.extra_state.values()))


# ------------------------------------------------------------------------------------------
# Running a case: two chained calls, one loss over outputs, V[t] and the final state
# ------------------------------------------------------------------------------------------


@dataclass
class Result:
    outputs: torch.Tensor
    v_seq: torch.Tensor
    state: State
    grads: dict[str, torch.Tensor]


def inputs(ref: Reference, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                               torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x1 = torch.rand((T1, *SHAPE), generator=gen) * ref.drive - 0.1
    x2 = torch.rand((T2, *SHAPE), generator=gen) * ref.drive - 0.1
    u = torch.randn((T1 + T2, *SHAPE), generator=gen)
    c = torch.randn((T1 + T2, *SHAPE), generator=gen)
    return x1, x2, u, c


def loss_of(outputs: torch.Tensor, v_seq: torch.Tensor, state: State, u: torch.Tensor,
            c: torch.Tensor) -> torch.Tensor:
    return (outputs * u).sum() + (v_seq * c).sum() + sum(s.sum() for s in state)


def run_reference(ref: Reference, run: Run, seed: int, node_params: Params) -> Result:
    x1, x2, u, c = inputs(ref, seed)
    a, b = x1.requires_grad_(), x2.requires_grad_()
    params = {name: value.detach().clone().requires_grad_() for name, value in node_params.items()}
    state = initial_state(ref, run, a[0])
    out1, v1, state = reference_run(ref, run, params, a, state)
    out2, v2, state = reference_run(ref, run, params, b, state)
    outputs, v_seq = torch.cat((out1, out2)), torch.cat((v1, v2))
    leaves = {"x1": a, "x2": b, **params}
    grads = torch.autograd.grad(loss_of(outputs, v_seq, state, u, c), list(leaves.values()))
    return Result(outputs.detach(), v_seq.detach(), tuple(s.detach() for s in state),
                  dict(zip(leaves, grads, strict=True)))


def run_node(ref: Reference, run: Run, seed: int, backend: str) -> tuple[Result, Params]:
    """``backend``: ``'single-step'`` (step_mode 's', a Python loop) or a multi-step backend."""
    step_mode = "s" if backend == "single-step" else "m"
    node = ref.build(run, step_mode, None if backend == "single-step" else backend)
    x1, x2, u, c = inputs(ref, seed)
    a, b = x1.requires_grad_(), x2.requires_grad_()
    if step_mode == "s":
        outputs = torch.stack([node(x) for x in (*a.unbind(0), *b.unbind(0))])
    else:
        outputs = torch.cat((node(a), node(b)))
    state = tuple(getattr(node, name) for name in node.state_names)
    params = dict(node.named_parameters())
    leaves = {"x1": a, "x2": b, **params}
    grads = torch.autograd.grad(loss_of(outputs, node.v_seq, state, u, c),
                                list(leaves.values()))
    node_params = {name: p.detach() for name, p in params.items()}
    return (Result(outputs.detach(), node.v_seq.detach(), tuple(s.detach() for s in state),
                   dict(zip(leaves, grads, strict=True))), node_params)


def run_backend(ref: Reference, run: Run, seed: int, backend: str) -> tuple[Result, Params]:
    if backend != "triton":
        return run_node(ref, run, seed, backend)
    from sgcourse.kernels import triton as kt  # the interpreter switch of test_kernels_triton

    with kt.use_interpreter():
        return run_node(ref, run, seed, backend)


def rel_err(got: torch.Tensor, want: torch.Tensor) -> float:
    scale = want.abs().max().clamp_min(1e-12)
    return ((got - want).abs().max() / scale).item()


def assert_same(got: Result, want: Result, what: str, spiking: bool) -> None:
    assert got.outputs.shape == want.outputs.shape, what
    assert torch.isfinite(want.v_seq).all(), f"{what}: the reference diverged; pick other inputs"
    if spiking:
        assert torch.equal(got.outputs, want.outputs), f"{what}: spikes differ"
    else:
        assert rel_err(got.outputs, want.outputs) <= REL, f"{what}: outputs differ"
    assert rel_err(got.v_seq, want.v_seq) <= REL, (
        f"{what}: V[t] differs (relative error {rel_err(got.v_seq, want.v_seq):.3g})")
    for i, (s, s_ref) in enumerate(zip(got.state, want.state, strict=True)):
        assert rel_err(s, s_ref) <= REL, f"{what}: final state {i} differs"
    assert got.grads.keys() == want.grads.keys()
    for name, g in got.grads.items():
        err = rel_err(g, want.grads[name])
        bound = REL if name.startswith("x") else PARAMETER_REL
        assert err <= bound, f"{what}: gradient of {name} differs (relative error {err:.3g})"


# ------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------


def backends_of(ref: Reference) -> tuple[str, ...]:
    node = ref.build(Run(-0.3, False, ref.v_threshold, surrogate.Sigmoid()), "m", None)
    return ("single-step", *node.supported_backends)


def _marks(backend: str) -> list[pytest.MarkDecorator]:
    """Triton cases carry the ``triton`` marker (tests/conftest.py): skipped only when Triton is
    not installed; a broken install fails them."""
    return [pytest.mark.triton] if backend == "triton" else []


def cases(kernel_backends_only: bool = False) -> list[Any]:
    params, index = [], 0
    for ref in REFERENCES:
        for backend in backends_of(ref):
            if kernel_backends_only and backend in ("single-step", "torch"):
                continue
            for v_reset in V_RESETS:
                for detach in (False, True):
                    if (ref.id, backend, detach) in REFUSED:
                        continue
                    params.append(pytest.param(
                        ref, backend, v_reset, detach, SURROGATES[index % len(SURROGATES)],
                        id=f"{ref.id}-{backend}-vr{v_reset}-detach{detach}", marks=_marks(backend)))
                    index += 1
    return params


def stable_seed(*key: object) -> int:
    """A seed from the case's key, the same in every process (unlike ``hash`` of a str)."""
    return zlib.crc32(repr(key).encode())


def make_run(ref: Reference, v_reset: float | None, detach: bool, sg_name: str) -> Run:
    return Run(v_reset, detach, ref.v_threshold, surrogate.get(sg_name))


@pytest.mark.parametrize(("ref", "backend", "v_reset", "detach_reset", "sg_name"), cases())
def test_matches_reference_equations(ref: Reference, backend: str, v_reset: float | None,
                                     detach_reset: bool, sg_name: str) -> None:
    run = make_run(ref, v_reset, detach_reset, sg_name)
    seed = stable_seed(ref.id, v_reset, detach_reset)
    got, node_params = run_backend(ref, run, seed, backend)
    want = run_reference(ref, run, seed, node_params)
    spiking = ref.cls is not neuron.LIAFNode
    if spiking:
        rate = want.outputs.mean().item()
        assert 0.05 < rate < 0.95, f"inputs should make some but not all neurons fire ({rate})"
    if v_reset is not None:  # the hard reset really put some V[t] at V_reset
        assert (want.v_seq == v_reset).any()
    assert_same(got, want, f"{ref.id} ({backend}) vs reference", spiking)


@pytest.mark.parametrize(("ref", "backend", "v_reset", "detach_reset", "sg_name"),
                         cases(kernel_backends_only=True))
def test_kernel_backend_matches_torch_backend(ref: Reference, backend: str,
                                              v_reset: float | None, detach_reset: bool,
                                              sg_name: str) -> None:
    run = make_run(ref, v_reset, detach_reset, sg_name)
    seed = stable_seed(ref.id, v_reset, detach_reset, "parity")
    got, _ = run_backend(ref, run, seed, backend)
    want, _ = run_backend(ref, run, seed, "torch")
    assert_same(got, want, f"{ref.id}: {backend} vs torch", spiking=True)


@pytest.mark.parametrize(("ref_id", "backend", "detach_reset"), list(REFUSED))
def test_refused_configurations_raise(ref_id: str, backend: str, detach_reset: bool) -> None:
    ref = next(r for r in REFERENCES if r.id == ref_id)
    node = ref.build(make_run(ref, -0.3, detach_reset, "sigmoid"), "m", backend)
    with pytest.raises(ValueError, match=f"detach_reset={detach_reset}"):
        node(torch.rand(3, 2))


# ------------------------------------------------------------------------------------------
# Completeness: a new neuron class or backend must get a reference here
# ------------------------------------------------------------------------------------------


def test_every_spiking_neuron_class_has_a_reference() -> None:
    classes = {obj for name in neuron.__all__
               if inspect.isclass(obj := getattr(neuron, name))
               and issubclass(obj, neuron.BaseNode) and obj is not neuron.BaseNode}
    assert classes == {ref.cls for ref in REFERENCES}


def test_every_backend_is_exercised() -> None:
    exercised = {b for ref in REFERENCES for b in backends_of(ref)}
    assert set(neuron.BACKENDS) <= exercised
    assert any(v is not None and v != 0 for v in V_RESETS)
    assert {v for v in V_RESETS if v is not None} >= {-0.3, 0.2}



# ------------------------------------------------------------------------------------------
# The mutation that escaped the older tests is caught here
# ------------------------------------------------------------------------------------------


def _reset_without_v_reset(node: Any, h: torch.Tensor, spike: torch.Tensor) -> torch.Tensor:
    """A plausible bug: the hard reset forgets its Ŝ·V_reset term (invisible for V_reset = 0)."""
    spike = spike.detach() if node.detach_reset else spike
    scale = node.k if getattr(node, "scale_reset", False) else 1.0
    if node.v_reset is None:
        return (h - spike * node.v_threshold) / scale
    return (1.0 - spike) * h / scale


@pytest.mark.parametrize(("ref_id", "patched"), [("KLIF-scale_reset", neuron.KLIFNode),
                                                 ("KLIF", neuron.KLIFNode),
                                                 ("IF", neuron.BaseNode)])
def test_a_hard_reset_without_v_reset_is_caught(monkeypatch: pytest.MonkeyPatch, ref_id: str,
                                                patched: type) -> None:
    ref = next(r for r in REFERENCES if r.id == ref_id)
    run = make_run(ref, -0.3, False, "sigmoid")
    seed = stable_seed(ref.id, -0.3, False)
    want = run_reference(ref, run, seed, run_node(ref, run, seed, "torch")[1])
    monkeypatch.setattr(patched, "neuronal_reset", _reset_without_v_reset)
    got, _ = run_node(ref, run, seed, "torch")
    with pytest.raises(AssertionError, match=r"spikes differ|V\[t\] differs"):
        assert_same(got, want, ref_id, spiking=True)
