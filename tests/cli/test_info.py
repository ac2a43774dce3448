"""``npae info``: versions, backends and their devices, models."""

import pytest

import npae
from npae import cli


def test_info_lists_version_and_backends(run):
    code, out, _ = run("info")
    assert code == 0
    assert f"npae {npae.__version__}" in out
    for name in ("numpy", "cupy", "torch", "array_api_strict"):
        assert name in out
    assert "numpy             ok, device cpu" in out


def test_info_lists_every_model_with_its_class(run):
    code, out, _ = run("info")
    assert code == 0
    models = ", ".join(f"{name} ({cls.__name__})" for name, cls in cli.MODELS.items())
    assert f"models: {models}" in out
    assert "models: ae (Autoencoder), sparse (SparseAutoencoder)" in out


def test_bad_environment_values_do_not_break_import_and_info_shows_them_invalid():
    """NPAE_KERNELS / NPAE_BACKEND with bad values: `import npae` and `npae info` still work (issue 21)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NPAE_KERNELS": "bogus", "NPAE_BACKEND": "bogus"}
    out = subprocess.run([sys.executable, "-m", "npae", "info"], env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "default backend: invalid: The environment variable NPAE_BACKEND='bogus' is not a valid backend" in out.stdout
    assert "kernels: invalid: The environment variable NPAE_KERNELS='bogus' is not a valid kernel mode" in out.stdout


def test_info_shows_the_kernel_mode_from_the_environment(run, monkeypatch):
    from npae import backend as B

    monkeypatch.setenv("NPAE_KERNELS", "REFERENCE")
    monkeypatch.setattr(B, "_kernel_default", None)
    try:
        code, out, _ = run("info")
    finally:
        B._kernel_default = "fast"
    assert code == 0 and "kernels: reference (from NPAE_KERNELS)" in out


def test_an_unavailable_backend_from_the_environment_is_shown_and_info_goes_on(monkeypatch):
    """Setting NPAE_BACKEND=cupy on a machine being prepared for a GPU, then asking npae info why."""
    import importlib.util
    import os
    import subprocess
    import sys

    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here")
    env = {**os.environ, "NPAE_BACKEND": "cupy"}
    out = subprocess.run([sys.executable, "-m", "npae", "info"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "default backend: cupy (from NPAE_BACKEND), unavailable: The 'cupy' backend needs CuPy" in out.stdout
    assert "models: " in out.stdout  # the rest of the report is still printed
