"""The package front door: every name npae.applications had as one module is still there."""

import npae
import npae.applications as A
from npae.models import Autoencoder

NAMES_BEFORE_THE_SPLIT = [
    "LatentGMMSampler", "PCAReconstructionDetector", "anomaly_metrics", "breast_cancer_split",
    "default_autoencoder", "denoising_table", "dequantize", "evaluate_detectors", "frechet_pca_distance",
    "interpolate", "linear_probe", "median_filter_images", "one_class_auroc", "ood_auroc", "psnr",
    "quantize_codes", "rate_distortion", "tabular_auroc",
]


def test_every_public_name_is_exported_and_defined():
    assert set(NAMES_BEFORE_THE_SPLIT) | {"AnomalyDetector", "complexity_bits"} <= set(A.__all__)
    for name in A.__all__:
        assert getattr(A, name) is not None, name
    assert A.DEFAULT_NOISE_LEVELS["masking"] == (0.25, 0.5)


def test_the_anomaly_detector_is_one_class_wherever_it_is_imported_from():
    from npae.applications.detector import AnomalyDetector

    assert npae.AnomalyDetector is A.AnomalyDetector is AnomalyDetector


def test_default_autoencoder_is_a_quiet_plain_autoencoder_with_the_given_latent_size():
    model = A.default_autoencoder(5, epochs=2)
    assert isinstance(model, Autoencoder)
    assert (model.latent_dim, model.epochs, model.hidden_sizes, model.loss, model.verbose) == (5, 2, (256,), "bce", 0)
    assert A.default_autoencoder(verbose=1).verbose == 1
