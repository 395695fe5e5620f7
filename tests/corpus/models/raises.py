def build_model(hp):
    hp.Int("units", 8, 16, step=8)
    raise ValueError("unsupported layer type 'Dense2' [in layers.yaml]")
