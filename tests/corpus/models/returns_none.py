def build_model(hp):
    hp.Int("units", 8, 16, step=8)
    # forgot: return model
