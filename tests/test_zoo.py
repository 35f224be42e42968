"""Tests of sgcourse.course.zoo: the zoo's neurons, f–I curves, closed forms and Izhikevich's
firing regimes (each measured by simulation with the library)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sgcourse import neuron
from sgcourse.course import zoo

#: X = 0.03 + 0.06 k: V_th / X is never an integer for V_th = 1 (100 / (3 + 6k)), so the
#: floating-point sum X + ... + X cannot land exactly on the threshold.
SAFE_X = [0.03 + 0.06 * k for k in range(40)]


def test_make_neuron_builds_each_kind_with_the_lesson_parameters() -> None:
    classes = {"if": neuron.IFNode, "lif": neuron.LIFNode, "plif": neuron.ParametricLIFNode,
               "qif": neuron.QIFNode, "eif": neuron.EIFNode, "cuba": neuron.CUBALIFNode}
    for kind, cls in classes.items():
        node = zoo.make_neuron(kind)
        assert type(node) is cls and node.step_mode == "m" and node.store_v_seq
    assert zoo.make_neuron("lif", tau=7.0).tau == 7.0
    with pytest.raises(ValueError, match="kind"):
        zoo.make_neuron("hh")
    with pytest.raises(ValueError, match="tau"):
        zoo.make_neuron("lif", tau=0.5)


def test_if_rate_closed_form_equals_the_simulated_period() -> None:
    for v_threshold in (1.0, 0.7):
        run = zoo.simulate(zoo.make_neuron("if", v_threshold=v_threshold), SAFE_X, 300)
        for n, x in enumerate(SAFE_X):
            intervals = zoo.interspike_intervals(run.spikes[:, n])
            assert intervals.unique().tolist() == [math.ceil(v_threshold / x)]
            assert zoo.if_rate(x, v_threshold) == 1 / intervals[0].item()
    assert zoo.if_rate(0.0) == 0.0 and zoo.if_rate(-1.0) == 0.0
    with pytest.raises(ValueError, match="v_threshold"):
        zoo.if_rate(0.5, v_threshold=0.0)


def test_lif_f_i_curve_is_zero_below_the_rheobase_and_matches_the_period() -> None:
    x = torch.tensor(SAFE_X, dtype=torch.float64)
    rates = zoo.firing_rates("lif", x, time_steps=600, warmup=100)
    rheobase = zoo.lif_rheobase(5.0)
    assert rheobase == 1.0 and zoo.lif_rheobase(5.0, decay_input=False) == 0.2
    assert (rates[x < rheobase] == 0).all() and (rates[x > rheobase + 0.05] > 0).all()
    run = zoo.simulate(zoo.make_neuron("lif"), SAFE_X, 400)
    for n, value in enumerate(SAFE_X):
        intervals = zoo.interspike_intervals(run.spikes[:, n])
        if value > 1.05:
            assert intervals.unique().tolist() == [zoo.lif_period(value, 5.0)]
        elif value < 1.0:
            assert len(intervals) == 0 and zoo.lif_period(value, 5.0) == math.inf


def test_f_i_curves_rise_with_the_input() -> None:
    x = torch.linspace(0.0, 3.0, 31, dtype=torch.float64)
    for kind in zoo.NEURONS:
        rates = zoo.firing_rates(kind, x)
        assert rates[0] == 0 and rates[-1] > 0.3, kind
        assert (rates[1:] >= rates[:-1] - 0.01).all(), kind   # non-decreasing (counting error)


def test_plif_is_the_lif_with_tau_one_over_sigmoid_w() -> None:
    x = [value + 0.01 for value in SAFE_X]           # away from the exact rheobase 1.0
    tau = zoo.make_neuron("plif").tau                # 1/sigmoid(w), w a float32 parameter
    assert tau == pytest.approx(5.0, rel=1e-6)
    assert torch.equal(zoo.firing_rates("plif", x), zoo.firing_rates("lif", x, tau=tau))
    rates_lif_5 = zoo.firing_rates("lif", x)
    assert (zoo.firing_rates("plif", x) - rates_lif_5).abs().max() < 0.05


def test_eif_with_spikingjelly_defaults_fires_without_input() -> None:
    assert zoo.firing_rates("eif", [0.0], delta_T=1.0)[0] > 0
    assert zoo.firing_rates("eif", [0.0])[0] == 0                 # the lesson's delta_T = 0.2


def test_simulate_validates_its_arguments() -> None:
    node = zoo.make_neuron("lif")
    with pytest.raises(ValueError, match="x_values"):
        zoo.simulate(node, [], 10)
    with pytest.raises(ValueError, match="x_values"):
        zoo.simulate(node, [float("nan")], 10)
    with pytest.raises(ValueError, match="onset"):
        zoo.simulate(node, [1.0], 10, onset=10)
    with pytest.raises(ValueError, match="multi-step"):
        zoo.simulate(neuron.LIFNode(), [1.0], 10)
    with pytest.raises(ValueError, match="warmup"):
        zoo.firing_rates("lif", [1.0], time_steps=10, warmup=10)
    run = zoo.simulate(node, [2.0, 0.5], 30, onset=5)
    assert run.spikes[:5].sum() == 0 and run.spike_counts.tolist()[1] == 0
    assert run.v.shape == (30, 2)


def test_izhikevich_mapping_reproduces_one_euler_step_of_izhikevich() -> None:
    a, b, c, d, dt, current = 0.02, 0.2, -65.0, 8.0, 0.5, 10.0
    node = zoo.izhikevich_node(a, b, c, d, dt)
    v0 = torch.tensor([-60.0, -50.0], dtype=torch.float64)
    u0 = b * v0
    node.v = v0.clone()
    node.w = 2 * dt * (u0 - b * zoo.IZHIKEVICH_V_REST)
    x = torch.full((1, 2), zoo.izhikevich_input(current, b, dt), dtype=torch.float64)
    with torch.no_grad():
        node(x)
    expected = v0 + dt * (0.04 * v0**2 + 5 * v0 + 140 - u0 + current)
    assert torch.allclose(node.v_seq[0], expected, rtol=0, atol=1e-9)


def test_izhikevich_regimes_differ_in_their_interspike_intervals() -> None:
    runs = {name: zoo.izhikevich_run(name) for name in zoo.IZHIKEVICH_REGIMES}
    rs, ib, ch, fs = (runs[k].isi_ms for k in ("regular spiking", "intrinsically bursting",
                                                "chattering", "fast spiking"))
    assert rs.min() > 15 and rs[-1] > 1.5 * rs[0]                  # adapting, never bursting
    assert (ib[:2] < 10).all() and (ib[2:] > 25).all()              # one burst, then single spikes
    short, long = (ch < 10).sum(), (ch > 30).sum()
    assert short >= 3 * long and long >= 5                          # burst after burst
    assert fs.max() < 15 and len(fs) > 3 * len(rs)                  # fast, no long pauses
    for run in runs.values():
        assert run.v_mv.max() == 30.0 and run.spike_times_ms.min() >= 50.0
        assert np.all(np.diff(run.t_ms) == 0.5)


def test_izhikevich_run_validates_its_arguments() -> None:
    with pytest.raises(ValueError, match="regime"):
        zoo.izhikevich_run("resonator")
    with pytest.raises(ValueError, match="regime"):
        zoo.izhikevich_run((0.02, 0.2, -65.0))
    with pytest.raises(ValueError, match="onset_ms"):
        zoo.izhikevich_run("fast spiking", duration_ms=40.0)
    with pytest.raises(ValueError, match="a"):
        zoo.izhikevich_node(0.0, 0.2, -65.0, 8.0)


def test_figures_have_labelled_axes_and_a_legend_entry_per_line() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [0.5, 1.5, 2.5]
    fig = zoo.plot_fi_curves(x, {"LIF": zoo.firing_rates("lif", x),
                                 "parametric LIF": zoo.firing_rates("lif", x),
                                 "IF": zoo.firing_rates("if", x)}, {"LIF": 1.0})
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["LIF", "parametric LIF (same as above)", "IF",
                      "rheobase (dotted, in the\ncurve's colour)"]
    dotted = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in dotted if len(line.get_xdata())] == [1.0]
    dashed = [line for line in ax.get_lines() if line.get_label().startswith("parametric")]
    assert [line.get_linestyle() for line in dashed] == ["--"]
    run = zoo.simulate(zoo.make_neuron("qif"), [0.3], 20)
    fig2 = zoo.plot_traces({"QIF": (np.arange(20), run.v[:, 0].numpy())}, 1.0, "QIF")
    assert [t.get_text() for t in fig2.axes[0].get_legend().get_texts()] == ["QIF", "$V_{th}$"]
    fired = run.spikes[:, 0].numpy()
    assert fired.sum() >= 1
    fig2b = zoo.plot_traces({"QIF": (np.arange(20), run.v[:, 0].numpy())}, 1.0, "QIF",
                            spikes={"QIF": fired})
    legend = [t.get_text() for t in fig2b.axes[0].get_legend().get_texts()]
    assert legend == ["QIF", "QIF: spike $S[t] = 1$", "$V_{th}$"]
    markers = next(line for line in fig2b.axes[0].get_lines() if line.get_marker() == "v")
    assert markers.get_xdata().tolist() == np.flatnonzero(fired).tolist()
    assert set(markers.get_ydata().tolist()) == {1.0}
    fig3 = zoo.plot_izhikevich_runs({"fast spiking": zoo.izhikevich_run("fast spiking")})
    assert fig3.axes[0].get_ylabel() == "$v$ (mV)" and fig3.axes[0].get_legend() is not None
    for bad in ({}, None):
        with pytest.raises(ValueError):
            zoo.plot_fi_curves(x, bad)
    plt.close("all")


def test_burst_sizes_count_spikes_closer_than_the_gap() -> None:
    run = zoo.IzhikevichRun(np.arange(4.0), np.zeros(4), np.zeros(4),
                            np.array([0.0, 3.0, 5.0, 40.0, 90.0, 92.0]))
    assert run.burst_sizes() == [3, 1, 2]
    assert run.burst_sizes(max_isi_ms=2.5) == [1, 2, 1, 2]
    assert run.burst_sizes(max_isi_ms=100.0) == [6]
    empty = zoo.IzhikevichRun(np.arange(4.0), np.zeros(4), np.zeros(4), np.array([]))
    assert empty.burst_sizes() == []
    with pytest.raises(ValueError, match="max_isi_ms"):
        run.burst_sizes(max_isi_ms=0.0)
    chattering = zoo.izhikevich_run("chattering").burst_sizes()
    assert len(chattering) >= 5 and min(chattering[1:]) >= 3     # burst after burst
