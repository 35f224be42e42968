r"""The Triton σ′ of every surrogate, generated from the surrogates' declarations.

Each :class:`~sgcourse.surrogate.SurrogateSpec` may carry ``triton_derivative``: Triton statements
that assign ``y`` (float32) from ``x`` (float32) and ``ax`` = :math:`|x|`, with the float
hyper-parameters as ``p0``, ``p1`` (declaration order) and an integer one as ``n_terms``. This
module turns those snippets into one ``@triton.jit`` function,

.. code-block:: python

    def surrogate_grad(x, SURROGATE: tl.constexpr, p0, p1, n_terms):
        ax = tl.abs(x)
        if SURROGATE == 0:  # sigmoid
            <sigmoid's snippet>
        elif SURROGATE == 1:  # atan
            ...
        return y

whose ``SURROGATE`` values are the registry's ids (:func:`sgcourse.surrogate.surrogate_id`), so
no table of ids is kept by hand and a formula cannot be attached to the wrong surrogate. The
table is taken once, when this module is imported: a surrogate registered later is not run by
the Triton kernels (``supports`` says so).

The generated source is registered in :mod:`linecache` under a name of its own, so that Triton
(which reads a kernel's source with :func:`inspect.getsource`) can compile or interpret it.
"""

from __future__ import annotations

import hashlib
import linecache
from types import ModuleType
from typing import Any

from sgcourse import surrogate as _surrogate
from sgcourse.surrogate import SurrogateSpec

__all__ = ["KERNEL_SURROGATES", "build_surrogate_grad", "kernel_params", "source"]


def _table() -> dict[str, int]:
    table = {}
    for name in _surrogate.available():
        spec = _surrogate.spec(name)
        if spec.forward == "heaviside" and spec.triton_derivative.strip():
            table[name] = _surrogate.surrogate_id(name)
    return table


KERNEL_SURROGATES: dict[str, int] = _table()
"""Surrogates with a Triton σ′ (name → registry id), fixed when this module was imported."""


def kernel_params(spec: SurrogateSpec, values: tuple[Any, ...]) -> tuple[float, float, int]:
    """``(p0, p1, n_terms)``: the float hyper-parameters in order (unused ones 0) and the
    integer one (0 if none)."""
    floats = [float(v) for h, v in zip(spec.hparams, values, strict=True) if not h.domain.integer]
    ints = [int(v) for h, v in zip(spec.hparams, values, strict=True) if h.domain.integer]
    if len(floats) > 2 or len(ints) > 1:
        raise ValueError(f"surrogate {spec.name}: the Triton kernels take at most two float and "
                         f"one integer hyper-parameter, got {spec.names}")
    floats += [0.0] * (2 - len(floats))
    return floats[0], floats[1], (ints[0] if ints else 0)


def source() -> str:
    """The Python source of ``surrogate_grad`` for :data:`KERNEL_SURROGATES`."""
    lines = [
        "def surrogate_grad(x, SURROGATE: tl.constexpr, p0, p1, n_terms):",
        '    """σ′(x) in float32 for the surrogate with registry id SURROGATE (generated)."""',
        "    ax = tl.abs(x)",
    ]
    for i, (name, sid) in enumerate(sorted(KERNEL_SURROGATES.items(), key=lambda kv: kv[1])):
        lines.append(f"    {'if' if i == 0 else 'elif'} SURROGATE == {sid}:  # {name}")
        body = _surrogate.spec(name).triton_derivative.strip("\n").splitlines()
        lines.extend("        " + line for line in body)
    if KERNEL_SURROGATES:
        lines.append("    else:")
        lines.append('        tl.static_assert(False, "no Triton σ′ for this surrogate id")')
    else:
        lines.append('    tl.static_assert(False, "no Triton σ′ for this surrogate id")')
    lines.append("    return y")
    return "\n".join(lines) + "\n"


def build_surrogate_grad(triton: ModuleType, tl: ModuleType) -> Any:
    """``triton.jit`` of :func:`source` (compiled or interpreted, as ``triton.jit`` decides)."""
    text = source()
    digest = hashlib.sha1(text.encode()).hexdigest()[:12]
    filename = f"<sgcourse.kernels triton surrogate_grad {digest}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    namespace: dict[str, Any] = {"tl": tl, "triton": triton, "__name__": __name__}
    exec(compile(text, filename, "exec"), namespace)
    return triton.jit(namespace["surrogate_grad"])
