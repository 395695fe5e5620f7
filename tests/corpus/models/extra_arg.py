def build_model(hp, layers_config):
    raise AssertionError("never called: kftune cannot supply layers_config")
