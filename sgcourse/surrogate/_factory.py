"""Derive the autograd Function, the functional and the ``nn.Module`` from a surrogate spec."""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import torch
from torch import nn
from torch.autograd.function import FunctionCtx

from sgcourse._checks import (
    check_bool,
    check_floating_tensor,
    check_real,
    check_real_tensor,
    require_all,
)
from sgcourse.surrogate._spec import Param, SurrogateSpec

__all__ = ["Surrogate", "heaviside", "make_function", "make_module"]

PUBLIC_MODULE = "sgcourse.surrogate"


def heaviside(x: torch.Tensor) -> torch.Tensor:
    r"""The Heaviside step :math:`\Theta(x) = 1` if :math:`x \ge 0`, else 0.

    The result has the dtype and device of ``x`` (so :math:`\Theta(0) = 1`: a neuron exactly at
    threshold fires). Its true derivative is the Dirac delta, zero almost everywhere.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"x must be a real tensor, got dtype {x.dtype}")
    return (x >= 0).to(x.dtype)


def _check_probability_input(x: torch.Tensor) -> torch.Tensor:
    """Bernoulli sampling needs a number at every entry: raise if ``x`` holds a NaN."""
    require_all(x, ~torch.isnan(x), "x must not contain NaN: PoissonPass fires with probability "
                "clamp(x, 0, 1), which a NaN does not define")
    return x


def make_function(spec: SurrogateSpec) -> type[torch.autograd.Function]:
    """The autograd Function: forward Θ(x), backward ``grad · σ′(x)``; hyper-parameters get None.

    The hyper-parameters are checked on every call, also while ``torch.compile`` traces (numbers
    by comparisons; tensor entries inside the compiled graph, see
    :func:`sgcourse._checks.check_real_tensor`). A tensor hyper-parameter must broadcast to the
    shape of ``x``: the gradient it scales must keep the shape of ``x``.
    """
    derivative = spec.derivative
    defaults = tuple(h.default for h in spec.hparams)
    bernoulli = spec.forward == "bernoulli"
    # What torch.compile traces may capture only functions, tuples and named tuples (a Domain),
    # not the spec object: while tracing, the same checks run from this tuple.
    domains = tuple((h.name, h.domain) for h in spec.hparams)

    def check_params_traced(x: torch.Tensor, params: tuple[Param, ...]) -> None:
        if len(params) > len(domains):
            raise TypeError(f"too many hyper-parameters after x: at most {len(domains)}")
        for (name, domain), value in zip(domains, params, strict=False):
            if isinstance(value, torch.Tensor):
                check_real_tensor(name, value, domain, x)
            else:
                check_real(name, value, domain)

    def check_params(x: torch.Tensor, params: tuple[Param, ...]) -> None:
        spec.check_params(params, x)  # never traced: forward below must not capture spec

    def forward(x: torch.Tensor, *params: Param) -> torch.Tensor:
        if isinstance(x, FunctionCtx):
            # torch.compile, for inputs that need no gradient, passes the context first unless
            # the number of arguments equals the number of forward's parameters (2 here): it did
            # so for apply(x) and for two hyper-parameters, and fullgraph=True then failed
            x, *params = params
        check_floating_tensor(x, "x")
        if torch.compiler.is_compiling():
            check_params_traced(x, params)
        else:
            check_params(x, params)
        if bernoulli:
            return torch.bernoulli(_check_probability_input(x).clamp(0, 1))
        return heaviside(x)

    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        x, *params = inputs
        ctx.save_for_backward(x)
        ctx.params = (*params, *defaults[len(params):])
        ctx.n_params = len(params)

    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (x,) = ctx.saved_tensors
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_output * derivative(x, *ctx.params)
        return (grad_x, *([None] * ctx.n_params))

    namespace = {
        "forward": staticmethod(forward),
        "setup_context": staticmethod(setup_context),
        "backward": staticmethod(backward),
        "generate_vmap_rule": spec.forward == "heaviside",
        "spec": spec,
        "__module__": PUBLIC_MODULE,
        "__qualname__": spec.name,
        "__doc__": (f"Functional form of :class:`{spec.class_name}`: "
                    f"``{spec.name}.apply(x, {', '.join(spec.names)})``, hyper-parameters "
                    f"positional in that order (omitted ones take their defaults)."),
    }
    return type(spec.name, (torch.autograd.Function,), namespace)


class Surrogate(nn.Module):
    """Base class of every surrogate module; the concrete classes are derived from a spec.

    With ``spiking=True`` (default) the module returns Θ(x) and back-propagates σ′(x); with
    ``spiking=False`` it returns the smooth primitive σ(x), differentiated by autograd.
    Hyper-parameters are plain float attributes, validated on every assignment; no gradient
    flows to them, so a tensor that requires grad (such as an ``nn.Parameter``) is refused with
    a :class:`TypeError` instead of being silently frozen into a float.
    """

    spec: ClassVar[SurrogateSpec]
    function: ClassVar[type[torch.autograd.Function]]
    spiking: bool

    def __init__(self, *args: object, spiking: bool = True, **kwargs: object) -> None:
        super().__init__()
        for name, value in self.spec.bind(args, kwargs).items():
            setattr(self, name, value)
        self.spiking = spiking

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.spec.names:
            value = self.spec.hparams[self.spec.names.index(name)].validate(value)
        elif name == "spiking":
            value = check_bool("spiking", value)
        super().__setattr__(name, value)

    @property
    def hparams(self) -> tuple[float, ...]:
        """The hyper-parameter values, in declaration order."""
        return tuple(getattr(self, name) for name in self.spec.names)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spiking:
            return self.function.apply(x, *self.hparams)
        check_floating_tensor(x, "x")
        return self.spec.primitive(x, *self.hparams)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        """σ(x) at the current hyper-parameters (for plotting and analysis)."""
        return self.spec.primitive(check_floating_tensor(x, "x"), *self.hparams)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        """σ′(x) at the current hyper-parameters: the gradient the backward pass uses."""
        return self.spec.derivative(check_floating_tensor(x, "x"), *self.hparams)

    def set_spiking_mode(self, spiking: bool) -> None:
        """Switch between the spiking forward (Θ) and the smooth primitive σ."""
        self.spiking = spiking

    def extra_repr(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)}" for name in self.spec.names)
        return f"{values}, spiking={self.spiking}" if values else f"spiking={self.spiking}"


def _module_doc(spec: SurrogateSpec) -> str:
    params = "\n".join(
        f"    {h.name} ({h.domain.description}, default {h.default}): {h.doc}" for h in spec.hparams
    ) or "    (none)"
    note = f"\n\n{spec.note}" if spec.note else ""
    return (f"{spec.summary}\n\n"
            f".. math::\n\n    \\sigma(x) = {spec.primitive_tex}\n\n"
            f".. math::\n\n    \\sigma'(x) = {spec.derivative_tex}\n\n"
            f"Hyper-parameters:\n{params}\n    spiking (bool, default True): Θ forward and σ′ "
            f"backward if True, else the smooth primitive σ.\n\n"
            f"Functional form: ``{spec.name}.apply(x, {', '.join(spec.names)})``.{note}")


def make_module(spec: SurrogateSpec, function: type[torch.autograd.Function]) -> type[Surrogate]:
    """The CamelCase ``nn.Module`` for ``spec``, with a real signature for ``help()``."""
    parameters = [
        inspect.Parameter(h.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=h.default,
                          annotation=float)
        for h in spec.hparams
    ]
    parameters.append(inspect.Parameter("spiking", inspect.Parameter.KEYWORD_ONLY, default=True,
                                        annotation=bool))
    namespace = {
        "spec": spec,
        "function": function,
        "__module__": PUBLIC_MODULE,
        "__qualname__": spec.class_name,
        "__doc__": _module_doc(spec),
    }
    cls = type(spec.class_name, (Surrogate,), namespace)
    cls.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return cls
