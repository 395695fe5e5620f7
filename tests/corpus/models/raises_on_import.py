raise RuntimeError("configuration file models.ini not found")


def build_model(hp):
    return None
