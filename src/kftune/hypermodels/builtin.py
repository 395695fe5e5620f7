"""The built-in hypermodels: ``mlp_classifier``, ``mlp_regressor`` and ``cnn_classifier``.

They read their hyperparameters through ``hp.Int/Float/Choice/Boolean`` under fixed names, so a
spec that declares the same names (and the same condition for ``momentum``:
``when: {optimizer: [sgd]}``) drives them, and names the spec leaves out fall back to
:data:`DEFAULTS` (or are tuned with ``tune_new_entries``). Keras is imported inside the builders
only, so listing or checking the built-ins stays cheap.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


#: Default range and value of every hyperparameter the built-ins read (used when the spec is silent).
DEFAULTS: dict[str, dict[str, Any]] = {
    "units": {"min": 32, "max": 512, "step": 32, "default": 128},
    "layers": {"min": 1, "max": 4, "default": 2},
    "dropout": {"min": 0.0, "max": 0.5, "step": 0.05, "default": 0.1},
    "learning_rate": {"min": 1e-4, "max": 1e-1, "sampling": "log", "default": 1e-3},
    "optimizer": {"values": ["adam", "sgd", "rmsprop"], "default": "adam"},
    "momentum": {"min": 0.0, "max": 0.99, "default": 0.9},
    "batch_norm": {"default": False},
    "activation": {"values": ["relu", "gelu", "tanh", "elu", "swish"], "default": "relu"},
    "filters": {"min": 16, "max": 128, "step": 16, "default": 32},
    "kernel_size": {"values": [3, 5], "default": 3},
}

#: Optimizer names a spec's ``optimizer`` choice may use.
OPTIMIZERS = ("adam", "adamw", "nadam", "rmsprop", "sgd", "adagrad", "adamax")


def _int(hp, name: str) -> int:
    d = DEFAULTS[name]
    return hp.Int(name, d["min"], d["max"], step=d.get("step", 1), default=d["default"])


def _float(hp, name: str) -> float:
    d = DEFAULTS[name]
    kw = {"step": d["step"]} if "step" in d else {}
    return hp.Float(name, d["min"], d["max"], sampling=d.get("sampling", "linear"), default=d["default"], **kw)


def _choice(hp, name: str):
    d = DEFAULTS[name]
    return hp.Choice(name, d["values"], default=d["default"])


def _optimizer(hp):
    """Optimizer from ``optimizer``, ``learning_rate`` and (sgd only) conditional ``momentum``."""
    import keras

    name = _choice(hp, "optimizer")
    lr = _float(hp, "learning_rate")
    with hp.conditional_scope("optimizer", ["sgd"]):
        momentum = _float(hp, "momentum")
    name = str(name).lower()
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=float(momentum or 0.0))
    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
        "rmsprop": keras.optimizers.RMSprop,
        "adagrad": keras.optimizers.Adagrad,
        "adamax": keras.optimizers.Adamax,
    }
    if name not in classes:
        raise ValueError(f"optimizer {name!r} is not one of {', '.join(OPTIMIZERS)}")
    return classes[name](learning_rate=lr)


def _inputs(input_shape, normalization):
    import keras

    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    if normalization is not None:
        mean, var = normalization
        x = keras.layers.Normalization(axis=-1, mean=mean, variance=var, name="normalize")(x)
    return inputs, x


def _dense_stack(hp, x):
    import keras

    units = _int(hp, "units")
    n_layers = _int(hp, "layers")
    dropout = _float(hp, "dropout")
    activation = _choice(hp, "activation")
    batch_norm = hp.Boolean("batch_norm", default=DEFAULTS["batch_norm"]["default"])
    for _ in range(int(n_layers)):
        x = keras.layers.Dense(int(units), use_bias=not batch_norm)(x)
        if batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation(activation)(x)
        if dropout:
            x = keras.layers.Dropout(float(dropout))(x)
    return x


def mlp_classifier(hp, *, input_shape, num_classes, normalization=None):
    """Dense stack for tabular classification: softmax, sparse categorical cross-entropy, accuracy.

    Hyperparameters: units, layers, dropout, activation, batch_norm, optimizer, learning_rate,
    momentum (only when optimizer is sgd).
    """
    import keras

    inputs, x = _inputs(input_shape, normalization)
    if len(input_shape) > 1:
        x = keras.layers.Flatten()(x)
    x = _dense_stack(hp, x)
    outputs = keras.layers.Dense(int(num_classes), activation="softmax", name="output")(x)
    model = keras.Model(inputs, outputs, name="mlp_classifier")
    model.compile(optimizer=_optimizer(hp), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def mlp_regressor(hp, *, input_shape, normalization=None, target_normalization=None):
    """Dense stack for tabular regression: one linear output, mse loss, mae metric.

    With ``target_normalization`` it predicts a standardized target and un-standardizes it in the
    last layer, so losses and predictions are in the label's units.
    """
    import keras

    inputs, x = _inputs(input_shape, normalization)
    if len(input_shape) > 1:
        x = keras.layers.Flatten()(x)
    x = _dense_stack(hp, x)
    outputs = keras.layers.Dense(1, name="output")(x)
    if target_normalization is not None:
        mean, var = target_normalization
        outputs = keras.layers.Normalization(
            axis=-1, mean=mean, variance=var, invert=True, name="denormalize_target"
        )(outputs)
    model = keras.Model(inputs, outputs, name="mlp_regressor")
    model.compile(optimizer=_optimizer(hp), loss="mse", metrics=["mae"])
    return model


def cnn_classifier(hp, *, input_shape, num_classes, normalization=None):
    """Small CNN for image arrays (h, w[, c]): conv blocks, a dense layer, softmax.

    Hyperparameters: filters (doubled per block), kernel_size, layers (conv blocks), units,
    dropout, activation, batch_norm, optimizer, learning_rate, momentum (sgd only). Each block
    max-pools while the image is at least 2x2, so tiny images (8x8 digits) work.
    """
    import keras

    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) not in (2, 3):
        raise ValueError(f"cnn_classifier needs image input (h, w) or (h, w, c), got shape {input_shape}")
    inputs = keras.Input(shape=input_shape)
    x = inputs
    if len(input_shape) == 2:
        x = keras.layers.Reshape(input_shape + (1,))(x)
    if normalization is not None:
        mean, var = (np.asarray(v, dtype=np.float64).ravel() for v in normalization)
        channels = input_shape[2] if len(input_shape) == 3 else 1
        if mean.size != channels:  # stats per column of (h, w) arrays: pool them into one mean/variance
            mean, var = np.array([mean.mean()]), np.array([(var + (mean - mean.mean()) ** 2).mean()])
        x = keras.layers.Normalization(axis=-1, mean=mean.tolist(), variance=var.tolist(), name="normalize")(x)
    filters = _int(hp, "filters")
    kernel_size = int(_choice(hp, "kernel_size"))
    blocks = _int(hp, "layers")
    activation = _choice(hp, "activation")
    batch_norm = hp.Boolean("batch_norm", default=DEFAULTS["batch_norm"]["default"])
    h, w = input_shape[0], input_shape[1]
    for i in range(int(blocks)):
        x = keras.layers.Conv2D(int(filters) * 2**i, kernel_size, padding="same", use_bias=not batch_norm)(x)
        if batch_norm:
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation(activation)(x)
        if h >= 2 and w >= 2:
            x = keras.layers.MaxPooling2D(2)(x)
            h, w = h // 2, w // 2
    x = keras.layers.Flatten()(x)
    units = _int(hp, "units")
    dropout = _float(hp, "dropout")
    x = keras.layers.Dense(int(units), activation=activation)(x)
    if dropout:
        x = keras.layers.Dropout(float(dropout))(x)
    outputs = keras.layers.Dense(int(num_classes), activation="softmax", name="output")(x)
    model = keras.Model(inputs, outputs, name="cnn_classifier")
    model.compile(optimizer=_optimizer(hp), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


#: Built-in hypermodels by bare name (``model: mlp_classifier`` also resolves).
BUILTINS: dict[str, Callable] = {
    "mlp_classifier": mlp_classifier,
    "mlp_regressor": mlp_regressor,
    "cnn_classifier": cnn_classifier,
}
