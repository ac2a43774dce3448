"""The import graph of STYLE.md §1, and the backend rule, checked on the source.

Every npae module belongs to a component (its top-level module or package under npae/). A
component may import only the components to its left in the graph (``ALLOWED``); reference
modules never import ``kernels``; only ``backend`` names cupy/torch/array_api_strict; only host
modules import numpy.
"""

import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "npae"

_BASE = {"backend"}
_CHECKS = _BASE | {"validation"}
_PRIMITIVES = _CHECKS | {"ops", "initializers"}
_LAYERS = _PRIMITIVES | {"activations", "layers", "noise"}
_OBJECTIVES = _LAYERS | {"losses", "penalties"}
_REFERENCE = _OBJECTIVES | {"optimizers"}
_HOST = {"datasets", "io", "plotting"}
_MODELS = _REFERENCE | {"training", "io", "models"}

#: component -> the npae components it may import (besides itself and ``_version``)
ALLOWED = {
    "backend": set(),
    "validation": _BASE,
    "ops": _CHECKS,
    "initializers": _CHECKS,
    "activations": _PRIMITIVES,
    "layers": _PRIMITIVES | {"activations"},
    "noise": _PRIMITIVES | {"activations", "layers"},
    "losses": _LAYERS,
    "penalties": _LAYERS,
    "optimizers": _CHECKS,
    "gradcheck": _CHECKS,
    "training": _CHECKS | {"optimizers"},
    "kernels": _REFERENCE,
    "datasets": _CHECKS,
    "io": _CHECKS,
    "plotting": _CHECKS,
    "models": _MODELS,
    "metrics": _MODELS,
    "exercises": _REFERENCE | {"gradcheck", "models"},  # models: the VAE's reparameterization reference
    "applications": _MODELS | {"metrics", "gradcheck"} | _HOST,
    "cli": _MODELS | {"metrics", "applications", "gradcheck", "kernels", "exercises"} | _HOST,
    # interop (issue 17): hand a fitted model to another stack; they read models, nothing reads them
    "export": _MODELS,
    "onnx": _MODELS | {"applications"},  # converters for the estimators and AnomalyDetector
    "dask": _MODELS | {"applications"},  # issue 16: Dask wrappers for the estimators and AnomalyDetector
}
TOP = {"__init__", "__main__", "_version"}  # the package's front door may import anything

REFERENCE_COMPONENTS = ("ops", "activations", "layers", "noise", "losses", "penalties", "optimizers", "models")
NUMERIC = REFERENCE_COMPONENTS + ("kernels", "training", "gradcheck", "metrics")
HOST_ONLY = {"backend", "datasets", "io", "plotting", "cli", "applications", "__main__", "onnx", "dask"}
#: hand-over modules that may name torch: ``npae.export.to_torch`` imports it inside the function
#: (never at ``import npae``) to build a torch.nn.Module, not to run npae's arithmetic on it
TORCH_HANDOVER = {"export"}


def _component(path, root):
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _npae_imports(path):
    """The npae components a file imports (anywhere in it, function bodies included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("npae."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "npae":
                found.update(a.name for a in node.names)
            elif node.module.startswith("npae."):
                found.add(node.module.split(".")[1])
    return found


def _third_party(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def import_graph_violations(root):
    """['file imports X'] for every import against the arrows of ``ALLOWED``."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        component = _component(path, root)
        if component in TOP:
            continue
        if component not in ALLOWED:
            problems.append(f"{path.relative_to(root)}: component {component!r} is not in the import graph")
            continue
        for target in _npae_imports(path) - {component, "_version"}:
            if target not in ALLOWED[component]:
                problems.append(f"{path.relative_to(root)} imports npae.{target} (against the arrows)")
    return problems


def test_every_import_points_the_way_the_graph_draws():
    assert import_graph_violations(PACKAGE) == []


@pytest.mark.parametrize("victim, planted", [
    ("layers.py", "from npae.models import Autoencoder"),
    ("ops.py", "import npae.kernels.ops"),
    ("training.py", "from npae.models.base import BaseAutoencoder"),
    ("optimizers.py", "from npae import kernels"),
])
def test_a_planted_upward_import_is_caught(tmp_path, victim, planted):
    copy = tmp_path / "npae"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.npz"))
    with open(copy / victim, "a") as handle:
        handle.write(f"\n\ndef _planted():\n    {planted}\n")
    problems = import_graph_violations(copy)
    assert len(problems) == 1 and problems[0].startswith(victim), problems


@pytest.mark.parametrize("component", REFERENCE_COMPONENTS)
def test_reference_modules_never_import_kernels(component):
    paths = [PACKAGE / f"{component}.py"] if (PACKAGE / f"{component}.py").exists() else sorted((PACKAGE / component).rglob("*.py"))
    assert paths
    assert [str(p) for p in paths if "kernels" in _npae_imports(p)] == []


def test_only_backend_imports_cupy_or_torch():
    def forbidden(path):
        handover = _component(path, PACKAGE) in TORCH_HANDOVER
        return {"cupy", "array_api_strict"} if handover else {"cupy", "torch", "array_api_strict"}

    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if p.stem != "backend" and _third_party(p) & forbidden(p)]
    assert offenders == []


@pytest.mark.parametrize("component", NUMERIC)
def test_numeric_modules_never_import_numpy(component):
    paths = [PACKAGE / f"{component}.py"] if (PACKAGE / f"{component}.py").exists() else sorted((PACKAGE / component).rglob("*.py"))
    assert paths
    assert [str(p.relative_to(PACKAGE)) for p in paths if "numpy" in _third_party(p)] == []


def test_numpy_is_imported_only_by_host_modules():
    offenders = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                 if "numpy" in _third_party(p) and _component(p, PACKAGE) not in HOST_ONLY]
    assert offenders == []
