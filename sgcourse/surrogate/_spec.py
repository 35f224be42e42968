"""The declaration of one surrogate: Function, functional and Module all derive from it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

from sgcourse._checks import Domain, check_real, check_real_tensor

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

    Two optional parts serve the fused kernels (:mod:`sgcourse.kernels`); any surrogate may
    provide them, and a kernel falls back to ``derivative`` (or to another backend) without them:

    ``derivative_into(h, shift, out, *params) -> Tensor``
        σ′(h − shift) computed in the preallocated ``out`` (shaped like ``h``, which is read
        only), with Python-float ``shift`` and ``params``; the result must be bitwise equal to
        ``derivative(h - shift, *params)``. The fused backward evaluates σ′ once per time step,
        so saving its temporaries pays (the tests check the bits for every surrogate that has
        one).
    ``triton_derivative``
        σ′ as Triton statements that assign ``y`` (float32) from ``x`` (float32) and ``ax`` =
        :math:`|x|`, with the float hyper-parameters as ``p0``, ``p1`` (declaration order) and
        an integer one as ``n_terms``; only ``triton.language`` builtins (``tl.exp``,
        ``tl.where``, ``tl.maximum``, …) may be used. The Triton kernels are generated from
        these snippets (:mod:`sgcourse.kernels._triton_surrogates`); an empty string means "no
        Triton σ′".
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
    derivative_into: Callable[..., torch.Tensor] | None = None
    triton_derivative: str = ""

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

    def check_params(self, params: Sequence[object], like: torch.Tensor | None = None
                     ) -> tuple[Param, ...]:
        """Validate the positional hyper-parameters of the functional API.

        Numbers are checked fully. Tensors (a reference feature: a tensor ``alpha``) are checked
        entry by entry (:func:`sgcourse._checks.check_real_tensor`: real floating point, every
        entry in the domain, broadcastable to ``like``, the input); no gradient ever flows to
        them (the spiking forward Θ(x) does not depend on them).
        """
        if len(params) > len(self.hparams):
            raise TypeError(f"{self.name}.apply takes at most {len(self.hparams)} "
                            f"hyper-parameter(s) {self.names} after x, got {len(params)}")
        checked: list[Param] = []
        for h, value in zip(self.hparams, params, strict=False):
            if isinstance(value, torch.Tensor):
                checked.append(check_real_tensor(h.name, value, h.domain, like))
            else:
                checked.append(h.validate(value))
        checked.extend(h.default for h in self.hparams[len(params):])
        return tuple(checked)
