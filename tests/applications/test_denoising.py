"""Denoising: the PSNR table of a denoising autoencoder beside a plain one and a median filter."""

import numpy as np
import pytest

from npae.applications.denoising import denoising_table, median_filter_images


def test_median_filter_removes_an_isolated_salt_pixel():
    img = np.zeros((1, 25))
    img[0, 12] = 1.0
    assert np.all(median_filter_images(img) == 0.0)
    with pytest.raises(ValueError, match="not a square"):
        median_filter_images(np.zeros((1, 10)))


def test_denoising_table_denoiser_beats_the_noisy_input(digits, small_params):
    X_train, _, X_test, _ = digits
    rows = denoising_table(X_train, X_test[:300], noise_levels={"masking": (0.5,), "salt_pepper": (0.2,)},
                           model_params={**small_params, "hidden_sizes": (64,), "latent_dim": 32})
    assert [(r["noise"], r["noise_level"]) for r in rows] == [("masking", 0.5), ("salt_pepper", 0.2)]
    for r in rows:
        assert r["gain"] > 2.0, r
        assert r["psnr_denoised"] > r["psnr_plain_ae"], r  # training on noise matters
        assert r["psnr_median"] is not None
