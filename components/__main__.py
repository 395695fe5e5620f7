"""Write each component's ``component.yaml`` (for ``kfp.components.load_component_from_file``).

    python -m kftune_kfp.components            # from an installed kftune[pipelines] or `pip install -e .`

The files name the default image (``ghcr.io/kftune/kftune:<version>``); tests/test_components.py
fails when they drift from the code or the version.
"""

from pathlib import Path

from kfp import compiler

from kftune_kfp.components import gate_component, train_component, tune_component

HERE = Path(__file__).parent
COMPONENTS = {"tune": tune_component, "train": train_component, "gate": gate_component}


def write_all(root: Path = HERE) -> list[Path]:
    written = []
    for name, component in COMPONENTS.items():
        path = root / name / "component.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        compiler.Compiler().compile(component, str(path))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path)
