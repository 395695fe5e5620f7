"""Write each component's ``component.yaml`` (for ``kfp.components.load_component_from_file``), its
``README.md`` (inputs, outputs, example) and ``metadata.yaml``, all from the code.

    python -m kftune_kfp.components            # from an installed kftune[pipelines] or `pip install -e .`

The files name the default image (``ghcr.io/kftune/kftune:<version>``); tests/test_components.py
fails when they drift from the code or the version.
"""

import inspect
import re
import sys
from pathlib import Path

import yaml
from kfp import compiler

from kftune_kfp.components import gate_component, package_version, train_component, tune_component, tune_worker_component

HERE = Path(__file__).parent
COMPONENTS = {"tune": tune_component, "tune_worker": tune_worker_component, "train": train_component, "gate": gate_component}
RAW = "https://raw.githubusercontent.com/kftune/kftune/v{version}/components/{name}/component.yaml"

EXAMPLES = {
    "tune": '''from kfp import dsl
from kftune_kfp.components import tune_component

@dsl.pipeline(name="my-pipeline")
def my_pipeline(spec: str, train_uri: str):
    data = dsl.importer(artifact_uri=train_uri, artifact_class=dsl.Dataset)
    tune = tune_component(spec=spec, train_data=data.output)   # uncached, keyed by the run, retries resume
    tune.set_retry(2)
    # tune.outputs["best_hyperparameters"], ["best_model"], ["metrics"], ["summary"], ["report"], ...''',
    "tune_worker": '''from kfp import dsl
from kftune_kfp.components import tune_component, tune_worker_component

@dsl.pipeline(name="parallel-tuning")
def parallel(spec: str, train_uri: str, state_root: str):
    data = dsl.importer(artifact_uri=train_uri, artifact_class=dsl.Dataset)
    chief = tune_component(spec=spec, train_data=data.output, state_root=state_root, role="chief", task_name="tune")
    with dsl.ParallelFor(items=[0, 1, 2], parallelism=3) as i:
        tune_worker_component(spec=spec, train_data=data.output, state_root=state_root, worker_index=i)
# `kftune pipeline compile --pods 3 --gpus 2` builds this for you (GPUs, pod IP, retries).''',
    "train": '''train = train_component(spec=spec, train_data=data.output,
                        best_hyperparameters=tune.outputs["best_hyperparameters"])
# keras.models.load_model(os.path.join(train.outputs["model"].path, "model.keras"))''',
    "gate": '''gate = gate_component(best_hyperparameters=tune.outputs["best_hyperparameters"], threshold=0.95)
with dsl.If(gate.output == True):
    train_component(...)''',
}


def _arg_docs(func) -> dict[str, str]:
    doc = inspect.getdoc(func) or ""
    args = doc.split("Args:", 1)[1] if "Args:" in doc else ""
    out: dict[str, str] = {}
    for match in re.finditer(r"^\s{0,4}(\w+): (.+?)(?=^\s{0,4}\w+: |\Z)", args, re.M | re.S):
        out[match.group(1)] = " ".join(match.group(2).split())
    return out


def _type(t: str) -> str:
    return t.split("@")[0].replace("system.", "")


def readme(name: str, component) -> str:
    spec = component.component_spec
    docs = _arg_docs(component.python_func)
    module = sys.modules[component.python_func.__module__]
    lines = [f"# {spec.name}", "", (inspect.getdoc(module) or "").strip(), "", f"**{spec.description.splitlines()[0]}**", "",
             f"Image: `ghcr.io/kftune/kftune:{package_version()}` (tag = kftune version).", "",
             "## Inputs", "", "| name | type | default | description |", "|---|---|---|---|"]
    for key, inp in spec.inputs.items():
        default = "(optional)" if inp.optional and inp.default is None else ("required" if inp.default is None else f"`{inp.default!r}`")
        lines.append(f"| `{key}` | {_type(str(inp.type))} | {default} | {docs.get(key, inp.description or '')} |")
    lines += ["", "## Outputs", ""]
    if spec.outputs:
        lines += ["| name | type | description |", "|---|---|---|"]
        for key, out in spec.outputs.items():
            lines.append(f"| `{key}` | {_type(str(out.type))} | {docs.get(key, out.description or '')} |")
    else:
        lines.append("None: the chief task writes every output.")
    lines += ["", "## Example", "", "```python", EXAMPLES[name], "```", "",
              "Without installing kftune:", "", "```python", "from kfp import components",
              f"op = components.load_component_from_url(\"{RAW.format(version=package_version(), name=name)}\")",
              "```", ""]
    return "\n".join(lines)


def metadata(name: str, component) -> str:
    spec = component.component_spec
    record = {
        "name": spec.name,
        "description": spec.description.splitlines()[0],
        "version": package_version(),
        "image": f"ghcr.io/kftune/kftune:{package_version()}",
        "component": "component.yaml",
        "python": f"kftune_kfp.components.{name}",
        "stability": "beta",
        "license": "Apache-2.0",
        "dependencies": {"kubeflow": [{"name": "Pipelines", "version": ">=2.0.0"}], "kfp": "2.17.3"},
        "tags": ["hyperparameter-tuning", "keras", "keras-tuner", "training"],
        "inputs": list(spec.inputs),
        "outputs": list(spec.outputs or {}),
    }
    return yaml.safe_dump(record, sort_keys=False)


def write_all(root: Path = HERE) -> list[Path]:
    written = []
    for name, component in COMPONENTS.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        compiler.Compiler().compile(component, str(folder / "component.yaml"))
        (folder / "README.md").write_text(readme(name, component), encoding="utf-8")
        (folder / "metadata.yaml").write_text(metadata(name, component), encoding="utf-8")
        written += [folder / "component.yaml", folder / "README.md", folder / "metadata.yaml"]
    return written


if __name__ == "__main__":
    for path in write_all():
        print(path)
