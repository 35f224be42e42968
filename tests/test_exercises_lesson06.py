"""Tests of sgcourse.course.exercises.lesson06: check_train_step passes on right answers
(including the solution stored in the lesson notebook), fails on the stub, and names the usual
mistakes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from lesson_solutions import notebook_solutions

from sgcourse.course import training
from sgcourse.course.exercises import ExerciseError, lesson06

NOTEBOOK = Path(__file__).resolve().parents[1] / "lessons" / "06_build_and_train_your_own_snn.ipynb"


def notebook_solution() -> Callable:
    """``train_step`` as the lesson's solution cell defines it."""
    return notebook_solutions(NOTEBOOK)["train_step"]


def train_step(model, x_seq, y, optimizer, reset_net):
    loss = torch.nn.functional.cross_entropy(model(x_seq).mean(0), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    reset_net(model)
    return loss.item()


def with_the_library(model, x_seq, y, optimizer, reset_net):
    return training.train_step(model, x_seq, y, optimizer)


def detached_tensor_and_model_zero_grad(model, x_seq, y, optimizer, reset_net):
    loss = F.cross_entropy(model(x_seq).mean(dim=0), y)
    model.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    reset_net(model)
    return loss.detach()


def float32_loss_and_reset_before_return(model, x_seq, y, optimizer, reset_net):
    scores = model(x_seq).sum(0) / x_seq.shape[0]
    loss = F.cross_entropy(scores, y)
    optimizer.zero_grad(set_to_none=False)
    loss.backward()
    reset_net(model)           # between backward and step is fine too
    optimizer.step()
    return torch.tensor(loss.item(), dtype=torch.float32).item()


def test_check_train_step_accepts_correct_answers() -> None:
    for answer in (train_step, with_the_library, detached_tensor_and_model_zero_grad,
                   float32_loss_and_reset_before_return):
        assert lesson06.check_train_step(answer).startswith("Correct"), answer.__name__


def test_check_train_step_accepts_the_notebook_solution() -> None:
    assert lesson06.check_train_step(notebook_solution()).startswith("Correct")


def _variant(scores=lambda out: out.mean(0), loss_fn=F.cross_entropy, zero_grad="before",
             step=True, reset="after", returns=lambda loss: loss.item()):
    def answer(model, x_seq, y, optimizer, reset_net):
        if reset == "before":
            reset_net(model)
        loss = loss_fn(scores(model(x_seq)), y)
        if zero_grad == "before":
            optimizer.zero_grad()
        loss.backward()
        if zero_grad == "after_backward":
            optimizer.zero_grad()
        if step:
            optimizer.step()
        if zero_grad == "after_step":
            optimizer.zero_grad()
        if reset == "after":
            reset_net(model)
        return returns(loss)
    return answer


def _mse(scores, y):
    return F.mse_loss(scores, F.one_hot(y, scores.shape[1]).to(scores.dtype))


@pytest.mark.parametrize(("answer", "hint"), [
    (_variant(reset="never"), "still hold this batch's state"),
    (_variant(reset="before"), "at the end of the step"),
    (_variant(zero_grad="never"), "zero_grad\\(\\) before"),
    (_variant(zero_grad="after_step"), "accumulates into .grad"),
    (_variant(zero_grad="after_backward"), "left every weight unchanged"),
    (_variant(step=False), "left every weight unchanged"),
    (_variant(scores=lambda out: out.mean(1)), "not over the batch"),
    (_variant(scores=lambda out: out.sum(0)), "summed over time"),
    (_variant(scores=lambda out: out[-1]), "last time step"),
    (_variant(scores=lambda out: out, loss_fn=lambda out, y: sum(
        F.cross_entropy(o, y) for o in out) / len(out)), "one loss per step"),
    (_variant(loss_fn=_mse), "mean squared error"),
    (_variant(returns=lambda loss: loss), "attached to the autograd graph"),
    (_variant(returns=lambda loss: [loss.item()]), "as a float"),
    (_variant(returns=lambda loss: None), "as a float"),
])
def test_check_train_step_names_the_mistake(answer: Callable, hint: str) -> None:
    with pytest.raises(ExerciseError, match=hint):
        lesson06.check_train_step(answer)


def test_check_train_step_reports_a_stub_a_crash_and_a_non_function() -> None:
    def stub(model, x_seq, y, optimizer, reset_net):
        raise NotImplementedError

    with pytest.raises(ExerciseError, match="NotImplementedError"):
        lesson06.check_train_step(stub)
    with pytest.raises(ExerciseError, match="ZeroDivisionError"):
        lesson06.check_train_step(lambda *args: 1 / 0)
    with pytest.raises(ExerciseError, match="pass your function itself"):
        lesson06.check_train_step("train_step")


def test_the_check_leaves_the_global_random_state_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    lesson06.check_train_step(train_step)
    assert torch.equal(torch.rand(3), expected)
