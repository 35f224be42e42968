r"""Step-mode-aware layers: ordinary ``torch.nn`` layers that also accept sequences ``[T, N, *]``.

A synapse layer (linear, convolution, pooling, batch norm) has no state across time, so in
multi-step mode it can process all :math:`T` frames as one batch of :math:`T \cdot N` samples
(:func:`sgcourse.functional.seq_to_ann_forward`). Each layer here takes the usual ``torch.nn``
arguments plus ``step_mode='s'``; ``functional.set_step_mode(net, 'm')`` switches a whole
network.

:class:`SeqToANNContainer` wraps any stateless modules this way; :class:`MultiStepContainer`
runs single-step (stateful) modules over a sequence frame by frame. :class:`Dropout` keeps one
mask per sequence: the same neurons are dropped at every time step until ``reset()``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sgcourse._checks import Domain, check_floating_tensor, check_real
from sgcourse.base import MemoryModule, StepModule, TimeContainer, check_sequence
from sgcourse.functional import multi_step_forward, seq_to_ann_forward

__all__ = [
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Flatten",
    "Linear",
    "MaxPool2d",
    "MultiStepContainer",
    "SeqToANNContainer",
]

_PROBABILITY = Domain("a probability in [0, 1)", lambda v: 0.0 <= v < 1.0)


class SeqToANNContainer(nn.Sequential, TimeContainer):
    r"""Apply stateless modules to a sequence ``[T, N, *]`` as one batch ``[T·N, *]``.

    Example: ``SeqToANNContainer(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8))`` on ``[T, N, 1, H, W]``
    returns ``[T, N, 8, H', W']``. Always multi-step.
    """

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__(*modules)
        self._step_mode = "m"

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return seq_to_ann_forward(x_seq, list(self))


class MultiStepContainer(nn.Sequential, TimeContainer):
    r"""Run single-step modules over a sequence ``[T, N, *]`` one frame at a time.

    :math:`Y[t] = f(X[t])` for :math:`t = 0, \dots, T-1`, with the modules' state carried from
    one step to the next. Always multi-step; its children stay in single-step mode.
    """

    def __init__(self, *modules: nn.Module) -> None:
        super().__init__(*modules)
        self._step_mode = "m"

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        return multi_step_forward(x_seq, super().forward)


class _SeqLayer(StepModule):
    """Mixin: in ``'m'`` mode check ``[T, N, *]`` (a frame ``[N, *]`` having between
    ``frame_dims = (least, most)`` dimensions) and run the plain layer on ``[T·N, *]``; in
    ``'s'`` mode run the plain layer unchanged.

    Checking the number of dimensions is what catches a single step ``[N, *]`` given to a
    multi-step layer: without it the layer would fold N into the time axis and fail (or, worse,
    succeed) deep inside the wrapped ``torch.nn`` layer.
    """

    frame_dims: tuple[int, int | None] = (2, None)  # least and most dimensions of a frame [N, *]
    frame_layout: str = "N, ..."  # how a frame is written in error messages

    def _init_step_mode(self, step_mode: str) -> None:
        self.step_mode = step_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layer_forward = super().forward  # type: ignore[misc]
        if self.step_mode == "s":
            return layer_forward(x)
        check_sequence(x)
        least, most = self.frame_dims
        if x.dim() - 1 < least or (most is not None and x.dim() - 1 > most):
            ranks = (f"at least {least + 1}" if most is None else f"{least + 1}"
                     if least == most else f"{least + 1} to {most + 1}")
            raise ValueError(
                f"{type(self).__name__} in multi-step mode expects x_seq of shape "
                f"[T, {self.frame_layout}] ({ranks} dimensions, time first), got shape "
                f"{tuple(x.shape)}; for one time step [{self.frame_layout}] use step_mode='s', "
                f"or add the time dimension with x.unsqueeze(0)")
        return seq_to_ann_forward(x, layer_forward)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, step_mode={self.step_mode!r}"  # type: ignore[misc]


class Linear(_SeqLayer, nn.Linear):
    r""":class:`torch.nn.Linear`, :math:`y = x W^\top + b`, for ``[N, F]`` or ``[T, N, F]``."""

    frame_layout = "N, ..., in_features"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.dim() and x.shape[-1] != self.in_features:
            raise ValueError(f"Linear expects an input whose last dimension is in_features="
                             f"{self.in_features}, got shape {tuple(x.shape)}")
        return super().forward(x)

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 step_mode: str = "s", **kwargs: Any) -> None:
        super().__init__(in_features, out_features, bias, **kwargs)
        self._init_step_mode(step_mode)


class Conv2d(_SeqLayer, nn.Conv2d):
    """:class:`torch.nn.Conv2d`; multi-step input must be 5-D ``[T, N, C, H, W]``."""

    frame_dims = (4, 4)
    frame_layout = "N, C, H, W"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", step_mode: str = "s", **kwargs: Any) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, **kwargs)
        self._init_step_mode(step_mode)


class BatchNorm1d(_SeqLayer, nn.BatchNorm1d):
    """:class:`torch.nn.BatchNorm1d`; statistics over the ``T·N`` (and L) samples in ``'m'``."""

    frame_dims = (2, 3)
    frame_layout = "N, C(, L)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, step_mode: str = "s",
                 **kwargs: Any) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, **kwargs)
        self._init_step_mode(step_mode)


class BatchNorm2d(_SeqLayer, nn.BatchNorm2d):
    """:class:`torch.nn.BatchNorm2d`; multi-step input must be 5-D ``[T, N, C, H, W]``."""

    frame_dims = (4, 4)
    frame_layout = "N, C, H, W"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, step_mode: str = "s",
                 **kwargs: Any) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, **kwargs)
        self._init_step_mode(step_mode)


class MaxPool2d(_SeqLayer, nn.MaxPool2d):
    """:class:`torch.nn.MaxPool2d`; multi-step input must be 5-D ``[T, N, C, H, W]``."""

    frame_dims = (4, 4)
    frame_layout = "N, C, H, W"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 dilation: Any = 1, return_indices: bool = False, ceil_mode: bool = False,
                 step_mode: str = "s") -> None:
        super().__init__(kernel_size, stride, padding, dilation, return_indices, ceil_mode)
        self._init_step_mode(step_mode)


class AvgPool2d(_SeqLayer, nn.AvgPool2d):
    """:class:`torch.nn.AvgPool2d`; multi-step input must be 5-D ``[T, N, C, H, W]``."""

    frame_dims = (4, 4)
    frame_layout = "N, C, H, W"

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None, step_mode: str = "s") -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad,
                         divisor_override)
        self._init_step_mode(step_mode)


class Flatten(_SeqLayer, nn.Flatten):
    """:class:`torch.nn.Flatten`; in ``'m'`` mode each frame ``[N, *]`` is flattened alone, so
    ``Flatten()`` maps ``[T, N, C, H, W]`` to ``[T, N, C·H·W]``."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1, step_mode: str = "s") -> None:
        super().__init__(start_dim, end_dim)
        self._init_step_mode(step_mode)


class Dropout(MemoryModule):
    r"""Dropout with one mask per sequence: the same units are dropped at every time step.

    In training, :math:`y = x \odot m / (1 - p)` with :math:`m \sim \text{Bernoulli}(1 - p)` drawn
    on the first call after ``reset()`` and reused until the next ``reset()`` (a fresh mask per
    time step would inject noise at every step instead of thinning the network). In ``eval()``
    mode it is the identity. Single-step input ``[N, *]``; multi-step ``[T, N, *]`` with one
    mask of shape ``[N, *]`` for all T.
    """

    def __init__(self, p: float = 0.5, step_mode: str = "s") -> None:
        super().__init__()
        self.p = check_real("p", p, _PROBABILITY)
        self.step_mode = step_mode
        self.register_memory("mask", None)

    def _mask_for(self, frame: torch.Tensor) -> torch.Tensor:
        if self.mask is None:
            keep = torch.full_like(frame, 1.0 - self.p)
            self.mask = torch.bernoulli(keep) / (1.0 - self.p)
        elif self.mask.shape != frame.shape:
            raise ValueError(f"Dropout: the stored mask has shape {tuple(self.mask.shape)} but "
                             f"the input frame has shape {tuple(frame.shape)}; call "
                             f"sgcourse.functional.reset_net(net) between sequences")
        return self.mask

    def single_step_forward(self, x: torch.Tensor) -> torch.Tensor:
        check_floating_tensor(x, "x")
        if not self.training or self.p == 0.0:
            return x
        return x * self._mask_for(x)

    def multi_step_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        check_floating_tensor(check_sequence(x_seq), "x_seq")
        if not self.training or self.p == 0.0:
            return x_seq
        return x_seq * self._mask_for(x_seq[0])

    def extra_repr(self) -> str:
        return f"p={self.p}, step_mode={self.step_mode!r}"
