"""Tests of sgcourse.course.exercises.lesson03: each check passes on right answers (including the
solutions stored in the lesson notebook), fails on the stub, and names the usual mistakes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from lesson_solutions import notebook_solutions, stub

from sgcourse import neuron
from sgcourse.course.exercises import ExerciseError, lesson03

NOTEBOOK = Path(__file__).resolve().parents[1] / "lessons" / "03_neurons_and_bptt.ipynb"


# --- exercise 1: lif_step ----------------------------------------------------------------------


def lif_step(x, v, tau, v_threshold, v_reset):
    h = v + (x - (v - v_reset)) / tau
    spike = (h >= v_threshold).to(h.dtype)
    return spike, spike * v_reset + (1 - spike) * h


def lif_step_with_the_library(x, v, tau, v_threshold, v_reset):
    node = neuron.LIFNode(tau=tau, v_threshold=v_threshold, v_reset=v_reset)
    node.v = v.clone()
    spike = node(x)
    return spike.detach(), node.v.detach()


def test_check_lif_step_accepts_correct_answers() -> None:
    for answer in (lif_step, lif_step_with_the_library, notebook_solutions(NOTEBOOK)["lif_step"]):
        assert lesson03.check_lif_step(answer).startswith("Correct")


def lif_step_in_float32(x, v, tau, v_threshold, v_reset):
    """A correct step computed in float32 (a learner who wrote x.float() or torch.tensor(...))."""
    return lif_step(x.float(), v.float(), tau, v_threshold, v_reset)


def lif_step_with_integer_spikes(x, v, tau, v_threshold, v_reset):
    h = v + (x - (v - v_reset)) / tau
    spike = torch.where(h >= v_threshold, 1, 0)
    return spike, spike * v_reset + (1 - spike) * h


def test_check_lif_step_accepts_other_dtypes_of_a_correct_answer() -> None:
    for answer in (lif_step_in_float32, lif_step_with_integer_spikes):
        assert lesson03.check_lif_step(answer).startswith("Correct")


def test_a_float32_answer_with_a_wrong_charge_is_still_named() -> None:
    def no_leak_float32(x, v, tau, v_threshold, v_reset):
        h = (v + x).float()
        spike = (h >= v_threshold).to(h.dtype)
        return spike, spike * v_reset + (1 - spike) * h

    with pytest.raises(ExerciseError, match="leak and the 1/τ are missing"):
        lesson03.check_lif_step(no_leak_float32)


def test_integer_potentials_are_a_dtype_message() -> None:
    with pytest.raises(ExerciseError, match="floating-point potentials"):
        lesson03.check_lif_step(lambda x, v, tau, th, vr: (
            lif_step(x, v, tau, th, vr)[0], lif_step(x, v, tau, th, vr)[1].round().long()))


def _charge(x, v, tau, v_reset):
    return v + (x - (v - v_reset)) / tau


def _hard(h, spike, v_reset):
    return spike * v_reset + (1 - spike) * h


@pytest.mark.parametrize(("answer", "hint"), [
    (lambda x, v, tau, th, vr: (lambda h: ((h > th).to(h.dtype),
                                           _hard(h, (h > th).to(h.dtype), vr)))(
        _charge(x, v, tau, vr)), ">= instead of >"),
    (lambda x, v, tau, th, vr: (lambda h: ((h >= th).to(h.dtype), h))(_charge(x, v, tau, vr)),
     "AFTER the reset"),
    (lambda x, v, tau, th, vr: (lambda h: ((h >= th).to(h.dtype),
                                           h - (h >= th).to(h.dtype) * th))(
        _charge(x, v, tau, vr)), "soft reset"),
    (lambda x, v, tau, th, vr: (lambda h: ((h >= th).to(h.dtype),
                                           _hard(h, (h >= th).to(h.dtype), vr)))(v + x),
     "leak and the 1/τ are missing"),
    (lambda x, v, tau, th, vr: (lambda h: ((h >= th).to(h.dtype),
                                           _hard(h, (h >= th).to(h.dtype), vr)))(
        v - (v - vr) / tau + x), "divided by τ too"),
    (lambda x, v, tau, th, vr: (lambda h: (h >= th, _hard(h, (h >= th).to(h.dtype), vr)))(
        _charge(x, v, tau, vr)), "boolean"),
    (lambda x, v, tau, th, vr: (lambda h: ((h >= th).to(h.dtype),
                                           _hard(h, (h >= th).to(h.dtype), 0.0)))(
        _charge(x, v, tau, vr)), "not to 0"),
    (lambda x, v, tau, th, vr: _charge(x, v, tau, vr), "must return a pair"),
    (lambda x, v, tau, th, vr: ([0.0] * len(x), v), "torch.Tensor"),
    (lambda x, v, tau, th, vr: (torch.zeros(1), v), "shape of x"),
    (lambda x, v, tau, th, vr: (v.add_(x), v), "in place"),
    (stub, "NotImplementedError"),
    ("lif_step", "pass your function itself"),
])
def test_check_lif_step_names_the_mistake(answer: object, hint: str) -> None:
    with pytest.raises(ExerciseError, match=hint):
        lesson03.check_lif_step(answer)


def test_check_lif_step_reports_a_crash_in_the_answer() -> None:
    with pytest.raises(ExerciseError, match="ZeroDivisionError"):
        lesson03.check_lif_step(lambda *args: 1 / 0)


# --- exercise 2: reset_factor ------------------------------------------------------------------


def reset_factor(h, g, v_threshold, v_reset, detach_reset):
    spike = (h >= v_threshold).to(h.dtype)
    if v_reset is None:
        return torch.ones_like(h) if detach_reset else 1 - v_threshold * g
    return 1 - spike if detach_reset else 1 - spike + (v_reset - h) * g


def test_check_reset_factor_accepts_correct_answers() -> None:
    for answer in (reset_factor, notebook_solutions(NOTEBOOK)["reset_factor"]):
        assert lesson03.check_reset_factor(answer).startswith("Correct")


def reset_factor_scalar_when_constant(h, g, v_threshold, v_reset, detach_reset):
    """Returns a 0-dim tensor where the factor is the same for every entry."""
    if v_reset is None and detach_reset:
        return torch.tensor(1.0)
    return reset_factor(h, g, v_threshold, v_reset, detach_reset).float()  # float32 too


def test_check_reset_factor_accepts_a_scalar_and_float32() -> None:
    assert lesson03.check_reset_factor(reset_factor_scalar_when_constant).startswith("Correct")


def test_the_expected_factor_is_the_table_of_the_lesson() -> None:
    """The check's reference (autograd through LIFNode's reset) equals the BPTT table."""
    h = torch.linspace(-1.0, 3.0, 41, dtype=torch.float64)
    g = torch.rand(41, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for v_threshold, v_reset in ((1.0, 0.0), (0.7, -0.4), (1.2, None)):
        for detach_reset in (False, True):
            expected = lesson03._reset_factor_by_autograd(h, g, v_threshold, v_reset,
                                                          detach_reset)
            assert torch.allclose(reset_factor(h, g, v_threshold, v_reset, detach_reset),
                                  expected)


def _ignores_detach(h, g, th, vr, detach):
    return reset_factor(h, g, th, vr, False)


def _always_detached(h, g, th, vr, detach):
    return reset_factor(h, g, th, vr, True)


def _wrong_sign(h, g, th, vr, detach):
    if vr is None or detach:
        return reset_factor(h, g, th, vr, detach)
    return 1 - (h >= th).to(h.dtype) + (h - vr) * g


def _swapped(h, g, th, vr, detach):
    if vr is None:
        return reset_factor(h, g, th, 0.0, detach)
    return reset_factor(h, g, th, None, detach)


@pytest.mark.parametrize(("answer", "hint"), [
    (_ignores_detach, "the g \\(surrogate\\) terms drop out"),
    (_always_detached, "add the surrogate term"),
    (_wrong_sign, "mind the sign"),
    (_swapped, "reset formula"),
    (lambda h, g, th, vr, detach: torch.zeros(2), "shape of h"),
    (lambda h, g, th, vr, detach: "1 - S", "torch.Tensor"),
    (lambda h, g, th, vr, detach: 0.5, "expected"),
    (lambda h, g, th, vr, detach: torch.tensor(True), "real numbers"),
    (stub, "NotImplementedError"),
    (None, "pass your function itself"),
])
def test_check_reset_factor_names_the_mistake(answer: object, hint: str) -> None:
    with pytest.raises(ExerciseError, match=hint):
        lesson03.check_reset_factor(answer)


def test_a_constant_answer_is_rejected_on_the_first_setting() -> None:
    """1 is right only for a soft reset with detach_reset=True; the first setting is hard."""
    with pytest.raises(ExerciseError, match=re.escape("v_reset=0.0, detach_reset=False")):
        lesson03.check_reset_factor(lambda h, g, th, vr, detach: 1.0)
