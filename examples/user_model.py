"""A user's keras-tuner model, exactly as it would be written without kftune.

kftune runs it unchanged (``model: examples/user_model.py:build_model``); the names it declares
(first_hidden, dropout, learning_rate) take the ranges from the spec's ``search_space`` when the
spec declares them, and the defaults written here otherwise.
"""

import keras


def build_model(hp):
    model = keras.Sequential()
    model.add(keras.Input(shape=(64,)))
    model.add(keras.layers.Rescaling(1.0 / 16))  # digits pixels are 0..16
    model.add(keras.layers.Dense(hp.Int("first_hidden", 32, 256, step=32), activation="relu"))
    if hp.Boolean("second_layer"):
        model.add(keras.layers.Dense(hp.Int("second_hidden", 16, 128, step=16), activation="relu"))
    model.add(keras.layers.Dropout(hp.Float("dropout", 0.0, 0.5, step=0.1)))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(
        optimizer=keras.optimizers.Adam(hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
