"""Tests of the BPTT memory explorer (lesson 09): measured bytes, slopes, redraws, arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("ipywidgets")

from sgcourse.course import profiling
from sgcourse.course.widgets import memory
from sgcourse.course.widgets.memory import BACKENDS, RESETS, Slope, measure_slope, memory_explorer


@pytest.mark.parametrize("reset", list(RESETS))
def test_plotted_bytes_equal_the_counted_bytes(reset: str) -> None:
    explorer = memory_explorer(batch=1, neurons=16, reset=reset)
    for batch, neurons in ((1, 16), (2, 32), (4, 16)):
        explorer.batch_slider.value, explorer.neuron_slider.value = batch, neurons
        for backend in BACKENDS:
            drawn = explorer._lines[backend].get_ydata()
            for time_steps in (1, 3, 7):
                counted = profiling.lif_saved_bytes(backend, time_steps, batch, neurons,
                                                    **RESETS[reset]).nbytes
                assert explorer.saved_bytes(backend, time_steps) == counted
                assert explorer.curves()[backend][time_steps - 1] == counted
                assert drawn[time_steps - 1] * 2**20 == counted     # MiB = bytes / 2**20, exact


def test_the_slope_at_the_lesson_size_is_the_counted_slope() -> None:
    explorer = memory_explorer(batch=32, neurons=256)
    table = profiling.memory_versus_time(BACKENDS, [8, 16], 32, 256)
    for backend in BACKENDS:
        assert [explorer.saved_bytes(backend, t) for t in (8, 16)] == table[backend]


def test_torch_over_fused_ratio_per_reset() -> None:
    expected = {"hard": 3, "hard, detach_reset": 2, "soft": 1}
    explorer = memory_explorer()
    for reset, ratio in expected.items():
        explorer.reset_dropdown.value = reset
        torch_bytes, fused_bytes = explorer.curves()["torch"], explorer.curves()["fused"]
        assert np.array_equal(torch_bytes, ratio * fused_bytes)
        assert explorer.slopes() == {"torch": Slope(ratio, 4), "fused": Slope(1, 4)}


def test_largest_t_within_the_budget() -> None:
    explorer = memory_explorer(batch=256, neurons=4096)
    budget = 2**30
    for backend in BACKENDS:
        t = explorer.largest_fitting_t(backend)
        assert explorer.saved_bytes(backend, t) <= budget < explorer.saved_bytes(backend, t + 1)
    assert (explorer.largest_fitting_t("torch"), explorer.largest_fitting_t("fused")) == (85, 256)
    assert "'torch' 85, 'fused' 256" in explorer._ax.get_title()
    assert "'torch' 1,536.00 MiB, 'fused' 512.00 MiB" in explorer._ax.get_title()


def test_k_is_measured_once_per_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict]] = []
    original = profiling.lif_saved_bytes

    def counting(backend: str, *args: object, **kwargs: object) -> profiling.SavedTensors:
        calls.append((backend, dict(kwargs)))
        return original(backend, *args, **kwargs)

    monkeypatch.setattr(memory.profiling, "lif_saved_bytes", counting)
    explorer = memory_explorer()
    assert sorted(backend for backend, _ in calls) == ["fused", "torch"]
    explorer.batch_slider.value = 64
    assert len(calls) == 2                                   # a slider move measures nothing
    explorer.reset_dropdown.value = "soft"
    assert len(calls) == 4 and all(kw["v_reset"] is None for _, kw in calls[2:])
    explorer.reset_dropdown.value = "hard"
    assert len(calls) == 4                                   # cached per reset option


def test_a_count_that_is_not_linear_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def odd(*args: object, **kwargs: object) -> profiling.SavedTensors:
        return profiling.SavedTensors(100, ((4, 2, 3),), (torch.float32,))

    monkeypatch.setattr(memory.profiling, "lif_saved_bytes", odd)
    with pytest.raises(RuntimeError, match="whole number"):
        measure_slope("torch", "hard")


def test_controls_redraw_and_the_same_state_gives_the_same_picture() -> None:
    explorer = memory_explorer(batch=32, neurons=256)
    original, count = explorer.image.value, explorer.redraw_count
    before = explorer.saved_bytes("torch", 128)
    assert original[:8] == b"\x89PNG\r\n\x1a\n"
    explorer.batch_slider.value = 256
    assert explorer.image.value != original and explorer.redraw_count == count + 1
    assert explorer.saved_bytes("torch", 128) == 8 * before
    explorer.neuron_slider.value = 4096
    explorer.reset_dropdown.value = "soft"
    assert explorer.redraw_count == count + 3
    explorer.reset_dropdown.value = "hard"
    explorer.neuron_slider.value = 256
    explorer.batch_slider.value = 32
    assert explorer.image.value == original
    assert explorer.saved_bytes("torch", 128) == before
    assert len(explorer._renderer._backgrounds) == 1          # fixed axes: one background
    assert explorer.last_redraw_seconds < 5.0
    assert memory_explorer(batch=32, neurons=256).image.value == original


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    ({"batch": 0}, ValueError, "batch"),
    ({"batch": 3}, ValueError, "batch"),
    ({"batch": 512}, ValueError, "batch"),
    ({"neurons": "256"}, TypeError, "neurons"),
    ({"neurons": 256.5}, ValueError, "neurons"),
    ({"neurons": 8}, ValueError, "neurons"),
    ({"reset": "gentle"}, ValueError, "reset"),
    ({"reset": None}, TypeError, "reset"),
    ({"budget_gib": 0.0}, ValueError, "budget_gib"),
])
def test_arguments_are_checked(kwargs: dict, error: type[Exception], name: str) -> None:
    with pytest.raises(error, match=name):
        memory_explorer(**kwargs)
