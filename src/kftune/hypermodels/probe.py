"""Build the model once with the spec's default values and report what it does with them.

Why: a search-space name the model never reads (a misspelled ``untis:``) would run the whole search
without tuning anything and without a word; an output layer that cannot fit the labels, or an
objective metric the model never reports, fails every trial. One build (and a 4-row evaluation)
before the first trial finds all three. ``kftune validate --build`` prints the report; ``tune``
refuses what can never work (:func:`refuse_problems`). Keras is imported only when probing.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable

from kftune.errors import ModelBuildError, SpecError, one_line
from kftune.hypermodels.refs import function_name

#: Extra builds, each with other values of the finite parameters, to find names read only under them.
EXTRA_PROBES = 3


class _RecordingValues(dict):
    """``hp.values`` that remembers which names were read (every ``hp.Int/Float/Choice/get`` reads it)."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


@dataclass
class BuildReport:
    """What one build with default values (plus a few with other values) showed."""

    model: str
    read: list[str] = field(default_factory=list)  # declared names the model read
    unread: list[str] = field(default_factory=list)  # declared, read in no probe (conditions active)
    conditional_unread: list[str] = field(default_factory=list)  # declared under `when`, never active here
    undeclared: dict[str, Any] = field(default_factory=dict)  # the model's own names, at their defaults
    output_shape: tuple[Any, ...] | None = None
    metrics: list[str] | None = None  # as fit reports them, val_ ones included
    error: str | None = None  # building or evaluating with default values failed (one line)
    probes: int = 0

    def reads(self) -> list[str]:
        return sorted(set(self.read) | set(self.undeclared))

    def lines(self) -> list[str]:
        """Human-readable lines for ``kftune validate --build``."""
        out = [f"build: {self.model} built with default values ({self.probes} build{'s' if self.probes > 1 else ''})"]
        if self.error:
            out.append(f"build: failed with default values: {self.error}")
        out.append(f"reads: {', '.join(self.reads()) or 'no hyperparameter'}")
        if self.undeclared:
            shown = ", ".join(f"{k}={v!r}" for k, v in sorted(self.undeclared.items()))
            out.append(f"not in the spec (kept at the model's defaults unless tune_new_entries): {shown}")
        if self.conditional_unread:
            out.append(f"not checked (their conditions never held here): {', '.join(self.conditional_unread)}")
        if self.output_shape is not None:
            out.append(f"output shape: {self.output_shape}")
        if self.metrics is not None:
            out.append(f"reports: {', '.join(self.metrics)}")
        return out


def probe_build(spec: Any, build: Callable[[Any], Any], dataset: Any) -> BuildReport:
    """Build ``build`` (already bound to the data) with the spec's defaults; see :class:`BuildReport`.

    A build that raises is reported in ``error`` (it may depend on the values: trials will tell);
    one that returns something other than a keras.Model raises ModelBuildError.
    """
    import keras

    from kftune.space import build_hyperparameters

    name = function_name(build, spec.model)
    report = BuildReport(model=name)
    declared = list(spec.search_space)
    read: set[str] = set()
    model = None
    for k in range(EXTRA_PROBES + 1):
        hp = build_hyperparameters(spec)
        if k:
            _other_values(hp, spec, k)
        values = _RecordingValues(hp.values)
        hp.values = values
        keras.backend.clear_session()
        report.probes += 1
        try:
            built = build(hp)
        except Exception as exc:  # the user's code: reported, never a traceback
            if k == 0:
                report.error = f"building raised {one_line(exc)}"
                break
            continue
        if not isinstance(built, keras.Model):
            raise ModelBuildError(f"model {name}: returned {type(built).__name__}, expected a keras.Model")
        read |= values.read
        if k == 0:
            model = built
            report.undeclared = {
                p.name: hp.values.get(p.name, getattr(p, "default", None)) for p in hp.space if p.name not in spec.search_space
            }
            read -= set(report.undeclared)
        if not _still_unread(spec, declared, read, hp):
            break
    if model is None:  # the default build failed: what it reads is unknown, so nothing is judged
        keras.backend.clear_session()
        return report
    report.read = sorted(n for n in declared if n in read)
    for n in declared:
        if n in read:
            continue
        (report.conditional_unread if spec.search_space[n].when else report.unread).append(n)
    report.output_shape = _output_shape(model)
    report.metrics = _metrics(model, dataset, report)
    keras.backend.clear_session()
    return report


def _still_unread(spec: Any, declared: list[str], read: set[str], hp: Any) -> bool:
    return any(n not in read for n in declared)


def _other_values(hp: Any, spec: Any, k: int) -> None:
    """Probe ``k``: every finite parameter at its k-th value (cycling), conditions re-evaluated."""
    for name, param in spec.search_space.items():
        options = param.candidates()
        if options and name in hp.values:
            hp.values[name] = options[k % len(options)]
    for _ in range(len(spec.search_space) + 1):  # parents before children, whatever the order
        for p in hp.space:
            active = hp.is_active(p)
            if active and p.name not in hp.values:
                hp.values[p.name] = p.default
            elif not active:
                hp.values.pop(p.name, None)


def _output_shape(model: Any) -> tuple[Any, ...] | None:
    with contextlib.suppress(Exception):  # a subclassed model that is not built has none yet
        shape = model.output_shape
        if isinstance(shape, list):
            shape = shape[0]
        return tuple(shape)
    return None


def _metrics(model: Any, dataset: Any, report: BuildReport) -> list[str] | None:
    import logging

    n = int(min(len(dataset.x_train), 4))
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)  # "calls triggered tf.function retracing": one probe per build, not user output
    try:
        result = model.evaluate(
            dataset.x_train[:n], dataset.y_train[:n], batch_size=n, verbose=0, return_dict=True
        )
    except Exception as exc:  # not compiled, a loss that does not fit the labels, ...
        report.error = report.error or f"evaluating 4 rows failed: {_summary(exc)}"
        return None
    finally:
        tf_logger.setLevel(level)
    names = sorted(result)
    val = [f"val_{m}" for m in names] if dataset.has_validation else []
    return names + val


def _summary(exc: BaseException) -> str:
    """One line for an error whose first line says little (TensorFlow's "Graph execution error:")."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if lines and lines[0].endswith(":"):
        detail = [line for line in lines[1:] if not line.startswith(("Detected at node", "File ", "[[", "["))]
        if detail:
            return f"{type(exc).__name__}: {detail[0]}"[:300]
    return one_line(exc)[:300]


def shape_problem(report: BuildReport, dataset: Any) -> str | None:
    """Why the model's output cannot fit the labels, or None (unknown shapes are not judged)."""
    shape = report.output_shape
    if shape is None or not shape:
        return None
    last = shape[-1]
    if dataset.task == "classification":
        k = dataset.num_classes
        if len(shape) == 2 and (last == k or (k == 2 and last == 1)):
            return None
        want = f"(None, {k})" + (" or (None, 1)" if k == 2 else "")
        return f"output shape {shape} does not fit label {dataset.label!r} with {k} classes (expected {want})"
    if (len(shape) == 2 and last == 1) or len(shape) == 1:
        return None
    return f"output shape {shape} does not fit the regression label {dataset.label!r} (expected (None, 1))"


def refuse_problems(spec: Any, report: BuildReport, dataset: Any) -> None:
    """What can never work, as one line: an unread declared name (SpecError), an output that cannot
    fit the labels (ModelBuildError), an objective the model does not report (SpecError)."""
    if report.unread:
        first = report.unread[0]
        more = f" (also {', '.join(report.unread[1:])})" if len(report.unread) > 1 else ""
        raise SpecError(
            f"search_space.{first}: {report.model} never reads it{more}, so it would not be tuned "
            f"(it reads: {', '.join(report.reads()) or 'no hyperparameter'})"
        )
    problem = shape_problem(report, dataset)
    if problem:
        raise ModelBuildError(f"model {report.model}: {problem}")
    metric = spec.objective.metric
    if report.metrics is not None and metric not in report.metrics:
        raise SpecError(
            f"objective.metric: '{metric}' is not reported by the model (it reports: {', '.join(report.metrics)})"
        )
