"""``kftune``: tune, validate, schema, report, pipeline.

A user's mistake ends with one line on stderr and the error's exit code, never a traceback.
``--help``, ``validate`` and ``schema`` never import TensorFlow.
"""

from __future__ import annotations

import json
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import click
import typer
from typer.core import TyperGroup

from kftune.errors import KftuneError

if TYPE_CHECKING:
    from kftune.spec import TuningSpec

COMMANDS_GROUP = "kftune.commands"
"""Entry-point group of CLI plugins: ``name = "module:typer_app"`` mounts ``kftune name ...``."""


def _plugin_commands() -> dict[str, click.Command]:
    """The sub-apps of the installed ``kftune.commands`` entry points, each under its entry-point name.

    One whose import fails with ImportError (its extra is not installed) is skipped: the plugins are
    optional and the core CLI must still work.
    """
    plugins = typer.Typer(add_completion=False)
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            sub_app = entry.load()
        except ImportError:
            continue
        plugins.add_typer(sub_app, name=entry.name)
    if not plugins.registered_groups:
        return {}
    return dict(typer.main.get_group(plugins).commands)


class _PluginGroup(TyperGroup):
    """The top-level command group; mounts the plugins' sub-apps the first time a command is looked up
    or listed, so that importing this module imports no plugin (and ``--help`` no heavy dependency)."""

    _plugins_mounted = False

    def _mount_plugins(self) -> None:
        if self._plugins_mounted:
            return
        self._plugins_mounted = True
        for name, command in _plugin_commands().items():
            self.commands.setdefault(name, command)  # a plugin never replaces a core command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._mount_plugins()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._mount_plugins()
        return super().get_command(ctx, cmd_name)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[no-untyped-def, override]
        """A usage mistake (unknown option, missing argument, a bad value) is one line too, like every
        other mistake: ``error: kftune tune: No such option: --ouput (see kftune tune --help)``."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (typer.exceptions.TyperException, click.exceptions.ClickException) as exc:
            kinds = {k.__name__ for k in type(exc).__mro__}
            if "NoArgsIsHelpError" in kinds or not hasattr(exc, "format_message"):  # bare `kftune`: the help
                exc.show()  # type: ignore[attr-defined]
                sys.exit(getattr(exc, "exit_code", 2))
            ctx = getattr(exc, "ctx", None)
            where = f"{ctx.command_path}: " if ctx is not None else ""
            hint = f" (see {ctx.command_path} --help)" if ctx is not None and "UsageError" in kinds else ""
            text = " ".join(exc.format_message().split())
            click.echo(f"error: {where}{text}{hint}", err=True)
            sys.exit(exc.exit_code)
        except (typer.Abort, click.exceptions.Abort):
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="kftune",
    cls=_PluginGroup,
    help="Hyperparameter tuning as a Kubeflow Pipelines step: one spec, keras-tuner, state in GCS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if not value:
        return
    from importlib import metadata

    from kftune.backend import configured_backend

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    typer.echo(
        f"kftune {version('kftune')} (keras {version('keras')}, keras-tuner {version('keras-tuner')}, "
        f"backend {configured_backend()})"
    )
    raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Print kftune's version and exit."
    ),
) -> None:
    """Hyperparameter tuning as a Kubeflow Pipelines step: one spec, keras-tuner, state in GCS."""


def _fail(exc: KftuneError) -> typer.Exit:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=exc.exit_code)


@app.command()
def tune(
    spec: Path = typer.Argument(..., help="Tuning spec (YAML or JSON)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Local folder or gs://bucket/prefix."),
    fresh: bool = typer.Option(False, "--fresh", help="Discard saved state and start over."),
    warm_start: Optional[str] = typer.Option(None, "--warm-start", help="Output URI of a previous run to learn from."),
    workdir: Optional[Path] = typer.Option(None, "--workdir", help="Local working folder for a gs:// output."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No per-trial progress lines."),
    workers: Optional[int] = typer.Option(
        None, "--workers", "-w", min=1, help="Trials at once on this node, one process each [default: one per GPU, else 1]."
    ),
) -> None:
    """Run (or resume) a search and write best hyperparameters, model, trials table and report."""
    from kftune.spec import load_spec

    try:
        loaded = load_spec(spec)
        _check_before_work(loaded, output, workdir)
        from kftune.run.entry import tune as run_tune

        result = run_tune(
            loaded, output, fresh=fresh, warm_start=warm_start, workdir=workdir, progress=not quiet, workers=workers
        )
    except KftuneError as exc:
        raise _fail(exc) from None
    if result.worker is not None:  # a worker knows its own trials; the best and the outputs are the chief's
        typer.echo(f"{result.worker}: {result.trials_completed} trials completed, {result.trials_failed} failed "
                   f"({result.stopped_because}); results written by the chief to {result.output}")
        return
    best = json.dumps(result.best_hyperparameters, sort_keys=True)
    objective = "-" if result.best_objective is None else f"{result.best_objective:.4f}"
    where = f"trial {result.best_trial_number}" if result.best_trial_number else f"trial id {result.best_trial_id}"
    typer.echo(f"best {loaded.objective.metric}: {objective} ({where})")
    typer.echo(f"best hyperparameters: {best}")
    typer.echo(f"trials: {result.trials_completed} completed, {result.trials_failed} failed ({result.stopped_because})")
    typer.echo(f"outputs: {result.output}")


def _check_before_work(loaded: TuningSpec, output: Optional[str], workdir: Optional[Path]) -> None:
    """What ``tune`` can refuse in a second, before TensorFlow loads: the output and work folders,
    the model reference (parsed, not run) and the data files (header / index only)."""
    from kftune.data import check_data_files
    from kftune.errors import ModelBuildError
    from kftune.hypermodels import check_model_ref
    from kftune.run.location import check_output

    uri = str(output or loaded.output or Path("kftune-runs") / loaded.name)
    check_output(uri, workdir)
    try:
        check_model_ref(loaded.model)
    except ModelBuildError:
        pass  # a wrong signature: the run says the same after writing its outputs (trials.csv, run.json)
    check_data_files(loaded.data, deep=True)


@app.command()
def validate(
    spec: Path = typer.Argument(..., help="Tuning spec (YAML or JSON)."),
    build: bool = typer.Option(
        False, "--build", help="Also build the model once with default values (imports the Keras backend)."
    ),
) -> None:
    """Check a spec, its model reference (parsed, not run) and its data files: that they exist and
    hold the label and features (header / npz index only); no TensorFlow unless --build."""
    from kftune.data import check_data_files
    from kftune.hypermodels import check_model_ref
    from kftune.spec import load_spec

    try:
        loaded = load_spec(spec)
        check_model_ref(loaded.model)
        check_data_files(loaded.data, deep=True)
        lines = _build_check(loaded) if build else []
    except KftuneError as exc:
        raise _fail(exc) from None
    typer.echo(
        f"{spec}: valid ({len(loaded.search_space)} parameters, {loaded.tuner.algorithm}, "
        f"max_trials {loaded.tuner.max_trials}, spec hash {loaded.spec_hash})"
    )
    for line in lines:
        typer.echo(line)


def _build_check(spec: TuningSpec) -> list[str]:
    """``validate --build``: the same check ``tune`` makes before its first trial, reported."""
    from kftune.data import load_dataset
    from kftune.errors import ModelBuildError
    from kftune.hypermodels import bind_model, check_signature, probe_build, refuse_problems, resolve_model

    dataset = load_dataset(spec.data, seed=0)
    fn = resolve_model(spec.model)
    check_signature(fn, spec.model)
    report = probe_build(spec, bind_model(fn, dataset), dataset)
    refuse_problems(spec, report, dataset)  # an output that cannot fit the labels explains a failing evaluation
    if report.error:
        raise ModelBuildError(f"model {report.model}: with default values, {report.error}")
    return report.lines()


@app.command()
def schema() -> None:
    """Print the tuning spec's JSON Schema."""
    from kftune.spec import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A run's output folder.")) -> None:
    """(Re)write report.html from a run folder's trials.csv, best_hyperparameters.json and run.json."""
    from kftune.errors import PathError
    from kftune.layout import RUN_RECORD, TRIALS
    from kftune.results.report import write_report

    try:
        if not run_dir.is_dir():
            raise PathError(f"{run_dir}: " + ("not a folder" if run_dir.exists() else "no such folder"))
        if not (run_dir / TRIALS).is_file() and not (run_dir / RUN_RECORD).is_file():
            raise PathError(f"{run_dir}: not a kftune run folder (no {TRIALS} or {RUN_RECORD}); give a run's --output")
        path = write_report(run_dir)
    except KftuneError as exc:
        raise _fail(exc) from None
    typer.echo(str(path))


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ banner is not user output
    try:
        app()
    except KftuneError as exc:  # raised outside a command's own handling
        typer.echo(f"error: {str(exc).strip().splitlines()[0]}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
