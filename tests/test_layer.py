"""Step-mode-aware layers: multi-step output equals the plain layer on each frame."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sgcourse import functional, layer, neuron

T, N = 3, 2


def per_frame(module, x_seq):
    return torch.stack([module(x) for x in x_seq])


@pytest.mark.parametrize(("make", "frame_shape"), [
    (lambda: layer.Linear(4, 3), (N, 4)),
    (lambda: layer.Conv2d(2, 3, 3, padding=1), (N, 2, 5, 5)),
    (lambda: layer.MaxPool2d(2), (N, 2, 4, 4)),
    (lambda: layer.AvgPool2d(2), (N, 2, 4, 4)),
    (lambda: layer.Flatten(), (N, 2, 3, 3)),
])
def test_multi_step_equals_single_step_per_frame(make, frame_shape):
    torch.manual_seed(0)
    module = make()
    x_seq = torch.rand(T, *frame_shape)
    expected = per_frame(module, x_seq)
    module.step_mode = "m"
    torch.testing.assert_close(module(x_seq), expected)
    assert "step_mode='m'" in repr(module)


@pytest.mark.parametrize(("make", "frame_shape"), [
    (lambda: layer.BatchNorm1d(4), (N, 4)),
    (lambda: layer.BatchNorm2d(2), (N, 2, 3, 3)),
])
def test_batch_norm_uses_all_time_steps_as_samples(make, frame_shape):
    module = make()
    reference = (nn.BatchNorm1d if len(frame_shape) == 2 else nn.BatchNorm2d)(frame_shape[1])
    x_seq = torch.rand(T, *frame_shape)
    module.step_mode = "m"
    expected = reference(x_seq.flatten(0, 1)).unflatten(0, (T, N))
    torch.testing.assert_close(module(x_seq), expected)
    torch.testing.assert_close(module.running_mean, reference.running_mean)


@pytest.mark.parametrize("make", [lambda: layer.Conv2d(2, 3, 3, step_mode="m"),
                                  lambda: layer.BatchNorm2d(2, step_mode="m"),
                                  lambda: layer.MaxPool2d(2, step_mode="m")])
def test_image_layers_need_5d_sequences(make):
    with pytest.raises(ValueError, match=r"x_seq of shape \[T, N, C, H, W\] \(5 dimensions"):
        make()(torch.rand(N, 2, 4, 4))


def test_flatten_multi_step_keeps_time_and_batch():
    assert layer.Flatten(step_mode="m")(torch.rand(T, N, 2, 3, 3)).shape == (T, N, 18)


def test_step_mode_validated_in_layers():
    with pytest.raises(ValueError, match="step_mode"):
        layer.Linear(2, 2, step_mode="q")


def test_containers():
    conv = nn.Conv2d(1, 2, 3)
    x_seq = torch.rand(T, N, 1, 5, 5)
    torch.testing.assert_close(layer.SeqToANNContainer(conv, nn.ReLU())(x_seq),
                               per_frame(nn.Sequential(conv, nn.ReLU()), x_seq))
    node = neuron.LIFNode()
    x_seq = torch.rand(T, N, 4) * 2
    out = layer.MultiStepContainer(node)(x_seq)
    functional.reset_net(node)
    torch.testing.assert_close(out, per_frame(node, x_seq))
    with pytest.raises(ValueError, match="step_mode"):
        layer.SeqToANNContainer(conv).step_mode = "s"


def test_dropout_one_mask_per_sequence():
    torch.manual_seed(0)
    drop = layer.Dropout(0.5, step_mode="m")
    x_seq = torch.ones(T, 4, 16)
    y = drop(x_seq)
    assert set(y.unique().tolist()) <= {0.0, 2.0}
    for t in range(1, T):
        torch.testing.assert_close(y[t], y[0])  # same units dropped at every step
    # single-step calls reuse the same mask until reset
    drop.step_mode = "s"
    torch.testing.assert_close(drop(x_seq[0]), y[0])
    functional.reset_net(drop)
    assert drop.mask is None
    drop.eval()
    torch.testing.assert_close(drop(x_seq[0]), x_seq[0])


def test_dropout_arguments_and_shape_errors():
    with pytest.raises(ValueError, match="p"):
        layer.Dropout(1.0)
    with pytest.raises(TypeError, match="p"):
        layer.Dropout("0.5")
    drop = layer.Dropout(0.5)
    drop(torch.ones(2, 3))
    with pytest.raises(ValueError, match="reset_net"):
        drop(torch.ones(4, 3))
