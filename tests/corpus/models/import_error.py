import kftune_no_such_dependency_xyz  # noqa: F401


def build_model(hp):
    return None
