"""Rate and latency encoders."""

from __future__ import annotations

import math

import pytest
import torch

from sgcourse import encoding, functional


def test_poisson_rate_estimates_intensity():
    x = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0])
    spikes = encoding.poisson_encode(x, 4000, generator=torch.Generator().manual_seed(0))
    assert spikes.shape == (4000, 5)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    rate = spikes.mean(0)
    assert rate[0] == 0.0 and rate[-1] == 1.0
    # binomial standard error at p = 0.5, n = 4000 is 0.0079: allow 4 of them
    torch.testing.assert_close(rate, x, atol=0.032, rtol=0)


def test_poisson_encoder_module():
    torch.manual_seed(0)
    x = torch.rand(3, 4)
    enc = encoding.PoissonEncoder()
    y = enc(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    enc.step_mode = "m"
    assert enc(x.expand(5, 3, 4)).shape == (5, 3, 4)
    with pytest.raises(ValueError, match=r"\[T, N"):
        enc(torch.rand(3))


@pytest.mark.parametrize("bad", [torch.tensor([1.5]), torch.tensor([-0.1]),
                                 torch.tensor([float("nan")])])
def test_intensity_range_is_checked(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        encoding.poisson_encode(bad, 3)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        encoding.latency_encode(bad, 3)


def test_encoder_argument_errors():
    with pytest.raises(TypeError, match="x"):
        encoding.poisson_encode(torch.tensor([1]), 3)
    with pytest.raises(ValueError, match="time_steps"):
        encoding.poisson_encode(torch.tensor([0.5]), 0)
    with pytest.raises(ValueError, match="function"):
        encoding.latency_encode(torch.tensor([0.5]), 3, "cubic")
    with pytest.raises(ValueError, match="T"):
        encoding.LatencyEncoder(0)


@pytest.mark.parametrize("function", ["linear", "log"])
def test_latency_one_spike_at_the_expected_time(function):
    T = 8
    x = torch.tensor([[0.0, 0.05, 0.3, 0.7, 1.0]])
    spikes = encoding.latency_encode(x, T, function)
    assert spikes.shape == (T, 1, 5)
    assert (spikes.sum(0) == 1).all()
    t_fire = spikes.argmax(0).flatten().tolist()
    for xi, ti in zip(x.flatten().tolist(), t_fire, strict=True):
        if function == "linear":
            expected = round((T - 1) * (1 - xi))
        else:
            expected = round(T - 1 - math.log((math.exp(T - 1) - 1) * xi + 1))
        assert ti == expected
    assert t_fire == sorted(t_fire, reverse=True)  # brighter fires earlier


def test_latency_log_is_finite_for_long_windows():
    spikes = encoding.latency_encode(torch.tensor([0.0, 1e-300, 0.5, 1.0], dtype=torch.float64),
                                     2000, "log")
    assert (spikes.sum(0) == 1).all()
    assert spikes.argmax(0).tolist()[-1] == 0


def test_latency_encoder_single_step_replays_the_code():
    x = torch.tensor([[0.2, 0.9]])
    enc = encoding.LatencyEncoder(5)
    frames = torch.stack([enc(x) for _ in range(5)])
    enc.step_mode = "m"
    torch.testing.assert_close(frames, enc(x))
    enc.step_mode = "s"
    torch.testing.assert_close(enc(x.clone()), frames[0])  # cycles after T steps
    functional.reset_net(enc)
    assert enc.t == 0 and enc.spike is None and enc.encoded is None


@pytest.mark.parametrize("new_input", [torch.zeros(1, 2), torch.rand(3, 2),
                                       torch.tensor([[0.2, 0.9]], dtype=torch.float64)],
                         ids=["new values", "new shape", "new dtype"])
def test_latency_encoder_refuses_a_new_input_without_reset(new_input):
    """A new sample before reset_net would silently get the previous sample's spike code."""
    x = torch.tensor([[0.2, 0.9]])
    enc = encoding.LatencyEncoder(5)
    enc(x)
    with pytest.raises(ValueError, match=r"LatencyEncoder: x .*reset_net"):
        enc(new_input)
    torch.testing.assert_close(enc(x), encoding.latency_encode(x, 5)[1])  # same x: goes on
    functional.reset_net(enc)
    torch.testing.assert_close(enc(new_input), encoding.latency_encode(new_input, 5)[0])
