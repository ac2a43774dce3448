"""npae.metrics: PSNR and the anomaly-score figures the applications share."""

import numpy as np
import pytest

from npae import backend as B
from npae.metrics import anomaly_metrics, psnr


def test_psnr_is_the_per_image_mean_of_ten_log10_range2_over_mse():
    clean = np.zeros((2, 4))
    other = np.array([[0.1] * 4, [0.01] * 4])  # MSE 1e-2 and 1e-4: 20 dB and 40 dB
    assert psnr(clean, other) == pytest.approx(30.0)
    assert psnr(clean * 255, other * 255, data_range=255.0) == pytest.approx(30.0)


def test_psnr_is_the_mean_of_per_image_values():
    clean = np.zeros((2, 4))
    other = np.stack([np.full(4, 0.1), np.full(4, 0.01)])  # MSE 1e-2 and 1e-4: 20 dB and 40 dB
    assert psnr(clean, other) == pytest.approx(30.0, rel=1e-12)
    assert psnr(clean, 255.0 * other, data_range=255.0) == pytest.approx(30.0, rel=1e-12)
    assert psnr(clean[0], other[0]) == pytest.approx(20.0, rel=1e-12)
    assert psnr(np.zeros((2, 2, 2)), np.full((2, 2, 2), 0.1)) == pytest.approx(20.0, rel=1e-12)
    assert psnr(clean, clean) == np.inf


def test_psnr_accepts_backend_arrays_and_refuses_bad_input(xp):
    clean, other = np.zeros((3, 5)), np.full((3, 5), 0.1)
    on_backend = B.asarray(clean, dtype="float64", backend=xp)
    assert psnr(on_backend, B.asarray(other, dtype="float32", backend=xp)) == pytest.approx(20.0, rel=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        psnr(clean, other[:2])
    with pytest.raises(ValueError, match="data_range must be a positive finite number"):
        psnr(clean, other, data_range=0.0)
    with pytest.raises(ValueError, match="NaN or infinity"):
        psnr(clean, np.full((3, 5), np.nan))


def test_anomaly_metrics_on_perfect_and_reversed_scores():
    y = np.array([0, 0, 1, 1])
    assert anomaly_metrics(y, [0.1, 0.2, 0.8, 0.9]) == {"auroc": 1.0, "average_precision": 1.0,
                                                        "prevalence": 0.5}
    assert anomaly_metrics(y, [0.9, 0.8, 0.2, 0.1])["auroc"] == 0.0
    with pytest.raises(ValueError, match="both normal"):
        anomaly_metrics([1, 1], [0.1, 0.2])


def test_anomaly_metrics_match_scikit_learn_with_ties_and_refuse_bad_scores(xp):
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.array([False, True, False, True, True, False])
    s = np.array([0.3, 0.3, 0.1, 0.9, 0.5, 0.6])
    result = anomaly_metrics(B.asarray(y, backend=xp), B.asarray(s, dtype="float64", backend=xp))
    assert result == {"auroc": roc_auc_score(y, s), "average_precision": average_precision_score(y, s),
                      "prevalence": 0.5}
    with pytest.raises(ValueError, match="same shape"):
        anomaly_metrics(y, s[:5])
    with pytest.raises(ValueError, match="must be 1-D"):
        anomaly_metrics(y[:, None], s[:, None])
    with pytest.raises(ValueError, match="NaN or infinity"):
        anomaly_metrics(y, np.where(y, np.nan, 0.0))


def test_psnr_takes_the_range_from_the_dtype_by_default_as_scikit_image():
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, size=(3, 16)).astype(np.uint8)
    noisy = np.clip(clean.astype(np.int64) + rng.integers(-9, 10, size=clean.shape), 0, 255).astype(np.uint8)
    assert psnr(clean, noisy) == psnr(clean, noisy, data_range=255.0)  # uint8: R = 255, not 1
    assert psnr(clean.astype(np.int8), noisy.astype(np.int8)) == pytest.approx(
        psnr(clean.astype(np.int8), noisy.astype(np.int8), data_range=255.0))
    as_floats = clean.astype(np.float64), noisy.astype(np.float64)
    with pytest.raises(ValueError, match=r"outside the \[0, 1\].*data_range=255"):
        psnr(*as_floats)  # 0–255 images stored as floats: the default would be 48 dB off
    assert psnr(*as_floats, data_range=255.0) == psnr(clean, noisy)
    with pytest.raises(ValueError, match="outside"):
        psnr(np.linspace(-1.0, 1.0, 8), np.zeros(8))


def test_anomaly_metrics_refuse_labels_that_are_not_bool_or_0_1(xp):
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.2])
    expected = anomaly_metrics(np.array([0, 1, 0, 1, 1, 0]), s)
    assert anomaly_metrics(B.asarray(np.array([0.0, 1, 0, 1, 1, 0]), dtype="float64", backend=xp), s) == expected
    with pytest.raises(ValueError, match=r"got the values 0, 1, 2: for class labels pass y != normal_class"):
        anomaly_metrics([0, 1, 2, 2, 1, 0], s)
    with pytest.raises(ValueError, match=r"scikit-learn's predict labels: pass y == -1"):
        anomaly_metrics([1, -1, 1, -1, -1, 1], s)
    for labels in ([0, np.nan, 0, 1, 1, 0], [0, 0.5, 0, 1, 1, 0]):
        with pytest.raises(ValueError, match="must be bool or 0/1"):
            anomaly_metrics(labels, s)
    with pytest.raises(ValueError, match="dtype <U1"):
        anomaly_metrics(list("abab"), s[:4])
