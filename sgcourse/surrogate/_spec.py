"""The declaration of one surrogate: Function, functional and Module all derive from it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

from sgcourse._checks import Domain, check_floating_tensor, check_real

Param = float | torch.Tensor
Expr = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class HyperParameter:
    """A shape hyper-parameter: its name, default, admissible values and meaning."""

    name: str
    default: float
    domain: Domain
    doc: str
    reference_default: float | None = None  # SpikingJelly's default where ours differs

    def validate(self, value: object) -> float:
        """Return the value as a float (int for integer domains), or raise naming ``name``."""
        return check_real(self.name, value, self.domain)


@dataclass(frozen=True)
class SurrogateSpec:
    """One surrogate gradient function, declared once.

    ``primitive(x, *params)`` is the smooth function σ(x) and ``derivative(x, *params)`` its
    derivative σ′(x), both written with plain torch operations in numerically stable forms.
    The spiking forward pass is the Heaviside step Θ(x) (or Bernoulli sampling for
    ``forward="bernoulli"``) and the backward pass multiplies the incoming gradient by σ′(x).
    """

    name: str
    class_name: str
    hparams: tuple[HyperParameter, ...]
    primitive: Expr
    derivative: Expr
    primitive_tex: str
    derivative_tex: str
    summary: str
    kinks: Callable[..., tuple[float, ...]] = field(default=lambda *p: ())
    forward: Literal["heaviside", "bernoulli"] = "heaviside"
    note: str = ""

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hparams)

    @property
    def defaults(self) -> dict[str, float]:
        return {h.name: h.default for h in self.hparams}

    def bind(self, args: Sequence[object], kwargs: Mapping[str, object]) -> dict[str, float]:
        """Map positional and keyword hyper-parameters to validated values (defaults filled in)."""
        if len(args) > len(self.hparams):
            raise TypeError(f"{self.class_name} takes at most {len(self.hparams)} positional "
                            f"hyper-parameter(s) {self.names}, got {len(args)}")
        values: dict[str, object] = dict(zip(self.names, args, strict=False))
        for key, value in kwargs.items():
            if key not in self.names:
                raise TypeError(f"{self.class_name} got an unexpected hyper-parameter {key!r}; "
                                f"its hyper-parameters are {self.names}")
            if key in values:
                raise TypeError(f"{self.class_name} got hyper-parameter {key!r} twice")
            values[key] = value
        return {h.name: h.validate(values.get(h.name, h.default)) for h in self.hparams}

    def check_params(self, params: Sequence[object]) -> tuple[Param, ...]:
        """Validate the positional hyper-parameters of the functional API.

        Numbers are checked fully. Tensors (a reference feature: a tensor ``alpha``) must be
        real floating point; no gradient ever flows to them.
        """
        if len(params) > len(self.hparams):
            raise TypeError(f"{self.name}.apply takes at most {len(self.hparams)} "
                            f"hyper-parameter(s) {self.names} after x, got {len(params)}")
        checked: list[Param] = []
        for h, value in zip(self.hparams, params, strict=False):
            if isinstance(value, torch.Tensor) and value.numel() != 1:
                check_floating_tensor(value, h.name)
                checked.append(value.detach())
            else:
                checked.append(h.validate(value))
        checked.extend(h.default for h in self.hparams[len(params):])
        return tuple(checked)
