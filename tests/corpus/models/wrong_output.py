import keras


def build_model(hp):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 16, step=8)),
                              keras.layers.Dense(3, activation="softmax")])  # 10 classes in the data
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
