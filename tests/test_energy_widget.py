"""sgcourse.course.widgets.energy: the live energy-ratio explorer of lesson 10, driven from the
kernel side (every slider redraws, moving back restores the same bytes)."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib
import numpy as np
import pytest

from sgcourse.course.widgets.energy import (
    SLIDER_RANGES,
    EnergyExplorer,
    break_even,
    energy_explorer,
    energy_ratio,
)

matplotlib.use("Agg")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_ratio_and_break_even_follow_the_formula() -> None:
    assert energy_ratio(1.0, 4.6, 0.9) == pytest.approx(0.9 / 4.6)
    assert break_even(4.6, 0.9) == pytest.approx(4.6 / 0.9)
    assert break_even(4.6, 0.9, 5.0) == pytest.approx(9.6 / 5.9)
    nu = break_even(3.0, 1.0, 2.0)
    assert energy_ratio(nu, 3.0, 1.0, 2.0) == pytest.approx(1.0)
    assert np.allclose(energy_ratio(np.array([0.0, 2.0]), 4.0, 1.0), [0.0, 0.5])


def test_explorer_starts_at_horowitz_and_draws() -> None:
    explorer = energy_explorer(markers={"a": 3.0, "b": 1.2})
    assert isinstance(explorer, widgets.VBox)
    assert set(explorer.sliders) == set(SLIDER_RANGES)
    for name, slider in explorer.sliders.items():
        assert slider.continuous_update is True
        assert (slider.min, slider.max, slider.step) == SLIDER_RANGES[name]
    assert explorer.sliders["e_mac"].value == pytest.approx(4.6)
    assert explorer.sliders["e_ac"].value == pytest.approx(0.9)
    assert explorer.nu_star == pytest.approx(4.6 / 0.9)
    assert bytes(explorer.image.value).startswith(PNG_SIGNATURE)
    assert explorer.redraw_count == 1 and explorer.last_redraw_seconds > 0


@pytest.mark.parametrize(("name", "value"), [("e_mac", 2.0), ("e_ac", 3.0), ("e_memory", 5.0)])
def test_each_slider_redraws_and_moving_back_restores_the_bytes(name, value) -> None:
    explorer = energy_explorer(markers={"net": 1.5})
    original, start = explorer.image.value, explorer.sliders[name].value
    explorer.sliders[name].value = value
    assert explorer.redraw_count == 2 and explorer.image.value != original
    explorer.sliders[name].value = start
    assert explorer.image.value == original
    assert energy_explorer(markers={"net": 1.5}).image.value == original   # same state, same PNG


def test_memory_cost_moves_the_break_even_towards_one() -> None:
    explorer = energy_explorer()
    before = explorer.nu_star
    explorer.sliders["e_memory"].value = 20.0
    assert 1.0 < explorer.nu_star < before


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="e_ac"):
        EnergyExplorer(e_ac=0.0)
    with pytest.raises(ValueError, match="slider range"):
        EnergyExplorer(e_mac=50.0)
    with pytest.raises(TypeError, match="markers"):
        EnergyExplorer(markers={1: 2.0})
    with pytest.raises(ValueError, match="markers"):
        EnergyExplorer(markers={"x": -1.0})
