"""Tests of sgcourse.viz: the seed figure, the gallery and the gradient-product helpers."""

from __future__ import annotations

import math
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from sgcourse import surrogate, viz

NAMES = surrogate.available()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def labelled_lines(ax):
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def test_import_viz_does_not_import_matplotlib():
    code = "import sys, sgcourse.viz; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_plot_surrogate_reproduces_seed_figure():
    sg = surrogate.Sigmoid(alpha=5.0)
    fig = viz.plot_surrogate(sg)
    (ax,) = fig.axes
    assert ax.get_title() == "Sigmoid(alpha=5)"
    heaviside, primitive, derivative = labelled_lines(ax)
    assert [line.get_label() for line in (heaviside, primitive, derivative)] == [
        r"$\Theta(x)$", r"$\sigma(x)$", r"$\sigma'(x)$"]
    x = torch.as_tensor(heaviside.get_xdata())
    assert x[0] == -3.0 and x[-1] == 3.0
    np.testing.assert_array_equal(heaviside.get_ydata(), (x >= 0).double().numpy())
    np.testing.assert_allclose(primitive.get_ydata(), torch.sigmoid(5.0 * x).numpy())
    np.testing.assert_allclose(derivative.get_ydata(), sg.derivative(x).numpy())
    assert max(derivative.get_ydata()) == pytest.approx(5.0 / 4, rel=1e-4)
    assert ax.get_legend() is not None


def test_plot_surrogate_by_name_uses_defaults_and_given_axes():
    fig, ax = plt.subplots()
    returned = viz.plot_surrogate("ATan", x_range=(-1, 2), ax=ax)
    assert returned is fig
    assert ax.get_title() == "ATan(alpha=2)"
    assert "membrane potential" in ax.get_xlabel() and "sigma'" in ax.get_ylabel()
    assert ax.get_xlim() == (-1.0, 2.0)


def test_plot_surrogate_title_lists_every_hyper_parameter():
    fig = viz.plot_surrogate(surrogate.PiecewiseLeakyReLU(w=0.25, c=0.1))
    assert fig.axes[0].get_title() == "PiecewiseLeakyReLU(w=0.25, c=0.1)"
    fig = viz.plot_surrogate("deterministic_pass")
    assert fig.axes[0].get_title() == "DeterministicPass()"


def test_plot_gallery_has_one_panel_per_surrogate():
    fig = viz.plot_gallery()
    assert len(fig.axes) == len(NAMES) == 18
    assert [ax.get_title() for ax in fig.axes] == [surrogate.spec(n).class_name for n in NAMES]
    for ax, name in zip(fig.axes, NAMES, strict=True):
        primitive, derivative = labelled_lines(ax)
        x = torch.as_tensor(derivative.get_xdata())
        np.testing.assert_allclose(derivative.get_ydata(),
                                   surrogate.get(name).derivative(x).numpy())
        np.testing.assert_allclose(primitive.get_ydata(),
                                   surrogate.get(name).primitive(x).numpy())
    assert len(fig.legends) == 1
    assert fig.get_supxlabel() == viz.GALLERY_XLABEL and "threshold" in viz.GALLERY_XLABEL
    assert fig.get_supylabel() == viz.GALLERY_YLABEL and "sigma'" in viz.GALLERY_YLABEL
    assert fig.get_suptitle().startswith("Surrogates at their defaults")


def test_plot_gallery_subset_and_columns():
    fig = viz.plot_gallery(["sigmoid", "Erf", "rect"], ncols=2)
    assert [ax.get_title() for ax in fig.axes] == ["Sigmoid", "Erf", "Rect"]
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 2)


@pytest.mark.parametrize(("call", "error", "word"), [
    (lambda: viz.plot_surrogate(3), TypeError, "sg"),
    (lambda: viz.plot_surrogate("no_such_surrogate"), ValueError, "unknown surrogate"),
    (lambda: viz.plot_surrogate("sigmoid", x_range=(1, 0)), ValueError, "x_range"),
    (lambda: viz.plot_surrogate("sigmoid", x_range="ab"), TypeError, "x_range"),
    (lambda: viz.plot_surrogate("sigmoid", x_range=(0, math.nan)), ValueError, "x_range[1]"),
    (lambda: viz.plot_surrogate("sigmoid", x_range=(0, 1, 2)), TypeError, "x_range"),
    (lambda: viz.plot_surrogate("sigmoid", ax="axes"), TypeError, "ax"),
    (lambda: viz.plot_surrogate("sigmoid", num=1), ValueError, "num"),
    (lambda: viz.plot_gallery(names="sigmoid"), TypeError, "names"),
    (lambda: viz.plot_gallery(names=[]), TypeError, "names"),
    (lambda: viz.plot_gallery(names=["sigmoid", 7]), TypeError, "names[1]"),
    (lambda: viz.plot_gallery(ncols=0), ValueError, "ncols"),
    (lambda: viz.plot_gallery(panel_size=(0, 2)), ValueError, "panel_size[0]"),
    (lambda: viz.plot_gallery(panel_size=3), TypeError, "panel_size"),
    (lambda: viz.plot_gallery(x_range=(2, 2)), ValueError, "x_range"),
    (lambda: viz.plot_gallery(title=None), TypeError, "title"),
    (lambda: viz.plot_gradient_products(peaks=(1.0, -2.0)), ValueError, "peaks[1]"),
    (lambda: viz.plot_gradient_products(max_depth=0), ValueError, "max_depth"),
])
def test_bad_arguments_raise_naming_the_argument(call, error, word):
    with pytest.raises(error, match=word.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_surrogate_curves_sample_theta_sigma_and_derivative():
    curves = viz.surrogate_curves(surrogate.Erf(alpha=1.0), (-2, 2), num=5)
    assert set(curves) == {"x", "heaviside", "primitive", "derivative"}
    np.testing.assert_array_equal(curves["x"], [-2, -1, 0, 1, 2])
    np.testing.assert_array_equal(curves["heaviside"], [0, 0, 1, 1, 1])
    np.testing.assert_allclose(curves["derivative"], np.exp(-curves["x"] ** 2) / math.sqrt(math.pi))


@pytest.mark.parametrize("name", NAMES)
def test_default_peak_of_every_surrogate_is_one(name):
    assert viz.peak_derivative(name) == pytest.approx(1.0, abs=1e-12)


def test_peak_derivative_scales_with_alpha():
    assert viz.peak_derivative(surrogate.Sigmoid(alpha=5.0)) == pytest.approx(1.25)
    # A range that excludes the threshold: the peak is at its edge closest to 0.
    assert viz.peak_derivative("sigmoid", (1.0, 3.0)) == pytest.approx(
        float(surrogate.Sigmoid().derivative(torch.tensor(1.0, dtype=torch.float64))))


@pytest.mark.parametrize("name", ["sigmoid", "atan", "erf", "super_spike", "rect", "s2nn"])
@pytest.mark.parametrize("x", [0.0, 0.3, -0.7])
def test_chain_gradient_is_a_power_of_the_derivative(name, x):
    sg = surrogate.get(name)
    one = float(sg.derivative(torch.tensor(x, dtype=torch.float64)))
    for depth in (1, 3, 7):
        assert viz.chain_gradient(sg, depth, x) == pytest.approx(one**depth, rel=1e-12)


def test_chain_gradient_vanishes_or_explodes_when_the_peak_is_not_one():
    assert viz.chain_gradient(surrogate.Sigmoid(alpha=2.0), 10) == pytest.approx(0.5**10)
    assert viz.chain_gradient(surrogate.Sigmoid(alpha=8.0), 10) == pytest.approx(2.0**10)
    assert viz.chain_gradient(surrogate.Sigmoid(), 50) == pytest.approx(1.0)


def test_chain_gradient_rejects_bad_arguments():
    with pytest.raises(ValueError, match="depth"):
        viz.chain_gradient("sigmoid", 0)
    with pytest.raises(TypeError, match="x"):
        viz.chain_gradient("sigmoid", 2, x="0")
    with pytest.raises(ValueError, match="spiking"):
        viz.chain_gradient(surrogate.Sigmoid(spiking=False), 2)


def test_gradient_products_table():
    table = viz.gradient_products([0.5, 1, 2], 20)
    assert table.shape == (3, 20)
    np.testing.assert_allclose(table[:, 0], [0.5, 1, 2])
    np.testing.assert_allclose(table[:, -1], [0.5**20, 1, 2**20])
    with pytest.raises(TypeError, match="peaks"):
        viz.gradient_products(0.5, 3)


def test_plot_gradient_products_draws_one_line_per_peak():
    fig = viz.plot_gradient_products((0.5, 1.0, 2.0), max_depth=20)
    (ax,) = fig.axes
    lines = labelled_lines(ax)
    assert len(lines) == 3
    assert ax.get_yscale() == "log"
    np.testing.assert_allclose(lines[2].get_ydata(), 2.0 ** np.arange(1, 21))
    assert all(tick == int(tick) for tick in ax.get_xticks())  # depths are whole numbers


def test_spike_coordinates_lists_every_spike_and_rejects_non_spikes():
    spikes = torch.zeros(5, 3)
    spikes[0, 2] = spikes[3, 0] = spikes[4, 2] = 1.0
    times, neurons = viz.spike_coordinates(spikes)
    assert sorted(zip(times.tolist(), neurons.tolist(), strict=True)) == [(0, 2), (3, 0), (4, 2)]
    with pytest.raises(ValueError, match=r"\[T, K\]"):
        viz.spike_coordinates(torch.zeros(5, 2, 3))
    with pytest.raises(ValueError, match="only 0 and 1"):
        viz.spike_coordinates(torch.full((4, 2), 0.5))
    with pytest.raises(TypeError, match=r"spikes must be a torch\.Tensor"):
        viz.spike_coordinates([[0, 1]])


def test_plot_raster_draws_one_mark_per_spike_with_labelled_axes():
    spikes = (torch.rand(8, 20, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    fig = viz.plot_raster(spikes, label="hidden spikes")
    ax = fig.axes[0]
    (marks,) = ax.collections
    assert len(marks.get_offsets()) == int(spikes.sum())
    assert "time step" in ax.get_xlabel() and "neuron" in ax.get_ylabel()
    assert all(tick == int(tick) for tick in ax.get_xticks())  # time steps are whole numbers
    assert f"{int(spikes.sum())} spikes" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["hidden spikes"]
    fig2, axes = plt.subplots(1, 2)
    assert viz.plot_raster(spikes, ax=axes[1], title="x") is fig2 and axes[1].get_title() == "x"
    with pytest.raises(TypeError, match="ax must be"):
        viz.plot_raster(spikes, ax="left")
