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
