"""Tests of sgcourse.course.widgets.encoder: decoding the spike codes and the live explorer."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib
import pytest
import torch

from sgcourse import encoding
from sgcourse.course.widgets.encoder import (
    MAX_STEPS,
    EncoderExplorer,
    decode,
    encode_digit,
    encoder_explorer,
)

matplotlib.use("Agg")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def digits(n: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(n, 64, generator=generator), torch.arange(n) % 10


def test_latency_decoding_inverts_the_code_on_its_grid() -> None:
    time_steps = 9
    x = torch.arange(time_steps, dtype=torch.float64) / (time_steps - 1)
    spikes = encoding.latency_encode(x, time_steps)
    assert torch.allclose(decode(spikes, "latency"), x)
    assert torch.equal(decode(encoding.latency_encode(x, 1), "latency"), torch.ones_like(x))


def test_rate_decoding_has_the_predicted_squared_error() -> None:
    """E[(rate - x)^2] = x(1 - x)/T for a Bernoulli rate over T steps."""
    x = torch.rand(20000, generator=torch.Generator().manual_seed(1))
    for time_steps in (2, 8, 32):
        spikes = encode_digit(x, time_steps, "poisson", seed=time_steps)
        error = ((decode(spikes, "poisson") - x) ** 2).mean().item()
        predicted = (x * (1 - x)).mean().item() / time_steps
        assert error == pytest.approx(predicted, rel=0.05)


def test_decode_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="code must be one of"):
        decode(torch.zeros(3, 4), "rate")
    with pytest.raises(ValueError, match=r"\[T, K\]"):
        decode(torch.zeros(3), "poisson")


def test_explorer_controls_and_deterministic_redraws() -> None:
    images, labels = digits()
    explorer = encoder_explorer(images, labels)
    assert isinstance(explorer, widgets.VBox)
    assert isinstance(explorer.code, widgets.Dropdown) and isinstance(explorer.steps,
                                                                      widgets.IntSlider)
    assert explorer.steps.max == MAX_STEPS and explorer.steps.continuous_update
    assert explorer.digit.max == len(images) - 1
    first = bytes(explorer.image.value)
    assert first.startswith(PNG_SIGNATURE) and explorer.redraw_count == 1
    assert explorer.spikes.shape == (4, 64)

    explorer.steps.value = 16
    assert explorer.spikes.shape == (16, 64) and explorer.image.value != first
    explorer.code.value = "latency"
    assert torch.equal(explorer.spikes.sum(0), torch.ones(64))
    assert "latency code" in explorer.error_label.value
    explorer.digit.value = 3
    assert torch.equal(explorer.spikes, encoding.latency_encode(images[3], 16))
    explorer.code.value, explorer.steps.value, explorer.digit.value = "poisson", 4, 0
    assert explorer.image.value == first  # same state, same bytes
    assert explorer.redraw_count == 7


def test_more_steps_make_the_rate_code_more_accurate_on_average() -> None:
    images, labels = digits(40)
    explorer = EncoderExplorer(images, labels, time_steps=2)
    errors = {}
    for time_steps in (2, 32):
        explorer.steps.value = time_steps
        total = 0.0
        for index in range(len(images)):
            explorer.digit.value = index
            total += explorer.squared_error
        errors[time_steps] = total / len(images)
    assert errors[32] < errors[2] / 8  # the error falls like 1/T: a factor 16 expected


def test_explorer_rejects_bad_arguments() -> None:
    images, labels = digits()
    with pytest.raises(ValueError, match=r"\[N, 64\]"):
        EncoderExplorer(images[:, :10], labels)
    with pytest.raises(ValueError, match="labels"):
        EncoderExplorer(images, labels[:2])
    with pytest.raises(ValueError, match="code must be one of"):
        EncoderExplorer(images, labels, code="direct")
    with pytest.raises(ValueError, match="at most"):
        EncoderExplorer(images, labels, time_steps=MAX_STEPS + 1)
    with pytest.raises(ValueError, match="digit"):
        EncoderExplorer(images, labels, digit=5)
