"""Tests of the BPTT-horizon explorer (lesson 08): gradients, horizons, controls, arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets")

from sgcourse.course.widgets.horizon import (
    envelope,
    envelope_horizon,
    fixed_input,
    horizon_explorer,
    horizons,
)


def by_hand(x_seq: torch.Tensor, tau: float, detach_reset: bool) -> tuple[torch.Tensor,
                                                                          torch.Tensor]:
    """Spikes and dH[T-1]/dX[t] from the BPTT product of lesson 03, written without autograd:
    G[t] = (1/tau) prod_{j=t}^{T-2} (1 - 1/tau) r[j], r[j] = 1 - S[j] (- H[j] g[j])."""
    v = torch.zeros_like(x_seq[0])
    hs, ss = [], []
    for x in x_seq:
        h = v + (x - v) / tau
        s = (h >= 1.0).to(h.dtype)
        v = (1.0 - s) * h
        hs.append(h)
        ss.append(s)
    h_seq, s_seq = torch.stack(hs), torch.stack(ss)
    alpha = 4.0                                      # the sigmoid surrogate's default
    sig = torch.sigmoid(alpha * (h_seq - 1.0))
    g = alpha * sig * (1.0 - sig)
    r = 1.0 - s_seq if detach_reset else 1.0 - s_seq - h_seq * g
    grad = torch.empty_like(x_seq)
    running = torch.full_like(x_seq[0], 1.0 / tau)
    for t in range(len(x_seq) - 1, -1, -1):
        grad[t] = running
        running = running * (1.0 - 1.0 / tau) * r[t - 1] if t > 0 else running
    return s_seq, grad


@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("tau", [1.5, 2.0, 8.0])
def test_plotted_gradient_equals_the_bptt_product(tau: float, detach_reset: bool) -> None:
    explorer = horizon_explorer(tau=tau, detach_reset=detach_reset)
    spikes, grad = by_hand(explorer.x_seq, tau, detach_reset)
    assert torch.equal(explorer.spikes, spikes)
    assert spikes[:, 1:].sum() > 0                   # the driven neurons do fire
    assert torch.allclose(explorer.gradients, grad, rtol=1e-10, atol=1e-300)
    for index, line in enumerate(explorer._lines):
        expected = grad[:, index].abs().numpy()
        drawn = np.asarray(line.get_ydata(), dtype=float)
        assert np.allclose(drawn[expected > 0], expected[expected > 0], rtol=1e-10)
        assert np.isnan(drawn[expected == 0]).all()
        zero_steps = np.asarray(explorer._zeros[index].get_xdata())
        assert np.array_equal(zero_steps, np.flatnonzero(expected == 0))


def test_a_silent_neuron_follows_the_closed_form_exactly() -> None:
    # drive 0.5 + noise <= 0.6: H is a convex combination of 0 and the inputs, never >= 1
    for tau in (1.1, 2.0, 5.3, 20.0):
        explorer = horizon_explorer(tau=tau, detach_reset=True)
        assert explorer.spikes[:, 0].sum() == 0
        lag = torch.arange(15, -1, -1, dtype=torch.float64)
        closed_form = (1 / tau) * (1 - 1 / tau) ** lag
        assert torch.allclose(explorer.gradients[:, 0], closed_form, rtol=1e-12, atol=0)
        assert np.allclose(explorer._envelope.get_ydata(), closed_form.numpy(), rtol=1e-12)
        assert torch.allclose(envelope(tau, 16), closed_form, rtol=1e-12, atol=0)
    # without detach_reset the surrogate in the reset shrinks every factor: below the envelope
    full = horizon_explorer(tau=5.0).gradients[:-1, 0].abs()
    assert (full < envelope(5.0, 16)[:-1]).all()


def test_a_spike_cuts_the_gradient_with_detach_reset() -> None:
    explorer = horizon_explorer(tau=8.0, detach_reset=True)
    for index in (1, 2):
        fired = explorer.spikes[:-1, index].nonzero().flatten()
        assert fired.numel() > 0
        last = int(fired[-1])
        assert (explorer.gradients[: last + 1, index] == 0).all()
        assert (explorer.gradients[last + 1:, index] > 0).all()
    # without it the gradient passes the same spikes, scaled by |H g|
    explorer.detach_reset_box.value = False
    assert (explorer.gradients[:, 1:] != 0).all()


def test_larger_tau_reaches_further_back() -> None:
    assert envelope_horizon(2.0) == 7 == math.ceil(math.log(0.01) / math.log(0.5))
    assert envelope_horizon(8.0) == 35
    assert envelope_horizon(20.0) == 90
    values = [envelope_horizon(tau) for tau in (1.1, 1.5, 2.0, 4.0, 8.0, 20.0)]
    assert values == sorted(values) and len(set(values)) == len(values)
    explorer = horizon_explorer(tau=2.0, time_steps=32, detach_reset=True)
    assert horizons(explorer.gradients)[0] == 7                # the silent neuron
    explorer.slider.value = 4.0
    assert horizons(explorer.gradients)[0] == envelope_horizon(4.0) == 17
    explorer.slider.value = 8.0
    assert horizons(explorer.gradients)[0] is None              # beyond 31 steps
    assert "0.5: > 31" in explorer.horizon_label.value
    assert "envelope: 35" in explorer.horizon_label.value
    assert "35 steps back" in explorer._title.get_text()


def test_horizons_helper() -> None:
    grad = torch.tensor([[1e-4, 0.0], [1e-2, 0.5], [0.5, 1.0], [1.0, 1.0]])
    assert horizons(grad) == [2, 3]   # column 0: 0.01 <= 0.01 at k = 2; column 1: 0 at k = 3
    assert horizons(torch.ones(4, 1)) == [None]


def test_detaching_the_past_keeps_the_spikes_and_cuts_the_gradient_after_one_step() -> None:
    full = horizon_explorer(tau=3.0)
    explorer = horizon_explorer(tau=3.0, detach_past=True)
    assert torch.equal(explorer.spikes, full.spikes)            # the same forward pass
    assert (explorer.gradients[:-1] == 0).all()
    assert torch.allclose(explorer.gradients[-1], torch.full((3,), 1 / 3, dtype=torch.float64))
    assert horizons(explorer.gradients) == [1, 1, 1]
    assert "past detached" in explorer._title.get_text()
    assert (full.gradients[:-1, 0] != 0).all()


def test_fixed_input_is_seeded_and_bounded() -> None:
    x = fixed_input(16, (0.5, 1.2), noise=0.1, seed=3)
    assert torch.equal(x, fixed_input(16, (0.5, 1.2), noise=0.1, seed=3))
    assert not torch.equal(x, fixed_input(16, (0.5, 1.2), noise=0.1, seed=4))
    assert x.shape == (16, 2) and x.dtype == torch.float64
    assert ((x - torch.tensor([0.5, 1.2], dtype=torch.float64)).abs() <= 0.1).all()


def test_controls_redraw_and_the_same_state_gives_the_same_picture() -> None:
    explorer = horizon_explorer()
    original, count = explorer.image.value, explorer.redraw_count
    assert original[:8] == b"\x89PNG\r\n\x1a\n"
    explorer.slider.value = 8.0
    assert explorer.image.value != original and explorer.redraw_count == count + 1
    explorer.slider.value = 2.0
    assert explorer.image.value == original and explorer.redraw_count == count + 2
    for box in (explorer.detach_reset_box, explorer.detach_past_box):
        box.value = True
        assert explorer.image.value != original
        box.value = False
        assert explorer.image.value == original
    assert explorer.redraw_count == count + 6
    assert explorer.last_redraw_seconds < 5.0
    assert horizon_explorer().image.value == original


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="tau must lie"):
        horizon_explorer(tau=50.0)
    with pytest.raises(ValueError, match="tau must lie"):
        horizon_explorer(tau=1.0)
    with pytest.raises(TypeError, match="tau"):
        horizon_explorer(tau="2")
    with pytest.raises(ValueError, match="time_steps"):
        horizon_explorer(time_steps=1)
    with pytest.raises(ValueError, match="time_steps"):
        horizon_explorer(time_steps=64)
    with pytest.raises(TypeError, match="detach_reset"):
        horizon_explorer(detach_reset=1)
    with pytest.raises(TypeError, match="detach_past"):
        horizon_explorer(detach_past="yes")
    with pytest.raises(TypeError, match="drives"):
        horizon_explorer(drives="0.5")
    with pytest.raises(ValueError, match="drives"):
        horizon_explorer(drives=())
    with pytest.raises(TypeError, match=r"drives\[1\]"):
        horizon_explorer(drives=(0.5, "x"))
    with pytest.raises(ValueError, match="noise"):
        horizon_explorer(noise=-0.1)
    with pytest.raises(ValueError, match="seed"):
        horizon_explorer(seed=-1)
