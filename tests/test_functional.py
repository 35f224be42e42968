"""Network-wide helpers: reset_net, set_step_mode, set_backend, detach_net, sequence forwards."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sgcourse import functional, layer, neuron


def small_net(step_mode="s"):
    net = nn.Sequential(layer.Linear(3, 4), neuron.LIFNode(), layer.Linear(4, 2),
                        neuron.IFNode())
    functional.set_step_mode(net, step_mode)
    return net


def test_reset_net_resets_every_neuron():
    net = small_net("m")
    net(torch.rand(4, 2, 3))
    assert isinstance(net[1].v, torch.Tensor)
    functional.reset_net(net)
    assert net[1].v == 0.0 and net[3].v == 0.0


def test_reset_net_warns_about_foreign_reset_methods():
    class Foreign(nn.Module):
        calls = 0

        def reset(self):
            Foreign.calls += 1

    with pytest.warns(UserWarning, match="Foreign"):
        functional.reset_net(nn.Sequential(Foreign()))
    assert Foreign.calls == 1
    with pytest.raises(TypeError, match="net"):
        functional.reset_net("not a module")


def test_set_step_mode_reaches_all_but_container_contents():
    inner = neuron.IFNode()
    net = nn.Sequential(layer.Linear(2, 2), neuron.LIFNode(), layer.MultiStepContainer(inner))
    functional.set_step_mode(net, "m")
    assert net[0].step_mode == "m" and net[1].step_mode == "m"
    assert inner.step_mode == "s"
    with pytest.raises(ValueError, match="step_mode"):
        functional.set_step_mode(net, "t")


def test_set_step_mode_refused_leaves_the_network_unchanged():
    """The module that cannot take the mode comes last: a half-way conversion would already have
    switched the layers and the neuron before it."""

    class SingleStepIF(neuron.IFNode):
        def supported_step_mode(self):
            return ("s",)

    net = nn.Sequential(layer.Linear(3, 4), neuron.LIFNode(), layer.Flatten(), SingleStepIF())
    with pytest.raises(ValueError, match=r"not supported by 3 \(SingleStepIF.*nothing was"):
        functional.set_step_mode(net, "m")
    assert [m.step_mode for m in net] == ["s", "s", "s", "s"]
    x = torch.rand(5, 3)
    assert net(x).shape == (5, 4)  # still runs one step [N, F]


def test_set_backend():
    net = small_net("m")
    functional.set_backend(net, "torch")
    assert net[1].backend == "torch" and net[3].backend == "torch"
    functional.set_backend(net, None)
    assert net[1].backend is None
    with pytest.raises(ValueError, match="backend"):
        functional.set_backend(net, "cupy")


def test_set_backend_warns_for_neurons_without_it():
    net = nn.Sequential(neuron.KLIFNode(step_mode="m"))
    with pytest.warns(UserWarning, match="KLIFNode"):
        functional.set_backend(net, "fused")
    assert net[0].backend is None


def test_detach_net_truncates_bptt():
    net = small_net("m")
    x1 = torch.rand(3, 2, 3, requires_grad=True)
    net(x1)
    functional.detach_net(net)
    out = net(torch.rand(3, 2, 3) * 3)
    out.sum().backward()
    assert x1.grad is None  # the first chunk is cut off
    assert net[0].weight.grad is not None


def test_multi_step_forward_carries_state():
    x_seq = torch.rand(5, 2, 3)
    net = small_net("s")
    expected = torch.stack([net(x) for x in x_seq])
    functional.reset_net(net)
    torch.testing.assert_close(functional.multi_step_forward(x_seq, net), expected)
    functional.reset_net(net)
    torch.testing.assert_close(functional.multi_step_forward(x_seq, list(net)), expected)
    with pytest.raises(TypeError, match="module_or_list"):
        functional.multi_step_forward(x_seq, 3)


def test_seq_to_ann_forward_equals_per_frame():
    conv = nn.Conv2d(2, 3, 3)
    x_seq = torch.rand(4, 2, 2, 6, 6)
    expected = torch.stack([conv(x) for x in x_seq])
    torch.testing.assert_close(functional.seq_to_ann_forward(x_seq, conv), expected)
    torch.testing.assert_close(functional.seq_to_ann_forward(x_seq, [conv, nn.ReLU()]),
                               expected.relu())
    with pytest.raises(ValueError, match="x_seq"):
        functional.seq_to_ann_forward(torch.rand(3), conv)
