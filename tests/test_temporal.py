"""Tests of sgcourse.course.temporal: the recurrent LIF layer, its controls and the classifiers."""

from __future__ import annotations

import pytest
import torch

from sgcourse import neuron, surrogate
from sgcourse.course import bptt, temporal
from sgcourse.course.temporal import RecurrentLIF


def _layer(memory: str, **kwargs: object) -> RecurrentLIF:
    torch.manual_seed(0)
    layer = RecurrentLIF(6, 10, memory=memory, **kwargs)
    with torch.no_grad():  # strong enough weights that the neurons fire and recur
        layer.input_layer.weight.mul_(6.0)
        if layer.recurrent_layer is not None:
            layer.recurrent_layer.weight.normal_(0.0, 0.8)
    return layer


def _inputs(steps: int = 7, batch: int = 5) -> torch.Tensor:
    return torch.rand(steps, batch, 6, generator=torch.Generator().manual_seed(1))


def test_shapes_and_no_state_between_calls() -> None:
    layer = _layer("bptt")
    x = _inputs()
    first = layer(x)
    assert first.shape == (7, 5, 10)
    assert set(first.unique().tolist()) <= {0.0, 1.0} and first.sum() > 0
    assert torch.equal(layer(x), first)                     # every call starts from rest
    assert layer(_inputs(3, 2)).shape == (3, 2, 10)         # any T and N, no reset_net needed


def test_feed_forward_layer_equals_lif_node() -> None:
    layer = _layer("bptt", recurrent=False, tau=3.0)
    assert layer.recurrent_layer is None
    x = _inputs()
    node = neuron.LIFNode(tau=3.0, step_mode="m")
    assert torch.equal(layer(x), node(layer.input_layer(x)))


def test_recurrent_step_by_hand() -> None:
    layer = _layer("bptt", tau=2.0)
    x = _inputs(4, 3)
    current = layer.input_layer(x)
    w = layer.recurrent_layer.weight
    v = torch.zeros(3, 10)
    s = torch.zeros(3, 10)
    expected = []
    for t in range(4):
        h = v + (current[t] + s @ w.T - v) / 2.0
        s = (h >= 1.0).float()
        v = (1 - s) * h
        expected.append(s)
    assert torch.equal(layer(x), torch.stack(expected))


def test_detached_has_the_same_forward_pass_and_no_gradient_to_the_past() -> None:
    full, cut = _layer("bptt"), _layer("detached")
    x = _inputs()
    assert torch.equal(full(x), cut(x))
    grads = {}
    for name, layer in (("bptt", full), ("detached", cut)):
        xs = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(layer(xs)[-1].sum(), xs)
        grads[name] = grad
    # a loss at the last step reaches earlier inputs only through the memory
    assert grads["bptt"][:-1].abs().sum() > 0
    assert torch.all(grads["detached"][:-1] == 0)
    assert grads["detached"][-1].abs().sum() > 0


def _past_gradient(layer: RecurrentLIF, x: torch.Tensor) -> torch.Tensor:
    """|dL/dX| summed over every step but the last, for L = the last step's spike count."""
    xs = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(layer(xs)[-1].sum(), xs)
    return grad[:-1].abs().sum()


def test_membrane_detached_keeps_the_path_through_the_recurrent_spikes() -> None:
    x = _inputs()
    layer = _layer("membrane_detached")
    assert torch.equal(layer(x), _layer("bptt")(x))          # same forward pass
    assert _past_gradient(layer, x) > 0                      # the recurrent spikes leak it
    feed_forward = _layer("membrane_detached", recurrent=False)
    assert _past_gradient(feed_forward, x) == 0              # no other path: cut
    assert _past_gradient(_layer("bptt", recurrent=False), x) > 0


def test_memoryless_spikes_depend_on_the_current_frame_only() -> None:
    layer = _layer("memoryless")
    x = _inputs()
    changed = x.clone()
    changed[0] += 5.0                                 # a big change of the first frame only
    out, out_changed = layer(x), layer(changed)
    assert not torch.equal(out[0], out_changed[0])
    assert torch.equal(out[1:], out_changed[1:])
    assert not torch.equal(out, _layer("bptt")(x))   # the full model does remember


def test_learned_tau_gets_a_gradient_and_moves() -> None:
    layer = _layer("bptt", learn_tau=True, tau=4.0)
    assert isinstance(layer.neurons, neuron.ParametricLIFNode)
    assert layer.tau == pytest.approx(4.0)
    layer(_inputs()).sum().backward()
    assert layer.neurons.w.grad is not None and layer.neurons.w.grad.abs() > 0
    with torch.no_grad():
        layer.neurons.w += 0.5
    assert layer.tau < 4.0


def test_custom_surrogate_is_used() -> None:
    layer = RecurrentLIF(3, 4, surrogate_function=surrogate.ATan())
    assert isinstance(layer.neurons.surrogate_function, surrogate.ATan)


@pytest.mark.parametrize("kwargs, error, words", [
    ({"memory": "truncated"}, ValueError, "memory"),
    ({"hidden": 0}, ValueError, "hidden"),
    ({"tau": 1.0}, ValueError, "tau"),
    ({"learn_tau": 1}, TypeError, "learn_tau"),
    ({"recurrent": "yes"}, TypeError, "recurrent"),
])
def test_bad_arguments(kwargs: dict, error: type, words: str) -> None:
    arguments = {"in_features": 3, "hidden": 4, **kwargs}
    with pytest.raises(error, match=words):
        RecurrentLIF(**arguments)


def test_bad_inputs() -> None:
    layer = RecurrentLIF(3, 4)
    with pytest.raises(ValueError, match=r"\[T, N, 3\]"):
        layer(torch.rand(5, 2, 4))
    with pytest.raises(TypeError, match="floating"):
        layer(torch.ones(5, 2, 3, dtype=torch.int64))


def test_row_encoder_shows_row_t_at_step_t() -> None:
    images = torch.rand(4, 64)
    frames = temporal.RowEncoder(rows=8, gain=2.0)(images)
    assert frames.shape == (8, 4, 8)
    for t in range(8):
        assert torch.equal(frames[t], 2.0 * images[:, 8 * t:8 * t + 8])
    with pytest.raises(ValueError, match="images"):
        temporal.RowEncoder(rows=8)(torch.rand(4, 60))


def test_readouts() -> None:
    model = temporal.make_row_digits_classifier(hidden=16, seed=0)
    images = torch.rand(3, 64)
    spikes = model.hidden_spikes(images)
    assert torch.equal(model(images), model.readout(spikes[-1]))
    model_mean = temporal.make_row_digits_classifier(hidden=16, readout="mean", seed=0)
    assert torch.allclose(model_mean(images), model_mean.readout(spikes).mean(0))
    with pytest.raises(ValueError, match="readout"):
        temporal.make_row_digits_classifier(readout="max")


def test_factories_give_identical_weights_for_every_control() -> None:
    states = [temporal.make_row_digits_classifier(memory=m, seed=3).state_dict()
              for m in temporal.MEMORY_MODES]
    for state in states[1:]:
        assert all(torch.equal(state[k], states[0][k]) for k in states[0])
    other = temporal.make_row_digits_classifier(seed=4).state_dict()
    assert not torch.equal(other["readout.weight"], states[0]["readout.weight"])
    before = torch.random.get_rng_state()
    temporal.make_randman_classifier(10, 12, 3, seed=1)
    assert torch.equal(before, torch.random.get_rng_state())


def test_latency_classifier_is_lesson_03s_network_with_a_memory_control() -> None:
    images = torch.rand(5, 64, generator=torch.Generator().manual_seed(2))
    lesson03 = bptt.make_latency_snn(hidden=64, time_steps=8, tau=2.0, seed=1)
    full = temporal.make_latency_digits_classifier(seed=1)
    assert torch.equal(full(images), lesson03(images))           # same layers, same weights
    assert full.layer.recurrent_layer is None and full.readout_mode == "mean"
    frames = full.encoder(images)
    assert frames.shape == (8, 5, 64) and torch.equal(frames.sum(0), torch.full((5, 64), 2.0))
    memoryless = temporal.make_latency_digits_classifier(memory="memoryless", seed=1)
    assert memoryless.layer.memory == "memoryless"
    state, other = full.state_dict(), memoryless.state_dict()
    assert all(torch.equal(state[k], other[k]) for k in state)      # the control starts equal
    with pytest.raises(ValueError, match="gain"):
        temporal.LatencyCodeEncoder(8, gain=0.0)


def test_spike_count_classifier_sees_the_same_input_for_every_randman_sample() -> None:
    times = torch.tensor([[0.0, 3.0, 5.0], [5.0, 1.0, 0.0]])   # two samples, 3 units, T = 6
    model = temporal.make_spike_count_classifier(3, 6, 2, seed=0)
    logits = model(times)
    assert torch.equal(logits[0], logits[1])                   # counts are all 1
    timed = temporal.make_randman_classifier(3, 6, 2, seed=0, input_gain=20.0)
    assert timed.encoder(times).shape == (6, 2, 3)
    assert timed.encoder(times).sum() == 20.0 * 6


def test_plots_have_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = temporal.plot_learning_curves({"a": [0.1, 0.5], "b": [0.2, 0.3]}, "title", chance=0.1)
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title() == "title"
    assert len(ax.get_legend().get_texts()) == 3
    fig2 = temporal.plot_spike_rasters({"x": torch.eye(4)}, "raster")
    assert fig2.axes[0].get_xlabel() and fig2.axes[0].get_ylabel()
    assert fig2.axes[0].get_title() == "x" and fig2.axes[0].get_legend() is None
    plt.close("all")
    with pytest.raises(ValueError):
        temporal.plot_learning_curves({}, "t")
