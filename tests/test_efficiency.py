"""sgcourse.course.efficiency: the SNN/ANN twins, operation counts, energy estimates and training
with a firing-rate penalty."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from sgcourse import datasets
from sgcourse.course import efficiency


def test_twins_start_from_the_same_weights_and_are_independent() -> None:
    snn, ann = efficiency.make_twins((6, 5, 4, 3), time_steps=4, seed=3)
    snn_linears = [snn.input_layer, *snn.hidden_layers, snn.readout]
    ann_linears = [m for m in ann.layers if isinstance(m, nn.Linear)]
    assert [type(m) for m in ann.layers] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    for a, b in zip(snn_linears, ann_linears, strict=True):
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    with torch.no_grad():
        ann_linears[0].weight.add_(1.0)
    assert not torch.equal(snn.input_layer.weight, ann_linears[0].weight)
    again, _ = efficiency.make_twins((6, 5, 4, 3), time_steps=4, seed=3)
    assert torch.equal(again.readout.weight, snn.readout.weight)


def test_spiking_mlp_shapes_and_spikes() -> None:
    snn, ann = efficiency.make_twins((6, 5, 4, 3), time_steps=4, seed=0)
    images = torch.rand(7, 6)
    logits, spikes = snn.run(images)
    assert logits.shape == (7, 3) and ann(images).shape == (7, 3)
    assert [tuple(s.shape) for s in spikes] == [(4, 7, 5), (4, 7, 4)]
    assert all(((s == 0) | (s == 1)).all() for s in spikes)
    assert torch.equal(snn(images), logits)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="sizes"):
        efficiency.SpikingMLP((64, 10))
    with pytest.raises(ValueError, match="time_steps"):
        efficiency.SpikingMLP(time_steps=0)
    with pytest.raises(ValueError, match="images"):
        efficiency.SpikingMLP((6, 5, 3))(torch.rand(2, 7))
    with pytest.raises(TypeError, match="SpikingMLP"):
        efficiency.ann_twin(nn.Linear(2, 2))


def test_operation_counts_follow_the_definitions() -> None:
    snn, ann = efficiency.make_twins((6, 5, 4, 3), time_steps=4, seed=1, input_gain=6.0)
    images = torch.rand(10, 6)
    _, spikes = snn.run(images)
    count = efficiency.count_operations(snn, images)
    assert [(item.name, item.kind) for item in count.layers] == [
        ("input_layer", "MAC"), ("hidden_layers.0", "SynOp"), ("readout", "SynOp")]
    assert count.macs == 6 * 5                                   # analog input, computed once
    expected = (spikes[0].sum() * 4 + spikes[1].sum() * 3).item() / 10
    assert spikes[0].sum() > 0
    assert math.isclose(count.synops, expected)
    assert count.layers[1].dense_ops == 4 * 5 * 4                # T x F_in x F_out
    assert count.neuron_updates == 4 * (5 + 4)                   # T x hidden neurons
    ann_count = efficiency.count_operations(ann, images)
    assert ann_count.synops == 0 and ann_count.macs == 6 * 5 + 5 * 4 + 4 * 3
    assert ann_count.neuron_updates == 0
    assert 0 < ann_count.layers[1].nonzero_fraction < 1         # ReLU zeros
    assert "SynOp" in count.table() and "neuron updates" in count.table()


def test_count_operations_refuses_what_it_cannot_count() -> None:
    with pytest.raises(ValueError, match="convolutions"):
        efficiency.count_operations(nn.Sequential(nn.Conv1d(1, 1, 1)), torch.rand(2, 1, 3))
    with pytest.raises(ValueError, match=r"no nn\.Linear"):
        efficiency.count_operations(nn.ReLU(), torch.rand(2, 3))


def test_energy_estimate_is_the_weighted_sum() -> None:
    count = efficiency.OperationCount(
        (efficiency.LayerOps("a", "MAC", 100.0, 100.0, 1.0),
         efficiency.LayerOps("b", "SynOp", 50.0, 400.0, 0.1)), neuron_updates=10.0)
    energy = efficiency.energy_estimate(count)
    assert efficiency.E_MAC_PJ == pytest.approx(4.6) and efficiency.E_AC_PJ == pytest.approx(0.9)
    assert energy.mac_nj == pytest.approx(1e-3 * 4.6 * 110)
    assert energy.ac_nj == pytest.approx(1e-3 * 0.9 * 50)
    assert energy.total_nj == pytest.approx(energy.mac_nj + energy.ac_nj)
    assert efficiency.energy_estimate(count, e_mac_pj=1.0, e_ac_pj=0.0).total_nj == pytest.approx(
        0.11)
    with pytest.raises(ValueError, match="e_ac_pj"):
        efficiency.energy_estimate(count, e_ac_pj=-1.0)
    with pytest.raises(TypeError, match="OperationCount"):
        efficiency.energy_estimate(3)


def _small_digits() -> datasets.DigitsSplit:
    data = datasets.load_digits_tensors()
    return datasets.DigitsSplit(data.x_train[:256], data.y_train[:256], data.x_test[:128],
                                data.y_test[:128])


def test_rate_penalty_makes_the_network_sparser_and_is_deterministic() -> None:
    pytest.importorskip("sklearn")
    data = _small_digits()
    runs = {}
    for penalty in (0.0, 0.5):
        snn, _ = efficiency.make_twins((64, 32, 32, 10), seed=0)
        runs[penalty] = efficiency.train_with_rate_penalty(snn, data, penalty, epochs=2)
    assert runs[0.5].firing_rate < 0.7 * runs[0.0].firing_rate
    assert runs[0.0].spikes_per_neuron == pytest.approx(8 * runs[0.0].firing_rate)
    assert len(runs[0.0].loss) == 2 and 0 <= runs[0.0].test.accuracy <= 1
    snn, _ = efficiency.make_twins((64, 32, 32, 10), seed=0)
    again = efficiency.train_with_rate_penalty(snn, data, 0.0, epochs=2)
    assert again.loss == runs[0.0].loss and again.firing_rate == runs[0.0].firing_rate


def test_train_with_rate_penalty_checks_its_arguments() -> None:
    snn, ann = efficiency.make_twins((64, 8, 10), seed=0)
    data = _small_digits() if _has_sklearn() else None
    with pytest.raises(TypeError, match="SpikingMLP"):
        efficiency.train_with_rate_penalty(ann, data)
    with pytest.raises(ValueError, match="rate_penalty"):
        efficiency.train_with_rate_penalty(snn, data, rate_penalty=-0.1)
    with pytest.raises(ValueError, match="epochs"):
        efficiency.train_with_rate_penalty(snn, data, epochs=0)


def _has_sklearn() -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def test_plot_accuracy_versus_synops() -> None:
    pytest.importorskip("matplotlib")
    fig = efficiency.plot_accuracy_versus_synops([(0.0, 400.0, 0.9), (1.0, 100.0, 0.8)],
                                                 ann_macs=300.0, ann_accuracy=0.85)
    ax = fig.axes[0]
    assert ax.get_xlabel() and "fraction" in ax.get_ylabel() and ax.get_title()
    assert max(ax.lines[0].get_ydata()) <= 1          # accuracies as fractions, as printed
    labels = [h.get_label() for h in ax.get_legend().legend_handles]
    assert len(labels) == 3
