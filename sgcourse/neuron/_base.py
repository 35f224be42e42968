r"""The spiking neuron skeleton: charge → fire → reset, in single-step and multi-step mode.

Every neuron here runs the same discrete-time loop. With :math:`H[t]` the membrane potential
after charging and :math:`V[t]` the potential after the reset,

.. math::

    H[t] &= f\bigl(V[t-1], X[t]\bigr)                     && \text{charge (per neuron)} \\
    S[t] &= \Theta\bigl(H[t] - V_{th}\bigr)               && \text{fire} \\
    V[t] &= \begin{cases}
        \hat S[t]\, V_{reset} + (1 - \hat S[t])\, H[t] & \text{hard reset (a number)} \\
        H[t] - \hat S[t]\, V_{th}                    & \text{soft reset (None)}
    \end{cases}

where :math:`\hat S = S` or, with ``detach_reset=True``, :math:`\hat S = S` with its gradient cut
(the reset then does not take part in back-propagation). :math:`\Theta` is the Heaviside step
in the forward pass and the surrogate's smooth :math:`\sigma'` in the backward pass. The state
starts at :math:`V[-1] = V_{reset}` (hard reset) or 0 (soft reset).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch

from sgcourse import surrogate
from sgcourse._checks import (
    REAL,
    Domain,
    check_bool,
    check_finite_potential,
    check_floating_tensor,
    check_real,
)
from sgcourse.base import MemoryModule, check_sequence
from sgcourse.neuron import _dispatch

__all__ = ["BaseNode", "HyperCheck", "optional_real", "real",
           "torch_multi_step"]

SurrogateFn = Callable[[torch.Tensor], torch.Tensor]
_STATE_NUMBER = Domain("a finite real number or a tensor shaped like the input step",
                       lambda v: True)
HyperCheck = Callable[[str, Any], Any]
"""Validates one hyper-parameter: ``check(name, value)`` returns the value to store or raises."""


def real(domain: Domain = REAL) -> HyperCheck:
    """A check accepting a finite real number in ``domain`` (ints become floats).

    A tensor that requires grad (an ``nn.Parameter``) is refused with a :class:`TypeError`: the
    hyper-parameters are numbers, and a parameter would silently stop learning once read as one.
    """

    def check(name: str, value: object) -> float:
        if name == "tau" and isinstance(value, torch.Tensor) and value.requires_grad:
            raise TypeError("tau must be a finite number > 1, got a tensor that requires grad "
                            "(such as an nn.Parameter): tau is fixed here; for a learnable "
                            "time constant use ParametricLIFNode(init_tau=...)")
        return check_real(name, value, domain)

    return check


def optional_real(name: str, value: object) -> float | None:
    """A check accepting ``None`` or a finite real number."""
    return None if value is None else check_real(name, value)


def _surrogate_or_default(surrogate_function: SurrogateFn | None) -> SurrogateFn:
    if surrogate_function is None:
        return surrogate.Sigmoid()  # a fresh instance per neuron, never shared
    if isinstance(surrogate_function, type):
        raise TypeError(f"surrogate_function must be an instance such as sgcourse.surrogate."
                        f"Sigmoid(), got the class {surrogate_function.__name__} itself (add "
                        f"parentheses: {surrogate_function.__name__}())")
    if not callable(surrogate_function):
        raise TypeError("surrogate_function must be a callable (e.g. sgcourse.surrogate."
                        f"Sigmoid()) or None, got {type(surrogate_function).__name__}")
    return surrogate_function


class BaseNode(MemoryModule):
    r"""Base class of the spiking neurons: subclasses define :meth:`neuronal_charge`.

    Args:
        v_threshold: firing threshold :math:`V_{th}`.
        v_reset: hard-reset value :math:`V_{reset}`, or ``None`` for a soft reset (subtract
            :math:`V_{th}`). With a hard reset :math:`V_{th} > V_{reset}` is required.
        surrogate_function: spike function, Heaviside forward and surrogate backward; ``None``
            gives a fresh :class:`sgcourse.surrogate.Sigmoid` (``alpha=4``) for this neuron.
        detach_reset: cut the gradient through the reset (:math:`\hat S` above).
        step_mode: ``'s'`` (input ``[N, *]``) or ``'m'`` (input ``[T, N, *]``).
        backend: multi-step implementation, one of :attr:`supported_backends`; ``None`` picks
            ``'fused'`` when it supports the call, otherwise ``'torch'``.
        store_v_seq: keep ``v_seq``, the post-reset potentials :math:`V[t]` of every step since
            the last ``reset()``, shape ``[T, N, *]``. It can change only between sequences
            (after ``reset()``), so that ``v_seq`` never misses steps.

    The hyper-parameters are numbers, checked on every assignment; a tensor that requires grad
    (an ``nn.Parameter``) is refused, since it would be read once as a float and never learn
    (:class:`~sgcourse.neuron.ParametricLIFNode` learns :math:`\tau`).

    State: ``v`` (the potential after the last step; a float before the first call). A state set
    by hand must be a finite number or a tensor with the input's shape, device and dtype. A call
    whose final potential is NaN or infinite raises :class:`ValueError` (a NaN never crosses the
    threshold: the neuron would fall silent for good): checked once per multi-step call and
    once per single-step call (one host synchronisation per step on a GPU; multi-step mode is
    the fast path).
    """

    state_names: ClassVar[tuple[str, ...]] = ("v",)
    """Names of the state memories passed through :meth:`step`; ``'v'`` comes first."""

    hyper_parameters: ClassVar[dict[str, HyperCheck]] = {
        "v_threshold": real(), "v_reset": optional_real, "detach_reset": check_bool,
        "store_v_seq": check_bool}
    """Checks applied on every assignment (in ``__init__`` and later), so that a hyper-parameter
    can never hold an impossible value; subclasses extend the dict."""

    def __init__(self, *, v_threshold: float = 1.0, v_reset: float | None = 0.0,
                 surrogate_function: SurrogateFn | None = None, detach_reset: bool = False,
                 step_mode: str = "s", backend: str | None = None,
                 store_v_seq: bool = False) -> None:
        super().__init__()
        self.v_threshold = v_threshold
        self.v_reset = v_reset
        self.surrogate_function = surrogate_function
        self.detach_reset = detach_reset
        self.store_v_seq = store_v_seq
        self.step_mode = step_mode
        self.backend = backend
        self.register_memory("v", self.v_reset_or_zero)
        self.register_memory("v_seq", None)

    # ---- validated hyper-parameters ----------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        check = type(self).hyper_parameters.get(name)
        if check is not None:
            value = check(name, value)
            if name == "store_v_seq" and value != self.__dict__.get(name, value):
                self._require_between_sequences(name)
            current = {n: self.__dict__[n] for n in type(self).hyper_parameters
                       if n in self.__dict__}
            self.check_relations({**current, name: value})
        elif name == "surrogate_function":
            value = _surrogate_or_default(value)
            if not isinstance(value, torch.nn.Module) and name in self.__dict__.get("_modules",
                                                                                    {}):
                del self._modules[name]  # replacing a module surrogate by a plain callable
        super().__setattr__(name, value)
        if check is not None:
            self.hyper_parameter_changed(name)

    def _require_between_sequences(self, name: str) -> None:
        """Raise if the neuron is in the middle of a sequence (a state memory holds a tensor)."""
        memories = self.__dict__.get("_memories", {})
        if any(isinstance(memories.get(state), torch.Tensor) for state in self.state_names):
            raise ValueError(f"{name} cannot change in the middle of a sequence: {name}="
                             f"{getattr(self, name)} held for the steps already run, which v_seq "
                             f"would silently miss or keep; call "
                             f"sgcourse.functional.reset_net(net) first (or set {name} at "
                             f"construction)")

    def check_relations(self, values: Mapping[str, Any]) -> None:
        """Raise :class:`ValueError` if the hyper-parameters ``values`` (those set so far) are
        inconsistent: here, a hard reset needs :math:`V_{th} > V_{reset}`."""
        v_threshold, v_reset = values.get("v_threshold"), values.get("v_reset")
        if v_threshold is not None and v_reset is not None and v_threshold <= v_reset:
            raise ValueError(f"v_threshold must be greater than v_reset, got v_threshold="
                             f"{v_threshold} and v_reset={v_reset}")

    def hyper_parameter_changed(self, name: str) -> None:
        """Keep derived state in line after hyper-parameter ``name`` changed: a new ``v_reset``
        becomes the reset (and, before the first call, the current) value of ``v``."""
        if name == "v_reset" and "v" in self._memories:
            self.set_reset_value("v", self.v_reset_or_zero)
            if not isinstance(self.v, torch.Tensor):
                self.v = self.v_reset_or_zero

    @property
    def v_reset_or_zero(self) -> float:
        """``v_reset``, or 0 for a soft reset: the initial potential and the LIF leak target."""
        return 0.0 if self.v_reset is None else self.v_reset

    # ---- backend selection -------------------------------------------------------------------
    @property
    def supported_backends(self) -> tuple[str, ...]:
        """Backends with an implementation for this class in the current ``step_mode``."""
        return _dispatch.supported_backends(type(self), self.step_mode)

    @property
    def backend(self) -> str | None:
        """The chosen multi-step backend, or ``None`` for automatic selection."""
        return self._backend

    @backend.setter
    def backend(self, value: str | None) -> None:
        if value is not None:
            self._check_backend(value)
            if value != "torch":
                _dispatch.load_kernels(value)  # fail now if the package is missing
        self._backend = value

    def _check_backend(self, value: object) -> None:
        supported = self.supported_backends
        if value not in supported:
            raise ValueError(f"backend {value!r} is not supported by {type(self).__name__} in "
                             f"step_mode {self.step_mode!r}; supported backends: {supported}")

    def _implementation(self, x_seq: torch.Tensor) -> _dispatch.Implementation:
        cls = type(self)
        if self._backend is None:
            fused = _dispatch.lookup(cls, "m", "fused")
            if fused is not None and fused.supports(self, x_seq):
                return fused
            return _dispatch.lookup(cls, "m", "torch")
        self._check_backend(self._backend)
        entry = _dispatch.lookup(cls, "m", self._backend)
        if not entry.supports(self, x_seq):
            raise ValueError(f"backend {self._backend!r} of {cls.__name__} does not support this "
                             f"call (surrogate {self.surrogate_function!r}, detach_reset="
                             f"{self.detach_reset}, input dtype {x_seq.dtype} on {x_seq.device})"
                             f"{_dispatch.why_unsupported(self._backend, x_seq)}; use "
                             f"backend='torch' or backend=None (automatic)")
        return entry

    # ---- the three phases --------------------------------------------------------------------
    def neuronal_charge(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """:math:`H[t] = f(V[t-1], X[t])`; each neuron class defines it."""
        raise NotImplementedError(f"{type(self).__name__} must define neuronal_charge(x, v)")

    def neuronal_fire(self, h: torch.Tensor) -> torch.Tensor:
        r""":math:`S[t] = \Theta(H[t] - V_{th})`, differentiated with the surrogate."""
        return self.surrogate_function(h - self.v_threshold)

    def neuronal_reset(self, h: torch.Tensor, spike: torch.Tensor) -> torch.Tensor:
        r"""Hard reset :math:`\hat S V_{reset} + (1-\hat S) H` or soft :math:`H - \hat S V_{th}`."""
        spike = spike.detach() if self.detach_reset else spike
        if self.v_reset is None:
            return h - spike * self.v_threshold
        return spike * self.v_reset + (1.0 - spike) * h

    def step(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """One time step as a pure function: ``(X[t], state[t-1]) -> (output[t], state[t])``."""
        (v,) = state
        h = self.neuronal_charge(x, v)
        spike = self.neuronal_fire(h)
        return spike, (self.neuronal_reset(h, spike),)

    # ---- state handling ----------------------------------------------------------------------
    def _materialize(self, frame: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The state tensors for a frame ``[N, *]``: numbers become ``full_like`` tensors; stored
        tensors must match the frame's shape, device and dtype (a state set by the user, too)."""
        state = []
        for name in self.state_names:
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor):
                number = check_real(f"{type(self).__name__}.{name}", value, _STATE_NUMBER)
                value = torch.full_like(frame, number)
            elif value.dtype != frame.dtype:
                raise TypeError(
                    f"{type(self).__name__}: the stored state {name!r} has dtype {value.dtype}, "
                    f"but the input step has dtype {frame.dtype}; a state set by hand must have "
                    f"the input's dtype (e.g. torch.zeros_like(x)), and a new batch of another "
                    f"dtype needs sgcourse.functional.reset_net(net) first")
            elif value.shape != frame.shape or value.device != frame.device:
                raise ValueError(
                    f"{type(self).__name__}: the stored state {name!r} has shape "
                    f"{tuple(value.shape)} on {value.device}, but the input step has shape "
                    f"{tuple(frame.shape)} on {frame.device}. The state of the previous batch is "
                    f"still there: call sgcourse.functional.reset_net(net) after each batch "
                    f"(before a new batch of another size, device or sequence)")
            state.append(value)
        return tuple(state)

    def _store(self, state: tuple[torch.Tensor, ...], v_seq: torch.Tensor | None) -> None:
        for name, value in zip(self.state_names, state, strict=True):
            setattr(self, name, value)
        if self.store_v_seq:
            self.v_seq = v_seq if self.v_seq is None else torch.cat((self.v_seq, v_seq))

    # ---- forward -----------------------------------------------------------------------------
    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        """One step: ``x`` ``[N, *]`` -> output ``[N, *]`` (spikes for spiking neurons)."""
        check_floating_tensor(x, "x")
        out, state = self.step(x, self._materialize(x))
        if not torch.compiler.is_compiling():
            check_finite_potential(state[0], "x")
        self._store(state, state[0].unsqueeze(0) if self.store_v_seq else None)
        return out

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """All steps: ``x_seq`` ``[T, N, *]`` -> outputs ``[T, N, *]``, through the backend."""
        check_floating_tensor(check_sequence(x_seq), "x_seq")
        state = self._materialize(x_seq[0])
        out_seq, v_seq, state = self._implementation(x_seq).run(self, x_seq, state)
        self._store(state, v_seq)
        return out_seq

    def extra_repr(self) -> str:
        return (f"v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
                f"detach_reset={self.detach_reset}, step_mode={self.step_mode!r}, "
                f"backend={self.backend!r}, store_v_seq={self.store_v_seq}")


def torch_multi_step(node: Any, x_seq: torch.Tensor, state: tuple[torch.Tensor, ...]
                     ) -> tuple[torch.Tensor, torch.Tensor | None, tuple[torch.Tensor, ...]]:
    """The reference backend: :meth:`BaseNode.step` over the frames, autograd through the loop.

    The loop iterates ``x_seq.unbind(0)``: indexing ``x_seq[t]`` inside it would make each
    backward step zero-fill a whole ``[T, ...]`` gradient (quadratic in T).
    """
    outputs, potentials = [], []
    for x in x_seq.unbind(0):
        out, state = node.step(x, state)
        outputs.append(out)
        if node.store_v_seq:
            potentials.append(state[0])
    if not torch.compiler.is_compiling():
        check_finite_potential(state[0])
    return torch.stack(outputs), torch.stack(potentials) if potentials else None, state


_dispatch.register(BaseNode, "m", "torch", torch_multi_step)
_dispatch.register(BaseNode, "s", "torch", torch_multi_step)
