"""Tests of the steepness explorer (lesson 07): curves, half-widths, redraws, arguments."""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("ipywidgets")

from sgcourse.course.sweeps import SteepenedSurrogate
from sgcourse.course.widgets.steepness import (
    DEFAULT_SHAPES,
    half_width,
    steepness_explorer,
)


def test_curves_are_the_steepened_surrogates() -> None:
    explorer = steepness_explorer(k=2.0)
    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    curves = explorer.curves()
    assert list(curves) == list(DEFAULT_SHAPES)
    for name, slope in curves.items():
        assert torch.allclose(slope, SteepenedSurrogate(name, 2.0).derivative(x))
        assert slope.max().item() == pytest.approx(1.0)
        drawn = explorer._lines[list(curves).index(name)].get_ydata()
        assert torch.allclose(torch.as_tensor(drawn, dtype=torch.float64), slope)


def test_half_width_shrinks_like_one_over_k() -> None:
    explorer = steepness_explorer(["sigmoid"], k=1.0)
    wide = explorer.half_widths()["sigmoid"]
    explorer.slider.value = 2.0
    narrow = explorer.half_widths()["sigmoid"]
    assert narrow == pytest.approx(wide / 2, abs=0.02)     # grid spacing 0.01
    # sigmoid: sigma'(x) = 4 s(4x)(1 - s(4x)) = 0.1 at |x| = ln((1 + sqrt(.9))/(1 - sqrt(.9)))/4
    exact = math.log((1 + math.sqrt(0.9)) / (1 - math.sqrt(0.9))) / 4
    assert wide == pytest.approx(exact, abs=0.01)
    assert "Sigmoid" in explorer.width_label.value


def test_half_width_helper() -> None:
    x = torch.linspace(-1, 1, 5)
    assert half_width(x, torch.tensor([0.0, 0.2, 1.0, 0.05, 0.0])) == pytest.approx(0.5)
    assert math.isnan(half_width(x, torch.zeros(5)))


def test_slider_redraws_and_the_same_state_gives_the_same_picture() -> None:
    explorer = steepness_explorer()
    original, count = explorer.image.value, explorer.redraw_count
    assert original[:8] == b"\x89PNG\r\n\x1a\n"
    explorer.slider.value = 5.0
    assert explorer.image.value != original and explorer.redraw_count == count + 1
    explorer.slider.value = 1.0
    assert explorer.image.value == original
    assert explorer.last_redraw_seconds < 5.0
    assert steepness_explorer().image.value == original


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="k must lie"):
        steepness_explorer(k=50.0)
    with pytest.raises(ValueError, match="k must be"):
        steepness_explorer(k=-1.0)
    with pytest.raises(TypeError, match="shapes"):
        steepness_explorer("sigmoid")
    with pytest.raises(ValueError, match="unknown surrogate"):
        steepness_explorer(["sigmoid", "banana"])
