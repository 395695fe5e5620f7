def build_model(hp)
    return None
