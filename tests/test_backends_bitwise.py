"""Every backend computes the same potentials, bit for bit, so it fires the same spikes.

Inputs on a grid of 0.01 drive the potential exactly onto the threshold at many steps (the
control below counts them); a charge evaluated in another order, equal on paper, rounds
differently there and flips spikes (the second control). The kernels (fused, and Triton in the
interpreter) evaluate each neuron's charge with the torch reference's operations in its order,
so they agree with it exactly, on the grid and on random inputs alike.
"""

from __future__ import annotations

import pytest
import torch

from sgcourse import neuron
from sgcourse.neuron._lif import leaky_charge

T, B, N = 40, 4, 500


def _grid(dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """Inputs k/100, k = 0 … 199: many exact threshold hits."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 200, (T, B, N), generator=g).to(dtype) / 100.0)


def _random(dtype: torch.dtype, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(T, B, N, generator=g, dtype=torch.float64).to(dtype) * 1.5


CASES = [
    ("IF", neuron.IFNode, {}),
    ("IF v_reset=-0.3", neuron.IFNode, {"v_reset": -0.3}),
    ("LIF tau=2", neuron.LIFNode, {"tau": 2.0}),
    ("LIF tau=3", neuron.LIFNode, {"tau": 3.0}),
    ("LIF tau=1.5 soft", neuron.LIFNode, {"tau": 1.5, "v_reset": None}),
    ("LIF tau=3 no input decay", neuron.LIFNode, {"tau": 3.0, "decay_input": False}),
    ("LIF tau=7 v_reset=-0.3", neuron.LIFNode, {"tau": 7.0, "v_reset": -0.3}),
    ("LIF tau=3 v_reset=0.2 no input decay", neuron.LIFNode,
     {"tau": 3.0, "v_reset": 0.2, "decay_input": False}),
    ("PLIF", neuron.ParametricLIFNode, {"init_tau": 3.0}),
    ("PLIF v_reset=-0.3", neuron.ParametricLIFNode, {"init_tau": 3.0, "v_reset": -0.3}),
    ("QIF", neuron.QIFNode, {}),
    ("QIF v_rest=-0.1", neuron.QIFNode, {"v_reset": -0.2, "v_rest": -0.1}),
    ("EIF", neuron.EIFNode, {}),
    ("Izhikevich", neuron.IzhikevichNode, {}),
    ("Izhikevich a,b", neuron.IzhikevichNode, {"a": 0.5, "b": 0.3}),
]


def _run(cls, kwargs, backend: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    node = cls(step_mode="m", backend=backend, store_v_seq=True, **kwargs)
    with torch.no_grad():
        spikes = node(x)
    return spikes, node.v_seq


@pytest.mark.parametrize("inputs", [_grid, _random], ids=["grid", "random"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16],
                         ids=str)
@pytest.mark.parametrize(("name", "cls", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_fused_equals_torch_bit_for_bit(name, cls, kwargs, dtype, inputs):
    x = inputs(dtype)
    want_s, want_v = _run(cls, kwargs, "torch", x)
    got_s, got_v = _run(cls, kwargs, "fused", x)
    assert torch.equal(got_s, want_s)
    assert torch.equal(got_v, want_v)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_single_step_equals_multi_step_bit_for_bit(dtype):
    x = _grid(dtype)
    for _name, cls, kwargs in CASES:
        multi_s, multi_v = _run(cls, kwargs, "fused", x)
        node = cls(step_mode="s", **kwargs)
        with torch.no_grad():
            steps = [(node(xt), node.v) for xt in x]
        assert torch.equal(torch.stack([s for s, _ in steps]), multi_s), _name
        assert torch.equal(torch.stack([v for _, v in steps]), multi_v), _name


@pytest.mark.triton
@pytest.mark.parametrize("inputs", [_grid, _random], ids=["grid", "random"])
@pytest.mark.parametrize(("name", "cls", "kwargs"), CASES[:10], ids=[c[0] for c in CASES[:10]])
def test_triton_equals_torch_bit_for_bit(name, cls, kwargs, inputs):
    pytest.importorskip("triton")
    from sgcourse.kernels import triton as kt

    x = inputs(torch.float32)[:12, :2, :64]  # the interpreter is slow
    want_s, want_v = _run(cls, kwargs, "torch", x)
    with kt.use_interpreter():
        got_s, got_v = _run(cls, kwargs, "triton", x)
    assert torch.equal(got_s, want_s)
    assert torch.equal(got_v, want_v)


# ---------------------------------------------------------------------------------------------
# controls: the grid does hit the threshold exactly, and another order does flip spikes there


def test_control_the_grid_puts_the_potential_exactly_on_the_threshold():
    x = _grid(torch.float32)
    v = torch.zeros(B, N)
    hits = 0
    for xt in x:
        h = leaky_charge(xt, v, 0.5, 0.0, True)
        hits += int((h == 1.0).sum())
        v = torch.where(h >= 1.0, torch.zeros_like(h), h)
    assert hits > 50  # 66 of the 80 000 neuron-steps


def test_control_an_equal_charge_in_another_order_flips_spikes_on_the_grid():
    x = _grid(torch.float32)
    k = 0.5  # tau = 2

    def spikes(charge):
        v, out = torch.zeros(B, N), []
        for xt in x:
            h = charge(xt, v)
            s = (h >= 1.0).float()
            v = torch.where(s > 0, torch.zeros_like(h), h)
            out.append(s)
        return torch.stack(out)

    ours = spikes(lambda xt, v: leaky_charge(xt, v, k, 0.0, True))  # V + (X - V) k
    expanded = spikes(lambda xt, v: xt * k + v * (1 - k))  # k X + (1 - k) V: equal on paper
    assert torch.equal(ours, _run(neuron.LIFNode, {"tau": 2.0}, "fused", x)[0])
    assert int((ours != expanded).sum()) > 0  # 14 spikes differ
