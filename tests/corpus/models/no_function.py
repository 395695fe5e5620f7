def build(hp):
    return None
