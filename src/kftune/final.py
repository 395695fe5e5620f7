"""Train the final model with tuned values: the pipeline's train step, also usable on its own.

The same hypermodel and training settings as the search, so the model matches what was tuned.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from kftune.spec import TuningSpec, load_spec


def fixed_hyperparameters(spec: TuningSpec, values: dict[str, Any]) -> Any:
    """The spec's space (conditions kept) with ``values`` set; names the spec does not declare become Fixed."""
    from kftune.space import build_hyperparameters

    hp = build_hyperparameters(spec)
    for name, value in values.items():
        if name.startswith("tuner/"):
            continue
        if name in spec.search_space:
            hp.values[name] = value
        else:
            hp.Fixed(name, value)
    return hp


def train_final(
    spec: TuningSpec | dict[str, Any] | str,
    hyperparameters: dict[str, Any],
    *,
    train: str | None = None,
    validation: str | None = None,
    model_path: str | os.PathLike[str],
    epochs: int | None = None,
) -> dict[str, float]:
    """Fit once with fixed hyperparameters, keep the best epoch's weights, save ``model_path`` (.keras)."""
    spec = load_spec(spec).with_data(train, validation)

    import keras

    from kftune.data import load_dataset
    from kftune.hypermodels import bind_model, resolve_model

    seed = spec.tuner.seed or 0
    dataset = load_dataset(spec.data, seed=seed)
    build = bind_model(resolve_model(spec.model), dataset)
    keras.utils.set_random_seed(seed)
    model = build(fixed_hyperparameters(spec, hyperparameters))
    metric, direction = spec.objective.metric, spec.objective.direction
    callbacks: list[Any] = [keras.callbacks.TerminateOnNaN()]
    es = spec.training.early_stopping
    callbacks.append(
        keras.callbacks.EarlyStopping(
            monitor=(es.monitor if es and es.monitor else metric),
            mode=direction,
            patience=es.patience if es else (epochs or spec.training.epochs),
            min_delta=es.min_delta if es else 0.0,
            restore_best_weights=True,
        )
    )
    history = model.fit(
        dataset.x_train,
        dataset.y_train,
        validation_data=(dataset.x_val, dataset.y_val),
        epochs=epochs or spec.training.epochs,
        batch_size=spec.training.batch_size,
        callbacks=callbacks,
        verbose=spec.training.verbose,
    )
    evaluated = model.evaluate(dataset.x_val, dataset.y_val, verbose=0, return_dict=True)
    path = Path(model_path)
    if path.suffix != ".keras":
        path = path.with_name(path.name + ".keras")
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))
    metrics = {f"val_{k}": float(v) for k, v in evaluated.items()}
    metrics["epochs_trained"] = float(len(history.history.get("loss", [])))
    return {k: v for k, v in metrics.items() if math.isfinite(v)}
