"""Linear probe: logistic regression on the codes, beside PCA and the raw input."""

import pytest

from npae.applications import default_autoencoder
from npae.applications.probe import linear_probe


def test_linear_probe_codes_beat_chance_and_report_pca_and_raw(digits, fitted_ae):
    result = linear_probe(fitted_ae, *digits)
    assert result["latent_dim"] == 8
    assert result["chance"] == pytest.approx(0.1)
    assert result["codes"] > 0.75  # chance is 0.10
    assert 0.5 < result["pca"] <= 1.0 and 0.5 < result["raw"] <= 1.0
    assert set(result["converged"]) == {"codes", "pca", "raw"}


def test_linear_probe_fits_a_clone_of_an_unfitted_model(digits, small_params):
    model = default_autoencoder(4, **{**small_params, "epochs": 3})
    result = linear_probe(model, *digits, raw=False)
    assert "raw" not in result and result["codes"] > 0.3
    assert getattr(model, "n_features_in_", None) is None
