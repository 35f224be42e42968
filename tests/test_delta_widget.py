"""Tests of the delta explorer (lesson 01): the box and the smooth step against closed forms,
their areas, redraws and arguments."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("ipywidgets")

from sgcourse.course.widgets.delta import (
    EPS_RANGE,
    GRID_POINTS,
    delta_explorer,
    difference_quotient,
    same_height_sigmoid_slope,
)

EPSILONS = (0.02, 0.05, 0.137, 0.5, 1.0, 2.0)


def _closed_form_box(x: torch.Tensor, eps: float) -> torch.Tensor:
    """1/eps on [-eps/2, eps/2), 0 elsewhere (the lesson's cases), with comparisons only."""
    inside = (x >= -eps / 2) & (x < eps / 2)
    return inside.to(torch.float64) * (1.0 / eps)


def _logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


@pytest.mark.parametrize("eps", EPSILONS)
def test_plotted_box_is_the_closed_form(eps: float) -> None:
    explorer = delta_explorer(eps=eps)
    x = torch.linspace(-2.0, 2.0, GRID_POINTS, dtype=torch.float64)
    assert torch.equal(explorer.x, x)
    expected = _closed_form_box(x, eps)
    # x + eps/2 >= 0 exactly when x >= -eps/2 (a float sum is 0 only when it is exactly 0): equal
    assert torch.equal(explorer.box(), expected)
    drawn = torch.as_tensor(explorer._box_line.get_ydata(), dtype=torch.float64)
    assert torch.equal(drawn, expected)
    assert drawn.max().item() == pytest.approx(1 / eps)


def test_difference_quotient_values() -> None:
    x = torch.tensor([-0.5, -0.25, -0.1, 0.0, 0.2, 0.25, 0.3], dtype=torch.float64)
    assert difference_quotient(x, 0.5).tolist() == [0.0, 2.0, 2.0, 2.0, 2.0, 0.0, 0.0]
    assert difference_quotient(x, 0.05).tolist() == [0.0, 0.0, 0.0, 20.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("eps", EPSILONS)
def test_box_area_is_one_within_the_grid_resolution(eps: float) -> None:
    explorer = delta_explorer(eps=eps)
    spacing = 4.0 / (GRID_POINTS - 1)
    # the box covers eps/spacing grid points, give or take one: |area - 1| <= spacing / eps
    assert abs(explorer.box_area() - 1.0) <= spacing / eps + 1e-12
    assert f"area ≈ {explorer.box_area():.2f} (summed on the plotted grid)" in explorer.label.value
    assert f"height 1/ε = {1 / eps:.3g}" in explorer.label.value


@pytest.mark.parametrize("eps", EPSILONS)
def test_smooth_step_has_the_box_height_and_area_about_one(eps: float) -> None:
    explorer = delta_explorer(eps=eps)
    alpha = 4.0 / eps
    x = explorer.x
    expected = torch.tensor([alpha * _logistic(alpha * v) * (1 - _logistic(alpha * v))
                             for v in x[::97].tolist()], dtype=torch.float64)
    assert torch.allclose(explorer.sigmoid_slope()[::97], expected, rtol=1e-12, atol=1e-300)
    drawn = torch.as_tensor(explorer._sigmoid_line.get_ydata(), dtype=torch.float64)
    assert torch.equal(drawn, same_height_sigmoid_slope(x, eps))
    assert drawn.max().item() == pytest.approx(1 / eps, rel=1e-12)   # peak alpha/4 at x = 0
    # area on [-2, 2]: s(2 alpha) - s(-2 alpha) = tanh(alpha); trapezoid error <= L h^2 M3 / 12
    # with M3 = max |sigma'''| = alpha^3 / 8
    closed = math.tanh(alpha)
    spacing = 4.0 / (GRID_POINTS - 1)
    assert explorer.sigmoid_area() == pytest.approx(closed, abs=4.0 * spacing**2 * alpha**3 / 96)
    assert closed >= math.tanh(2.0) > 0.96
    if eps <= 1.0:
        assert explorer.sigmoid_area() == pytest.approx(1.0, abs=1e-3)


def test_slider_spans_the_range_and_is_continuous() -> None:
    explorer = delta_explorer(eps=0.5)
    assert explorer.slider.continuous_update is True
    for eps in EPS_RANGE:
        explorer.slider.value = eps
        assert explorer.eps == eps                       # the ends are reachable, not clamped
    assert 10 ** explorer.slider.min <= EPS_RANGE[0] and 10 ** explorer.slider.max >= EPS_RANGE[1]
    assert delta_explorer(eps=0.02).eps == 0.02


def test_slider_redraws_and_the_same_state_gives_the_same_picture() -> None:
    explorer = delta_explorer()
    original, count = explorer.image.value, explorer.redraw_count
    assert original[:8] == b"\x89PNG\r\n\x1a\n"
    explorer.slider.value = 0.05
    assert explorer.image.value != original and explorer.redraw_count == count + 1
    assert explorer._ax.get_ylim()[1] >= 20.0         # the axis widened for the height 20
    explorer.slider.value = 0.5
    assert explorer.image.value == original and explorer.redraw_count == count + 2
    assert explorer.last_redraw_seconds < 5.0
    assert delta_explorer().image.value == original


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="eps must lie"):
        delta_explorer(eps=5.0)
    with pytest.raises(ValueError, match="eps must lie"):
        delta_explorer(eps=0.01)
    with pytest.raises(ValueError, match="eps must be"):
        delta_explorer(eps=-1.0)
    with pytest.raises(TypeError, match="eps"):
        delta_explorer(eps="0.5")
    with pytest.raises(TypeError, match="x_range"):
        delta_explorer(x_range="ab")
    with pytest.raises(TypeError, match=r"x_range\[1\]"):
        delta_explorer(x_range=(-2.0, "2"))
    with pytest.raises(ValueError, match="x_range must satisfy"):
        delta_explorer(x_range=(2.0, -2.0))
    with pytest.raises(ValueError, match="x_range must contain"):
        delta_explorer(x_range=(0.0, 2.0))
    with pytest.raises(ValueError, match="x_range must span"):
        delta_explorer(x_range=(-20.0, 20.0))
