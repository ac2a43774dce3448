"""The layering rules of STYLE.md §1 and the backend rule of issue 3 §2, checked on the source."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "npae"
NUMERIC = ["ops", "activations", "layers", "losses", "penalties", "optimizers", "noise", "models"]
HOST_ONLY = {"backend", "datasets", "io", "plotting", "cli", "__main__", "anomaly", "applications"}


def _imports(path):
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def test_only_backend_imports_cupy_or_torch():
    offenders = [p.relative_to(PACKAGE) for p in _modules()
                 if p.stem != "backend" and _imports(p) & {"cupy", "torch", "array_api_strict"}]
    assert offenders == []


@pytest.mark.parametrize("name", NUMERIC)
def test_numeric_modules_never_import_numpy(name):
    paths = [PACKAGE / f"{name}.py"] if (PACKAGE / f"{name}.py").exists() else sorted((PACKAGE / name).rglob("*.py"))
    if not paths or not paths[0].exists():
        pytest.skip(f"npae/{name} does not exist yet")
    offenders = [str(p.relative_to(PACKAGE)) for p in paths if "numpy" in _imports(p)]
    assert offenders == []


def test_numpy_is_imported_only_by_host_modules():
    offenders = [str(p.relative_to(PACKAGE)) for p in _modules()
                 if "numpy" in _imports(p) and p.stem not in HOST_ONLY]
    assert offenders == []


def test_training_never_imports_models():
    assert not any("npae.models" in line for line in (PACKAGE / "training.py").read_text().splitlines()
                   if line.startswith(("import", "from")))
