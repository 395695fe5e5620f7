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
from typing import Optional

import click
import typer
from typer.core import TyperGroup

from kftune.errors import KftuneError

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


app = typer.Typer(
    name="kftune",
    cls=_PluginGroup,
    help="Hyperparameter tuning as a Kubeflow Pipelines step: one spec, keras-tuner, state in GCS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
) -> None:
    """Run (or resume) a search and write best hyperparameters, model, trials table and report."""
    from kftune.spec import load_spec

    try:
        loaded = load_spec(spec)
        from kftune.run.entry import tune as run_tune

        result = run_tune(loaded, output, fresh=fresh, warm_start=warm_start, workdir=workdir, progress=not quiet)
    except KftuneError as exc:
        raise _fail(exc) from None
    best = json.dumps(result.best_hyperparameters, sort_keys=True)
    objective = "-" if result.best_objective is None else f"{result.best_objective:.4f}"
    typer.echo(f"best {loaded.objective.metric}: {objective} (trial {result.best_trial_id})")
    typer.echo(f"best hyperparameters: {best}")
    typer.echo(f"trials: {result.trials_completed} completed, {result.trials_failed} failed ({result.stopped_because})")
    typer.echo(f"outputs: {result.output}")


@app.command()
def validate(spec: Path = typer.Argument(..., help="Tuning spec (YAML or JSON).")) -> None:
    """Check a spec, that its model reference resolves and its data files exist (no TensorFlow)."""
    from kftune.data import check_data_files
    from kftune.hypermodels import check_model_ref
    from kftune.spec import load_spec

    try:
        loaded = load_spec(spec)
        check_model_ref(loaded.model)
        check_data_files(loaded.data)
    except KftuneError as exc:
        raise _fail(exc) from None
    typer.echo(
        f"{spec}: valid ({len(loaded.search_space)} parameters, {loaded.tuner.algorithm}, "
        f"max_trials {loaded.tuner.max_trials}, spec hash {loaded.spec_hash})"
    )


@app.command()
def schema() -> None:
    """Print the tuning spec's JSON Schema."""
    from kftune.spec import json_schema

    typer.echo(json.dumps(json_schema(), indent=2))


@app.command()
def report(run_dir: Path = typer.Argument(..., help="A run's output folder.")) -> None:
    """(Re)write report.html from a run folder's trials.csv, best_hyperparameters.json and run.json."""
    from kftune.results.report import write_report

    try:
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
