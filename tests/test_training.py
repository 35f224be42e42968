"""Tests of sgcourse.course.training: encoders, the conv SNN, read-outs, losses, the step, state."""

from __future__ import annotations

import math

import pytest
import torch

from sgcourse import functional, layer, neuron
from sgcourse.course import training
from sgcourse.datasets import DigitsSplit


def images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def tiny_split(n_train: int = 60, n_test: int = 30) -> DigitsSplit:
    """A learnable toy split: class = which quadrant of the 8x8 image is bright."""
    generator = torch.Generator().manual_seed(1)
    labels = torch.arange(n_train + n_test) % 4
    x = 0.1 * torch.rand(n_train + n_test, 1, 8, 8, generator=generator)
    for i, c in enumerate(labels.tolist()):
        row, col = divmod(c, 2)
        x[i, 0, 4 * row:4 * row + 4, 4 * col:4 * col + 4] += 0.9
    return DigitsSplit(x[:n_train], labels[:n_train], x[n_train:], labels[n_train:])


# --- shapes and encoders -------------------------------------------------------------------------


def test_as_images_reshapes_flat_digits_and_names_a_wrong_shape() -> None:
    flat = torch.rand(5, 64)
    assert torch.equal(training.as_images(flat)[3, 0, 2], flat[3, 16:24])
    with pytest.raises(ValueError, match=r"\[N, 64\]"):
        training.as_images(torch.rand(5, 63))


@pytest.mark.parametrize("encoder", training.ENCODERS)
def test_encode_gives_time_first_sequences(encoder: str) -> None:
    x = images()
    x_seq = training.encode(x, 5, encoder, torch.Generator().manual_seed(0))
    assert x_seq.shape == (5, *x.shape) and x_seq.dtype == x.dtype
    if encoder == "direct":
        assert all(torch.equal(frame, x) for frame in x_seq)
    else:
        assert set(x_seq.unique().tolist()) <= {0.0, 1.0}
    if encoder == "latency":
        assert torch.equal(x_seq.sum(0), torch.ones_like(x))  # one spike per pixel


def test_poisson_rate_estimates_the_intensity() -> None:
    x = torch.full((2000,), 0.3)
    x_seq = training.encode(x, 50, "poisson", torch.Generator().manual_seed(0))
    assert abs(x_seq.mean().item() - 0.3) < 0.01


def test_encode_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="encoder must be one of"):
        training.encode(images(), 4, "rate")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        training.encode(2 * images(), 4, "direct")
    with pytest.raises(ValueError, match="time_steps"):
        training.encode(images(), 0)


# --- the network, scores and losses --------------------------------------------------------------


@pytest.mark.parametrize("readout", training.READOUTS)
def test_conv_snn_maps_t_n_images_to_t_n_classes(readout: str) -> None:
    net = training.make_conv_snn(readout, channels=(4, 6))
    out = net(training.encode(images(3), 4))
    assert out.shape == (4, 3, 10)
    assert isinstance(net[-1], neuron.LIFNode if readout == "spikes" else neuron.NonSpikingLIFNode)
    assert all(m.step_mode == "m" for m in net if hasattr(m, "step_mode"))
    shapes = training.trace_shapes(net, training.encode(images(2), 4))
    assert shapes[0] == ("input", (4, 2, 1, 8, 8)) and shapes[-1][1] == (4, 2, 10)
    assert ("8: Flatten", (4, 2, 24)) in shapes
    assert training.stateful_modules(net) == []  # trace_shapes leaves it reset


def test_conv_snn_weights_depend_only_on_the_seed() -> None:
    a, b = training.make_conv_snn(seed=3), training.make_conv_snn(seed=3)
    c = training.make_conv_snn(seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a[0].weight, c[0].weight)
    with pytest.raises(ValueError, match="readout must be one of"):
        training.make_conv_snn("rate")
    with pytest.raises(ValueError, match="multiple of 4"):
        training.make_conv_snn(image_size=6)


def test_class_scores_average_over_time_not_batch() -> None:
    output = torch.arange(24.0).view(4, 3, 2)
    assert torch.equal(training.class_scores(output), output.mean(0))
    with pytest.raises(ValueError, match=r"\[T, N, C\]"):
        training.class_scores(output[0])


def test_readout_losses_match_their_formulas() -> None:
    output = torch.rand(5, 4, 3, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 2, 1, 2])
    scores = output.mean(0)
    ce = -torch.log_softmax(scores, 1)[torch.arange(4), labels].mean()
    target = torch.zeros(4, 3)
    target[torch.arange(4), labels] = 1
    mse = ((scores - target) ** 2).mean()
    assert torch.allclose(training.readout_loss(output, labels), ce)
    assert torch.allclose(training.readout_loss(output, labels, "mse_rate"), mse)
    with pytest.raises(TypeError, match="int64"):
        training.readout_loss(output, labels.float())
    with pytest.raises(ValueError, match="loss must be one of"):
        training.readout_loss(output, labels, "nll")


def test_cross_entropy_on_rates_has_a_floor() -> None:
    """Rates lie in [0, 1], so the best softmax is e/(e + C - 1): L >= ln(1 + (C-1)/e)."""
    best = torch.zeros(1, 1, 10)
    best[0, 0, 3] = 1.0
    floor = training.readout_loss(best, torch.tensor([3])).item()
    assert math.isclose(floor, math.log(1 + 9 / math.e), rel_tol=1e-6)


def test_tied_fraction_counts_rows_with_a_shared_maximum() -> None:
    scores = torch.tensor([[1.0, 1.0, 0.0], [0.5, 0.25, 0.0], [0.0, 0.0, 0.0], [0.2, 0.3, 0.3]])
    assert training.tied_fraction(scores) == 0.75
    with pytest.raises(ValueError, match=r"\[N, C\]"):
        training.tied_fraction(scores[0])


# --- training ------------------------------------------------------------------------------------


def test_train_step_updates_resets_and_returns_a_float() -> None:
    net = training.make_conv_snn(channels=(4, 6))
    before = [p.detach().clone() for p in net.parameters()]
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    x, y = training.encode(images(4), 3), torch.tensor([0, 1, 2, 3])
    value = training.train_step(net, x, y, optimizer)
    assert type(value) is float and math.isfinite(value)
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert training.stateful_modules(net) == []
    # a second batch of another size works because the state was reset
    training.train_step(net, training.encode(images(2), 3), torch.tensor([0, 1]), optimizer)


def test_without_reset_net_the_second_backward_fails() -> None:
    """The control: the same two steps without reset_net chain the graphs."""
    net = torch.nn.Sequential(layer.Linear(5, 4), neuron.LIFNode(), layer.Linear(4, 3),
                              neuron.NonSpikingLIFNode(decode=None))
    functional.set_step_mode(net, "m")
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    x = 2 * torch.rand(4, 6, 5, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    for _ in range(2):
        loss = training.readout_loss(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert training.stateful_modules(net) == ["1", "3"]
        functional.reset_net(net)
    loss = training.readout_loss(net(x), y)
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        training.readout_loss(net(x), y).backward()


def test_minibatches_split_a_fixed_permutation() -> None:
    batches = training.minibatches(10, 4, seed=2)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    assert all(torch.equal(a, b) for a, b in
               zip(batches, training.minibatches(10, 4, seed=2), strict=True))


def test_train_snn_learns_a_toy_task_reproducibly() -> None:
    data = tiny_split()
    histories = []
    for _ in range(2):
        net = training.make_conv_snn(channels=(4, 6), num_classes=4, seed=0)
        histories.append(training.train_snn(net, data, time_steps=3, epochs=5, batch_size=8))
    assert histories[0] == histories[1]
    assert histories[0].test_accuracy[-1] >= 0.9  # chance is 0.25
    assert len(histories[0].loss) == 5 and histories[0].loss[-1] < histories[0].loss[0]


@pytest.mark.parametrize(("encoder", "loss", "readout"), [("poisson", "mse_rate", "spikes"),
                                                          ("latency", "cross_entropy",
                                                           "membrane")])
def test_train_snn_runs_every_encoder_and_loss(encoder: str, loss: str, readout: str) -> None:
    net = training.make_conv_snn(readout, channels=(4, 6), num_classes=4)
    history = training.train_snn(net, tiny_split(), 3, encoder, loss, epochs=1, batch_size=30)
    assert len(history.test_accuracy) == 1 and 0.0 <= history.test_accuracy[0] <= 1.0
    assert training.stateful_modules(net) == []


def test_evaluate_without_reset_carries_state_between_batches() -> None:
    data = tiny_split()
    net = training.make_conv_snn(channels=(4, 6), num_classes=4)
    training.train_snn(net, data, 3, epochs=5, batch_size=8)
    with_reset = training.evaluate(net, data.x_test, data.y_test, 3, batch_size=10)
    again = training.evaluate(net, data.x_test, data.y_test, 3, batch_size=30)
    assert with_reset.loss == pytest.approx(again.loss, rel=1e-5)  # batches are independent
    carried = training.evaluate(net, data.x_test, data.y_test, 3, batch_size=10, reset=False)
    assert carried.loss != pytest.approx(with_reset.loss, rel=1e-5)
    assert training.stateful_modules(net) == []


def test_record_spikes_returns_every_spiking_layer() -> None:
    net = training.make_conv_snn("spikes", channels=(4, 6))
    recorded = training.record_spikes(net, training.encode(images(2), 5))
    assert {name: tuple(s.shape) for name, s in recorded.items()} == {
        "2": (5, 2, 4 * 64), "6": (5, 2, 6 * 16), "10": (5, 2, 10)}
    assert training.stateful_modules(net) == []


def test_stateful_modules_names_neurons_holding_state() -> None:
    net = torch.nn.Sequential(layer.Linear(3, 2), neuron.LIFNode())
    assert training.stateful_modules(net) == []
    net(torch.rand(4, 3))
    assert training.stateful_modules(net) == ["1"]
    functional.reset_net(net)
    assert training.stateful_modules(net) == []
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        training.stateful_modules("net")


def test_train_snn_is_the_hand_written_loop_of_the_lesson() -> None:
    """Lesson 06 says train_snn runs exactly its section-3 loop: same weights, same accuracy."""
    data = tiny_split()
    by_helper = training.make_conv_snn(channels=(4, 6), num_classes=4, seed=0)
    history = training.train_snn(by_helper, data, 3, epochs=2, batch_size=16)
    by_hand = training.make_conv_snn(channels=(4, 6), num_classes=4, seed=0)
    optimizer = torch.optim.Adam(by_hand.parameters(), lr=1e-2)
    accuracy = []
    for epoch in range(2):
        by_hand.train()
        for index in training.minibatches(len(data.y_train), 16, seed=epoch):
            output = by_hand(training.encode(data.x_train[index], 3))
            loss = torch.nn.functional.cross_entropy(output.mean(0), data.y_train[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            functional.reset_net(by_hand)
        accuracy.append(training.evaluate(by_hand, data.x_test, data.y_test, 3).accuracy)
    assert accuracy == history.test_accuracy
    assert all(torch.equal(p, q) for p, q in zip(by_hand.state_dict().values(),
                                                 by_helper.state_dict().values(), strict=True))
