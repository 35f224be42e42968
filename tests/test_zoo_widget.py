"""Tests of sgcourse.course.widgets.zoo (the live neuron-zoo explorer), driven from the kernel."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib
import pytest

from sgcourse.course.widgets import ZooExplorer, zoo_explorer
from sgcourse.course.widgets.zoo import KINDS, SLIDERS

matplotlib.use("Agg")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def explorer() -> ZooExplorer:
    return zoo_explorer("lif")


def test_controls_of_the_starting_neuron(explorer: ZooExplorer) -> None:
    assert isinstance(explorer, widgets.VBox)
    assert isinstance(explorer.neuron, widgets.Dropdown)
    assert [value for _, value in explorer.neuron.options] == list(KINDS)
    assert set(explorer.sliders) == {"tau", "v_threshold", "x"}
    assert tuple(explorer.controls.children) == tuple(explorer.sliders.values())
    for spec in SLIDERS["lif"]:
        slider = explorer.sliders[spec.name]
        assert isinstance(slider, widgets.FloatSlider) and slider.continuous_update
        assert (slider.min, slider.max, slider.step) == (spec.low, spec.high, spec.step)
    assert bytes(explorer.image.value).startswith(PNG_SIGNATURE)
    assert explorer.spike_count > 0


def test_a_slider_redraws_and_moving_back_restores_the_bytes(explorer: ZooExplorer) -> None:
    explorer.neuron.value = "lif"
    original, count = explorer.image.value, explorer.redraw_count
    explorer.sliders["x"].value = 2.5
    assert explorer.redraw_count == count + 1 and explorer.image.value != original
    explorer.sliders["x"].value = 1.5
    assert explorer.image.value == original


def test_same_state_gives_the_same_bytes_in_two_explorers() -> None:
    first, second = zoo_explorer("qif"), zoo_explorer("lif")
    second.neuron.value = "qif"
    assert first.image.value == second.image.value


def test_below_the_lif_rheobase_no_spike_is_drawn(explorer: ZooExplorer) -> None:
    explorer.neuron.value = "lif"
    explorer.sliders["x"].value = 0.9            # below V_th = 1: never fires
    assert explorer.spike_count == 0
    explorer.sliders["x"].value = 1.5
    assert explorer.spike_count > 0


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "lif"])
def test_the_dropdown_switches_the_sliders_and_the_picture(kind: str) -> None:
    explorer = zoo_explorer("lif")
    lif_picture = explorer.image.value
    explorer.neuron.value = kind
    assert set(explorer.sliders) == {spec.name for spec in SLIDERS[kind]}
    assert tuple(explorer.controls.children) == tuple(explorer.sliders.values())
    assert explorer.image.value != lif_picture
    picture = explorer.image.value
    first = SLIDERS[kind][0]
    slider = explorer.sliders[first.name]
    slider.value = first.high if slider.value != first.high else first.low
    assert explorer.image.value != picture
    # sliders of a neuron that is not shown do not redraw
    count = explorer.redraw_count
    explorer.all_sliders["lif"]["x"].value = 0.5
    assert explorer.redraw_count == count


def test_izhikevich_default_is_regular_spiking_with_adaptation() -> None:
    explorer = zoo_explorer("izhikevich")
    assert explorer.spike_count >= 5
    assert [explorer.sliders[n].value for n in "abcd"] == [0.02, 0.2, -65.0, 8.0]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kind"):
        zoo_explorer("hodgkin_huxley")
    with pytest.raises(TypeError, match="figsize"):
        ZooExplorer("lif", figsize=3.0)  # type: ignore[arg-type]
