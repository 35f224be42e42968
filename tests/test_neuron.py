"""IF and LIF (and the shared BaseNode behaviour) against per-step reference equations.

The reference below is written independently of the library: explicit charge/fire/reset
formulas in float64 and its own Heaviside-with-sigmoid-derivative autograd Function.
"""

from __future__ import annotations

import copy
import itertools
import pickle

import pytest
import torch

from sgcourse import functional, neuron, surrogate

ALPHA = 4.0
RESETS = [0.0, -0.2, None]  # hard to 0, hard to -0.2, soft


class RefSpike(torch.autograd.Function):
    """Θ(x) forward; α·s(1−s), s = sigmoid(αx), backward (the default Sigmoid surrogate)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(ALPHA * x)
        return grad * ALPHA * s * (1 - s)


def ref_reset(h, s, v_threshold, v_reset, detach_reset):
    s_hat = s.detach() if detach_reset else s
    if v_reset is None:
        return h - s_hat * v_threshold
    return s_hat * v_reset + (1 - s_hat) * h


def ref_run(x_seq, charge, v_threshold=1.0, v_reset=0.0, detach_reset=False):
    """Per-step reference loop: returns (spikes [T,N], post-reset V [T,N])."""
    v = torch.full_like(x_seq[0], 0.0 if v_reset is None else v_reset)
    spikes, vs = [], []
    for t in range(x_seq.shape[0]):
        h = charge(x_seq[t], v)
        s = RefSpike.apply(h - v_threshold)
        v = ref_reset(h, s, v_threshold, v_reset, detach_reset)
        spikes.append(s)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs)


def if_charge(x, v):
    return v + x


def lif_charge(tau, v_reset, decay_input):
    vr = 0.0 if v_reset is None else v_reset

    def charge(x, v):
        if decay_input:
            return v + (x - (v - vr)) / tau
        return v - (v - vr) / tau + x

    return charge


def inputs(seed=0, shape=(8, 5, 3)):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g, dtype=torch.float64) * 1.6 - 0.2)


def run_node(node, x_seq, step_mode):
    """Run a node in `step_mode`; return (spikes, v_seq, x with its .grad to be filled)."""
    x = x_seq.clone().requires_grad_(True)
    if step_mode == "m":
        spikes = node(x)
    else:
        spikes = torch.stack([node(frame) for frame in x.unbind(0)])
    return spikes, node.v_seq, x


def loss_of(spikes, v_seq):
    g = torch.Generator().manual_seed(1)
    w = torch.rand(spikes.shape, generator=g, dtype=spikes.dtype)
    u = torch.rand(spikes.shape, generator=g, dtype=spikes.dtype)
    return (spikes * w).sum() + (v_seq * u).sum()


def compare(node, charge, v_reset, detach_reset, step_mode, v_threshold=1.0):
    x_seq = inputs()
    spikes, v_seq, x = run_node(node, x_seq, step_mode)
    loss_of(spikes, v_seq).backward()
    x_ref = x_seq.clone().requires_grad_(True)
    spikes_ref, v_ref = ref_run(x_ref, charge, v_threshold, v_reset, detach_reset)
    loss_of(spikes_ref, v_ref).backward()
    assert spikes.sum() > 0 and (spikes == 0).any(), "test input should give some spikes"
    torch.testing.assert_close(spikes, spikes_ref, rtol=0, atol=0)
    torch.testing.assert_close(v_seq, v_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("v_reset", "detach_reset", "step_mode"),
                         list(itertools.product(RESETS, [False, True], ["s", "m"])))
def test_if_matches_reference(v_reset, detach_reset, step_mode):
    node = neuron.IFNode(v_reset=v_reset, detach_reset=detach_reset, step_mode=step_mode,
                         backend="torch" if step_mode == "m" else None, store_v_seq=True)
    compare(node, if_charge, v_reset, detach_reset, step_mode)


@pytest.mark.parametrize(("v_reset", "detach_reset", "decay_input", "step_mode"),
                         list(itertools.product(RESETS, [False, True], [True, False], ["s", "m"])))
def test_lif_matches_reference(v_reset, detach_reset, decay_input, step_mode):
    tau = 3.0 if decay_input else 2.5  # decay_input=True needs a larger drive to fire
    node = neuron.LIFNode(tau=tau, decay_input=decay_input, v_reset=v_reset,
                          detach_reset=detach_reset, step_mode=step_mode, store_v_seq=True,
                          v_threshold=0.5 if decay_input else 1.0)
    compare(node, lif_charge(tau, v_reset, decay_input), v_reset, detach_reset, step_mode,
            v_threshold=0.5 if decay_input else 1.0)


def bptt_lif(x_seq, k, decay_input, v_threshold, v_reset, detach_reset, grad_s):
    """The hand-written BPTT recurrence for LIF (IF: k=0, decay_input=False), loss = Σ S·grad_s.

    δ_t = ∂L/∂S_t·g_t + ε_t·∂V_t/∂H_t,  ε_t = δ_{t+1}(1−k),  dL/dX_t = δ_t·∂H_t/∂X_t.
    """
    vr = 0.0 if v_reset is None else v_reset
    v = torch.full_like(x_seq[0], vr)
    hs, ss = [], []
    for x in x_seq:
        h = v + k * (x - (v - vr)) if decay_input else v - k * (v - vr) + x
        s = (h >= v_threshold).to(h.dtype)
        v = (h - s * v_threshold) if v_reset is None else s * v_reset + (1 - s) * h
        hs.append(h)
        ss.append(s)
    grad_x = torch.zeros_like(x_seq)
    delta_next = torch.zeros_like(x_seq[0])
    for t in reversed(range(x_seq.shape[0])):
        sig = torch.sigmoid(ALPHA * (hs[t] - v_threshold))
        g = ALPHA * sig * (1 - sig)
        if v_reset is None:
            dv_dh = torch.ones_like(g) if detach_reset else 1 - v_threshold * g
        else:
            dv_dh = 1 - ss[t] + (0 if detach_reset else (v_reset - hs[t]) * g)
        eps = delta_next * (1 - k)
        delta = grad_s[t] * g + eps * dv_dh
        grad_x[t] = delta * (k if decay_input else 1.0)
        delta_next = delta
    return torch.stack(ss), grad_x


@pytest.mark.parametrize(("v_reset", "detach_reset", "decay_input"),
                         list(itertools.product(RESETS, [False, True], [True, False])))
def test_lif_gradient_equals_hand_written_bptt(v_reset, detach_reset, decay_input):
    x_seq = inputs(seed=3) * 2
    grad_s = torch.rand(x_seq.shape, generator=torch.Generator().manual_seed(5),
                        dtype=x_seq.dtype)
    node = neuron.LIFNode(tau=2.0, decay_input=decay_input, v_reset=v_reset,
                          detach_reset=detach_reset, step_mode="m")
    x = x_seq.clone().requires_grad_(True)
    spikes = node(x)
    (spikes * grad_s).sum().backward()
    s_ref, gx_ref = bptt_lif(x_seq, 0.5, decay_input, 1.0, v_reset, detach_reset, grad_s)
    torch.testing.assert_close(spikes, s_ref, rtol=0, atol=0)
    torch.testing.assert_close(x.grad, gx_ref, rtol=1e-10, atol=1e-12)


def test_if_gradient_equals_hand_written_bptt():
    x_seq = inputs(seed=4)
    grad_s = torch.rand(x_seq.shape, generator=torch.Generator().manual_seed(6),
                        dtype=x_seq.dtype)
    node = neuron.IFNode(step_mode="m")
    x = x_seq.clone().requires_grad_(True)
    (node(x) * grad_s).sum().backward()
    _, gx_ref = bptt_lif(x_seq, 0.0, False, 1.0, 0.0, False, grad_s)
    torch.testing.assert_close(x.grad, gx_ref, rtol=1e-10, atol=1e-12)


# ---- BaseNode behaviour (checked on IF and LIF) ----------------------------------------------
@pytest.mark.parametrize("cls", [neuron.IFNode, neuron.LIFNode])
def test_state_and_v_seq_semantics(cls):
    x_seq = inputs(seed=2)
    node = cls(step_mode="m", store_v_seq=True)
    node(x_seq[:3])
    node(x_seq[3:])  # continues from the stored v; v_seq accumulates since the last reset
    v_seq_split = node.v_seq
    last_v = node.v
    functional.reset_net(node)
    assert node.v == node.v_reset_or_zero and node.v_seq is None
    node(x_seq)
    torch.testing.assert_close(v_seq_split, node.v_seq)
    torch.testing.assert_close(last_v, node.v_seq[-1])
    assert node.v_seq.shape == x_seq.shape


def test_single_step_equals_multi_step():
    x_seq = inputs(seed=7)
    a = neuron.LIFNode(tau=2.0, v_reset=None, step_mode="s")
    b = neuron.LIFNode(tau=2.0, v_reset=None, step_mode="m")
    torch.testing.assert_close(torch.stack([a(x) for x in x_seq]), b(x_seq), rtol=0, atol=0)
    torch.testing.assert_close(a.v, b.v, rtol=1e-15, atol=1e-15)


def test_initial_state_is_v_reset_or_zero():
    x = torch.zeros(1, 2)
    hard = neuron.IFNode(v_reset=-0.3)
    assert hard.v == -0.3
    hard(x)
    torch.testing.assert_close(hard.v, torch.full((1, 2), -0.3))
    soft = neuron.IFNode(v_reset=None)
    assert soft.v == 0.0


def test_threshold_is_inclusive():
    node = neuron.IFNode()
    assert node(torch.tensor([1.0, 0.999])).tolist() == [1.0, 0.0]


def test_default_surrogate_is_a_fresh_sigmoid_per_neuron():
    a, b = neuron.LIFNode(), neuron.LIFNode()
    assert isinstance(a.surrogate_function, surrogate.Sigmoid)
    assert a.surrogate_function is not b.surrogate_function
    a.surrogate_function.alpha = 7.0
    assert b.surrogate_function.alpha == 4.0


def test_custom_surrogate_is_used_in_backward():
    x = torch.tensor([0.7], requires_grad=True)
    node = neuron.IFNode(surrogate_function=surrogate.ATan(alpha=3.0))
    node(x).sum().backward()
    expected = surrogate.ATan(alpha=3.0).derivative(torch.tensor([0.7 - 1.0]))
    torch.testing.assert_close(x.grad, expected)


def test_int_hyper_parameters_are_accepted():
    node = neuron.LIFNode(tau=2, v_threshold=1, v_reset=0)
    assert node.tau == 2.0 and isinstance(node.tau, float)
    assert isinstance(node.v_threshold, float)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"tau": 1.0}, "tau"), ({"tau": 0.5}, "tau"), ({"tau": float("nan")}, "tau"),
    ({"v_threshold": 0.0, "v_reset": 0.0}, "v_threshold"),
    ({"v_threshold": 0.5, "v_reset": 1.0}, "v_threshold"),
    ({"v_threshold": float("inf")}, "v_threshold"), ({"v_reset": float("nan")}, "v_reset"),
    ({"step_mode": "x"}, "step_mode"), ({"backend": "cupy"}, "backend"),
])
def test_impossible_hyper_parameters_raise_value_error(kwargs, name):
    with pytest.raises(ValueError, match=name):
        neuron.LIFNode(**kwargs)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"tau": "2"}, "tau"), ({"v_threshold": True}, "v_threshold"),
    ({"detach_reset": 1}, "detach_reset"), ({"decay_input": None}, "decay_input"),
    ({"store_v_seq": "yes"}, "store_v_seq"), ({"surrogate_function": 3}, "surrogate_function"),
])
def test_wrong_types_raise_type_error(kwargs, name):
    with pytest.raises(TypeError, match=name):
        neuron.LIFNode(**kwargs)


def test_unsupported_backend_lists_the_supported_ones():
    with pytest.raises(ValueError, match=r"supported backends.*torch"):
        neuron.LIFNode(step_mode="m", backend="nonsense")
    node = neuron.LIFNode(step_mode="m")
    with pytest.raises(ValueError, match="step_mode"):
        node.step_mode = "multi"


def test_new_batch_shape_without_reset_explains_reset_net():
    node = neuron.LIFNode(step_mode="m")
    node(torch.rand(4, 3, 2))
    with pytest.raises(ValueError, match=r"reset_net\(net\)"):
        node(torch.rand(4, 5, 2))
    functional.reset_net(node)
    assert node(torch.rand(4, 5, 2)).shape == (4, 5, 2)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"x_seq.*\[T, N, \*\]"):
        neuron.IFNode(step_mode="m")(torch.rand(4))
    with pytest.raises(TypeError, match=r"x_seq.*floating"):
        neuron.IFNode(step_mode="m")(torch.ones(4, 2, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"x.*floating"):
        neuron.IFNode()(torch.ones(2, dtype=torch.int64))
    with pytest.raises(TypeError, match="x"):
        neuron.IFNode()([1.0, 2.0])


def test_pickle_deepcopy_state_dict_and_to():
    node = neuron.LIFNode(tau=3.0, step_mode="m")
    node(torch.rand(3, 2))
    for clone in (pickle.loads(pickle.dumps(node)), copy.deepcopy(node)):
        assert clone.tau == 3.0
        torch.testing.assert_close(clone.v, node.v)
    assert list(node.state_dict()) == []
    node.to(torch.float64)
    assert node.v.dtype == torch.float64


def test_grad_flows_across_calls_until_detach():
    x1 = torch.full((2, 1), 0.6, requires_grad=True)
    x2 = torch.full((2, 1), 0.6)
    node = neuron.LIFNode(tau=2.0, decay_input=False, step_mode="m")
    node(x1)
    node(x2).sum().backward()  # the second call still depends on x1 through v
    assert x1.grad is not None and x1.grad.abs().sum() > 0
    functional.reset_net(node)
    node(x1)
    functional.detach_net(node)
    assert not node(x2).requires_grad


def test_hyper_parameters_are_validated_on_assignment_too():
    node = neuron.LIFNode()
    node.tau = 4  # ints are fine
    assert node.tau == 4.0 and isinstance(node.tau, float)
    with pytest.raises(ValueError, match="tau"):
        node.tau = 1.0
    assert node.tau == 4.0  # a rejected value leaves the old one
    with pytest.raises(ValueError, match="v_threshold"):
        node.v_threshold = -1.0  # below v_reset = 0
    with pytest.raises(TypeError, match="detach_reset"):
        node.detach_reset = "yes"
    qif = neuron.QIFNode()
    with pytest.raises(ValueError, match="v_rest"):
        qif.v_rest = -0.5


def test_changing_v_reset_changes_the_reset_value():
    node = neuron.IFNode()
    node.v_reset = -0.5
    assert node.v == -0.5  # not materialised yet: the initial value follows
    node(torch.zeros(2))
    node.v_reset = None  # soft reset: back to 0 on reset
    functional.reset_net(node)
    assert node.v == 0.0


def test_surrogate_can_be_swapped_for_a_plain_callable():
    node = neuron.IFNode()
    node.surrogate_function = lambda h: (h >= 0).to(h.dtype)
    assert node(torch.tensor([1.0, 0.5])).tolist() == [1.0, 0.0]
    node.surrogate_function = None  # back to a fresh default
    assert isinstance(node.surrogate_function, surrogate.Sigmoid)


def test_public_names():
    expected = {"IFNode", "LIFNode", "ParametricLIFNode", "QIFNode", "EIFNode", "IzhikevichNode",
                "KLIFNode", "LIAFNode", "NonSpikingIFNode", "NonSpikingLIFNode", "CUBALIFNode"}
    assert expected <= set(neuron.__all__)
    for name in neuron.__all__:
        assert getattr(neuron, name) is not None


def test_store_v_seq_changes_only_between_sequences():
    """Switching it mid-sequence would leave v_seq without the steps already run."""
    node = neuron.LIFNode(step_mode="m")
    x = torch.rand(3, 2) * 2
    node(x)
    with pytest.raises(ValueError, match="store_v_seq cannot change in the middle of a sequence"):
        node.store_v_seq = True
    assert node.store_v_seq is False and node.v_seq is None
    node.store_v_seq = False  # setting the same value is harmless
    functional.reset_net(node)
    node.store_v_seq = True
    node(x)
    node(x[:2])
    assert node.v_seq.shape == (5, 2)
    torch.testing.assert_close(node.v_seq[-1], node.v)


def test_user_set_state_is_used_when_it_fits_and_refused_when_not():
    x = torch.full((2, 3), 0.4)
    node = neuron.IFNode()
    node.v = torch.full((2, 3), 0.7)  # a hand-set starting potential of the input's dtype
    assert node(x).tolist() == [[1.0] * 3] * 2  # 0.7 + 0.4 >= 1
    node = neuron.IFNode()
    node.v = 0.5  # a number is broadcast to the input's shape
    assert node(x).sum() == 0 and torch.allclose(node.v, torch.full((2, 3), 0.9))
    for bad, error, pattern in [("0.5", TypeError, r"IFNode\.v must be a finite real number"),
                                (float("inf"), ValueError, r"IFNode\.v must be a finite"),
                                (torch.zeros(2, 3, dtype=torch.float16), TypeError,
                                 r"state 'v' has dtype torch\.float16.*input step has dtype "
                                 r"torch\.float32")]:
        node = neuron.IFNode()
        node.v = bad
        with pytest.raises(error, match=pattern):
            node(x)


@pytest.mark.parametrize("name", ["v_threshold", "v_reset", "tau"])
def test_learnable_hyper_parameters_are_refused_not_frozen(name):
    """An nn.Parameter read as a float would never learn and not be in .parameters()."""
    value = torch.nn.Parameter(torch.tensor(0.5 if name != "tau" else 2.0))
    with pytest.raises(TypeError, match=rf"{name} .*requires grad"):
        neuron.LIFNode(**{name: value})
    node = neuron.LIFNode()
    with pytest.raises(TypeError, match=rf"{name} .*requires grad"):
        setattr(node, name, value)
    assert list(node.parameters()) == []
    # a plain tensor without grad is a number: accepted and stored as a float
    node = neuron.LIFNode(**{name: value.detach()})
    assert isinstance(getattr(node, name), float)
    assert list(neuron.ParametricLIFNode(init_tau=2.0).parameters())  # the learnable tau


def test_non_spiking_hyper_parameters_are_validated_on_assignment_too():
    node = neuron.NonSpikingLIFNode(tau=3, decode="last_mem")
    assert node.tau == 3.0 and isinstance(node.tau, float) and node.decode == "last-mem"
    with pytest.raises(ValueError, match=r"tau must be a finite number > 1, got 0.5"):
        node.tau = 0.5
    with pytest.raises(ValueError, match=r"decode must be one of"):
        node.decode = "last"
    node.decode = "max-mem"
    assert node.tau == 3.0
    x = torch.tensor([[1.0], [0.0], [0.0]])
    assert node(x).item() == pytest.approx(1 / 3)  # V = 1/3, then decays: the max is the first


@pytest.mark.parametrize("backend", ["torch", "fused"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_input_is_refused_by_every_backend(backend, bad):
    """A NaN never crosses the threshold: the neuron fell silent for good, with no error."""
    node = neuron.LIFNode(step_mode="m", backend=backend)
    x = torch.full((4, 3), 1.5)
    x[1, 2] = bad
    with pytest.raises(ValueError, match=r"x_seq and the initial state must be finite"):
        node(x)
    functional.reset_net(node)
    assert node(x.nan_to_num(posinf=0.0)).sum() > 0
