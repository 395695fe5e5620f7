"""Fails only for one configuration: that trial is FAILED, the search goes on."""
import keras


def build_model(hp):
    if hp.Boolean("broken"):
        raise ValueError("this configuration cannot be built")
    model = keras.Sequential([keras.Input((64,)), keras.layers.Rescaling(1 / 16),
                              keras.layers.Dense(hp.Int("units", 8, 16, step=8), activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
