"""``npae info``: versions, backends and their devices, models."""

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
