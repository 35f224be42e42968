"""Bad and edge inputs over the public API, tried as a new user would: one table, one row each.

Every row is an entry point, a call that builds it around one bad input, the exception type a
user gets, and a regex that must name the argument (and usually what was expected). The rule
the table enforces: bad input gives a ``TypeError``/``ValueError`` that says what is wrong,
never a silent wrong result and never an error from deep inside torch or scikit-learn.

To cover a new public entry point, add a row (``test_every_public_entry_point_has_a_row``
lists the entry points without one).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
import torch
from torch import nn

from sgcourse import datasets, encoding, functional, layer, neuron, surrogate
from sgcourse.course import models
from sgcourse.surrogate._family import FAMILY

NAN = math.nan


class Row(NamedTuple):
    """``call(bad)`` must raise ``error`` with a message matching ``names``."""

    entry: str  # the public entry point, e.g. "surrogate.Sigmoid"
    call: Callable[[Any], Any]
    bad: Any
    error: type[Exception]
    names: str  # regex; must name the argument

    def id(self) -> str:
        bad = self.bad
        shown = (f"tensor{tuple(bad.shape)}" if isinstance(bad, torch.Tensor)
                 else repr(bad) if not callable(bad) else type(bad).__name__)
        return f"{self.entry}({shown[:30]})"


def param(value: float = 1.0) -> nn.Parameter:
    return nn.Parameter(torch.tensor(float(value)))


def word(name: str) -> str:
    """A regex matching ``name`` as a whole word."""
    return rf"(?<![\w.]){name}\b"


# ---- helpers building a call around the bad input ------------------------------------------------

def _digits_like(n: int = 8, *, x_train: Any = None, y_train: Any = None, x_test: Any = None,
                 y_test: Any = None) -> datasets.DigitsSplit:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(n, 64, generator=generator)
    y = torch.arange(n) % 10
    return datasets.DigitsSplit(x if x_train is None else x_train,
                                y if y_train is None else y_train,
                                x if x_test is None else x_test, y if y_test is None else y_test)


def _small_snn() -> models.DigitsSNN:
    return models.make_digits_snn(hidden=4, time_steps=2)


def _with_nan(shape: tuple[int, ...] = (8, 64), where: tuple[int, ...] = (3, 5),
              value: float = NAN) -> torch.Tensor:
    x = torch.rand(shape)
    x[where] = value
    return x


def _run_then(node: nn.Module, x: torch.Tensor, change: Callable[[nn.Module], Any]) -> Any:
    node(x)
    return change(node)


def _set_state_then_step(cls: type, value: Any) -> torch.Tensor:
    node = cls()
    node.v = value
    return node(torch.rand(2, 3))


def _latency_stale(new_input: torch.Tensor) -> torch.Tensor:
    enc = encoding.LatencyEncoder(4)
    enc(torch.full((2, 3), 0.5))
    return enc(new_input)


def _dropout_stale(new_input: torch.Tensor) -> torch.Tensor:
    drop = layer.Dropout(0.5)
    drop(torch.rand(2, 3))
    return drop(new_input)


class _SingleStepOnly(neuron.IFNode):
    def supported_step_mode(self) -> tuple[str, ...]:
        return ("s",)


def _traced_sigmoid(alpha: Any) -> torch.Tensor:
    compiled = torch.compile(lambda x: surrogate.sigmoid.apply(x, alpha), backend="eager")
    return compiled(torch.randn(3, 4))


# ---- the table -----------------------------------------------------------------------------------

SPIKING_NEURONS = [neuron.IFNode, neuron.LIFNode, neuron.ParametricLIFNode, neuron.KLIFNode,
                   neuron.QIFNode, neuron.EIFNode, neuron.IzhikevichNode, neuron.CUBALIFNode]
WITH_TAU = [neuron.LIFNode, neuron.KLIFNode, neuron.QIFNode, neuron.EIFNode,
            neuron.IzhikevichNode]


def _liaf(**kwargs: Any) -> neuron.LIAFNode:
    return neuron.LIAFNode(nn.ReLU(), True, **kwargs)


def _surrogate_rows() -> list[Row]:
    rows = [
        Row("surrogate.heaviside", surrogate.heaviside, [0.5], TypeError, word("x")),
        Row("surrogate.get", surrogate.get, "sigmoidd", ValueError, "unknown surrogate"),
        Row("surrogate.spec", surrogate.spec, 3, TypeError, word("name")),
        Row("surrogate.module_class", surrogate.module_class, "nope", ValueError,
            "unknown surrogate"),
        Row("surrogate.function", surrogate.function, "nope", ValueError, "unknown surrogate"),
        Row("surrogate.surrogate_id", surrogate.surrogate_id, "nope", ValueError,
            "unknown surrogate"),
        Row("surrogate.register", surrogate.register, "not a spec", TypeError,
            word("declaration")),
        # PoissonPass samples Bernoulli(clamp(x)): a NaN used to fail inside torch's sampler
        Row("surrogate.PoissonPass", lambda x: surrogate.PoissonPass()(x),
            torch.tensor([0.5, NAN]), ValueError, r"x must not contain NaN"),
        Row("surrogate.poisson_pass", surrogate.poisson_pass.apply, torch.tensor([NAN]),
            ValueError, r"x must not contain NaN"),
        # checks ran only outside torch.compile
        Row("surrogate.sigmoid", _traced_sigmoid, -1.0, ValueError, word("alpha")),
        Row("surrogate.sigmoid", _traced_sigmoid, torch.tensor([1.0, -2.0, 3.0, 4.0]),
            ValueError, r"every entry of alpha must be a finite number > 0, got the entries "
                        r"\[-2.0\]"),
    ]
    for spec in FAMILY:
        cls, fn = surrogate.module_class(spec.name), surrogate.function(spec.name)
        entry, fentry = f"surrogate.{spec.class_name}", f"surrogate.{spec.name}"
        rows.append(Row(entry, lambda bad, cls=cls: cls(spiking=bad), 1, TypeError,
                        word("spiking")))
        rows.append(Row(fentry, lambda bad, fn=fn: fn.apply(bad), [0.0, 1.0], TypeError,
                        word("x")))
        rows.append(Row(entry, lambda bad, cls=cls: cls().derivative(bad),
                        torch.ones(2, dtype=torch.int64), TypeError, word("x")))
        rows.append(Row(entry, lambda bad, cls=cls: cls().primitive(bad), [0.5], TypeError,
                        word("x")))
        if not spec.hparams:
            rows.append(Row(entry, lambda bad, cls=cls: cls(alpha=bad), 1.0, TypeError,
                            word("alpha")))
            continue
        h = spec.hparams[0]

        def build(bad: Any, cls: type = cls, name: str = h.name) -> Any:
            return cls(**{name: bad})

        rows += [
            Row(entry, build, NAN, ValueError, word(h.name)),
            Row(entry, build, "2", TypeError, word(h.name)),
            # an nn.Parameter used to be silently read as a float and never learn
            Row(entry, build, param(h.default), TypeError, word(h.name) + ".*requires grad"),
            Row(fentry, lambda bad, fn=fn: fn.apply(torch.zeros(3, 4), bad), -1.0, ValueError,
                word(h.name)),
        ]
        if not h.domain.integer:
            # tensor hyper-parameters: negative/NaN entries were accepted, a shape that does not
            # broadcast failed only in backward
            entries = torch.full((3, 4), h.default)
            entries[1, 2] = NAN
            rows += [
                Row(fentry, lambda bad, fn=fn: fn.apply(torch.zeros(3, 4), bad), entries,
                    ValueError, rf"every entry of {h.name}\b"),
                Row(fentry, lambda bad, fn=fn: fn.apply(torch.zeros(3, 4, requires_grad=True),
                                                        bad),
                    torch.full((3,), h.default), ValueError, word(h.name) + ".*broadcasts"),
            ]
    return rows


def _neuron_rows() -> list[Row]:
    rows: list[Row] = []
    for entry, cls in [*((f"neuron.{c.__name__}", c) for c in SPIKING_NEURONS),
                       ("neuron.LIAFNode", _liaf)]:
        rows += [
            Row(entry, lambda bad, cls=cls: cls(v_threshold=bad), param(), TypeError,
                word("v_threshold") + ".*requires grad"),
            Row(entry, lambda bad, cls=cls: cls(v_threshold=bad), NAN, ValueError,
                word("v_threshold")),
            Row(entry, lambda bad, cls=cls: cls(v_reset=bad), 5.0, ValueError, word("v_reset")),
            Row(entry, lambda bad, cls=cls: cls(step_mode=bad), "multi", ValueError,
                word("step_mode")),
            Row(entry, lambda bad, cls=cls: cls(backend=bad), "cuda", ValueError,
                word("backend")),
            Row(entry, lambda bad, cls=cls: cls(detach_reset=bad), "yes", TypeError,
                word("detach_reset")),
            Row(entry, lambda bad, cls=cls: cls(surrogate_function=bad), "sigmoid", TypeError,
                word("surrogate_function")),
            # the class instead of an instance used to fail at the first step, naming alpha
            Row(entry, lambda bad, cls=cls: cls(surrogate_function=bad), surrogate.Sigmoid,
                TypeError, word("surrogate_function") + r".*add parentheses: Sigmoid\(\)"),
            # a NaN input silenced the neuron for good (no spike ever, NaN potential)
            Row(entry, lambda bad, cls=cls: cls(step_mode="m", backend="torch")(bad),
                torch.tensor([[0.5], [NAN]]), ValueError, word("x_seq") + r".*must be finite"),
            # ... in single-step mode too (checked at every step)
            Row(entry, lambda bad, cls=cls: cls()(bad), torch.tensor([[0.5, NAN]]), ValueError,
                word("x") + r" and the initial state must be finite"),
            Row(entry, lambda bad, cls=cls: cls()(bad), torch.ones(2, 3, dtype=torch.int64),
                TypeError, word("x")),
            Row(entry, lambda bad, cls=cls: cls(step_mode="m")(bad), torch.rand(3), ValueError,
                word("x_seq") + r".*\[T, N, \*\]"),
            # the state v set by the user: wrong type, NaN, wrong dtype
            Row(entry, lambda bad, cls=cls: _set_state_then_step(cls, bad), "0", TypeError,
                r"\.v must be a finite real number"),
            Row(entry, lambda bad, cls=cls: _set_state_then_step(cls, bad), NAN, ValueError,
                r"\.v must be a finite real number"),
            Row(entry, lambda bad, cls=cls: _set_state_then_step(cls, bad),
                torch.zeros(2, 3, dtype=torch.float64), TypeError,
                r"state 'v' has dtype torch.float64"),
            # toggling store_v_seq mid-sequence lost (or kept stale) steps of v_seq
            Row(entry, lambda bad, cls=cls: _run_then(
                cls(step_mode="m"), torch.rand(3, 2), lambda n: setattr(n, "store_v_seq", bad)),
                True, ValueError, word("store_v_seq") + ".*middle of a sequence"),
            Row(entry, lambda bad, cls=cls: _run_then(
                cls(), torch.rand(2, 3), lambda n: n(bad)), torch.rand(4, 3), ValueError,
                r"stored state 'v'.*reset_net"),
        ]
    for cls in WITH_TAU:
        rows += [
            Row(f"neuron.{cls.__name__}", lambda bad, cls=cls: cls(tau=bad), param(2.0),
                TypeError, word("tau") + ".*ParametricLIFNode"),
            Row(f"neuron.{cls.__name__}", lambda bad, cls=cls: cls(tau=bad), 1.0, ValueError,
                word("tau")),
        ]
    rows += [
        Row("neuron.ParametricLIFNode", lambda bad: neuron.ParametricLIFNode(init_tau=bad),
            0.5, ValueError, word("init_tau")),
        Row("neuron.CUBALIFNode", lambda bad: neuron.CUBALIFNode(c_decay=bad), param(0.5),
            TypeError, word("c_decay")),
        Row("neuron.QIFNode", lambda bad: neuron.QIFNode(v_rest=bad), -1.0, ValueError,
            word("v_rest")),
        Row("neuron.LIAFNode", lambda bad: neuron.LIAFNode(bad, True), "relu", TypeError,
            word("act")),
        Row("neuron.BaseNode", lambda bad: neuron.BaseNode(v_threshold=bad), param(),
            TypeError, word("v_threshold")),
    ]
    for cls in (neuron.NonSpikingIFNode, neuron.NonSpikingLIFNode, neuron.NonSpikingBaseNode):
        entry = f"neuron.{cls.__name__}"
        rows += [
            Row(entry, lambda bad, cls=cls: cls(decode=bad), "last", ValueError,
                word("decode")),
            Row(entry, lambda bad, cls=cls: cls()(bad), torch.rand(4), ValueError,
                word("x_seq")),
        ]
    rows += [
        Row("neuron.NonSpikingLIFNode", lambda bad: neuron.NonSpikingLIFNode(tau=bad),
            param(2.0), TypeError, word("tau") + ".*requires grad"),
        Row("neuron.NonSpikingLIFNode", lambda bad: neuron.NonSpikingLIFNode()(bad),
            torch.ones(3, 2, dtype=torch.int32), TypeError, word("x_seq")),
    ]
    return rows


def _layer_rows() -> list[Row]:
    five_d = r"x_seq of shape \[T, N, C, H, W\] \(5 dimensions, time first\)"
    return [
        # a single step [N, F] given to a multi-step layer failed inside a matmul
        Row("layer.Linear", lambda bad: layer.Linear(3, 4, step_mode="m")(bad),
            torch.rand(2, 3), ValueError, r"x_seq of shape \[T, N, \.\.\., in_features\]"),
        Row("layer.Linear", lambda bad: layer.Linear(3, 4)(bad), torch.rand(2, 5), ValueError,
            word("in_features") + "=3"),
        Row("layer.Linear", lambda bad: layer.Linear(3, 4, step_mode=bad), "M", ValueError,
            word("step_mode")),
        Row("layer.Flatten", lambda bad: layer.Flatten(step_mode="m")(bad), torch.rand(2, 3),
            ValueError, r"x_seq of shape \[T, N, \.\.\.\] \(at least 3 dimensions"),
        Row("layer.BatchNorm1d", lambda bad: layer.BatchNorm1d(3, step_mode="m")(bad),
            torch.rand(2, 3), ValueError, r"x_seq of shape \[T, N, C\(, L\)\]"),
        Row("layer.Conv2d", lambda bad: layer.Conv2d(1, 2, 3, step_mode="m")(bad),
            torch.rand(2, 1, 5, 5), ValueError, five_d),
        Row("layer.BatchNorm2d", lambda bad: layer.BatchNorm2d(1, step_mode="m")(bad),
            torch.rand(2, 1, 5, 5), ValueError, five_d),
        Row("layer.MaxPool2d", lambda bad: layer.MaxPool2d(2, step_mode="m")(bad),
            torch.rand(2, 1, 4, 4), ValueError, five_d),
        Row("layer.AvgPool2d", lambda bad: layer.AvgPool2d(2, step_mode="m")(bad),
            torch.rand(2, 1, 4, 4), ValueError, five_d),
        Row("layer.Dropout", lambda bad: layer.Dropout(p=bad), 1.0, ValueError, word("p")),
        Row("layer.Dropout", lambda bad: layer.Dropout(p=bad), param(0.5), TypeError,
            word("p")),
        Row("layer.Dropout", _dropout_stale, torch.rand(4, 3), ValueError,
            r"stored mask.*reset_net"),
        Row("layer.SeqToANNContainer", lambda bad: layer.SeqToANNContainer(nn.ReLU())(bad),
            torch.rand(3), ValueError, word("x_seq")),
        # one step [N, F] failed inside the wrapped layer with a matmul error
        Row("layer.SeqToANNContainer",
            lambda bad: layer.SeqToANNContainer(nn.Linear(3, 4))(bad), torch.rand(2, 3),
            ValueError, word("x_seq") + r" of shape \(2, 3\).*Linear refused.*\[T, N, \*\]"),
        Row("layer.MultiStepContainer",
            lambda bad: layer.MultiStepContainer(neuron.IFNode())(bad), torch.rand(3),
            ValueError, word("x_seq")),
    ]


def _encoding_rows() -> list[Row]:
    return [
        Row("encoding.poisson_encode", lambda bad: encoding.poisson_encode(bad, 4),
            _with_nan((2, 3), (0, 1)), ValueError, word("x") + r" must hold intensities"),
        Row("encoding.poisson_encode", lambda bad: encoding.poisson_encode(bad, 4),
            torch.full((2,), 2.0), ValueError, word("x") + r" must hold intensities in \[0, 1\]"),
        Row("encoding.poisson_encode", lambda bad: encoding.poisson_encode(torch.rand(2), bad),
            0, ValueError, word("time_steps")),
        Row("encoding.poisson_encode",
            lambda bad: encoding.poisson_encode(torch.rand(2), 3, generator=bad), 0, TypeError,
            word("generator")),
        Row("encoding.latency_encode", lambda bad: encoding.latency_encode(torch.rand(2), 4, bad),
            "exp", ValueError, word("function")),
        Row("encoding.latency_encode", lambda bad: encoding.latency_encode(bad, 4),
            [0.1, 0.2], TypeError, word("x")),
        Row("encoding.PoissonEncoder", lambda bad: encoding.PoissonEncoder()(bad),
            _with_nan((2, 3), (1, 1)), ValueError, word("x")),
        Row("encoding.PoissonEncoder", lambda bad: encoding.PoissonEncoder(step_mode=bad), "t",
            ValueError, word("step_mode")),
        Row("encoding.LatencyEncoder", lambda bad: encoding.LatencyEncoder(bad), 0, ValueError,
            word("T")),
        Row("encoding.LatencyEncoder", lambda bad: encoding.LatencyEncoder(4, bad), "lin",
            ValueError, word("function")),
        # an encoder with memory replayed the previous sample's code for a new input
        Row("encoding.LatencyEncoder", _latency_stale, torch.full((5, 3), 0.5), ValueError,
            r"LatencyEncoder: x \(shape \(5, 3\).*reset_net"),
        Row("encoding.LatencyEncoder", _latency_stale, torch.full((2, 3), 0.25), ValueError,
            r"LatencyEncoder: x .*differs from the input being encoded"),
    ]


def _functional_rows() -> list[Row]:
    return [
        Row("functional.reset_net", functional.reset_net, "net", TypeError, word("net")),
        Row("functional.detach_net", functional.detach_net, None, TypeError, word("net")),
        Row("functional.set_step_mode",
            lambda bad: functional.set_step_mode(nn.Sequential(neuron.IFNode()), bad), "multi",
            ValueError, word("step_mode")),
        Row("functional.set_step_mode",
            lambda bad: functional.set_step_mode(nn.Sequential(neuron.IFNode(), bad), "m"),
            _SingleStepOnly(), ValueError, r"not supported by 1 \(_SingleStepOnly.*nothing was"),
        Row("functional.set_backend",
            lambda bad: functional.set_backend(nn.Sequential(neuron.IFNode()), bad), "gpu",
            ValueError, word("backend")),
        Row("functional.multi_step_forward",
            lambda bad: functional.multi_step_forward(torch.rand(3, 2), bad), 3, TypeError,
            word("module_or_list")),
        Row("functional.multi_step_forward",
            lambda bad: functional.multi_step_forward(bad, nn.ReLU()), torch.rand(3),
            ValueError, word("x_seq")),
        Row("functional.seq_to_ann_forward",
            lambda bad: functional.seq_to_ann_forward(bad, nn.ReLU()), [[1.0]], TypeError,
            word("x_seq")),
    ]


def _data_rows() -> list[Row]:
    return [
        Row("datasets.load_digits_tensors",
            lambda bad: datasets.load_digits_tensors(test_fraction=bad), 1.0, ValueError,
            word("test_fraction")),
        # passed our checks, then failed inside scikit-learn
        Row("datasets.load_digits_tensors",
            lambda bad: datasets.load_digits_tensors(test_fraction=bad), 0.001, ValueError,
            word("test_fraction") + r".*classes"),
        Row("datasets.load_digits_tensors",
            lambda bad: datasets.load_digits_tensors(test_fraction=bad), 0.999, ValueError,
            word("test_fraction") + r".*classes"),
        Row("datasets.load_digits_tensors", lambda bad: datasets.load_digits_tensors(seed=bad),
            2**40, ValueError, word("seed") + r".*4294967295"),
        Row("datasets.load_digits_tensors", lambda bad: datasets.load_digits_tensors(seed=bad),
            "0", TypeError, word("seed")),
        Row("datasets.load_randman_tensors",
            lambda bad: datasets.load_randman_tensors(test_fraction=bad), 0.0, ValueError,
            word("test_fraction")),
        Row("datasets.randman_spike_times",
            lambda bad: datasets.randman_spike_times(num_classes=bad), "10", TypeError,
            word("num_classes")),
        Row("datasets.spike_times_to_dense",
            lambda bad: datasets.spike_times_to_dense(torch.tensor([0, 5]), bad), 3,
            ValueError, word("times")),
    ]


def _model_rows() -> list[Row]:
    def train(data: datasets.DigitsSplit) -> Any:
        return models.train(_small_snn(), data, epochs=1)

    def evaluate(images: torch.Tensor, labels: torch.Tensor | None = None) -> Any:
        return models.evaluate(_small_snn(), images,
                               torch.arange(len(images)) % 10 if labels is None else labels)

    return [
        # a NaN image trained silently to chance level
        Row("models.train", lambda bad: train(_digits_like(x_train=bad)), _with_nan(),
            ValueError, r"data\.x_train must hold finite numbers.*index \(3, 5\)"),
        Row("models.train", lambda bad: train(_digits_like(x_train=bad)),
            _with_nan(value=math.inf), ValueError, r"data\.x_train must hold finite"),
        # test data checked up front, with its own name
        Row("models.train", lambda bad: train(_digits_like(x_test=bad)), _with_nan(),
            ValueError, r"data\.x_test must hold finite"),
        Row("models.train", lambda bad: train(_digits_like(x_test=bad)),
            torch.ones(8, 64, dtype=torch.int64), TypeError, r"data\.x_test"),
        Row("models.train", lambda bad: train(_digits_like(x_test=bad)), torch.rand(8, 63),
            ValueError, r"data\.x_test must have the sample shape"),
        Row("models.train", lambda bad: train(_digits_like(y_test=bad)),
            torch.arange(7), ValueError, r"data\.y_test must have shape \[N\]"),
        # labels out of range failed inside cross_entropy
        Row("models.train", lambda bad: train(_digits_like(y_train=bad)),
            torch.tensor([0, 1, 2, 3, 4, 5, 6, 10]), ValueError,
            r"data\.y_train must hold class indices in \[0, 9\]"),
        Row("models.train", lambda bad: train(_digits_like(y_test=bad)),
            torch.tensor([0, 1, 2, 3, 4, 5, 6, -1]), ValueError,
            r"data\.y_test must hold class indices"),
        Row("models.train", lambda bad: train(_digits_like(y_train=bad)),
            torch.zeros(8, dtype=torch.int32), TypeError, r"data\.y_train"),
        Row("models.train", lambda bad: models.train(_small_snn(), _digits_like(), lr=bad),
            param(0.01), TypeError, word("lr")),
        Row("models.train", lambda bad: models.train(_small_snn(), bad), (1, 2), TypeError,
            word("data")),
        Row("models.evaluate", evaluate, _with_nan(), ValueError,
            r"images must hold finite numbers"),
        Row("models.evaluate", lambda bad: models.evaluate(bad, torch.rand(2, 64),
                                                           torch.arange(2)),
            lambda x: x, TypeError, word("model")),
        Row("models.batch_gradients", lambda bad: models.batch_gradients(bad, torch.rand(2, 64),
                                                                         torch.arange(2)),
            "net", TypeError, word("model")),
        Row("models.evaluate", lambda bad: evaluate(torch.rand(8, 64), bad),
            torch.tensor([0, 1, 2, 3, 4, 5, 6, 10]), ValueError,
            word("labels") + r" must hold class indices in \[0, 9\]"),
        Row("models.batch_gradients",
            lambda bad: models.batch_gradients(_small_snn(), bad, torch.arange(8) % 10),
            _with_nan(), ValueError, word("images")),
        Row("models.make_digits_snn", lambda bad: models.make_digits_snn(input_gain=bad),
            param(4.0), TypeError, word("input_gain") + ".*requires grad"),
        Row("models.DigitsSNN", lambda bad: models.DigitsSNN("sigmoid", tau=bad), param(2.0),
            TypeError, word("tau") + ".*ParametricLIFNode"),
        Row("models.DigitsSNN", lambda bad: _small_snn()(bad), _with_nan(), ValueError,
            word("images")),
    ]


ROWS = [*_surrogate_rows(), *_neuron_rows(), *_layer_rows(), *_encoding_rows(),
        *_functional_rows(), *_data_rows(), *_model_rows()]


@pytest.mark.parametrize("row", ROWS, ids=[row.id() for row in ROWS])
def test_bad_input_gets_a_clear_error(row: Row) -> None:
    with pytest.raises(row.error, match=row.names):
        row.call(row.bad)


def _public_entry_points() -> set[str]:
    entries = set()
    for module in (neuron, layer, encoding, functional, datasets):
        prefix = module.__name__.rsplit(".", 1)[1]
        for name in module.__all__:
            value = getattr(module, name)
            if callable(value) and not (isinstance(value, type)
                                        and issubclass(value, (Exception, tuple))):
                entries.add(f"{prefix}.{name}")
    for spec in FAMILY:
        entries |= {f"surrogate.{spec.class_name}", f"surrogate.{spec.name}"}
    entries |= {f"surrogate.{name}" for name in ("heaviside", "get", "spec", "module_class",
                                                 "function", "surrogate_id", "register")}
    entries |= {"models.train", "models.evaluate", "models.batch_gradients",
                "models.make_digits_snn", "models.DigitsSNN"}
    return entries


def test_every_public_entry_point_has_a_row() -> None:
    covered = {row.entry for row in ROWS}
    assert not _public_entry_points() - covered, "add a row for each of these entry points"
