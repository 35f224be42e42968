"""Tests of sgcourse.course.widgets: the live surrogate explorer, driven from the kernel side."""

from __future__ import annotations

import subprocess
import sys

import ipywidgets as widgets
import matplotlib
import pytest

from sgcourse import surrogate
from sgcourse.course.widgets.alpha import AlphaExplorer, alpha_explorer, slider_range

matplotlib.use("Agg")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAMES = surrogate.available()


@pytest.fixture
def explorer() -> AlphaExplorer:
    return alpha_explorer()


def test_explorer_is_a_container_with_the_expected_controls(explorer):
    assert isinstance(explorer, widgets.VBox)
    assert isinstance(explorer.slider, widgets.FloatSlider)
    assert isinstance(explorer.dropdown, widgets.Dropdown)
    assert isinstance(explorer.image, widgets.Image)
    assert isinstance(explorer.peak_label, widgets.Label)
    assert explorer.slider.continuous_update is True
    assert explorer.slider.description == "alpha"
    assert explorer.slider.value == 4.0
    assert [value for _, value in explorer.dropdown.options] == NAMES
    assert explorer.dropdown.value == "sigmoid"
    assert isinstance(explorer.surrogate, surrogate.Sigmoid)
    assert explorer.image.format == "png"
    assert bytes(explorer.image.value).startswith(PNG_SIGNATURE)
    assert explorer.redraw_count == 1
    assert explorer.last_redraw_seconds > 0
    assert explorer.peak_label.value.endswith("1.0000")


def test_import_does_not_pull_in_plotting_or_widgets():
    code = "import sys, sgcourse; print('matplotlib' in sys.modules, 'ipywidgets' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False False"


def test_moving_the_slider_redraws_and_moving_back_restores_the_bytes(explorer):
    original = explorer.image.value
    explorer.slider.value = 8.0
    assert explorer.redraw_count == 2
    assert explorer.surrogate.alpha == 8.0
    assert explorer.image.value != original
    assert explorer.peak_label.value.endswith("2.0000")  # peak α/4
    explorer.slider.value = 4.0
    assert explorer.redraw_count == 3
    assert explorer.image.value == original
    print(f"last redraw: {explorer.last_redraw_seconds * 1e3:.1f} ms")  # reported, not asserted


def test_render_is_deterministic(explorer):
    assert explorer.render_png() == explorer.render_png() == explorer.image.value


def test_start_value_and_name_spellings():
    explorer = alpha_explorer("ATan", alpha=3.0)
    assert explorer.dropdown.value == "atan"
    assert explorer.slider.value == 3.0
    assert explorer.surrogate.alpha == 3.0
    assert explorer.redraw_count == 1


def test_start_value_outside_the_default_range_extends_it():
    explorer = alpha_explorer("sigmoid", alpha=50.0)
    assert explorer.slider.max == 50.0
    assert explorer.slider.value == 50.0
    assert explorer.peak_label.value.endswith("12.5000")


def test_a_module_argument_is_copied_not_changed():
    sg = surrogate.Sigmoid(alpha=5.0)
    explorer = alpha_explorer(sg)
    assert explorer.slider.value == 5.0
    explorer.slider.value = 6.0
    assert explorer.surrogate.alpha == 6.0
    assert sg.alpha == 5.0


@pytest.mark.parametrize("name", NAMES)
def test_dropdown_switches_surrogate_and_adapts_the_slider(explorer, name):
    explorer.dropdown.value = "rect" if name == "sigmoid" else "sigmoid"
    count = explorer.redraw_count
    before = explorer.image.value
    explorer.dropdown.value = name
    assert explorer.redraw_count == count + 1, "one redraw per dropdown change"
    assert explorer.image.value != before
    assert isinstance(explorer.surrogate, surrogate.module_class(name))
    hparams = surrogate.spec(name).hparams
    if not hparams:
        assert explorer.slider.disabled
        assert explorer.slider.description == "(none)"
        return
    first = hparams[0]
    low, high, step = slider_range(first)
    assert not explorer.slider.disabled
    assert explorer.slider.description == first.name
    assert (explorer.slider.min, explorer.slider.max, explorer.slider.step) == (low, high, step)
    assert explorer.slider.value == first.default
    # The slider now drives that hyper-parameter.
    new_value = high if first.default != high else low
    explorer.slider.value = new_value
    assert getattr(explorer.surrogate, first.name) == pytest.approx(new_value)
    assert explorer.redraw_count == count + 2
    assert explorer.image.value != before


def test_slider_label_and_range_for_non_alpha_hyper_parameters(explorer):
    explorer.dropdown.value = "piecewise_leaky_relu"
    assert explorer.slider.description == "w"
    assert explorer.slider.value == 0.5
    explorer.dropdown.value = "leaky_k_relu"
    assert explorer.slider.description == "leak"
    assert (explorer.slider.min, explorer.slider.max) == (0.0, 1.0)
    explorer.dropdown.value = "squarewave_fourier_series"
    assert explorer.slider.description == "n"
    assert explorer.slider.step == 1.0
    explorer.slider.value = 4.0
    assert explorer.surrogate.n == 4


@pytest.mark.parametrize("name", [n for n in NAMES if surrogate.spec(n).hparams])
def test_slider_range_is_admissible_and_contains_the_default(name):
    first = surrogate.spec(name).hparams[0]
    low, high, step = slider_range(first)
    assert first.domain.contains(low) and first.domain.contains(high)
    assert low <= first.default <= high
    assert step > 0
    assert (high - low) / step <= 1000


@pytest.mark.parametrize(("kwargs", "error", "word"), [
    ({"surrogate": 3}, TypeError, "surrogate"),
    ({"surrogate": "nope"}, ValueError, "unknown surrogate"),
    ({"alpha": -1.0}, ValueError, "alpha"),
    ({"surrogate": "leaky_k_relu", "alpha": -1.0}, ValueError, "leak"),
    ({"surrogate": "deterministic_pass", "alpha": 1.0}, TypeError, "alpha"),
    ({"x_range": (2, 1)}, ValueError, "x_range"),
    ({"figsize": (0, 3)}, ValueError, "figsize"),
    ({"figsize": 3}, TypeError, "figsize"),
    ({"dpi": 0}, ValueError, "dpi"),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, error, word):
    with pytest.raises(error, match=word):
        alpha_explorer(**kwargs)


def test_integer_hyper_parameter_reads_out_without_decimals(explorer):
    assert explorer.slider.readout_format == ".2f"
    explorer.dropdown.value = "squarewave_fourier_series"
    assert explorer.slider.readout_format == ".0f"


@pytest.mark.parametrize("value", [3.2, 8.0])
def test_cached_background_redraw_equals_a_fresh_render(explorer, value):
    explorer.slider.value = 3.0
    explorer.slider.value = value  # 3.2: same y-range, background reused; 8.0: y-range grows
    fresh = alpha_explorer(alpha=value)
    assert bytes(explorer.image.value) == bytes(fresh.image.value)


def test_switching_surrogates_and_back_restores_the_bytes(explorer):
    original = bytes(explorer.image.value)
    explorer.dropdown.value = "squarewave_fourier_series"  # widens the y-range
    explorer.dropdown.value = "sigmoid"
    assert bytes(explorer.image.value) == original


def test_y_limits_grow_in_coarse_steps():
    import numpy as np

    from sgcourse.course.widgets.render import MIN_YLIM, y_limits

    assert y_limits(np.array([0.0, 1.0])) == MIN_YLIM == (-0.1, 1.5)
    assert y_limits(np.array([0.0, 1.25])) == (-0.1, 1.5)  # the seed's alpha = 5 still fits
    assert y_limits(np.array([0.0, 1.5])) == (-0.1, 3.0)
    assert y_limits(np.array([-1.0, 4.0])) == (-1.5, 6.0)
    assert y_limits(np.array([0.0, 3.9]), np.array([-0.05])) == (-0.1, 6.0)
