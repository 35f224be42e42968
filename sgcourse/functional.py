r"""Whole-network helpers: reset state, switch step mode or backend, run a sequence.

The usual training loop for a spiking network::

    for x_seq, y in loader:
        out = net(x_seq).mean(0)          # [T, N, C] -> firing rate [N, C]
        loss = criterion(out, y)
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        functional.reset_net(net)          # next batch starts from the resting state

Forgetting ``reset_net`` is the most common mistake with stateful neurons: the membrane
potential of the previous batch leaks into the next one and the autograd graphs get chained.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from sgcourse.base import STEP_MODES, MemoryModule, StepModule, TimeContainer, check_sequence
from sgcourse.neuron import BACKENDS

__all__ = [
    "detach_net",
    "multi_step_forward",
    "reset_net",
    "seq_to_ann_forward",
    "set_backend",
    "set_step_mode",
]

ModuleOrList = Callable[[torch.Tensor], torch.Tensor] | Sequence[Callable[[torch.Tensor],
                                                                          torch.Tensor]]


def _check_module(net: object) -> nn.Module:
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    return net


def reset_net(net: nn.Module) -> None:
    """Reset the state of every stateful submodule of ``net`` (neurons, dropout masks, …).

    Call it between independent input sequences, typically right after ``optimizer.step()``.
    Works on wrapped models too (``DistributedDataParallel``, ``torch.compile``'s module).
    A submodule with a ``reset()`` method that is not a :class:`~sgcourse.base.MemoryModule` is
    reset as well, with a warning (it may come from another library).
    """
    for module in _check_module(net).modules():
        reset = getattr(module, "reset", None)
        if not callable(reset):
            continue
        if not isinstance(module, MemoryModule):
            warnings.warn(f"reset_net: {type(module).__name__} is not an sgcourse MemoryModule; "
                          f"calling its reset() anyway", stacklevel=2)
        reset()


def detach_net(net: nn.Module) -> None:
    """Detach the state of every stateful submodule from the autograd graph.

    Between two chunks of a long sequence this gives truncated back-propagation through time:
    the state values carry over, their gradient history does not.
    """
    for module in _check_module(net).modules():
        if isinstance(module, MemoryModule):
            module.detach()


def set_step_mode(net: nn.Module, step_mode: str) -> None:
    """Set ``step_mode`` (``'s'`` or ``'m'``) on every step-mode-aware submodule of ``net``.

    The contents of a :class:`~sgcourse.base.TimeContainer` (such as
    :class:`~sgcourse.layer.SeqToANNContainer` and :class:`~sgcourse.layer.MultiStepContainer`)
    are left alone: those containers handle the time dimension themselves and their children must
    stay single-step.

    Every module is checked before any is changed: if one of them does not support
    ``step_mode``, a :class:`ValueError` names it and the network is left as it was.
    """
    if step_mode not in STEP_MODES:
        raise ValueError(f"step_mode must be one of {STEP_MODES}, got {step_mode!r}")
    targets: list[tuple[str, StepModule]] = []

    def visit(name: str, module: nn.Module) -> None:
        if isinstance(module, TimeContainer):
            return
        if isinstance(module, StepModule):
            targets.append((name or "<net>", module))
        for child_name, child in module.named_children():
            visit(f"{name}.{child_name}" if name else child_name, child)

    visit("", _check_module(net))
    refused = [f"{name} ({type(module).__name__}: {module.supported_step_mode()})"
               for name, module in targets if step_mode not in module.supported_step_mode()]
    if refused:
        raise ValueError(f"step_mode {step_mode!r} is not supported by " + ", ".join(refused)
                         + "; nothing was changed")
    for _, module in targets:
        module.step_mode = step_mode


def set_backend(net: nn.Module, backend: str | None) -> None:
    """Select the multi-step implementation (``'torch'``, ``'fused'``, ``'triton'`` or ``None``
    for automatic) of every neuron in ``net`` that supports it.

    Neurons that do not support ``backend`` keep their own and a warning lists them.
    """
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be None or one of {BACKENDS}, got {backend!r}")
    skipped = []
    for name, module in _check_module(net).named_modules():
        supported = getattr(module, "supported_backends", None)
        if supported is None:
            continue
        if backend is None or backend in supported:
            module.backend = backend
        else:
            skipped.append(f"{name or '<net>'} ({type(module).__name__}: {supported})")
    if skipped:
        warnings.warn(f"set_backend: {backend!r} is not supported by " + ", ".join(skipped),
                      stacklevel=2)


def _as_list(module_or_list: ModuleOrList) -> Iterable[Callable[[torch.Tensor], torch.Tensor]]:
    if torch.compiler.is_compiling():  # checked in eager mode; `callable` breaks the graph
        return module_or_list if isinstance(module_or_list, list | tuple) else (module_or_list,)
    if callable(module_or_list):
        return (module_or_list,)
    if isinstance(module_or_list, Sequence) and all(callable(m) for m in module_or_list):
        return module_or_list
    raise TypeError("module_or_list must be a module (callable) or a sequence of modules, got "
                    f"{type(module_or_list).__name__}")


def multi_step_forward(x_seq: torch.Tensor, module_or_list: ModuleOrList) -> torch.Tensor:
    r"""Run single-step module(s) over a sequence: :math:`Y[t] = f(X[t])` for each t, stacked.

    ``x_seq`` is ``[T, N, *]``; the modules see one frame ``[N, *]`` at a time, in time order, so
    stateful modules carry their state from t to t+1.
    """
    modules = _as_list(module_or_list)
    outputs = []
    for x in check_sequence(x_seq).unbind(0):
        for module in modules:
            x = module(x)
        outputs.append(x)
    return torch.stack(outputs)


def seq_to_ann_forward(x_seq: torch.Tensor, module_or_list: ModuleOrList) -> torch.Tensor:
    r"""Apply stateless module(s) to all time steps at once.

    ``[T, N, *]`` is flattened to ``[T·N, *]`` (one big batch), passed through the modules, and
    the result reshaped to ``[T, N, *']``. Valid only for modules without state across time
    (convolution, pooling, batch norm over ``T·N`` samples).

    A module that refuses the merged batch (a ``RuntimeError``, typically a shape mismatch)
    raises a :class:`ValueError` naming ``x_seq``, its shape and the merged shape, with the
    module's own error chained: most often the input was one step ``[N, *]`` without the time
    dimension.
    """
    modules = _as_list(module_or_list)
    time_steps, batch = check_sequence(x_seq).shape[:2]
    y = x_seq.flatten(0, 1)
    for module in modules:
        try:
            y = module(y)
        except RuntimeError as error:
            raise ValueError(
                f"x_seq of shape {tuple(x_seq.shape)} was read as [T, N, *] = [{time_steps}, "
                f"{batch}, ...] and merged to [T·N, *] = {tuple(x_seq.flatten(0, 1).shape)}, "
                f"which {type(module).__name__} refused ({error}); is x_seq a single step [N, *]? "
                f"It must be [T, N, *], time steps first") from error
    return y.unflatten(0, (time_steps, batch))
