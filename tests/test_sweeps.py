"""Tests of sgcourse.course.sweeps: steepened surrogates, sweeps, silence, the rate penalty."""

from __future__ import annotations

import math

import pytest
import torch

from sgcourse import surrogate
from sgcourse.course import models, sweeps, temporal
from sgcourse.course.sweeps import SteepenedSurrogate


@pytest.mark.parametrize("shape", ["sigmoid", "atan", "super_spike", "piecewise_quadratic"])
@pytest.mark.parametrize("k", [0.1, 1.0, 7.0])
def test_steepened_surrogate_forward_and_backward(shape: str, k: float) -> None:
    x = torch.linspace(-3, 3, 41, dtype=torch.float64).requires_grad_(True)
    sg = SteepenedSurrogate(shape, k, scale=1.5)
    y = sg(x)
    assert torch.equal(y, surrogate.heaviside(x.detach()))
    (grad,) = torch.autograd.grad(y.sum(), x)
    expected = 1.5 * surrogate.get(shape).derivative(k * x.detach())
    assert torch.allclose(grad, expected, rtol=0, atol=1e-12)
    assert torch.allclose(sg.derivative(x.detach()), expected, rtol=0, atol=1e-12)
    assert sg.derivative(torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(1.5)


def test_steepened_sigmoid_is_a_rescaled_sigmoid() -> None:
    x = torch.linspace(-2, 2, 21, dtype=torch.float64)
    for k in (0.5, 3.0):
        assert torch.allclose(SteepenedSurrogate("sigmoid", k).derivative(x),
                              surrogate.Sigmoid(alpha=4 * k).derivative(x) / k)


def test_steepness_sets_the_width() -> None:
    x = torch.tensor([0.5], dtype=torch.float64)
    slopes = [SteepenedSurrogate("atan", k).derivative(x).item() for k in (0.1, 1.0, 10.0)]
    assert slopes[0] > slopes[1] > slopes[2]


def test_cutoff_removes_the_tails_only() -> None:
    x = torch.linspace(-0.5, 0.5, 101, dtype=torch.float64).requires_grad_(True)
    full, cut = SteepenedSurrogate("super_spike", 10.0), SteepenedSurrogate("super_spike", 10.0,
                                                                            cutoff=1.0)
    inside = (10.0 * x.detach()).abs() <= 1.0
    assert torch.equal(cut.derivative(x.detach())[inside], full.derivative(x.detach())[inside])
    assert torch.all(cut.derivative(x.detach())[~inside] == 0) and bool((~inside).any())
    assert torch.all(full.derivative(x.detach())[~inside] > 0)
    (grad,) = torch.autograd.grad(cut(x).sum(), x)
    assert torch.equal(grad, cut.derivative(x.detach()))
    assert torch.equal(cut(x).detach(), full(x).detach())            # same spikes forward
    assert "cutoff=1" in repr(cut) and "cutoff" not in repr(full)
    with pytest.raises(ValueError, match="cutoff"):
        SteepenedSurrogate("atan", 1.0, cutoff=0.0)


def test_steepened_surrogate_in_a_neuron_keeps_dtype_and_arguments_are_checked() -> None:
    x = torch.randn(8, dtype=torch.float32, requires_grad=True)
    SteepenedSurrogate("sigmoid", 2.0)(x).sum().backward()
    assert x.grad.dtype == torch.float32
    with pytest.raises(ValueError, match="steepness"):
        SteepenedSurrogate("sigmoid", 0.0)
    with pytest.raises(ValueError, match="scale"):
        SteepenedSurrogate("sigmoid", 1.0, scale=-1.0)
    with pytest.raises(ValueError, match="unknown surrogate"):
        SteepenedSurrogate("banana")
    with pytest.raises(TypeError, match="floating"):
        SteepenedSurrogate("sigmoid")(torch.ones(3, dtype=torch.int64))


def test_silent_fraction() -> None:
    spikes = torch.zeros(4, 3, 5)
    spikes[2, 1, 0] = 1.0            # neuron 0 fires once
    spikes[:, :, 3] = 1.0            # neuron 3 always
    assert sweeps.silent_fraction(spikes) == pytest.approx(3 / 5)
    assert sweeps.silent_fraction(torch.ones(2, 2, 4)) == 0.0
    with pytest.raises(ValueError, match=r"\[T, N, H\]"):
        sweeps.silent_fraction(torch.zeros(3, 4))


def test_rate_penalty_value_and_gradient() -> None:
    spikes = torch.zeros(2, 2, 3)
    spikes[:, :, 1] = 1.0                     # rate 1: above the target
    spikes[0, 0, 2] = 1.0                     # rate 0.25
    spikes.requires_grad_(True)
    penalty = sweeps.rate_penalty(spikes, 0.5)
    # neuron 0: (0.5 - 0)^2, neuron 1: 0, neuron 2: (0.5 - 0.25)^2; mean over 3
    assert penalty.item() == pytest.approx((0.25 + 0.0 + 0.0625) / 3)
    (grad,) = torch.autograd.grad(penalty, spikes)
    assert torch.all(grad[..., 1] == 0)                   # above target: no push
    assert torch.all(grad[..., 0] < 0) and torch.all(grad[..., 2] < 0)   # below: push up
    assert sweeps.rate_penalty(torch.ones(2, 2, 3), 0.5).item() == 0.0
    with pytest.raises(ValueError, match="target"):
        sweeps.rate_penalty(spikes, -0.1)


def _tiny_data() -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(48, 64, generator=generator)
    y = torch.arange(48) % 3
    x[:, :8] += y[:, None].float()            # a learnable signal
    x = x / x.max()
    return x[:36], y[:36], x[36:], y[36:]


def test_sweep_grid_is_complete_deterministic_and_uses_the_surrogate() -> None:
    data = _tiny_data()
    built: list[tuple[str, float]] = []

    def build(spike_fn: SteepenedSurrogate) -> models.DigitsSNN:
        built.append((spike_fn.shape, spike_fn.steepness))
        return models.make_digits_snn(spike_fn, hidden=8, time_steps=3, seed=0)

    def train(model: models.DigitsSNN) -> object:
        return models.train(model, data, epochs=1, lr=1e-2, seed=0, batch_size=12)

    seen: list[int] = []

    def progress(cells: list) -> list:
        seen.append(len(cells))
        return cells

    result = sweeps.sweep(build, train, (data[2], data[3]), ["sigmoid", "ATan"], [0.5, 2.0],
                          progress=progress)
    assert result.shapes == ["sigmoid", "atan"] and result.steepness == [0.5, 2.0]
    assert built == [("sigmoid", 0.5), ("sigmoid", 2.0), ("atan", 0.5), ("atan", 2.0)]
    assert seen == [4]
    grid = result.as_tensor()
    assert grid.shape == (2, 2) and torch.all((grid >= 0) & (grid <= 1))
    assert all(not math.isnan(r) for row in result.firing_rate for r in row)
    again = sweeps.sweep(build, train, (data[2], data[3]), ["sigmoid", "atan"], [0.5, 2.0])
    assert again.accuracy == result.accuracy
    shape, k, best = result.best()
    assert best == grid.max().item() and shape in result.shapes and k in result.steepness


def test_sweep_arguments() -> None:
    with pytest.raises(TypeError, match="callables"):
        sweeps.sweep(None, lambda m: m, (torch.zeros(1), torch.zeros(1)), ["sigmoid"], [1.0])
    with pytest.raises(ValueError, match="non-empty"):
        sweeps.sweep(lambda s: s, lambda m: m, (torch.zeros(1), torch.zeros(1)), [], [1.0])
    with pytest.raises(ValueError, match="steepness"):
        sweeps.sweep(lambda s: s, lambda m: m, (torch.zeros(1), torch.zeros(1)), ["atan"], [0])


def test_rate_penalty_training_revives_silent_neurons() -> None:
    """A network whose hidden layer starts silent: the penalty makes neurons fire, the control
    (rate_weight=0) with a steep surrogate leaves them silent."""
    data = _tiny_data()
    results = {}
    for weight in (0.0, 100.0):
        torch.manual_seed(0)
        model = models.DigitsSNN(SteepenedSurrogate("sigmoid", 1.0), hidden=16, time_steps=4,
                                 input_gain=0.3)
        with torch.no_grad():
            start = sweeps.silent_fraction(model.hidden_spikes(data[0]))
        history = sweeps.train_with_rate_penalty(model, data, epochs=6, lr=2e-2,
                                                 rate_weight=weight, target_rate=0.2, seed=0,
                                                 batch_size=12)
        results[weight] = (start, history)
    assert results[0.0][0] == results[100.0][0] > 0.9
    steps = 6 * math.ceil(36 / 12)
    for _, history in results.values():                       # one rate per mini-batch
        assert len(history.batch_rate) == steps
        assert all(0.0 <= r <= 1.0 for r in history.batch_rate)
    assert results[0.0][1].batch_rate[0] < 0.05                # it starts (nearly) silent ...
    assert max(results[100.0][1].batch_rate) > 0.1             # ... the penalty makes it fire
    assert results[100.0][1].silent[-1] < results[0.0][1].silent[-1] - 0.3
    assert results[100.0][1].penalty[0] > 0 and len(results[0.0][1].test_accuracy) == 6


def test_rate_penalty_training_accepts_sequence_classifiers_and_checks_arguments() -> None:
    model = temporal.make_randman_classifier(5, 6, 2, hidden=4, seed=0)
    times = torch.randint(0, 6, (10, 5)).float()
    labels = torch.arange(10) % 2
    history = sweeps.train_with_rate_penalty(model, (times, labels, times, labels), epochs=1,
                                             rate_weight=1.0)
    assert len(history.silent) == 1
    with pytest.raises(TypeError, match="SequenceClassifier or a DigitsSNN"):
        sweeps.train_with_rate_penalty(torch.nn.Linear(2, 2), (times, labels, times, labels))
    with pytest.raises(TypeError, match="x_train, y_train, x_test, y_test"):
        sweeps.train_with_rate_penalty(model, [times, labels, times, labels])
    with pytest.raises(ValueError, match="rate_weight"):
        sweeps.train_with_rate_penalty(model, (times, labels, times, labels), rate_weight=-1.0)


def test_plots_have_labels() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = sweeps.SweepResult(["sigmoid", "atan"], [0.1, 1.0], [[0.2, 0.9], [0.3, 0.8]])
    fig = sweeps.plot_accuracy_grid(result, "grid")
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title() == "grid"
    assert [t.get_text() for t in ax.texts] == ["0.20", "0.90", "0.30", "0.80"]
    fig2 = sweeps.plot_steepened_shapes(["sigmoid", "atan"], [1.0, 3.0])
    assert all(a.get_xlabel() for a in fig2.axes) and fig2.axes[0].get_ylabel()
    assert len(fig2.axes[1].get_legend().get_texts()) == 2
    history = sweeps.RegularisedHistory(batch_rate=[0.1, 0.05, 0.0])
    fig3 = sweeps.plot_training_rates({"a": history, "b": history}, "rates")
    ax3 = fig3.axes[0]
    assert ax3.get_xlabel() and ax3.get_ylabel() and ax3.get_title() == "rates"
    assert [t.get_text() for t in ax3.get_legend().get_texts()] == ["a", "b"]
    assert list(ax3.lines[0].get_ydata()) == [0.1, 0.05, 0.0]
    with pytest.raises(ValueError, match="histories"):
        sweeps.plot_training_rates({}, "none")
    plt.close("all")
