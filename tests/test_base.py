"""MemoryModule and StepModule: memories, reset, detach, device moves, step-mode validation."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn

from sgcourse.base import MemoryModule, MultiStepModule, SingleStepModule, StepModule


class Counter(MemoryModule):
    """Adds its input to a running sum (a minimal stateful module)."""

    def __init__(self, step_mode="s"):
        super().__init__()
        self.step_mode = step_mode
        self.register_memory("total", 0.0)

    def single_step_forward(self, x):
        self.total = self.total + x
        return self.total


def test_memory_reads_writes_and_resets():
    m = Counter()
    assert m.total == 0.0
    m(torch.ones(2))
    m(torch.ones(2))
    torch.testing.assert_close(m.total, torch.full((2,), 2.0))
    assert dict(m.named_memories()).keys() == {"total"}
    assert len(list(m.memories())) == 1
    m.reset()
    assert m.total == 0.0


def test_reset_value_is_copied():
    reset_value = torch.zeros(2)
    m = MemoryModule()
    m.register_memory("buf", reset_value)
    m.buf.add_(1)  # in-place change of the current value must not change the reset value
    reset_value.add_(5)  # nor may the caller's tensor
    m.reset()
    torch.testing.assert_close(m.buf, torch.zeros(2))
    m.set_reset_value("buf", torch.ones(2))
    torch.testing.assert_close(m.get_reset_value("buf"), torch.ones(2))


def test_register_memory_rejects_existing_names():
    m = Counter()
    with pytest.raises(ValueError, match="total"):
        m.register_memory("total", 1.0)
    with pytest.raises(ValueError, match="training"):
        m.register_memory("training", 1.0)
    with pytest.raises(KeyError, match="nothing"):
        m.get_reset_value("nothing")


def test_multi_step_is_single_step_over_frames():
    x_seq = torch.arange(6.0).reshape(3, 2)
    m = Counter("m")
    torch.testing.assert_close(m(x_seq), torch.cumsum(x_seq, 0))


def test_detach_cuts_the_graph_and_keeps_values():
    x = torch.ones(2, requires_grad=True)
    m = Counter()
    m(x)
    assert m.total.requires_grad
    m.detach()
    assert not m.total.requires_grad
    torch.testing.assert_close(m.total, torch.ones(2))


def test_memories_follow_to_and_copies():
    m = Counter()
    m(torch.ones(2))
    m.double()
    assert m.total.dtype == torch.float64
    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        torch.testing.assert_close(clone.total, m.total)
        clone.reset()
        assert m.total is not None and clone.total == 0.0


def test_memories_are_not_in_state_dict():
    m = Counter()
    m(torch.ones(2))
    assert m.state_dict() == {}


@pytest.mark.parametrize("bad", ["x", "S", None, 1])
def test_step_mode_is_validated(bad):
    with pytest.raises(ValueError, match="step_mode"):
        Counter(step_mode=bad)


def test_restricted_step_modes():
    class OnlyS(nn.Module, SingleStepModule):
        pass

    class OnlyM(nn.Module, MultiStepModule):
        pass

    only_s, only_m = OnlyS(), OnlyM()
    only_s.step_mode = "s"
    only_m.step_mode = "m"
    with pytest.raises(ValueError, match=r"\('s',\)"):
        only_s.step_mode = "m"
    with pytest.raises(ValueError, match=r"\('m',\)"):
        only_m.step_mode = "s"
    assert StepModule().supported_step_mode() == ("s", "m")


def test_multi_step_input_needs_two_dimensions():
    with pytest.raises(ValueError, match=r"\[T, N, \*\]"):
        Counter("m")(torch.ones(3))


def test_multi_step_input_needs_a_time_step():
    with pytest.raises(ValueError, match="time step"):
        Counter("m")(torch.ones(0, 2))


def test_reset_value_may_be_a_tensor_with_history():
    x = torch.ones(2, requires_grad=True)
    m = MemoryModule()
    m.register_memory("buf", x * 2)  # a non-leaf tensor: stored detached
    assert not m.buf.requires_grad
    m.set_reset_value("buf", x * 3)
    m.reset()
    torch.testing.assert_close(m.buf, torch.full((2,), 3.0))
