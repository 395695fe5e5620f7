build_model = 42
