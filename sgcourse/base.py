r"""Step modes and stateful modules: the two ideas every spiking layer is built on.

**Step mode.** A spiking network runs over discrete time :math:`t = 0, \dots, T-1`. A module in
*single-step* mode (``'s'``) receives one time step :math:`X[t]` of shape ``[N, *]``; in
*multi-step* mode (``'m'``) it receives the whole sequence :math:`X[0..T-1]` of shape
``[T, N, *]`` at once, which lets a fused kernel run the time loop. Both modes compute the same
thing; :class:`StepModule` holds and validates the mode.

**Memory.** A neuron's membrane potential :math:`V[t]` depends on :math:`V[t-1]`: the module
carries state from one call to the next. :class:`MemoryModule` registers such state as named
*memories*, each with a reset value. ``reset()`` restores them (call
:func:`sgcourse.functional.reset_net` between independent sequences), ``detach()`` cuts the
autograd graph through them (truncated back-propagation through time), and ``.to()``/``.cuda()``
move them with the parameters.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

__all__ = ["STEP_MODES", "MemoryModule", "MultiStepModule", "SingleStepModule", "StepModule",
           "TimeContainer"]

STEP_MODES: tuple[str, ...] = ("s", "m")
"""All step modes: ``'s'`` (single step, input ``[N, *]``), ``'m'`` (multi-step, ``[T, N, *]``)."""


class StepModule:
    """Mixin holding a validated ``step_mode``: ``'s'`` (single step) or ``'m'`` (multi-step).

    Combine it with :class:`torch.nn.Module` (after ``nn.Module.__init__`` has run). Subclasses
    restrict the modes they accept by overriding :meth:`supported_step_mode`.
    """

    def supported_step_mode(self) -> tuple[str, ...]:
        """The step modes this module accepts."""
        return STEP_MODES

    @property
    def step_mode(self) -> str:
        """``'s'``: input ``[N, *]`` is one step; ``'m'``: input ``[T, N, *]`` is a sequence."""
        return self._step_mode

    @step_mode.setter
    def step_mode(self, value: str) -> None:
        supported = self.supported_step_mode()
        if not isinstance(value, str) or value not in supported:
            raise ValueError(f"step_mode must be one of {supported} for "
                             f"{type(self).__name__}, got {value!r}")
        self._step_mode = value


class SingleStepModule(StepModule):
    """A module that only works one time step at a time (``step_mode='s'``)."""

    def supported_step_mode(self) -> tuple[str, ...]:
        return ("s",)


class MultiStepModule(StepModule):
    """A module that only works on whole sequences ``[T, N, *]`` (``step_mode='m'``)."""

    def supported_step_mode(self) -> tuple[str, ...]:
        return ("m",)


class TimeContainer(MultiStepModule):
    """A container that handles the time dimension itself (always multi-step).

    Its children see one frame, or the frames flattened into a batch, so they must stay
    single-step: :func:`sgcourse.functional.set_step_mode` leaves them alone.
    """


def check_sequence(x_seq: torch.Tensor, name: str = "x_seq") -> torch.Tensor:
    """Raise unless ``x_seq`` is a tensor with time and batch dimensions ``[T, N, *]``."""
    if not isinstance(x_seq, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [T, N, *], "
                        f"got {type(x_seq).__name__}")
    if x_seq.dim() < 2:
        raise ValueError(f"{name} must have shape [T, N, *] (at least 2 dimensions) in "
                         f"multi-step mode, got shape {tuple(x_seq.shape)}")
    if x_seq.shape[0] == 0:
        raise ValueError(f"{name} must have at least one time step, got shape "
                         f"{tuple(x_seq.shape)}")
    return x_seq


def _fresh_copy(value: Any) -> Any:
    """An independent copy of a memory value; tensors are detached (a reset value never carries
    an autograd history, and non-leaf tensors cannot be deep-copied)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return copy.deepcopy(value)


class MemoryModule(nn.Module, StepModule):
    r"""An ``nn.Module`` with named state ("memories") that persists between calls.

    ``self.register_memory('v', 0.)`` creates a memory; afterwards ``self.v`` reads and writes it
    like an ordinary attribute. Memories are not parameters or buffers: they are not in the
    ``state_dict`` and receive no optimiser updates.

    ``forward`` dispatches on ``step_mode`` to :meth:`single_step_forward` (``[N, *]``) or
    :meth:`multi_step_forward` (``[T, N, *]``); the default multi-step forward applies the single
    step to each frame in turn, :math:`Y[t] = f(X[t])` with state carried over, and stacks the
    results.
    """

    _memories: dict[str, Any]
    _memories_rv: dict[str, Any]

    def __init__(self) -> None:
        super().__init__()
        object.__setattr__(self, "_memories", {})
        object.__setattr__(self, "_memories_rv", {})
        self._step_mode = "s"

    # ---- registration and access -------------------------------------------------------------
    def register_memory(self, name: str, reset_value: Any) -> None:
        """Create memory ``name`` holding a deep copy of ``reset_value`` (``reset`` restores it).

        Raises :class:`ValueError` if ``name`` is already an attribute or a memory.
        """
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(f"name must be a valid attribute name (str), got {name!r}")
        if name in self._memories or hasattr(self, name):
            raise ValueError(f"cannot register memory {name!r}: {type(self).__name__} already "
                             f"has an attribute of that name")
        self._memories_rv[name] = _fresh_copy(reset_value)
        self._memories[name] = _fresh_copy(reset_value)

    def set_reset_value(self, name: str, reset_value: Any) -> None:
        """Change the value memory ``name`` returns to on ``reset``."""
        self._require_memory(name)
        self._memories_rv[name] = _fresh_copy(reset_value)

    def get_reset_value(self, name: str) -> Any:
        """The value memory ``name`` returns to on ``reset``."""
        self._require_memory(name)
        return self._memories_rv[name]

    def _require_memory(self, name: str) -> None:
        if name not in self._memories:
            raise KeyError(f"{type(self).__name__} has no memory {name!r}; memories: "
                           f"{list(self._memories)}")

    def __getattr__(self, name: str) -> Any:
        memories = self.__dict__.get("_memories")
        if memories is not None and name in memories:
            return memories[name]
        return super().__getattr__(name)

    def __setattr__(self, name: str, value: Any) -> None:
        memories = self.__dict__.get("_memories")
        if memories is not None and name in memories:
            memories[name] = value
        else:
            super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        if name in self._memories:
            del self._memories[name]
            del self._memories_rv[name]
        else:
            super().__delattr__(name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._memories))

    def memories(self) -> Iterator[Any]:
        """The current values of the memories."""
        yield from self._memories.values()

    def named_memories(self) -> Iterator[tuple[str, Any]]:
        """``(name, value)`` pairs of the memories."""
        yield from self._memories.items()

    # ---- state life cycle --------------------------------------------------------------------
    def reset(self) -> None:
        """Set every memory back to (a fresh copy of) its reset value; this also cuts the graph."""
        for name, value in self._memories_rv.items():
            self._memories[name] = _fresh_copy(value)

    def detach(self) -> None:
        """Detach every tensor memory from the autograd graph, keeping its value.

        Gradients then stop at the current time step: truncated back-propagation through time.
        """
        for name, value in self._memories.items():
            if isinstance(value, torch.Tensor):
                self._memories[name] = value.detach()

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], *args: Any,
               **kwargs: Any) -> MemoryModule:
        for store in (self._memories, self._memories_rv):
            for name, value in store.items():
                if isinstance(value, torch.Tensor):
                    store[name] = fn(value)
        return super()._apply(fn, *args, **kwargs)

    def _replicate_for_data_parallel(self) -> MemoryModule:
        replica = super()._replicate_for_data_parallel()
        object.__setattr__(replica, "_memories", self._memories.copy())
        object.__setattr__(replica, "_memories_rv", self._memories_rv.copy())
        return replica

    # ---- forward -----------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.step_mode == "s":
            return self.single_step_forward(*args, **kwargs)
        return self.multi_step_forward(*args, **kwargs)

    def single_step_forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        """One time step: ``[N, *]`` in, ``[N, *]`` out. Subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement single_step_forward")

    def multi_step_forward(self, x_seq: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        """The whole sequence ``[T, N, *]``: the single step applied to each frame, stacked."""
        check_sequence(x_seq)
        return torch.stack([self.single_step_forward(x, *args, **kwargs)
                            for x in x_seq.unbind(0)])

    def extra_repr(self) -> str:
        return f"step_mode={self.step_mode!r}"
