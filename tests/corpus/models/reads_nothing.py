import keras


def build_model(hp):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
