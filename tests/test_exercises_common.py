"""The helpers every lesson's checks share (sgcourse.course.exercises)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sgcourse.course.exercises import ExerciseError, require_number


@pytest.mark.parametrize("value", [0.25, 1, np.float32(0.25), torch.tensor(0.25),
                                   torch.tensor([0.25], dtype=torch.float64),
                                   torch.tensor(0.25, requires_grad=True) * 1])
def test_require_number_accepts_every_form_of_one_number(value: object) -> None:
    assert require_number(value, "f()", "a rate") == pytest.approx(0.25 if value != 1 else 1.0)


@pytest.mark.parametrize(("value", "message"), [
    (True, "got a boolean"),
    (torch.tensor(True), "got a boolean"),
    (torch.ones(2), r"one number \(a rate\), got a tensor of shape \(2,\): sum it"),
    (torch.tensor(1j), "real number"),
    ("0.25", "got str"),
    (None, "got NoneType"),
    (float("nan"), "must be finite"),
    (torch.tensor(float("inf")), "must be finite"),
])
def test_require_number_names_what_was_expected(value: object, message: str) -> None:
    with pytest.raises(ExerciseError, match=message) as error:
        require_number(value, "f()", "a rate", shape_hint="sum it")
    assert str(error.value).startswith("f() ")
