"""What autoencoders are used for, each measured beside a classical baseline in the same run.

Host code: every function takes NumPy arrays or arrays of any npae backend (they pass through
``npae.backend.to_numpy`` at the door), works in NumPy and scikit-learn, and returns plain Python
numbers, dicts and NumPy arrays, ready for a table or a plot. One module per use:

* ``probe`` (representation): ``linear_probe`` — test accuracy of a
  logistic regression on the codes, on the raw pixels and on PCA with as many components as the
  code has dimensions.
* ``compression``: ``quantize_codes`` / ``dequantize``
  (per-dimension uniform quantisation) and ``rate_distortion`` — bits per image against
  PSNR over latent sizes, beside PCA.
* ``denoising``: ``denoising_table`` — PSNR of the noisy and the
  denoised images for the three corruptions, with a plain autoencoder and a 3 × 3 median filter
  (``median_filter_images``) as baselines.
* ``generation``: ``LatentGMMSampler`` — a Gaussian mixture fitted
  in the code space of a plain autoencoder and decoded (latent diffusion in miniature, with a
  GMM as the latent prior); ``interpolate`` — decoded straight lines between two codes;
  ``frechet_pca_distance`` — a Fréchet distance between sample sets in a PCA feature space.
* ``detector``: ``AnomalyDetector`` — scikit-learn's outlier
  contract (and PyOD's attributes) on an autoencoder's Gaussian, reconstruction, ELBO, IWAE or
  complexity-corrected score; ``AnomalyDetector()`` alone scales, sizes and trains its own model.
* ``pyod`` (imported on demand, needs PyOD): ``PyODDetector`` —
  any npae detector as a ``pyod.models.base.BaseDetector``.
* ``anomaly``: the protocols, always scored with continuous scores (ROC
  AUC, average precision), never 0/1 predictions — ``evaluate_detectors``,
  ``PCAReconstructionDetector`` (the PCA baseline), ``one_class_auroc``,
  ``ood_auroc`` and ``tabular_auroc`` with ``breast_cancer_split``.

``default_autoencoder`` is the plain autoencoder they fit when given only a latent size.
The figures they share, ``psnr`` and ``anomaly_metrics``,
live in ``npae.metrics`` and are re-exported here.
"""

from npae.applications._common import default_autoencoder
from npae.applications.anomaly import (
    PCAReconstructionDetector,
    breast_cancer_split,
    evaluate_detectors,
    one_class_auroc,
    ood_auroc,
    tabular_auroc,
)
from npae.applications.compression import dequantize, quantize_codes, rate_distortion
from npae.applications.denoising import DEFAULT_NOISE_LEVELS, denoising_table, median_filter_images
from npae.applications.detector import AnomalyDetector, complexity_bits
from npae.applications.generation import LatentGMMSampler, frechet_pca_distance, interpolate
from npae.applications.probe import linear_probe
from npae.metrics import anomaly_metrics, psnr

__all__ = [
    "DEFAULT_NOISE_LEVELS",
    "AnomalyDetector",
    "LatentGMMSampler",
    "PCAReconstructionDetector",
    "anomaly_metrics",
    "breast_cancer_split",
    "complexity_bits",
    "default_autoencoder",
    "denoising_table",
    "dequantize",
    "evaluate_detectors",
    "frechet_pca_distance",
    "interpolate",
    "linear_probe",
    "median_filter_images",
    "one_class_auroc",
    "ood_auroc",
    "psnr",
    "quantize_codes",
    "rate_distortion",
    "tabular_auroc",
]
