r"""Surrogate gradient functions: Heaviside forward, smooth derivative backward.

A spiking neuron fires :math:`S = \Theta(V - V_{th})`. The true derivative of the Heaviside step
:math:`\Theta` is the Dirac delta, zero almost everywhere, so no gradient reaches the weights. The
surrogate gradient method keeps :math:`\Theta` in the forward pass and uses the derivative
:math:`\sigma'(x)` of a smooth, step-like function :math:`\sigma` in the backward pass.

Two APIs, like ``torch.nn`` and ``torch.nn.functional``::

    sg = surrogate.Sigmoid(alpha=4.)          # module style (an nn.Module)
    y = sg(x)                                  # Θ(x) forward, σ′(x) backward
    y = surrogate.sigmoid.apply(x, 4.)         # functional style (an autograd Function)
    surrogate.Sigmoid(spiking=False)(x)        # the smooth primitive σ(x) itself

Every surrogate is declared once (:mod:`sgcourse.surrogate._family`); its Function, functional,
Module and registry entry are derived from that declaration. ``available()`` lists the names,
``get(name, **hparams)`` builds one, ``spec(name)`` returns the declaration and ``surrogate_id``
the integer id that fused kernels use. ``register(declaration)`` adds a surrogate of your own.
A declaration may also give the kernels an in-place σ′ (``derivative_into``, used by the fused
backward) and a Triton σ′ (``triton_derivative``, from which the Triton kernels are generated);
kernels never name a surrogate.

**Defaults make the peak of σ′ equal to 1**, so that a product of surrogate gradients over layers
or time steps neither vanishes nor explodes because of the surrogate's scale. SpikingJelly breaks
this principle for five surrogates; we choose defaults that honour it:

========================  =========================  ======================  ==============
surrogate                 SpikingJelly default       sgcourse default        peak σ′ (ours)
========================  =========================  ======================  ==============
PiecewiseExp              alpha=1 (peak 0.5)         alpha=2                 α/2 = 1
Erf                       alpha=2 (peak 1.128)       alpha=√π ≈ 1.7725       α/√π = 1
PiecewiseLeakyReLU        w=1, c=0.01 (peak 0.5)     w=0.5, c=0.01           1/(2w) = 1
SquarewaveFourierSeries   n=2, T_period=8 (peak 0.5) n=2, T_period=4         4(n−1)/T = 1
FakeNumericalGradient     alpha=0.3 (peak 0.3)       alpha=1                 α = 1
========================  =========================  ======================  ==============

With equal explicit hyper-parameters, values and gradients equal SpikingJelly's formulas, except
where those are inconsistent: PiecewiseLeakyReLU's σ′ is the slope 1/(2w) of its primitive (not
1/w), LogTailedReLU's primitive is finite for x ≤ 0 (no NaN), S2NN's primitive has no 1e-5 inside
the logarithm, and SuperSpike and FakeNumericalGradient get a primitive (the exact antiderivative
of σ′), so ``spiking=False`` works for every surrogate. ``PoissonPass`` samples Bernoulli(x) in
its forward pass (x clamped to [0, 1]) instead of Θ(x).
"""

from __future__ import annotations

from typing import Any

import torch

from sgcourse.surrogate._factory import Surrogate, heaviside, make_function, make_module
from sgcourse.surrogate._family import FAMILY
from sgcourse.surrogate._spec import HyperParameter, SurrogateSpec

_MODULES: dict[str, type[Surrogate]] = {}
_FUNCTIONS: dict[str, type[torch.autograd.Function]] = {}
_IDS: dict[str, int] = {}
for _id, _decl in enumerate(FAMILY):
    _FUNCTIONS[_decl.name] = make_function(_decl)
    _MODULES[_decl.name] = make_module(_decl, _FUNCTIONS[_decl.name])
    _IDS[_decl.name] = _id
    globals()[_decl.name] = _FUNCTIONS[_decl.name]
    globals()[_decl.class_name] = _MODULES[_decl.name]
_ALIASES = {spec.class_name.lower(): spec.name for spec in FAMILY}


def available() -> list[str]:
    """The snake_case names of every registered surrogate, in id order."""
    return list(_MODULES)


def _canonical(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a surrogate name (str), got {type(name).__name__}")
    key = name.strip()
    key = key if key in _MODULES else _ALIASES.get(key.lower().replace("_", ""), key)
    if key not in _MODULES:
        raise ValueError(f"unknown surrogate {name!r}; available: {', '.join(available())}")
    return key


def spec(name: str) -> SurrogateSpec:
    """The declaration of surrogate ``name`` (snake_case or CamelCase)."""
    return _MODULES[_canonical(name)].spec


def module_class(name: str) -> type[Surrogate]:
    """The ``nn.Module`` class of surrogate ``name``."""
    return _MODULES[_canonical(name)]


def function(name: str) -> type[torch.autograd.Function]:
    """The autograd Function (functional API) of surrogate ``name``."""
    return _FUNCTIONS[_canonical(name)]


def get(name: str, **hparams: Any) -> Surrogate:
    """Build surrogate ``name`` with keyword hyper-parameters (and optionally ``spiking``)."""
    return _MODULES[_canonical(name)](**hparams)


def register(declaration: SurrogateSpec) -> type[Surrogate]:
    """Add a surrogate of your own to the registry and return its ``nn.Module`` class.

    Its autograd Function and Module are derived from ``declaration`` exactly as for the built-in
    surrogates; afterwards ``available()`` lists it (last: it gets the next id), and ``get``,
    ``spec``, ``function``, ``module_class`` and ``surrogate_id`` accept its name or
    ``class_name``. Neurons using it run the ``'torch'`` and ``'fused'`` backends (the fused
    kernel calls ``declaration.derivative``); the Triton kernels implement only the built-in
    surrogates and are not used for it. Registration lasts for the interpreter's lifetime:
    registering the same declaration object again returns the same class (so a notebook cell can
    be re-run); another declaration under a taken name or class name raises ``ValueError``.
    """
    if not isinstance(declaration, SurrogateSpec):
        raise TypeError(f"declaration must be a SurrogateSpec, got {type(declaration).__name__}")
    name, class_name = declaration.name, declaration.class_name
    if name in _MODULES and _MODULES[name].spec is declaration:
        return _MODULES[name]
    if not (isinstance(name, str) and name.isidentifier() and name == name.lower()):
        raise ValueError(f"declaration.name must be a snake_case identifier, got {name!r}")
    if not (isinstance(class_name, str) and class_name.isidentifier()):
        raise ValueError(f"declaration.class_name must be an identifier, got {class_name!r}")
    if not (callable(declaration.primitive) and callable(declaration.derivative)):
        raise TypeError("declaration.primitive and declaration.derivative must be callables")
    if declaration.forward not in ("heaviside", "bernoulli"):
        raise ValueError(f"declaration.forward must be 'heaviside' or 'bernoulli', got "
                         f"{declaration.forward!r}")
    alias = class_name.lower().replace("_", "")
    taken = name in _MODULES or alias in _ALIASES or name.replace("_", "") in _ALIASES
    if taken:
        raise ValueError(f"a surrogate named {name!r} or {class_name!r} is already registered; "
                         f"registered: {', '.join(available())}")
    _FUNCTIONS[name] = make_function(declaration)
    _MODULES[name] = make_module(declaration, _FUNCTIONS[name])
    _IDS[name] = len(_IDS)
    _ALIASES[alias] = name
    return _MODULES[name]


def surrogate_id(surrogate: str | Surrogate) -> int:
    """The stable integer id of a surrogate (a name or a module), used by fused kernels."""
    if isinstance(surrogate, Surrogate):
        return _IDS[surrogate.spec.name]
    return _IDS[_canonical(surrogate)]


__all__ = [
    "HyperParameter",
    "Surrogate",
    "SurrogateSpec",
    "available",
    "function",
    "get",
    "heaviside",
    "module_class",
    "register",
    "spec",
    "surrogate_id",
    *(s.class_name for s in FAMILY),
    *(s.name for s in FAMILY),
]


def __dir__() -> list[str]:
    return sorted(__all__)
