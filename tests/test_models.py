"""Tests of sgcourse.course.models: the true-gradient spike function, the digits SNN, train and
evaluate."""

from __future__ import annotations

import math

import pytest
import torch

from sgcourse import surrogate
from sgcourse.course.models import (
    DigitsSNN,
    TrainingHistory,
    TrueGradient,
    batch_gradients,
    dirac_delta,
    evaluate,
    heaviside_true_gradient,
    make_digits_snn,
    resolve_spike_fn,
    train,
)
from sgcourse.datasets import DigitsSplit

# --- the true-gradient spike function ------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dirac_delta_is_infinite_at_zero_only(dtype: torch.dtype) -> None:
    x = torch.tensor([-2.0, -1e-3, 0.0, 1e-3, 5.0], dtype=dtype)
    delta = dirac_delta(x)
    assert delta.dtype == dtype
    assert delta.tolist() == [0.0, 0.0, math.inf, 0.0, 0.0]


def test_dirac_delta_rejects_integer_tensors() -> None:
    with pytest.raises(TypeError, match="x"):
        dirac_delta(torch.tensor([0, 1]))


def test_true_gradient_forward_is_heaviside() -> None:
    x = torch.tensor([-1.0, -1e-7, 0.0, 1e-7, 3.0])
    assert torch.equal(TrueGradient()(x), surrogate.heaviside(x))
    assert TrueGradient()(x.double()).dtype == torch.float64


def test_true_gradient_backward_is_exactly_zero_off_threshold() -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(10_000, generator=generator, dtype=torch.float64)
    x = x[x != 0].requires_grad_()
    (TrueGradient()(x) * torch.randn(len(x), generator=generator, dtype=torch.float64)).sum() \
        .backward()
    assert x.grad is not None
    assert torch.count_nonzero(x.grad) == 0


def test_true_gradient_backward_is_infinite_exactly_at_threshold() -> None:
    x = torch.tensor([0.0, 0.5], requires_grad=True)
    heaviside_true_gradient.apply(x).sum().backward()
    assert x.grad.tolist() == [math.inf, 0.0]


def test_resolve_spike_fn() -> None:
    assert isinstance(resolve_spike_fn("true_gradient"), TrueGradient)
    assert isinstance(resolve_spike_fn("sigmoid"), surrogate.module_class("sigmoid"))
    sg = surrogate.ATan()
    assert resolve_spike_fn(sg) is sg
    with pytest.raises(ValueError, match="unknown surrogate"):
        resolve_spike_fn("no_such_surrogate")
    with pytest.raises(TypeError, match="spike_fn"):
        resolve_spike_fn(3.0)


# --- the network ---------------------------------------------------------------------------


def toy_data(n_train: int = 96, n_test: int = 40, seed: int = 0) -> DigitsSplit:
    """A small, learnable stand-in for the digits: 10 noisy prototypes of 64 pixels."""
    generator = torch.Generator().manual_seed(seed)
    prototypes = torch.rand(10, 64, generator=generator)

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(n) % 10
        noise = 0.1 * torch.randn(n, 64, generator=generator)
        return (prototypes[labels] + noise).clamp(0, 1), labels

    x_train, y_train = sample(n_train)
    x_test, y_test = sample(n_test)
    return DigitsSplit(x_train, y_train, x_test, y_test)


def test_forward_shapes_and_spikes_are_binary() -> None:
    net = make_digits_snn("sigmoid", hidden=16, time_steps=5)
    images = toy_data().x_train[:7]
    spikes = net.hidden_spikes(images)
    assert spikes.shape == (5, 7, 16)
    assert torch.all((spikes == 0) | (spikes == 1))
    assert net(images).shape == (7, 10)


def test_calls_are_independent_of_previous_calls() -> None:
    net = make_digits_snn("sigmoid", hidden=16)
    images = toy_data().x_train
    first = net(images[:5])
    net(images[5:50])  # another batch size in between
    assert torch.equal(net(images[:5]), first)


def test_same_seed_gives_same_weights_whatever_the_spike_function() -> None:
    a = make_digits_snn(TrueGradient(), seed=3)
    b = make_digits_snn(surrogate.Sigmoid(), seed=3)
    c = make_digits_snn(TrueGradient(), seed=4)
    assert torch.equal(a.input_layer.weight, b.input_layer.weight)
    assert torch.equal(a.readout.weight, b.readout.weight)
    assert not torch.equal(a.input_layer.weight, c.input_layer.weight)


def test_make_digits_snn_leaves_the_global_random_state_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make_digits_snn("sigmoid", seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_true_gradient_gives_exactly_zero_hidden_gradients() -> None:
    data = toy_data()
    net = make_digits_snn(TrueGradient(), hidden=32)
    assert net.hidden_spikes(data.x_train).sum() > 0  # hidden neurons do fire
    grads = batch_gradients(net, data.x_train, data.y_train)
    assert torch.count_nonzero(grads["input_layer.weight"]) == 0
    assert torch.count_nonzero(grads["input_layer.bias"]) == 0
    assert torch.count_nonzero(grads["readout.weight"]) > 0
    assert torch.count_nonzero(grads["readout.bias"]) > 0


def test_surrogate_gives_nonzero_hidden_gradients() -> None:
    data = toy_data()
    net = make_digits_snn(surrogate.Sigmoid(), hidden=32)
    grads = batch_gradients(net, data.x_train, data.y_train)
    assert torch.count_nonzero(grads["input_layer.weight"]) > 0.5 * grads[
        "input_layer.weight"].numel()
    assert torch.all(torch.isfinite(grads["input_layer.weight"]))


def test_batch_gradients_returns_copies_and_leaves_grads_set() -> None:
    data = toy_data()
    net = make_digits_snn("sigmoid", hidden=8)
    grads = batch_gradients(net, data.x_train[:10], data.y_train[:10])
    assert set(grads) == {name for name, _ in net.named_parameters()}
    assert torch.equal(grads["readout.weight"], net.readout.weight.grad)
    assert grads["readout.weight"] is not net.readout.weight.grad


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"hidden": 0}, ValueError, "hidden"),
    ({"time_steps": 0}, ValueError, "time_steps"),
    ({"time_steps": 2.5}, ValueError, "time_steps"),
    ({"input_gain": 0.0}, ValueError, "input_gain"),
    ({"input_gain": "4"}, TypeError, "input_gain"),
    ({"seed": -1}, ValueError, "seed"),
    ({"spike_fn": 1}, TypeError, "spike_fn"),
])
def test_make_digits_snn_rejects_bad_arguments(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        make_digits_snn(**kwargs)


def test_forward_rejects_bad_images() -> None:
    net = make_digits_snn("sigmoid", hidden=8)
    with pytest.raises(ValueError, match="images"):
        net(torch.rand(4, 63))
    with pytest.raises(TypeError, match="images"):
        net(torch.ones(4, 64, dtype=torch.int64))


# --- training ------------------------------------------------------------------------------


def test_training_reduces_loss_and_is_deterministic() -> None:
    data = toy_data()
    histories = [train(make_digits_snn("sigmoid", hidden=32), data, epochs=4, lr=1e-2, seed=0,
                       batch_size=32) for _ in range(2)]
    first, second = histories
    assert isinstance(first, TrainingHistory)
    assert len(first.loss) == len(first.train_accuracy) == len(first.test_accuracy) == 4
    assert first.loss[-1] < 0.7 * first.loss[0]
    assert first.test_accuracy[-1] > 0.5  # 10 classes: chance is 0.1
    assert first.loss == second.loss
    assert first.test_accuracy == second.test_accuracy


def test_true_gradient_training_freezes_the_hidden_layer_only() -> None:
    data = toy_data()
    net = make_digits_snn(TrueGradient(), hidden=32)
    hidden_before = net.input_layer.weight.detach().clone()
    readout_before = net.readout.weight.detach().clone()
    history = train(net, data, epochs=3, batch_size=32)
    assert history.max_abs_grad["input_layer.weight"] == [0.0, 0.0, 0.0]
    assert history.max_abs_grad["input_layer.bias"] == [0.0, 0.0, 0.0]
    assert all(g > 0 for g in history.max_abs_grad["readout.weight"])
    assert torch.equal(net.input_layer.weight, hidden_before)
    assert not torch.equal(net.readout.weight, readout_before)


def test_evaluate_matches_a_direct_computation() -> None:
    data = toy_data()
    net = make_digits_snn("sigmoid", hidden=16)
    result = evaluate(net, data.x_test, data.y_test, batch_size=7)
    with torch.no_grad():
        logits = net(data.x_test)
    expected_loss = torch.nn.functional.cross_entropy(logits, data.y_test).item()
    expected_accuracy = (logits.argmax(1) == data.y_test).double().mean().item()
    assert result.loss == pytest.approx(expected_loss, rel=1e-5)
    assert result.accuracy == pytest.approx(expected_accuracy)
    assert 0.0 <= result.accuracy <= 1.0


def test_train_rejects_bad_arguments() -> None:
    data = toy_data()
    net = make_digits_snn("sigmoid", hidden=8)
    with pytest.raises(ValueError, match="epochs"):
        train(net, data, epochs=0)
    with pytest.raises(ValueError, match="lr"):
        train(net, data, lr=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        train(net, data, batch_size=0)
    with pytest.raises(ValueError, match="seed"):
        train(net, data, seed=-3)
    with pytest.raises(TypeError, match="model"):
        train("net", data)
    with pytest.raises(TypeError, match="data"):
        train(net, data[:2])
    with pytest.raises(TypeError, match="y_train"):
        train(net, DigitsSplit(data.x_train, data.y_train.float(), data.x_test, data.y_test))
    with pytest.raises(ValueError, match="y_train"):
        train(net, DigitsSplit(data.x_train, data.y_train[:-1], data.x_test, data.y_test))


def test_evaluate_rejects_bad_labels() -> None:
    data = toy_data()
    net = make_digits_snn("sigmoid", hidden=8)
    with pytest.raises(TypeError, match="labels"):
        evaluate(net, data.x_test, data.y_test.tolist())
    with pytest.raises(ValueError, match="labels"):
        evaluate(net, data.x_test, data.y_test[:3])


def test_digits_snn_repr_mentions_time_steps() -> None:
    assert "time_steps=8" in repr(DigitsSNN("sigmoid"))


def test_train_checks_all_data_before_training() -> None:
    """A NaN pixel used to train silently to chance level; bad test data or labels out of range
    used to fail only after an epoch, or inside cross_entropy."""
    data = toy_data()
    net = make_digits_snn("sigmoid", hidden=8)
    weights = {k: v.clone() for k, v in net.state_dict().items()}
    x_nan = data.x_train.clone()
    x_nan[5, 7] = math.nan
    y_big = data.y_train.clone()
    y_big[0] = 10
    y_neg = data.y_test.clone()
    y_neg[3] = -1
    bad_splits = [
        (DigitsSplit(x_nan, *data[1:]), ValueError, r"data\.x_train must hold finite numbers, "
         r"got 1 NaN value\(s\), the first at index \(5, 7\)"),
        (DigitsSplit(data.x_train, y_big, *data[2:]), ValueError,
         r"data\.y_train must hold class indices in \[0, 9\] \(the model has 10 outputs\)"),
        (DigitsSplit(*data[:3], y_neg), ValueError, r"data\.y_test must hold class indices"),
        (DigitsSplit(*data[:2], data.x_test * math.inf, data.y_test), ValueError,
         r"data\.x_test must hold finite"),
        (DigitsSplit(*data[:2], data.x_test.double()[:, :10], data.y_test), ValueError,
         r"data\.x_test must have the sample shape of data\.x_train"),
    ]
    for split, error, pattern in bad_splits:
        with pytest.raises(error, match=pattern):
            train(net, split, epochs=1)
    assert all(torch.equal(v, weights[k]) for k, v in net.state_dict().items())


def test_label_check_leaves_random_state_and_mode_alone() -> None:
    """The one-sample probe that counts the model's outputs changes nothing observable."""
    data = toy_data()
    net = make_digits_snn("sigmoid", hidden=8)
    net.train()
    state = torch.random.get_rng_state()
    evaluate(net, data.x_test, data.y_test)
    assert torch.equal(torch.random.get_rng_state(), state) and net.training
    with pytest.raises(ValueError, match=r"labels must hold class indices in \[0, 9\]"):
        evaluate(net, data.x_test, data.y_test + 1)
    with pytest.raises(ValueError, match=r"images must hold finite numbers"):
        evaluate(net, data.x_test * math.nan, data.y_test)
