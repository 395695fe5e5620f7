import keras


def build_model():
    return keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
