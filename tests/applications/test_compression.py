"""Compression: per-dimension uniform quantisation of the codes and the rate–distortion table."""

import numpy as np
import pytest

from npae.applications.compression import dequantize, quantize_codes, rate_distortion


@pytest.mark.parametrize("bits", [2, 8, 12])
def test_quantize_round_trip_errs_by_at_most_half_a_step(bits):
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(200, 5)) * np.array([0.01, 1.0, 10.0, 100.0, 3.0]) + 5.0
    Q, ranges = quantize_codes(Z, bits)
    assert Q.dtype == (np.uint8 if bits <= 8 else np.uint16)
    assert Q.min() == 0 and Q.max() == 2**bits - 1
    step = (ranges[:, 1] - ranges[:, 0]) / (2**bits - 1)
    err = np.abs(dequantize(Q, ranges, bits) - Z)
    assert np.all(err <= step / 2 * (1 + 1e-9))
    assert err.max() > step.min() / 10  # the quantiser does something


def test_quantize_clips_to_given_ranges_and_handles_constant_columns():
    Z = np.array([[-5.0, 2.0], [0.5, 2.0], [5.0, 2.0]])
    Q, ranges = quantize_codes(Z, 8, ranges=[[0.0, 1.0], [2.0, 2.0]])
    np.testing.assert_array_equal(Q[:, 0], [0, 128, 255])
    np.testing.assert_array_equal(Q[:, 1], [0, 0, 0])
    np.testing.assert_allclose(dequantize(Q, ranges, 8)[:, 1], 2.0)


def test_quantize_refuses_bad_arguments():
    with pytest.raises(ValueError, match="bits must be"):
        quantize_codes(np.zeros((2, 2)), 0)
    with pytest.raises(ValueError, match="bits must be in 1"):
        quantize_codes(np.zeros((2, 2)), 17)
    with pytest.raises(ValueError, match=r"ranges must have shape \(K, 2\)"):
        quantize_codes(np.zeros((2, 2)), 8, ranges=np.zeros((3, 2)))
    with pytest.raises(ValueError, match="outside 0"):
        dequantize(np.full((1, 1), 300), [[0.0, 1.0]], 8)


@pytest.mark.parametrize("bad, what", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_quantize_refuses_a_code_that_is_not_finite(bad, what):
    Z = np.ones((3, 2))
    Z[2, 1] = bad
    with pytest.raises(ValueError, match=f"Z contains {what}.*row 2, column 1"):
        quantize_codes(Z, 8)


def test_rate_distortion_psnr_rises_with_latent_size_for_ae_and_pca(digits, small_params):
    X_train, _, X_test, _ = digits
    rows = rate_distortion([2, 8, 24], X_train, X_test, model_params=small_params)
    assert [r["latent_dim"] for r in rows] == [2, 8, 24]
    assert [r["bits_per_image"] for r in rows] == [16, 64, 192]
    for key in ("psnr_ae", "psnr_pca"):
        values = [r[key] for r in rows]
        assert values[0] < values[1] < values[2], (key, values)
    for r in rows:  # 8-bit quantisation costs little
        assert abs(r["psnr_ae"] - r["psnr_ae_float"]) < 0.5
        assert abs(r["psnr_pca"] - r["psnr_pca_float"]) < 0.5


def test_rate_distortion_accepts_fitted_models(digits, fitted_ae):
    X_train, _, X_test, _ = digits
    (row,) = rate_distortion([fitted_ae], X_train, X_test, bits=4)
    assert row["latent_dim"] == 8 and row["bits_per_image"] == 32 and row["range_bits"] == 2 * 8 * 32
    assert row["psnr_ae"] < row["psnr_ae_float"] + 0.05  # 4 bits lose something, never gain much
