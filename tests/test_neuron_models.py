"""Every neuron model against its own per-step reference equations, values and gradients.

Each reference below writes the model's charge/fire/reset in plain torch, independently of the
library (the spike uses ``RefSpike`` from ``test_neuron``: Θ forward, sigmoid-α=4 derivative
backward). Combinations: hard/soft reset × detach_reset × decay_input (where the model has it)
× step mode.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from test_neuron import RefSpike, ref_reset
from torch import nn

from sgcourse import functional, neuron

DTYPE = torch.float64


def spike_of(h, v_threshold):
    return RefSpike.apply(h - v_threshold)


def lif_h(x, v, k, vr, decay_input):
    return v + k * (x - (v - vr)) if decay_input else v - k * (v - vr) + x


# ---- references: (x, state, p) -> (output, state) with p the hyper-parameters -------------------
def ref_plif(x, state, p):
    (v,) = state
    vr = 0.0 if p["v_reset"] is None else p["v_reset"]
    h = lif_h(x, v, torch.sigmoid(p["w"]), vr, p["decay_input"])
    s = spike_of(h, 1.0)
    return s, (ref_reset(h, s, 1.0, p["v_reset"], p["detach_reset"]),)


def ref_klif(x, state, p):
    (v,) = state
    vr = 0.0 if p["v_reset"] is None else p["v_reset"]
    h = torch.relu(p["k"] * lif_h(x, v, 1 / p["tau"], vr, p["decay_input"]))
    s = spike_of(h, 1.0)
    if not p["scale_reset"]:
        return s, (ref_reset(h, s, 1.0, p["v_reset"], p["detach_reset"]),)
    s_hat = s.detach() if p["detach_reset"] else s
    if p["v_reset"] is None:
        return s, ((h - s_hat * 1.0) / p["k"],)
    return s, (s_hat * p["v_reset"] + (1 - s_hat) * h / p["k"],)


def ref_liaf(x, state, p):
    (v,) = state
    vr = 0.0 if p["v_reset"] is None else p["v_reset"]
    h = lif_h(x, v, 1 / p["tau"], vr, p["decay_input"])
    y = torch.tanh(h - 1.0) if p["threshold_related"] else torch.tanh(h)
    s = spike_of(h, 1.0)
    return y, (ref_reset(h, s, 1.0, p["v_reset"], p["detach_reset"]),)


def ref_qif(x, state, p):
    (v,) = state
    h = v + (x + p["a0"] * (v - p["v_rest"]) * (v - p["v_c"])) / p["tau"]
    s = spike_of(h, 1.0)
    return s, (ref_reset(h, s, 1.0, p["v_reset"], p["detach_reset"]),)


def ref_eif(x, state, p):
    (v,) = state
    h = v + (x + p["v_rest"] - v + p["delta_T"] * torch.exp((v - p["theta_rh"]) / p["delta_T"])
             ) / p["tau"]
    s = spike_of(h, 1.0)
    return s, (ref_reset(h, s, 1.0, p["v_reset"], p["detach_reset"]),)


def ref_izhikevich(x, state, p):
    v, w = state
    h = v + (x + p["a0"] * (v - p["v_rest"]) * (v - p["v_c"]) - w) / p["tau"]
    w = w + (p["a"] * (h - p["v_rest"]) - w) / p["tau_w"]
    s = spike_of(h, 1.0)
    s_hat = s.detach() if p["detach_reset"] else s
    return s, (ref_reset(h, s, 1.0, p["v_reset"], p["detach_reset"]), w + p["b"] * s_hat)


def ref_cuba(x, state, p):
    v, i = state
    i = p["c_decay"] * i + x
    h = p["v_decay"] * v + i
    s = spike_of(h, 0.5)
    return s, (ref_reset(h, s, 0.5, p["v_reset"], p["detach_reset"]), i)


# ---- model table: name -> (build(p), reference, hyper-parameters, initial state, drive) ----------
def build_plif(p):
    return neuron.ParametricLIFNode(init_tau=p["init_tau"], decay_input=p["decay_input"],
                                    v_reset=p["v_reset"], detach_reset=p["detach_reset"])


MODELS = {
    "plif": (build_plif, ref_plif, {"init_tau": 3.0}, lambda p: (p["v_reset"] or 0.0,), 2.0),
    "klif": (lambda p: neuron.KLIFNode(scale_reset=p["scale_reset"], tau=2.0,
                                       decay_input=p["decay_input"], v_reset=p["v_reset"],
                                       detach_reset=p["detach_reset"]),
             ref_klif, {"tau": 2.0}, lambda p: (p["v_reset"] or 0.0,), 2.0),
    "liaf": (lambda p: neuron.LIAFNode(nn.Tanh(), p["threshold_related"], tau=2.0,
                                       decay_input=p["decay_input"], v_reset=p["v_reset"],
                                       detach_reset=p["detach_reset"]),
             ref_liaf, {"tau": 2.0}, lambda p: (p["v_reset"] or 0.0,), 2.0),
    "qif": (lambda p: neuron.QIFNode(v_reset=p["v_reset"], detach_reset=p["detach_reset"]),
            ref_qif, {"tau": 2.0, "v_c": 0.8, "a0": 1.0, "v_rest": 0.0},
            lambda p: (p["v_reset"] or 0.0,), 1.0),
    "eif": (lambda p: neuron.EIFNode(v_reset=p["v_reset"], detach_reset=p["detach_reset"]),
            ref_eif, {"tau": 2.0, "delta_T": 1.0, "theta_rh": 0.8, "v_rest": 0.0},
            lambda p: (p["v_reset"] or 0.0,), 1.0),
    "izhikevich": (lambda p: neuron.IzhikevichNode(v_reset=p["v_reset"], a=0.5, b=0.3,
                                                   detach_reset=p["detach_reset"]),
                   ref_izhikevich, {"tau": 2.0, "v_c": 0.8, "a0": 1.0, "v_rest": -0.1,
                                    "tau_w": 2.0, "a": 0.5, "b": 0.3},
                   lambda p: (p["v_reset"] or 0.0, 0.0), 1.5),
    "cuba": (lambda p: neuron.CUBALIFNode(v_reset=p["v_reset"], detach_reset=p["detach_reset"]),
             ref_cuba, {"c_decay": 0.5, "v_decay": 0.75}, lambda p: (p["v_reset"] or 0.0, 0.0),
             0.6),
}
DEFAULT_RESETS = {"qif": -0.1, "eif": -0.1}
HAS_DECAY_INPUT = {"plif", "klif", "liaf"}


def cases():
    for name in MODELS:
        decay_inputs = [True, False] if name in HAS_DECAY_INPUT else [None]
        extras = {"klif": ("scale_reset", [False, True]),
                  "liaf": ("threshold_related", [False, True])}.get(name, (None, [None]))
        for v_reset, detach, decay_input, extra, mode in itertools.product(
                [DEFAULT_RESETS.get(name, 0.0), None], [False, True], decay_inputs, extras[1],
                ["s", "m"]):
            yield pytest.param(name, v_reset, detach, decay_input, extras[0], extra, mode,
                               id=f"{name}-vr{v_reset}-detach{detach}-di{decay_input}-"
                                  f"{extras[0]}{extra}-{mode}")


@pytest.mark.parametrize(("name", "v_reset", "detach_reset", "decay_input", "extra_name",
                          "extra", "step_mode"), list(cases()))
def test_model_matches_reference(name, v_reset, detach_reset, decay_input, extra_name, extra,
                                 step_mode):
    build, reference, hparams, init_state, drive = MODELS[name]
    p = dict(hparams, v_reset=v_reset, detach_reset=detach_reset, decay_input=decay_input)
    if extra_name is not None:
        p[extra_name] = extra
    node = build(p).to(DTYPE)
    node.store_v_seq = True
    node.step_mode = step_mode
    x_seq = torch.rand((10, 4, 3), generator=torch.Generator().manual_seed(0), dtype=DTYPE)
    x_seq = x_seq * drive - 0.1
    loss_w = torch.rand(x_seq.shape, generator=torch.Generator().manual_seed(1), dtype=DTYPE)

    x = x_seq.clone().requires_grad_(True)
    out = node(x) if step_mode == "m" else torch.stack([node(f) for f in x.unbind(0)])
    params = dict(node.named_parameters())
    ((out * loss_w).sum() + (node.v_seq * loss_w).sum()).backward()

    # reference with its own leaf copies of the learnable parameters
    x_ref = x_seq.clone().requires_grad_(True)
    ref_params = {n: t.detach().clone().requires_grad_(True) for n, t in params.items()}
    p.update(ref_params)
    state = tuple(torch.full_like(x_seq[0], s) for s in init_state(p))
    outs, vs = [], []
    for t in range(x_seq.shape[0]):
        y, state = reference(x_ref[t], state, p)
        outs.append(y)
        vs.append(state[0])
    out_ref, v_ref = torch.stack(outs), torch.stack(vs)
    ((out_ref * loss_w).sum() + (v_ref * loss_w).sum()).backward()

    if name != "liaf":
        assert 0 < out.sum() < out.numel(), "the input should make some (not all) neurons fire"
    torch.testing.assert_close(out, out_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(node.v_seq, v_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-9, atol=1e-11)
    for n, t in params.items():
        torch.testing.assert_close(t.grad, ref_params[n].grad, rtol=1e-9, atol=1e-11)
    for n, value in zip(node.state_names, state, strict=True):
        torch.testing.assert_close(getattr(node, n), value, rtol=1e-12, atol=1e-12)


# ---- defaults and details ------------------------------------------------------------------------
@pytest.mark.parametrize(("init_tau", "w0"),
                         [(2.0, 0.0), (3.0, -math.log(2.0)), (1.5, math.log(2.0))])
def test_plif_w_initialisation(init_tau, w0):
    node = neuron.ParametricLIFNode(init_tau=init_tau)
    assert node.w.shape == ()
    assert node.w.item() == pytest.approx(w0, abs=1e-7)
    assert node.tau == pytest.approx(init_tau, rel=1e-6)
    assert [n for n, _ in node.named_parameters()] == ["w"]


def test_defaults_match_the_reference():
    q, e, iz, c = neuron.QIFNode(), neuron.EIFNode(), neuron.IzhikevichNode(), neuron.CUBALIFNode()
    assert (q.tau, q.v_c, q.a0, q.v_threshold, q.v_rest, q.v_reset) == (2, 0.8, 1, 1, 0, -0.1)
    assert (e.tau, e.delta_T, e.theta_rh, e.v_threshold, e.v_rest, e.v_reset) == (
        2, 1, 0.8, 1, 0, -0.1)
    assert (iz.tau, iz.v_c, iz.a0, iz.v_threshold, iz.v_reset, iz.v_rest, iz.w_rest, iz.tau_w,
            iz.a, iz.b) == (2, 0.8, 1, 1, 0, -0.1, 0, 2, 0, 0)
    assert (c.c_decay, c.v_decay, c.v_threshold, c.v_reset) == (0.5, 0.75, 0.5, 0.0)
    assert q.v == -0.1 and e.v == -0.1 and iz.v == 0.0 and iz.w == 0.0
    klif = neuron.KLIFNode()
    assert klif.k.item() == 1.0 and klif.scale_reset is False


def test_izhikevich_detach_reset_detaches_the_adaptation_jump_too():
    grads = {}
    for detach_reset in (False, True):
        x = torch.tensor([[3.0]], requires_grad=True)
        node = neuron.IzhikevichNode(b=1.0, detach_reset=detach_reset)
        assert node(x).item() == 1.0
        # W = W' + b·Ŝ with a = 0: W' does not depend on x, so dW/dx comes from Ŝ alone
        (grads[detach_reset],) = torch.autograd.grad(node.w.sum(), x)
    assert grads[False].item() != 0.0
    assert grads[True].item() == 0.0


@pytest.mark.parametrize(("cls", "kwargs", "name"), [
    (neuron.ParametricLIFNode, {"init_tau": 1.0}, "init_tau"),
    (neuron.QIFNode, {"a0": 0.0}, "a0"),
    (neuron.QIFNode, {"v_rest": -0.5}, "v_rest"),
    (neuron.QIFNode, {"v_threshold": -0.2}, "v_threshold"),
    (neuron.EIFNode, {"delta_T": -1.0}, "delta_T"),
    (neuron.EIFNode, {"tau": 1}, "tau"),
    (neuron.IzhikevichNode, {"tau_w": 0.5}, "tau_w"),
    (neuron.IzhikevichNode, {"b": float("nan")}, "b"),
    (neuron.CUBALIFNode, {"c_decay": 1.5}, "c_decay"),
    (neuron.CUBALIFNode, {"v_decay": -0.1}, "v_decay"),
    (neuron.NonSpikingLIFNode, {"tau": 0.9}, "tau"),
    (neuron.NonSpikingIFNode, {"decode": "min-mem"}, "decode"),
])
def test_model_argument_errors(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cls(**kwargs)


def test_liaf_and_klif_arguments():
    with pytest.raises(TypeError, match="act"):
        neuron.LIAFNode("relu", True)
    with pytest.raises(TypeError, match="threshold_related"):
        neuron.LIAFNode(nn.ReLU(), 1)
    with pytest.raises(TypeError, match="scale_reset"):
        neuron.KLIFNode(scale_reset="no")


# ---- non-spiking read-outs ----------------------------------------------------------------------
def test_non_spiking_decodes():
    x_seq = torch.tensor([-2.0, 3.0, -5.0, 1.0]).view(4, 1, 1)
    trace_if = torch.cumsum(x_seq, 0)  # -2, 1, -4, -3
    expected = {"last-mem": trace_if[-1], "max-mem": trace_if.max(0).values,
                "mean-mem": trace_if.mean(0), "max-abs-mem": torch.tensor([[-4.0]]),
                None: trace_if}
    for decode, value in expected.items():
        torch.testing.assert_close(neuron.NonSpikingIFNode(decode=decode)(x_seq), value)
    assert neuron.NonSpikingIFNode(decode="last_mem").decode == "last-mem"


def test_non_spiking_lif_trace_and_fresh_start():
    x_seq = torch.rand(5, 2, 3)
    node = neuron.NonSpikingLIFNode(tau=3, decode=None)
    v, trace = torch.zeros(2, 3), []
    for x in x_seq:
        v = v + (x - v) / 3.0
        trace.append(v)
    torch.testing.assert_close(node(x_seq), torch.stack(trace))
    torch.testing.assert_close(node(x_seq), torch.stack(trace))  # each call starts at V = 0
    assert node.step_mode == "m"
    with pytest.raises(ValueError, match="step_mode"):
        functional.set_step_mode(node, "s")


def test_izhikevich_w_rest_is_the_reset_value_of_w():
    node = neuron.IzhikevichNode(w_rest=0.2)
    assert node.w == 0.2
    node(torch.zeros(3))
    functional.reset_net(node)
    assert node.w == 0.2
    node.w_rest = -0.1
    assert node.w == -0.1
