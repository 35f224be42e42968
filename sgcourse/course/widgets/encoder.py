r"""A live explorer of the two spike codes of lesson 06: what survives of an image after T steps.

:func:`encoder_explorer` encodes one 8×8 digit with a Poisson rate code or a latency code over
:math:`T` steps and shows, side by side, the input spike raster (64 input neurons × T steps) and
the image a reader can decode from those spikes:

* rate code: :math:`\hat x_i = \frac1T \sum_t X_i[t]`, with mean squared error
  :math:`\approx \overline{x(1-x)}/T` (noise that shrinks like :math:`1/T`);
* latency code: :math:`\hat x_i = 1 - t_i/(T-1)` from the spike time :math:`t_i` (no noise, but
  only :math:`T` grey levels: rounding).

Sliders choose :math:`T` and the digit, a dropdown the code. Drawn like the other explorers
(:class:`~sgcourse.course.widgets.render.BlittedFigure`): the time axis is fixed at
:data:`MAX_STEPS` steps so that the cached background stays valid; the same state always gives
the same PNG bytes (the Poisson draws are seeded by the digit and T).
"""

from __future__ import annotations

import ipywidgets as widgets
import torch

from sgcourse import encoding
from sgcourse._checks import check_floating_tensor, check_int
from sgcourse.course.widgets.render import BlittedFigure, LiveFigure

__all__ = ["CODES", "MAX_STEPS", "EncoderExplorer", "decode", "encode_digit", "encoder_explorer"]

CODES: tuple[str, ...] = ("poisson", "latency")
"""The spike codes the explorer offers."""

MAX_STEPS = 32
"""The largest T of the slider (and the fixed length of the time axis)."""

_SIDE = 8


def encode_digit(image: torch.Tensor, time_steps: int, code: str, seed: int) -> torch.Tensor:
    """Spikes ``[T, 64]`` of one flat image ``[64]``; Poisson draws fixed by ``seed``."""
    if code == "poisson":
        generator = torch.Generator().manual_seed(seed)
        return encoding.poisson_encode(image, time_steps, generator=generator)
    return encoding.latency_encode(image, time_steps)


def decode(spikes: torch.Tensor, code: str) -> torch.Tensor:
    r"""The intensities a reader recovers from input spikes ``[T, K]``: the rate
    :math:`\frac1T \sum_t X[t]` (``'poisson'``) or :math:`1 - t_{\text{spike}}/(T-1)`
    (``'latency'``; 1 when T = 1)."""
    check_floating_tensor(spikes, "spikes")
    if code not in CODES:
        raise ValueError(f"code must be one of {CODES}, got {code!r}")
    if spikes.dim() != 2:
        raise ValueError(f"spikes must have shape [T, K], got {tuple(spikes.shape)}")
    steps = spikes.shape[0]
    if code == "poisson":
        return spikes.mean(0)
    if steps == 1:
        return torch.ones_like(spikes[0])
    return 1.0 - spikes.argmax(0).to(spikes.dtype) / (steps - 1)


class EncoderExplorer(LiveFigure, widgets.VBox):
    """Live view of one digit under a spike code: a dropdown, two sliders, a label, the figure.

    Attributes for code and tests: ``code`` (``ipywidgets.Dropdown``), ``steps`` and ``digit``
    (``ipywidgets.IntSlider``), ``error_label`` (``ipywidgets.Label`` with the decoding error),
    ``image`` (``ipywidgets.Image``), ``spikes`` (the current ``[T, 64]``), ``decoded``
    (``[64]``), ``squared_error`` (mean over pixels), ``redraw_count``, ``last_redraw_seconds``.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, code: str = "poisson",
                 time_steps: int = 4, digit: int = 0, dpi: int = 80) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        check_floating_tensor(images, "images")
        if images.dim() != 2 or images.shape[1] != _SIDE * _SIDE or len(images) == 0:
            raise ValueError(f"images must have shape [N, 64] with N > 0 (flat 8×8 digits), got "
                             f"{tuple(images.shape)}")
        if (not isinstance(labels, torch.Tensor) or labels.shape != (len(images),)):
            raise ValueError(f"labels must be a tensor of shape [{len(images)}]")
        if code not in CODES:
            raise ValueError(f"code must be one of {CODES}, got {code!r}")
        time_steps = check_int("time_steps", time_steps, 1)
        if time_steps > MAX_STEPS:
            raise ValueError(f"time_steps must be at most {MAX_STEPS}, got {time_steps}")
        digit = check_int("digit", digit, 0)
        if digit >= len(images):
            raise ValueError(f"digit must be an index below {len(images)}, got {digit}")
        self.images, self.labels = images.detach().float(), labels

        self.figure = Figure(figsize=(9.6, 3.6), dpi=check_int("dpi", dpi, 10))
        self.figure.subplots_adjust(left=0.08, right=0.93, bottom=0.15, top=0.88, wspace=0.4)
        FigureCanvasAgg(self.figure)
        self._raster_ax, self._image_ax = self.figure.subplots(
            1, 2, gridspec_kw={"width_ratios": [1.6, 1.0]})
        ax = self._raster_ax
        self._marks = ax.scatter([], [], marker="|", s=40, linewidths=1.2, color="black",
                                 label="input spike")
        self._end = ax.axvline(time_steps - 0.5, color="tab:red", linestyle="--",
                               label="end of the T steps")
        ax.set_xlim(-0.5, MAX_STEPS - 0.5)
        ax.set_ylim(-0.5, _SIDE * _SIDE - 0.5)
        ax.set_xlabel("time step $t$ (steps)")
        ax.set_ylabel("input neuron = pixel index")
        ax.legend(loc="upper right", fontsize="small", framealpha=1.0)
        ax.set_title(" ")
        self._shown = self._image_ax.imshow(torch.zeros(_SIDE, _SIDE).numpy(), cmap="gray_r",
                                            vmin=0.0, vmax=1.0)
        self.figure.colorbar(self._shown, ax=self._image_ax, label="decoded intensity (0 to 1)")
        self._image_ax.set_xlabel("pixel column")
        self._image_ax.set_ylabel("pixel row")
        self._image_ax.set_title(" ")
        # the image is drawn over the cached background: its frame goes on top of it again
        self._renderer = BlittedFigure(self.figure, self._raster_ax,
                                       (self._marks, self._end, self._shown,
                                        *self._image_ax.spines.values(), ax.title,
                                        self._image_ax.title))

        self.code = widgets.Dropdown(options=[("Poisson rate code", "poisson"),
                                              ("latency code", "latency")],
                                     value=code, description="code")
        self.steps = widgets.IntSlider(value=time_steps, min=1, max=MAX_STEPS, step=1,
                                       description="T (steps)", continuous_update=True)
        self.digit = widgets.IntSlider(value=digit, min=0, max=len(images) - 1, step=1,
                                       description="digit", continuous_update=True)
        self.error_label = widgets.Label()
        self.image = widgets.Image(format="png")
        super().__init__([widgets.HBox([self.code, self.steps, self.digit]), self.error_label,
                          self.image])
        for control in (self.code, self.steps, self.digit):
            control.observe(self._on_change, names="value")
        self.redraw()



    def update_figure(self) -> None:
        """Encode the chosen digit, decode it, and update the figure's artists and the label."""
        steps, index, code = self.steps.value, self.digit.value, self.code.value
        original = self.images[index]
        self.spikes = encode_digit(original, steps, code, seed=index * (MAX_STEPS + 1) + steps)
        self.decoded = decode(self.spikes, code)
        self.squared_error = float(((self.decoded - original) ** 2).mean())
        times, neurons = self.spikes.nonzero(as_tuple=True)
        self._marks.set_offsets(torch.stack([times, neurons], 1).numpy()
                                if len(times) else torch.zeros(0, 2).numpy())
        self._end.set_xdata([steps - 0.5, steps - 0.5])
        self._shown.set_data(self.decoded.view(_SIDE, _SIDE).numpy())
        name = "Poisson" if code == "poisson" else "latency"
        self._raster_ax.set_title(f"{name} code of a {int(self.labels[index])}, T = {steps}: "
                                  f"{len(times)} spikes")
        self._image_ax.set_title(f"decoded image, error {self.squared_error:.4f}",
                                 fontsize="medium")
        if code == "poisson":
            predicted = float((original * (1 - original)).mean()) / steps
            self.error_label.value = (f"rate code: mean squared error {self.squared_error:.4f}; "
                                      f"x(1 − x)/T predicts {predicted:.4f} on average over draws")
        else:
            self.error_label.value = (f"latency code: mean squared error "
                                      f"{self.squared_error:.4f}, from rounding the intensities "
                                      f"to {steps} spike times")


def encoder_explorer(images: torch.Tensor, labels: torch.Tensor, code: str = "poisson",
                     time_steps: int = 4, digit: int = 0) -> EncoderExplorer:
    """A live explorer of a spike code on flat 8×8 digits ``images`` ``[N, 64]`` (values in
    [0, 1]) with ``labels`` ``[N]``. Display the returned object in a notebook cell; drive it
    from code with ``explorer.steps.value = 16`` or ``explorer.code.value = "latency"``."""
    return EncoderExplorer(images, labels, code=code, time_steps=time_steps, digit=digit)
