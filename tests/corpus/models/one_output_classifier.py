import keras


def build_model(hp):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(hp.Int("units", 8, 16, step=8)),
                              keras.layers.Dense(1)])  # a regression head on a 10-class label
    model.compile("adam", "mse")
    return model
