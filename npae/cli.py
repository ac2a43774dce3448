"""The ``npae`` command line (also ``python -m npae``).

* ``npae train`` with no options trains the default autoencoder (784-256-32-256-784, ReLU, BCE on
  logits, Adam) on the Fashion-MNIST subset shipped inside the package, shows a progress bar,
  prints a short report and writes ``model.npz``, ``metrics.json``, ``loss.png`` and
  ``reconstructions.png`` to a run directory.
* ``npae evaluate MODEL.npz``: test loss, reconstruction PSNR, and for a VAE its ELBO and IWAE
  estimate of log p(x); ``metrics.json`` and ``reconstructions.png`` go to
  ``<run>/evaluate-<dataset>/`` unless ``--out`` says otherwise.
* ``npae sample MODEL.npz -n 64 --out grid.png``: images drawn from a VAE's prior.
* ``npae denoise MODEL.npz --noise masking --noise-level 0.3 --out fig.png``: PSNR of the noisy
  and the denoised test images, and a figure of noisy / denoised / clean rows.
* ``npae detect --normal-class 0`` or ``--ood mnist``: AUROC of an autoencoder's anomaly score
  beside PCA reconstruction and IsolationForest, a table, ``metrics.json`` and ROC curves.
* ``npae gradcheck --model contractive``: a tiny float64 model's per-parameter relative errors
  against central differences (exit status 1 if one fails).
* ``npae info``: versions, usable backends and devices, models.

Figures written with ``--out FILE.png`` get their numbers in ``FILE.json`` beside them.

Errors a user can cause (a bad option value, a missing file, an unusable backend) are printed as
one line on stderr, ``npae: error: ...``, with exit status 2, never as a traceback. Set
``NPAE_DEBUG=1`` to get the traceback instead.

This module is host code: it reads files and hands NumPy arrays to the models, which move them to
their backend. Models, datasets and plotting are imported when a command needs them, so
``npae --help`` and ``npae info`` start quickly.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import importlib.util
import inspect
import json
import math
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from npae import backend as B
from npae._version import __version__

__all__ = ["DATASETS", "MODELS", "build_parser", "get_model_class", "load_training_data", "main"]

#: --model name -> (module, class). Imported lazily: a model whose module is not there gives a
#: clear error only when asked for.
MODELS = {
    "ae": ("npae.models.autoencoder", "Autoencoder"),
    "sparse": ("npae.models.sparse", "SparseAutoencoder"),
    "denoising": ("npae.models.denoising", "DenoisingAutoencoder"),
    "contractive": ("npae.models.contractive", "ContractiveAutoencoder"),
    "vae": ("npae.models.variational", "VAE"),
}

#: Named datasets for --dataset (anything else must be a path to an .npz file).
DATASETS = ("embedded", "fashion-mnist", "mnist", "digits")

#: The digits set has no official split: a stratified, fixed-seed hold-out of this many images.
DIGITS_TEST_SIZE = 360

#: Defaults of the options shared by all models (None in argparse, so that an option given
#: explicitly can be told from a default: a default is passed only to a model that takes it).
DEFAULTS = {
    "epochs": 10,
    "hidden_sizes": (256,),
    "latent_dim": 32,
    "activation": "relu",
    "loss": "bce",
    "optimizer": "adam",
    "learning_rate": 1e-3,
    "batch_size": 128,
    "dtype": "float32",
}

#: (argparse dest, constructor parameter) for options passed to the model when it takes them.
COMMON_PARAMS = (
    ("hidden_sizes", "hidden_sizes"),
    ("latent_dim", "latent_dim"),
    ("activation", "activation"),
    ("latent_activation", "latent_activation"),
    ("loss", "loss"),
    ("optimizer", "optimizer"),
    ("learning_rate", "learning_rate"),
    ("batch_size", "batch_size"),
    ("epochs", "epochs"),
    ("dtype", "dtype"),
)
MODEL_PARAMS = (
    ("sparsity", "sparsity"),
    ("sparsity_weight", "sparsity_weight"),
    ("target_sparsity", "target_sparsity"),
    ("noise", "noise"),
    ("noise_level", "noise_level"),
    ("contractive_weight", "contractive_weight"),
    ("beta", "beta"),
    ("likelihood", "likelihood"),
    ("sigma", "sigma"),
    ("kl_warmup_epochs", "kl_warmup_epochs"),
)
RUN_FILES = ("model.npz", "metrics.json", "loss.png", "reconstructions.png")

#: Kept here (not imported) so that 'npae --help' does not import the models.
_NOISE_KINDS = ("gaussian", "masking", "salt_pepper")
_ANOMALY_SCORES = ("reconstruction", "elbo", "iwae", "elbo_complexity")
_FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


class CLIError(ValueError):
    """A user error found by the command line itself (printed as one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (``npae train: error: ...``), exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ------------------------------------------------------------------------------ parser
def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    """The ``npae`` argument parser with its subcommands."""
    parser = _Parser(
        prog="npae",
        description="Autoencoders written from scratch (hand-written layers and backprop) on NumPy, "
                    "CuPy, PyTorch tensors or any Array API library.",
        epilog="Run 'npae COMMAND --help' for the options of a command. Errors are one line on "
               "stderr with exit status 2; set NPAE_DEBUG=1 for a traceback.",
    )
    parser.add_argument("--version", action="version", version=f"npae {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser,
                                     help="one of the commands below; each has its own --help")
    commands.required = True
    _add_train(commands)
    _add_evaluate(commands)
    _add_sample(commands)
    _add_denoise(commands)
    _add_detect(commands)
    _add_gradcheck(commands)
    _add_info(commands)
    return parser


def _add_train(commands) -> None:
    p = commands.add_parser(
        "train",
        help="train a model, print a report, write model, metrics and figures to a run directory",
        description="Train an autoencoder and write model.npz, metrics.json, loss.png and\n"
                    "reconstructions.png to a run directory. With no options: the default\n"
                    "autoencoder (784-256-32-256-784, ReLU, BCE, Adam) on the Fashion-MNIST\n"
                    "subset shipped with npae.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  npae train\n"
               "  npae train --dataset digits --epochs 20 --hidden-sizes 64 --latent-dim 8\n"
               "  npae train --model sparse --latent-activation sigmoid --sparsity kl --sparsity-weight 0.5\n"
               "  npae train --model vae --latent-dim 2 --beta 1.0 --backend cupy\n"
               "  npae train --dataset mydata.npz --loss mse --out runs/mine --force",
    )
    data = p.add_argument_group("model and data")
    data.add_argument("--model", default="ae", choices=tuple(MODELS), metavar="{" + ",".join(MODELS) + "}",
                      help="which autoencoder: ae (plain), sparse, denoising, contractive, vae "
                           "(default: ae)")
    data.add_argument("--dataset", default="embedded", metavar="NAME|FILE.npz",
                      help="embedded (5,000 + 1,000 Fashion-MNIST images shipped with npae), "
                           "fashion-mnist, mnist (full sets; see --data-dir, --download), digits "
                           f"(scikit-learn's 8x8 digits, {DIGITS_TEST_SIZE} held out for test with "
                           "a fixed seed), or a .npz file with arrays X_train (N, D) and optionally "
                           "X_test, y_train, y_test (default: embedded)")
    data.add_argument("--data-dir", default=None, metavar="DIR",
                      help="directory holding the MNIST / Fashion-MNIST IDX files (searched before "
                           "$NPAE_DATA, the user cache and /usr/share/datasets)")
    data.add_argument("--download", action="store_true",
                      help="download MNIST / Fashion-MNIST into the user cache if they are not found "
                           "(checked by SHA-256)")

    _add_architecture_options(p)
    _add_model_specific_options(p)

    _add_output_directory_options(p, "run directory, created if needed (default: runs/<model>-<dataset>-<time>)",
                                  quiet="no progress bar and no report; print only the run directory")
    p.set_defaults(handler=cmd_train)


def _add_architecture_options(p, loss_default: str = DEFAULTS["loss"]) -> None:
    """The "architecture and training" options shared by train and detect."""
    arch = p.add_argument_group("architecture and training")
    arch.add_argument("--epochs", type=int, default=None, metavar="N",
                      help=f"passes over the training set (default: {DEFAULTS['epochs']})")
    arch.add_argument("--hidden-sizes", nargs="*", default=None, metavar="H",
                      help="encoder hidden widths, e.g. '512 128' or 512,128; the decoder mirrors "
                           "them; give none for no hidden layer (default: 256)")
    arch.add_argument("--latent-dim", type=int, default=None, metavar="K",
                      help=f"code width K (default: {DEFAULTS['latent_dim']})")
    arch.add_argument("--activation", default=None, metavar="NAME",
                      help="hidden activation: relu, leaky_relu, elu, sigmoid, tanh, softplus, "
                           f"identity (default: {DEFAULTS['activation']})")
    arch.add_argument("--latent-activation", default=None, metavar="NAME",
                      help="activation of the code layer (default: the model's, identity for ae)")
    arch.add_argument("--loss", default=None, metavar="NAME",
                      help="reconstruction loss summed over features: bce (on logits; data in "
                           f"[0, 1]) or mse (default: {loss_default}; the vae uses --likelihood)")
    arch.add_argument("--optimizer", default=None, metavar="NAME",
                      help=f"adam, adamw, sgd, momentum, nesterov (default: {DEFAULTS['optimizer']})")
    arch.add_argument("--learning-rate", type=float, default=None, metavar="LR",
                      help=f"step size (default: {DEFAULTS['learning_rate']:g})")
    arch.add_argument("--batch-size", type=int, default=None, metavar="N",
                      help=f"minibatch rows (default: {DEFAULTS['batch_size']})")
    arch.add_argument("--dtype", default=None, choices=("float32", "float64"),
                      help=f"parameter and data dtype (default: {DEFAULTS['dtype']})")
    arch.add_argument("--backend", default=None, metavar="NAME",
                      help="numpy, cupy, torch or array_api_strict (default: $NPAE_BACKEND, else numpy)")
    arch.add_argument("--seed", type=int, default=0,
                      help="seeds the initial weights, minibatch order and noise (default: 0)")


def _add_model_specific_options(p) -> None:
    """Options given only to the model that takes them (train and detect)."""
    extra = p.add_argument_group(
        "model-specific options",
        "Given to the model that takes them; an option the chosen --model does not take is an error.")
    extra.add_argument("--sparsity", default=None, metavar="{l1,kl}",
                       help="sparse: L1 penalty on the code, or KL to a target mean activation "
                            "(kl needs --latent-activation sigmoid)")
    extra.add_argument("--sparsity-weight", type=float, default=None, metavar="W",
                       help="sparse: weight of the sparsity penalty")
    extra.add_argument("--target-sparsity", type=float, default=None, metavar="RHO",
                       help="sparse: target mean activation ρ in (0, 1) for --sparsity kl")
    extra.add_argument("--noise", default=None, metavar="{gaussian,masking,salt_pepper}",
                       help="denoising: corruption applied to each training batch")
    extra.add_argument("--noise-level", type=float, default=None, metavar="P",
                       help="denoising: standard deviation (gaussian) or fraction of pixels "
                            "(masking, salt_pepper)")
    extra.add_argument("--contractive-weight", type=float, default=None, metavar="LAMBDA",
                       help="contractive: weight λ of the Jacobian penalty λ·mean_n ‖∂h/∂x‖²_F")
    extra.add_argument("--beta", type=float, default=None, metavar="BETA",
                       help="vae: weight β of the KL term (1 gives the ELBO)")
    extra.add_argument("--likelihood", default=None, metavar="{bernoulli,gaussian}",
                       help="vae: decoder likelihood, Bernoulli on logits (data in [0, 1]) or "
                            "Gaussian with fixed --sigma")
    extra.add_argument("--sigma", type=float, default=None, metavar="SIGMA",
                       help="vae: standard deviation of the Gaussian likelihood")
    extra.add_argument("--kl-warmup-epochs", type=int, default=None, metavar="N",
                       help="vae: anneal β linearly from 0 over the first N epochs")


def _add_info(commands) -> None:
    p = commands.add_parser(
        "info",
        help="show the npae version, the backends usable here and their devices, and the models",
        description="Show the npae version, library versions, which array backends are usable on "
                    "this machine (and why not, for the others) with their devices, and the models "
                    "available to 'npae train --model'.",
    )
    p.set_defaults(handler=cmd_info)


def _add_model_file_options(p, *, what: str) -> None:
    """MODEL.npz, --dataset, --data-dir, --download, --backend: shared by evaluate and denoise."""
    p.add_argument("model_path", metavar="MODEL.npz",
                   help="a model saved by 'npae train' (RUN/model.npz), or its run directory")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", default=None, metavar="NAME|FILE.npz",
                      help=f"the data {what}, as for 'npae train --dataset'; its test split is used "
                           "(the training split for an .npz file without X_test) (default: the dataset "
                           "recorded in metrics.json beside the model, else embedded)")
    data.add_argument("--data-dir", default=None, metavar="DIR",
                      help="directory holding the MNIST / Fashion-MNIST IDX files (searched before "
                           "$NPAE_DATA, the user cache and /usr/share/datasets)")
    data.add_argument("--download", action="store_true",
                      help="download MNIST / Fashion-MNIST into the user cache if they are not found")
    data.add_argument("--backend", default=None, metavar="NAME",
                      help="numpy, cupy, torch or array_api_strict to run the model on (default: the "
                           "one it was saved with, else $NPAE_BACKEND, else numpy)")


def _add_evaluate(commands) -> None:
    p = commands.add_parser(
        "evaluate",
        help="test loss of a saved model; for a VAE also its ELBO and importance-weighted log-likelihood",
        description="Score a saved model on a test set: the loss it was trained on, the pixel-wise\n"
                    "reconstruction error and PSNR, and for a VAE the ELBO and the importance-\n"
                    "weighted estimate of log p(x) (IWAE, Burda et al. 2016) with --k samples on\n"
                    "the first --n test images. Prints a table and writes metrics.json and\n"
                    "reconstructions.png into --out.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  npae evaluate runs/ae-embedded-20250101-120000/model.npz\n"
               "  npae evaluate runs/vae/model.npz --k 1000 --n 200 --seed 1\n"
               "  npae evaluate model.npz --dataset digits --out runs/eval-digits --force",
    )
    _add_model_file_options(p, what="to evaluate on")
    vae = p.add_argument_group("VAE likelihood (ignored for other models)")
    vae.add_argument("--k", type=int, default=100, metavar="K",
                     help="importance samples per image for the IWAE estimate of log p(x) (default: 100)")
    vae.add_argument("--n", type=int, default=1000, metavar="N",
                     help="how many test images (the first N) the IWAE estimate uses (default: 1000)")
    vae.add_argument("--seed", type=int, default=0,
                     help="seeds the latent noise of the ELBO and IWAE estimates (default: 0)")
    _add_output_directory_options(p, "directory for metrics.json and reconstructions.png (default: "
                                     "evaluate-<dataset>/ inside the model's run directory, replaced on a rerun)")
    p.set_defaults(handler=cmd_evaluate)


def _add_output_directory_options(p, out_help: str, *, quiet: str | None = None) -> None:
    """The "output" group of a command that writes a directory: --out DIR, --force, and --quiet."""
    out = p.add_argument_group("output")
    out.add_argument("--out", default=None, metavar="DIR", help=out_help)
    out.add_argument("--force", action="store_true",
                     help="write into --out even if it exists and is not empty (its files are replaced)")
    if quiet is not None:
        out.add_argument("--quiet", action="store_true", help=quiet)


def _add_sample(commands) -> None:
    p = commands.add_parser(
        "sample",
        help="draw new images from a saved VAE and save them as a grid",
        description="Draw z ~ N(0, I) and decode it with a saved VAE (model.sample), then save the\n"
                    "images as a grid. Only a VAE has a prior to sample from: train one with\n"
                    "'npae train --model vae'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  npae sample runs/vae/model.npz\n"
               "  npae sample runs/vae/model.npz -n 100 --cols 10 --seed 3 --out samples.png",
    )
    p.add_argument("model_path", metavar="MODEL.npz",
                   help="a VAE saved by 'npae train --model vae' (RUN/model.npz), or its run directory")
    p.add_argument("-n", "--n-samples", type=int, default=64, metavar="N",
                   help="how many images to draw (default: 64)")
    p.add_argument("--cols", type=int, default=8, metavar="C",
                   help="images per row of the grid (default: 8)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the latent draws z; the same seed gives the same images (default: 0)")
    p.add_argument("--backend", default=None, metavar="NAME",
                   help="numpy, cupy, torch or array_api_strict (default: the one the model was saved "
                        "with, else $NPAE_BACKEND, else numpy)")
    p.add_argument("--out", default=None, metavar="FILE.png|DIR",
                   help="the grid image (.png, .pdf, .svg or .jpg), with its metrics in FILE.json beside "
                        "it; or a directory, which gets samples.png and metrics.json (default: "
                        "samples.png in the model's run directory)")
    p.set_defaults(handler=cmd_sample)


def _add_denoise(commands) -> None:
    p = commands.add_parser(
        "denoise",
        help="corrupt test images, reconstruct them with a saved model, report PSNR and save a figure",
        description="Corrupt test images with --noise at --noise-level, reconstruct them with a saved\n"
                    "model, and report the PSNR (dB, per image then averaged) of the noisy and the\n"
                    "denoised images against the clean ones. Any autoencoder works; one trained\n"
                    "with 'npae train --model denoising' on the same corruption works best. The\n"
                    "figure shows noisy (top), denoised (middle) and clean (bottom) images.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  npae denoise runs/dae/model.npz\n"
               "  npae denoise runs/dae/model.npz --noise salt_pepper --noise-level 0.2 --out sp.png\n"
               "  npae denoise runs/ae/model.npz --noise gaussian --noise-level 0.3 --n-show 12",
    )
    _add_model_file_options(p, what="to corrupt and denoise")
    noise = p.add_argument_group("corruption")
    noise.add_argument("--noise", default=None, metavar="{" + ",".join(_NOISE_KINDS) + "}",
                       help="gaussian: add N(0, σ²) and clip to the data range; masking: set a fraction "
                            "of pixels to 0; salt_pepper: set a fraction to the minimum or maximum "
                            "(default: the model's own noise for a denoising model, else gaussian)")
    noise.add_argument("--noise-level", type=float, default=None, metavar="P",
                       help="σ for gaussian (> 0, data units), the corrupted fraction in (0, 1) for "
                            "masking and salt_pepper (default: the model's own level for a denoising "
                            "model, else 0.3)")
    noise.add_argument("--seed", type=int, default=0, help="seeds the corruption (default: 0)")
    out = p.add_argument_group("output")
    out.add_argument("--n-show", type=int, default=10, metavar="N",
                     help="how many images the figure shows (default: 10)")
    out.add_argument("--out", default=None, metavar="FILE.png|DIR",
                     help="the figure (.png, .pdf, .svg or .jpg), with its metrics in FILE.json beside "
                          "it; or a directory, which gets denoise.png and metrics.json (default: "
                          "denoise-<noise>-<level>.png in the model's run directory)")
    p.set_defaults(handler=cmd_denoise)


def _add_detect(commands) -> None:
    p = commands.add_parser(
        "detect",
        help="anomaly detection: train a detector, report AUROC beside PCA and IsolationForest",
        description="Train an autoencoder as an anomaly detector (npae.AnomalyDetector) and measure\n"
                    "its AUROC and average precision beside two baselines fitted in the same run: PCA\n"
                    "reconstruction error (as many components as the code) and IsolationForest.\n"
                    "Two protocols:\n"
                    "  --normal-class C  train on class C of --dataset; its test images are normal,\n"
                    "                    every other test image is an anomaly (one-class protocol)\n"
                    "  --ood mnist       train on Fashion-MNIST (--dataset embedded or fashion-mnist);\n"
                    "                    its test set is normal, the MNIST test set is anomalous\n"
                    "Likelihood scores are known to fail the second one (Nalisnick et al. 2019: a\n"
                    "VAE of Fashion-MNIST gives MNIST a higher likelihood); --score elbo_complexity\n"
                    "subtracts each image's zlib length (Serrà et al. 2020). Writes metrics.json,\n"
                    "roc.png and scores.png into a run directory.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  npae detect --normal-class 0\n"
               "  npae detect --model vae --score elbo iwae --normal-class all --epochs 5\n"
               "  npae detect --model vae --ood mnist --score elbo elbo_complexity\n"
               "  npae detect --ood mnist --mnist-dir /data/mnist --max-test 2000",
    )
    task = p.add_argument_group("protocol (give exactly one)").add_mutually_exclusive_group(required=True)
    task.add_argument("--normal-class", default=None, metavar="C|C1,C2|all",
                      help="one-class protocol: the label(s) treated as normal, one run per label, or "
                           "all of them (then the table also has the mean)")
    task.add_argument("--ood", default=None, choices=("mnist",),
                      help="out-of-distribution protocol: the MNIST test set as anomalies")
    det = p.add_argument_group("detector")
    det.add_argument("--model", default="ae", choices=tuple(MODELS), metavar="{" + ",".join(MODELS) + "}",
                     help="the autoencoder trained on the normal data (default: ae)")
    det.add_argument("--score", nargs="+", default=None, metavar="NAME",
                     help="one or more of " + ", ".join(_ANOMALY_SCORES) + "; all but reconstruction "
                          "need --model vae; each is one row of the table, from one trained model "
                          "(default: reconstruction, elbo for the vae)")
    det.add_argument("--k", type=int, default=100, metavar="K",
                     help="importance samples for the iwae and elbo_complexity scores (default: 100)")
    data = p.add_argument_group("data")
    data.add_argument("--dataset", default="embedded", metavar="NAME|FILE.npz",
                      help="the normal data, with labels for --normal-class: embedded, fashion-mnist, "
                           "mnist, digits or an .npz file with X_train, y_train, X_test, y_test; "
                           "--ood mnist needs embedded or fashion-mnist (default: embedded)")
    data.add_argument("--data-dir", default=None, metavar="DIR",
                      help="directory holding the Fashion-MNIST / MNIST IDX files of --dataset")
    data.add_argument("--mnist-dir", default=None, metavar="DIR",
                      help="directory holding the MNIST test files for --ood mnist (default: the "
                           "dataset lookup: $NPAE_DATA/mnist, $NPAE_DATA, the user cache, "
                           "/usr/share/datasets/mnist)")
    data.add_argument("--download", action="store_true",
                      help="download MNIST / Fashion-MNIST into the user cache if they are not found")
    data.add_argument("--max-test", type=int, default=1000, metavar="N",
                      help="score at most N test images (a random subset, fixed by --seed) and, for "
                           "--ood, at most N MNIST images; 0 for all (default: 1000)")
    _add_architecture_options(p, loss_default="mse, whose score has no entropy floor")
    _add_model_specific_options(p)
    _add_output_directory_options(p, "run directory, created if needed (default: "
                                     "runs/detect-<model>-<class-C|classes|ood-mnist>-<time>)",
                                  quiet="no progress bars and no table; print only the run directory")
    p.set_defaults(handler=cmd_detect)


def _add_gradcheck(commands) -> None:
    p = commands.add_parser(
        "gradcheck",
        help="check a model's hand-written gradients against central differences (a teaching tool)",
        description="Build a tiny float64 model on tiny random data and compare the gradient that\n"
                    "backprop computes for every parameter array with central differences,\n"
                    "    n_i = (L(θ + h e_i) − L(θ − h e_i)) / 2h,\n"
                    "printing the relative error ‖a − n‖ / (‖a‖ + ‖n‖) of each array\n"
                    "(npae.gradcheck.check_model). The randomness of the objective is fixed\n"
                    "(the VAE's eps, the denoiser's corrupted input), so the check is exact.\n"
                    "Exit status 0 when every array is below --tol, 1 when one is not.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  npae gradcheck --model contractive\n"
               "  npae gradcheck --model vae --hidden-sizes 8 4 --latent-dim 2\n"
               "  npae gradcheck --model ae --activation relu --seed 3\n"
               "Note: ReLU has kinks; a finite difference across one can fail a correct gradient.",
    )
    p.add_argument("--model", default="ae", choices=tuple(MODELS), metavar="{" + ",".join(MODELS) + "}",
                   help="ae, sparse (KL sparsity on a sigmoid code), denoising (masking noise, a fixed "
                        "draw), contractive or vae (a fixed eps) (default: ae)")
    p.add_argument("--n", type=int, default=6, metavar="N", help="rows of random data (default: 6)")
    p.add_argument("--features", type=int, default=7, metavar="D",
                   help="columns of random data, drawn uniformly in [0.05, 0.95] (default: 7)")
    p.add_argument("--hidden-sizes", nargs="*", default=["5"], metavar="H",
                   help="encoder hidden widths; none for no hidden layer (default: 5)")
    p.add_argument("--latent-dim", type=int, default=3, metavar="K", help="code width (default: 3)")
    p.add_argument("--activation", default="tanh", metavar="NAME",
                   help="hidden activation; smooth ones (tanh, sigmoid, softplus) check exactly "
                        "(default: tanh)")
    p.add_argument("--loss", default="bce", metavar="{bce,mse}",
                   help="reconstruction loss (bce or mse; the vae uses its Bernoulli likelihood) "
                        "(default: bce)")
    p.add_argument("--h", type=float, default=1e-6, metavar="H",
                   help="finite-difference step (default: 1e-06)")
    p.add_argument("--tol", type=float, default=1e-6, metavar="TOL",
                   help="largest relative error that passes (default: 1e-06)")
    p.add_argument("--seed", type=int, default=0,
                   help="seeds the weights, the data and the fixed noise (default: 0)")
    p.add_argument("--backend", default=None, metavar="NAME",
                   help="numpy, cupy, torch or array_api_strict (default: $NPAE_BACKEND, else numpy)")
    p.set_defaults(handler=cmd_gradcheck)


# ------------------------------------------------------------------------------ models
def get_model_class(name: str):
    """The estimator class for a ``--model`` name, imported now.

    Raises
    ------
    ValueError
        For a name not in :data:`MODELS` (the message lists them).
    ImportError
        When the model's module is not part of this installation.
    """
    if name not in MODELS:
        raise ValueError(_unknown("model", name, tuple(MODELS)))
    module_name, class_name = MODELS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name != module_name:
            raise
        usable = [m for m, (mod, _) in MODELS.items() if importlib.util.find_spec(mod) is not None]
        raise ImportError(
            f"--model {name} needs {module_name}, which this npae installation does not have; "
            f"models available here: {', '.join(usable)}."
        ) from err
    try:
        return getattr(module, class_name)
    except AttributeError as err:
        raise ImportError(f"{module_name} has no class {class_name}; --model {name} cannot be built.") from err


def _model_kwargs(cls, model_name: str, args) -> dict:
    """Constructor arguments from the options: explicit ones must be taken by ``cls``."""
    accepted = inspect.signature(cls.__init__).parameters
    kwargs = {}
    for dest, param in COMMON_PARAMS + MODEL_PARAMS:
        value = getattr(args, dest)
        explicit = value is not None
        if not explicit:
            value = DEFAULTS.get(dest)
            if value is None:
                continue
        if param in accepted:
            kwargs[param] = value
        elif explicit:
            users = [m for m in MODELS if _takes(m, param)]
            hint = f" It is used by --model {' / '.join(users)}." if users else ""
            raise CLIError(f"{_flag(dest)} does not apply to --model {model_name} "
                           f"({cls.__name__} has no {param!r} parameter).{hint}")
    for param, value in (("random_state", args.seed), ("backend", args.backend_name),
                         ("verbose", 0 if args.quiet else 1)):
        if param in accepted:
            kwargs[param] = value
    return kwargs


def _takes(model_name: str, param: str) -> bool:
    """True if the model's class is importable and its constructor has ``param``."""
    try:
        cls = get_model_class(model_name)
    except ImportError:
        return False
    return param in inspect.signature(cls.__init__).parameters


def _parse_hidden_sizes(values) -> tuple[int, ...] | None:
    if values is None:
        return None
    sizes = []
    for value in values:
        for part in str(value).replace(",", " ").split():
            try:
                size = int(part)
            except ValueError:
                raise CLIError(f"--hidden-sizes takes positive integers, e.g. '512 128'; got {part!r}.") from None
            if size <= 0:
                raise CLIError(f"--hidden-sizes takes positive integers, e.g. '512 128'; got {size}.")
            sizes.append(size)
    return tuple(sizes)


# ------------------------------------------------------------------------------ data
def load_training_data(dataset: str, *, data_dir=None, download: bool = False):
    """Load ``(X_train, y_train, X_test, y_test, info)`` for a ``--dataset`` value.

    ``X_*`` are host float arrays (N, D); ``y_*`` int arrays (N,) or None; ``X_test`` is None for
    an .npz file without one. ``info`` is a dict: ``name`` (for run directories), ``title`` (for
    the report), ``image_shape`` ((h, w) or None).

    Raises
    ------
    ValueError
        For an unknown name (listing the valid ones), an .npz file without ``X_train``, or arrays
        of the wrong shape.
    FileNotFoundError
        For a missing file (the dataset loaders say where they looked and how to get the files).
    """
    from npae import datasets

    key = dataset.strip().lower().replace("_", "-")
    if key in DATASETS:
        info = {"name": key, "image_shape": None}
        if key == "digits":
            from sklearn.model_selection import train_test_split

            X, y = datasets.load_digits()
            X_train, X_test, y_train, y_test = train_test_split(
                X, y, test_size=DIGITS_TEST_SIZE, stratify=y, random_state=0)
            info["title"] = f"digits (scikit-learn 8x8, stratified hold-out of {DIGITS_TEST_SIZE})"
            return X_train, y_train, X_test, y_test, info
        kwargs = {} if key == "embedded" else {"data_dir": data_dir, "download": download}
        X_train, y_train = datasets.load_dataset(key, "train", **kwargs)
        X_test, y_test = datasets.load_dataset(key, "test", **kwargs)
        info["title"] = {"embedded": "embedded (Fashion-MNIST subset shipped with npae)",
                         "fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}[key]
        return X_train, y_train, X_test, y_test, info
    path = Path(dataset).expanduser()
    if path.suffix.lower() != ".npz" and not path.is_file():
        close = difflib.get_close_matches(key, DATASETS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise CLIError(f"Unknown dataset {dataset!r}; expected one of {', '.join(map(repr, DATASETS))} "
                       f"or a path to an .npz file with X_train (and optionally X_test, y_train, y_test).{hint}")
    return _load_npz(path)


def _load_npz(path: Path):
    if not path.is_file():
        raise FileNotFoundError(f"Dataset file {str(path)!r} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as data:
            if not hasattr(data, "files"):
                raise CLIError(f"{str(path)!r} holds a single array, not an .npz archive; save the data "
                               "with numpy.savez(path, X_train=..., X_test=...).")
            arrays = {name: data[name] for name in data.files}
    except CLIError:
        raise
    except (OSError, ValueError, EOFError) as err:
        raise CLIError(f"Could not read {str(path)!r} as an .npz archive without pickles: {err}") from err
    if "X_train" not in arrays:
        raise CLIError(f"{str(path)!r} has no 'X_train' array (it has: {', '.join(sorted(arrays)) or 'nothing'}); "
                       "a dataset file needs X_train (N, D) and optionally X_test, y_train, y_test.")
    image_shape = None
    out = {}
    for split in ("train", "test"):
        X = arrays.get(f"X_{split}")
        y = arrays.get(f"y_{split}")
        if X is not None:
            if X.ndim == 3:  # a stack of (h, w) images: flatten rows, keep the shape for figures
                image_shape = tuple(int(s) for s in X.shape[1:])
                X = X.reshape(X.shape[0], -1)
            if X.ndim != 2:
                raise CLIError(f"X_{split} in {str(path)!r} must be 2-D (N, D) or a stack of images "
                               f"(N, h, w); got shape {X.shape}.")
        if y is not None:
            if X is None:
                raise CLIError(f"{str(path)!r} has y_{split} but no X_{split}.")
            if y.ndim != 1 or y.shape[0] != X.shape[0]:
                raise CLIError(f"y_{split} in {str(path)!r} must have one label per row of X_{split}: "
                               f"expected shape ({X.shape[0]},), got {y.shape}.")
        out[split] = (X, y)
    (X_train, y_train), (X_test, y_test) = out["train"], out["test"]
    if X_test is not None and X_test.shape[1] != X_train.shape[1]:
        raise CLIError(f"X_test in {str(path)!r} has {X_test.shape[1]} features but X_train has "
                       f"{X_train.shape[1]}.")
    info = {"name": path.stem, "title": f"{path.name}", "image_shape": image_shape}
    return X_train, y_train, X_test, y_test, info


# ------------------------------------------------------------------------------ run directory
def _safe_name(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text) or "data"


def _prepare_run_dir(out, model_name: str, dataset_name: str, force: bool) -> tuple[Path, bool]:
    """Create the run directory; refuse a non-empty existing one unless ``force``.

    Returns the directory and whether this call created it.
    """
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path("runs") / f"{model_name}-{_safe_name(dataset_name)}-{stamp}"
        run_dir, i = base, 1
        while run_dir.exists():  # two runs in the same second get -2, -3, ...
            i += 1
            run_dir = base.with_name(f"{base.name}-{i}")
    else:
        run_dir = Path(out).expanduser()
        if run_dir.exists() and not run_dir.is_dir():
            raise CLIError(f"--out {str(run_dir)!r} exists and is not a directory; choose another --out.")
        if run_dir.is_dir() and any(run_dir.iterdir()) and not force:
            raise CLIError(f"Run directory {str(run_dir)!r} exists and is not empty; choose another --out, "
                           "or pass --force to write into it (its run files are replaced).")
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir, created


# ------------------------------------------------------------------------------ train
def _architecture(model, n_features: int) -> str:
    hidden = tuple(getattr(model, "hidden_sizes", ()) or ())
    if isinstance(hidden, int):
        hidden = (hidden,)
    sizes = [n_features, *hidden, getattr(model, "latent_dim", "?")]
    return "-".join(map(str, sizes + sizes[-2::-1]))


def _objective_name(model) -> str:
    likelihood = getattr(model, "likelihood", None)
    if likelihood is not None:
        return "negative BCE-ELBO" if likelihood == "bernoulli" else "negative ELBO"
    name = str(getattr(model, "loss", "loss")).upper()
    if hasattr(model, "sparsity_weight"):
        return f"{name} + sparsity penalty"
    if hasattr(model, "contractive_weight"):
        return f"{name} + contractive penalty"
    return name


def _pick_examples(y, n_rows: int, n: int = 10) -> np.ndarray:
    """Indices of up to n rows: the first of each class when labels exist (then the next ones)."""
    n = min(n, n_rows)
    if y is None:
        return np.arange(n)
    y = np.asarray(y)
    first = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)][:n]
    taken = set(first)
    rest = [i for i in range(n_rows) if i not in taken][: n - len(first)]
    return np.array(sorted(first) + rest, dtype=np.int64)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return repr(value)


def cmd_train(args) -> int:
    """``npae train``: see ``npae train --help``."""
    args.hidden_sizes = _parse_hidden_sizes(args.hidden_sizes)
    backend = B.get_backend(args.backend)  # unknown or unusable backends fail here, before any work
    args.backend_name = backend.name
    cls = get_model_class(args.model)
    model = cls(**_model_kwargs(cls, args.model, args))
    if hasattr(model, "_check_hyperparameters"):
        model._check_hyperparameters()  # refuse bad values before loading data or training

    X_train, y_train, X_test, y_test, info = load_training_data(
        args.dataset, data_dir=args.data_dir, download=args.download)
    run_dir, created = _prepare_run_dir(args.out, args.model, info["name"], args.force)
    try:
        return _train_into(run_dir, args, cls, model, backend, (X_train, y_train, X_test, y_test), info)
    except BaseException:
        if created and not any(run_dir.iterdir()):
            run_dir.rmdir()  # leave no empty run directory behind a failed run
        raise


def _train_into(run_dir: Path, args, cls, model, backend, data, info) -> int:
    """Fit, evaluate, save and report into an existing run directory."""
    X_train, y_train, X_test, y_test = data
    n_features = X_train.shape[1]
    say = (lambda *a, **k: None) if args.quiet else print
    test_text = f"test {X_test.shape}" if X_test is not None else "no test set"
    say(f"npae train: {args.model} ({cls.__name__}) on {info['title']}: train {X_train.shape}, {test_text}; "
        f"{backend.name} backend ({backend.device}); writing to {run_dir}", flush=True)

    start = time.perf_counter()
    model.fit(X_train, validation_data=X_test)
    seconds = time.perf_counter() - start

    train_loss = -model.score(X_train)
    test_loss = -model.score(X_test) if X_test is not None else None
    model.save(run_dir / "model.npz")

    from npae import plotting

    fig = plotting.plot_loss_curves(model.history_)
    fig.savefig(run_dir / "loss.png", dpi=100)
    shown_X, shown_y, shown_split = (X_test, y_test, "test") if X_test is not None else (X_train, y_train, "train")
    picks = _pick_examples(shown_y, shown_X.shape[0])
    originals = np.asarray(shown_X)[picks]
    image_shape = info["image_shape"]
    if image_shape is None and math.isqrt(n_features) ** 2 != n_features:
        image_shape = (1, n_features)  # not images: heat-map strips
    fig = plotting.plot_reconstructions(originals, B.to_numpy(model.reconstruct(originals)),
                                        n=len(picks), image_shape=image_shape)
    if image_shape is not None and image_shape[0] == 1:
        fig.suptitle(f"{shown_split} rows (left) and their reconstructions (right)")
    else:
        fig.suptitle(f"{shown_split} images (top) and their reconstructions (bottom)")
    fig.savefig(run_dir / "reconstructions.png", dpi=100)

    epochs_run = len(model.history_.get("loss", []))
    unit = "pixel" if image_shape is None or image_shape[0] > 1 else "feature"
    objective = _objective_name(model)
    metrics = {
        "npae_version": __version__,
        "model": args.model,
        "model_class": cls.__name__,
        "params": _jsonable(model.get_params(deep=False)),
        "dataset": args.dataset,
        "n_train": int(X_train.shape[0]),
        "n_test": int(X_test.shape[0]) if X_test is not None else 0,
        "n_features": int(n_features),
        "backend": backend.name,
        "device": str(backend.device),
        "epochs": epochs_run,
        "seconds": round(seconds, 3),
        "samples_per_second": round(epochs_run * X_train.shape[0] / seconds, 1) if seconds > 0 else None,
        "objective": objective,
        "train_loss": float(train_loss),
        "test_loss": None if test_loss is None else float(test_loss),
        f"train_loss_per_{unit}": float(train_loss) / n_features,
        f"test_loss_per_{unit}": None if test_loss is None else float(test_loss) / n_features,
        "history": _jsonable(model.history_),
        "files": list(RUN_FILES),
    }
    with open(run_dir / "metrics.json", "w", encoding="utf-8") as handle:
        json.dump(metrics, handle, indent=2)
        handle.write("\n")

    if args.quiet:
        print(run_dir)
        return 0
    rate = metrics["samples_per_second"]
    lines = [
        "",
        f"  dataset    {info['title']}",
        f"  shapes     train {X_train.shape}, {test_text}",
        f"  model      {cls.__name__} {_architecture(model, n_features)}, "
        + f"{getattr(model, 'activation', '')}, {objective}",
        f"  backend    {backend.name} ({backend.device}), {getattr(model, 'dtype', '')}",
        f"  training   {epochs_run} epoch{'' if epochs_run == 1 else 's'} in {seconds:.1f} s ({rate:,.0f} samples/s)",
        f"  train loss {train_loss:.4f} per sample ({train_loss / n_features:.5f} per {unit})",
    ]
    if test_loss is not None:
        lines.append(f"  test loss  {test_loss:.4f} per sample ({test_loss / n_features:.5f} per {unit})")
    lines.append(f"  wrote      {run_dir}{os.sep}{{{', '.join(RUN_FILES)}}}")
    print("\n".join(lines))
    return 0


# ------------------------------------------------------------------------------ saved models
def _load_model(path_text: str, backend_name=None):
    """(model, path) from a MODEL.npz path or a run directory holding model.npz."""
    path = Path(path_text).expanduser()
    if path.is_dir() and (path / "model.npz").is_file():
        path = path / "model.npz"
    if not path.is_file():
        where = f"{str(path)!r} is a directory without model.npz" if path.is_dir() else f"{str(path)!r} does not exist"
        raise CLIError(f"Model file {where}; pass the model.npz written by 'npae train' "
                       "(e.g. runs/<run>/model.npz) or its run directory.")
    if backend_name is not None:
        backend_name = B.get_backend(backend_name).name  # unknown or unusable: fails here, clearly
    from npae.models.base import load

    return load(path, backend=backend_name), path


def _recorded_dataset(model_path: Path):
    """The --dataset recorded by 'npae train' in metrics.json beside the model, or None."""
    try:
        with open(model_path.parent / "metrics.json", encoding="utf-8") as handle:
            value = json.load(handle).get("dataset")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _test_split(args, model, model_path: Path):
    """(X, y, info, split) for a saved model: the test split of --dataset (or of the recorded one)."""
    dataset = args.dataset or _recorded_dataset(model_path) or "embedded"
    args.dataset = dataset
    X_train, y_train, X_test, y_test, info = load_training_data(dataset, data_dir=args.data_dir,
                                                                download=args.download)
    X, y, split = (X_train, y_train, "train") if X_test is None else (X_test, y_test, "test")
    n_model = int(model.n_features_in_)
    if X.shape[1] != n_model:
        raise CLIError(f"{str(model_path)!r} expects {n_model} features but --dataset {dataset} has "
                       f"{X.shape[1]}; pass the --dataset the model was trained on.")
    return X, y, info, split


def _image_shape(info, n_features: int):
    """(h, w) for figures: the dataset's, a square, or (1, D) strips for rows that are not images."""
    shape = info.get("image_shape")
    if shape is not None:
        return tuple(shape)
    side = math.isqrt(n_features)
    return (side, side) if side * side == n_features else (1, n_features)


def _data_range(X) -> float:
    """R for PSNR: 1 for data in [0, 1], else the peak-to-peak range."""
    low, high = float(np.min(X)), float(np.max(X))
    return 1.0 if 0.0 <= low and high <= 1.0 else (high - low) or 1.0


def _figure_target(out, model_path: Path, default_name: str, dir_name: str) -> tuple[Path, Path]:
    """(figure path, metrics path) for --out FILE.png (metrics in FILE.json) or --out DIR."""
    if out is None:
        figure = model_path.parent / default_name
        return figure, figure.with_suffix(".json")
    target = Path(out).expanduser()
    if target.suffix.lower() in _FIGURE_SUFFIXES:
        if target.is_dir():
            raise CLIError(f"--out {str(target)!r} is a directory; give a file name such as grid.png.")
        target.parent.mkdir(parents=True, exist_ok=True)
        return target, target.with_suffix(".json")
    if target.suffix:
        raise CLIError(f"--out {str(target)!r}: expected a figure file ending in "
                       f"{', '.join(_FIGURE_SUFFIXES)} or a directory name.")
    if target.exists() and not target.is_dir():
        raise CLIError(f"--out {str(target)!r} exists and is not a directory.")
    target.mkdir(parents=True, exist_ok=True)
    return target / dir_name, target / "metrics.json"


def _write_metrics(path: Path, metrics: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(_jsonable(metrics), handle, indent=2)
        handle.write("\n")


def _check_positive(value: int, flag: str) -> int:
    if value < 1:
        raise CLIError(f"{flag} must be a positive integer; got {value}.")
    return value


def _table(rows, headers) -> str:
    """A plain text table: the first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for r in cells:
        parts = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append("  " + "  ".join(parts).rstrip())
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ------------------------------------------------------------------------------ evaluate
def cmd_evaluate(args) -> int:
    """``npae evaluate``: see ``npae evaluate --help``."""
    _check_positive(args.k, "--k")
    _check_positive(args.n, "--n")
    model, model_path = _load_model(args.model_path, args.backend)
    X, y, info, split = _test_split(args, model, model_path)
    out = args.out if args.out is not None else model_path.parent / f"evaluate-{_safe_name(info['name'])}"
    run_dir, created = _prepare_run_dir(out, "", "", args.force or args.out is None)
    try:
        return _evaluate_into(run_dir, args, model, model_path, X, y, info, split)
    except BaseException:
        if created and not any(run_dir.iterdir()):
            run_dir.rmdir()
        raise


def _evaluate_into(run_dir: Path, args, model, model_path: Path, X, y, info, split) -> int:
    n_features = X.shape[1]
    is_vae = hasattr(model, "log_likelihood")
    X_hat = np.asarray(B.to_numpy(model.reconstruct(X)), dtype=np.float64)
    mse = float(np.mean((np.asarray(X, dtype=np.float64) - X_hat) ** 2))
    from npae.models.denoising import psnr

    R = _data_range(X)
    recon_psnr = psnr(X, X_hat, data_range=R)
    objective = _objective_name(model)
    unit = "pixel" if _image_shape(info, n_features)[0] != 1 else "feature"
    rows = []
    metrics = {
        "npae_version": __version__, "command": "evaluate", "model_file": str(model_path),
        "model_class": type(model).__name__, "dataset": args.dataset, "split": split,
        "n": int(X.shape[0]), "n_features": int(n_features), "backend": model.backend_.name,
    }
    if is_vae:
        elbo = np.asarray(B.to_numpy(model.elbo(X, random_state=args.seed)), dtype=np.float64)
        n = min(args.n, X.shape[0])
        log_p = np.asarray(B.to_numpy(model.log_likelihood(X[:n], k=args.k, random_state=args.seed)), dtype=np.float64)
        elbo_n = elbo[:n]
        name = "BCE-ELBO" if model.likelihood == "bernoulli" else "ELBO"
        test_loss = -float(elbo.mean())
        metrics.update({"objective": f"negative {name} (beta = 1, one sampled z)", "test_loss": test_loss,
                        "elbo": float(elbo.mean()), "iwae": float(log_p.mean()), "iwae_k": args.k,
                        "iwae_n": n, "elbo_on_iwae_rows": float(elbo_n.mean()),
                        "iwae_minus_elbo": float(log_p.mean() - elbo_n.mean())})
        rows += [(f"test loss (negative {name})", f"{test_loss:.4f}", f"{test_loss / n_features:.5f}"),
                 (f"{name}, {X.shape[0]} images", f"{elbo.mean():.4f}", f"{elbo.mean() / n_features:.5f}")]
        if n < X.shape[0]:
            rows.append((f"{name}, first {n}", f"{elbo_n.mean():.4f}", f"{elbo_n.mean() / n_features:.5f}"))
        rows.append((f"IWAE log p(x), k={args.k}, {'first ' if n < X.shape[0] else ''}{n}",
                     f"{log_p.mean():.4f}", f"{log_p.mean() / n_features:.5f}"))
    else:
        test_loss = -float(model.score(X))
        metrics.update({"objective": objective, "test_loss": test_loss})
        rows.append((f"test loss ({objective})", f"{test_loss:.4f}", f"{test_loss / n_features:.5f}"))
    metrics.update({f"test_loss_per_{unit}": test_loss / n_features, "reconstruction_mse": mse,
                    "reconstruction_psnr_db": recon_psnr, "psnr_data_range": R})
    rows += [("reconstruction squared error", f"{mse * n_features:.4f}", f"{mse:.5f}"),
             ("reconstruction PSNR (dB)", f"{recon_psnr:.2f}", "")]

    from npae import plotting

    picks = _pick_examples(y, X.shape[0])
    fig = plotting.plot_reconstructions(X[picks], X_hat[picks], n=len(picks),
                                        image_shape=_image_shape(info, n_features))
    fig.suptitle(f"{split} images (top) and their reconstructions (bottom)")
    fig.savefig(run_dir / "reconstructions.png", dpi=100)
    metrics["files"] = ["metrics.json", "reconstructions.png"]
    _write_metrics(run_dir / "metrics.json", metrics)

    print(f"npae evaluate: {type(model).__name__} {_architecture(model, n_features)} from {model_path}\n"
          f"  on {info['title']}, {split} split {X.shape}, {model.backend_.name} backend\n")
    print(_table(rows, ("metric", "per sample", f"per {unit}")))
    if is_vae:
        print(f"\n  IWAE ≥ ELBO on average (Burda et al. 2016): the gap is {log_p.mean() - elbo_n.mean():.4f} nats.")
    print(f"  wrote {run_dir}{os.sep}{{metrics.json, reconstructions.png}}")
    return 0


# ------------------------------------------------------------------------------ sample
def cmd_sample(args) -> int:
    """``npae sample``: see ``npae sample --help``."""
    _check_positive(args.n_samples, "-n/--n-samples")
    _check_positive(args.cols, "--cols")
    model, model_path = _load_model(args.model_path, args.backend)
    if not hasattr(model, "sample"):
        name = type(model).__name__
        article = "an" if name[0] in "AEIOU" else "a"
        raise CLIError(f"npae sample needs a VAE, but {str(model_path)!r} holds {article} {name}, which has "
                       "no prior to sample from; train one with 'npae train --model vae'.")
    figure, metrics_path = _figure_target(args.out, model_path, "samples.png", "samples.png")
    X = np.asarray(B.to_numpy(model.sample(args.n_samples, random_state=args.seed)), dtype=np.float64)
    n_features = X.shape[1]
    from npae import plotting

    shape = _image_shape({"image_shape": None}, n_features)
    fig = plotting.plot_samples(X, n_cols=1 if shape[0] == 1 else args.cols, image_shape=shape)
    fig.savefig(figure, dpi=100)
    _write_metrics(metrics_path, {
        "npae_version": __version__, "command": "sample", "model_file": str(model_path),
        "model_class": type(model).__name__, "n_samples": args.n_samples, "seed": args.seed,
        "latent_dim": int(model.latent_dim), "mean": float(X.mean()), "std": float(X.std()),
        "min": float(X.min()), "max": float(X.max()), "files": [figure.name]})
    print(f"npae sample: {args.n_samples} images from {type(model).__name__} (z ~ N(0, I), K={model.latent_dim}, "
          f"seed {args.seed})\n  wrote {figure} and {metrics_path}")
    return 0


# ------------------------------------------------------------------------------ denoise
def _noise_setting(args, model):
    """(noise, noise_level) from the options, else the model's own, else gaussian 0.3."""
    own = getattr(model, "noise", None) in _NOISE_KINDS
    noise = args.noise or (model.noise if own else "gaussian")
    if noise not in _NOISE_KINDS:
        raise CLIError(_unknown("--noise", noise, _NOISE_KINDS))
    level = args.noise_level
    if level is None:
        level = float(model.noise_level) if own and noise == model.noise else 0.3
    if noise == "gaussian" and not (math.isfinite(level) and level > 0):
        raise CLIError(f"--noise-level is σ for gaussian noise and must be positive; got {level:g}.")
    if noise != "gaussian" and not 0.0 < level < 1.0:
        raise CLIError(f"--noise-level is the fraction of pixels corrupted by {noise} and must lie in (0, 1); "
                       f"got {level:g}.")
    return noise, float(level)


def _denoise_figure(rows: dict, image_shape, title: str):
    """One row of images per entry of ``rows`` (label -> (n, D) array), on shared grey levels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    arrays = list(rows.values())
    n = arrays[0].shape[0]
    vmin = min(float(a.min()) for a in arrays)
    vmax = max(float(a.max()) for a in arrays)
    if image_shape[0] == 1:  # rows that are not images: one heat map per group
        fig = Figure(figsize=(4.0 * len(rows), 1.2 + 0.25 * n), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(rows), sharey=True)
        for ax, (label, data) in zip(axes, rows.items()):
            image = ax.imshow(data, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
            ax.set_title(label, fontsize=9)
            ax.set_xlabel("feature")
        fig.colorbar(image, ax=list(axes), shrink=0.8)
    else:
        h, w = image_shape
        fig = Figure(figsize=(max(3.0, 1.0 * n), 1.0 * len(rows) * h / w + 0.6), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(rows), n, squeeze=False)
        for r, (label, data) in enumerate(rows.items()):
            for c in range(n):
                ax = axes[r, c]
                ax.imshow(data[c].reshape(h, w), cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
            axes[r, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def cmd_denoise(args) -> int:
    """``npae denoise``: see ``npae denoise --help``."""
    _check_positive(args.n_show, "--n-show")
    model, model_path = _load_model(args.model_path, args.backend)
    noise, level = _noise_setting(args, model)
    X, y, info, split = _test_split(args, model, model_path)
    low, high = (0.0, 1.0) if 0.0 <= float(X.min()) and float(X.max()) <= 1.0 else (float(X.min()), float(X.max()))
    if hasattr(model, "corrupt"):
        X_noisy = model.corrupt(X, random_state=args.seed, noise=noise, noise_level=level)
    else:
        from npae.noise import corrupt

        X_noisy = corrupt(X, args.seed, noise=noise, noise_level=level, low=low, high=high)
    X_noisy = np.asarray(B.to_numpy(X_noisy), dtype=np.float64)
    X_denoised = np.asarray(B.to_numpy(model.reconstruct(X_noisy)), dtype=np.float64)
    X_clean_rec = np.asarray(B.to_numpy(model.reconstruct(X)), dtype=np.float64)
    from npae.models.denoising import psnr

    R = _data_range(X)
    psnr_noisy, psnr_denoised = psnr(X, X_noisy, data_range=R), psnr(X, X_denoised, data_range=R)
    psnr_clean = psnr(X, X_clean_rec, data_range=R)
    level_text = f"{level:g}".replace(".", "p")
    figure, metrics_path = _figure_target(args.out, model_path, f"denoise-{noise}-{level_text}.png", "denoise.png")

    picks = _pick_examples(y, X.shape[0], args.n_show)
    shape = _image_shape(info, X.shape[1])
    fig = _denoise_figure({"noisy": X_noisy[picks], "denoised": X_denoised[picks], "clean": np.asarray(X)[picks]},
                          shape, f"{noise} noise, level {level:g}: PSNR noisy {psnr_noisy:.2f} dB → "
                                 f"denoised {psnr_denoised:.2f} dB")
    fig.savefig(figure, dpi=100)
    gain = psnr_denoised - psnr_noisy
    _write_metrics(metrics_path, {
        "npae_version": __version__, "command": "denoise", "model_file": str(model_path),
        "model_class": type(model).__name__, "dataset": args.dataset, "split": split, "n": int(X.shape[0]),
        "noise": noise, "noise_level": level, "seed": args.seed, "psnr_data_range": R,
        "psnr_noisy_db": psnr_noisy, "psnr_denoised_db": psnr_denoised, "psnr_gain_db": gain,
        "psnr_clean_reconstruction_db": psnr_clean, "files": [figure.name]})
    print(f"npae denoise: {type(model).__name__} from {model_path} on {info['title']}, {split} split "
          f"{X.shape}; {noise} noise, level {level:g}, seed {args.seed}\n")
    print(_table([("noisy vs clean", f"{psnr_noisy:.2f}"), ("denoised vs clean", f"{psnr_denoised:.2f}"),
                  ("gain", f"{gain:+.2f}"), ("reconstruction of clean input", f"{psnr_clean:.2f}")],
                 ("mean over the test images", "PSNR (dB)")))
    if gain <= 0 and type(model).__name__ != "DenoisingAutoencoder":
        print("  (no gain: a model trained with 'npae train --model denoising' learns to remove noise)")
    print(f"  wrote {figure} and {metrics_path}")
    return 0


# ------------------------------------------------------------------------------ detect
def _parse_classes(text: str, labels: np.ndarray) -> list:
    present = np.unique(labels)
    if text.strip().lower() == "all":
        return [c.item() for c in present]
    classes = []
    for part in text.replace(",", " ").split():
        try:
            c = int(part)
        except ValueError:
            raise CLIError(f"--normal-class takes labels such as 0, '0,3' or all; got {part!r}.") from None
        if c not in present:
            raise CLIError(f"--normal-class {c} is not a label of the training data (labels: "
                           f"{', '.join(str(v) for v in present)}).")
        classes.append(c)
    if not classes:
        raise CLIError("--normal-class needs at least one label, e.g. 0, '0,3' or all.")
    return classes


def _subset(X, y, n_max: int, rng):
    if n_max == 0 or X.shape[0] <= n_max:
        return X, y
    idx = np.sort(rng.choice(X.shape[0], size=n_max, replace=False))
    return X[idx], (None if y is None else y[idx])


def _detect_scores(args) -> list:
    scores = list(args.score) if args.score else ["elbo" if args.model == "vae" else "reconstruction"]
    for s in scores:
        if s not in _ANOMALY_SCORES:
            raise CLIError(_unknown("--score", s, _ANOMALY_SCORES))
        if s != "reconstruction" and args.model != "vae":
            raise CLIError(f"--score {s} needs a likelihood model: add --model vae (--model {args.model} "
                           "supports only --score reconstruction).")
    return list(dict.fromkeys(scores))


def _run_detectors(model, scores, args, X_fit, X_test, is_anomaly):
    """Rows and anomaly scores for the npae detectors (one fitted model) and the two baselines."""
    from sklearn.ensemble import IsolationForest

    from npae.anomaly import AnomalyDetector
    from npae.applications import PCAReconstructionDetector, evaluate_detectors

    model.fit(X_fit)
    detectors = {f"{args.model} ({s})": AnomalyDetector(model, score=s, n_samples=args.k, refit=False,
                                                        random_state=args.seed) for s in scores}
    X_threshold = X_fit[: min(1000, X_fit.shape[0])]  # offset_ only: bounds the cost of iwae scores
    rows, anomaly = evaluate_detectors(detectors, X_threshold, X_test, is_anomaly)
    K = int(model.latent_dim)
    baselines = {f"PCA reconstruction (K={K})": PCAReconstructionDetector(K),
                 "IsolationForest": IsolationForest(n_estimators=100, random_state=args.seed)}
    base_rows, base_scores = evaluate_detectors(baselines, X_fit, X_test, is_anomaly)
    anomaly.update(base_scores)
    return rows + base_rows, anomaly


def cmd_detect(args) -> int:
    """``npae detect``: see ``npae detect --help``."""
    from sklearn.base import clone

    scores = _detect_scores(args)
    if args.max_test < 0:
        raise CLIError(f"--max-test must be ≥ 0 (0 for all); got {args.max_test}.")
    if args.k < 1:
        raise CLIError(f"--k must be a positive integer; got {args.k}.")
    args.hidden_sizes = _parse_hidden_sizes(args.hidden_sizes)
    if args.loss is None and args.model != "vae":
        args.loss = "mse"
    backend = B.get_backend(args.backend)
    args.backend_name = backend.name
    cls = get_model_class(args.model)
    template = cls(**_model_kwargs(cls, args.model, args))
    if hasattr(template, "_check_hyperparameters"):
        template._check_hyperparameters()
    rng = np.random.default_rng(args.seed)

    if args.ood:
        key = args.dataset.strip().lower().replace("_", "-")
        if key not in ("embedded", "fashion-mnist"):
            raise CLIError(f"--ood mnist trains on Fashion-MNIST: use --dataset embedded or fashion-mnist, "
                           f"not {args.dataset!r}.")
        X_train, _, X_in, _, info = load_training_data(key, data_dir=args.data_dir, download=args.download)
        from npae.datasets import load_mnist

        try:
            X_out, _ = load_mnist("test", data_dir=args.mnist_dir, download=args.download)
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{_one_line(err)} On the command line: --mnist-dir DIR, or --download.") from err
        X_in, _ = _subset(X_in, None, args.max_test, rng)
        X_out, _ = _subset(X_out, None, args.max_test, rng)
        tasks = [("ood-mnist", X_train, np.concatenate([X_in, X_out]),
                  np.r_[np.zeros(X_in.shape[0], bool), np.ones(X_out.shape[0], bool)])]
        protocol = f"out-of-distribution: {info['title']} test (normal, {X_in.shape[0]}) vs MNIST test " \
                   f"(anomalous, {X_out.shape[0]})"
    else:
        X_train, y_train, X_test, y_test, info = load_training_data(args.dataset, data_dir=args.data_dir,
                                                                    download=args.download)
        if y_train is None or y_test is None or X_test is None:
            raise CLIError(f"--normal-class needs labelled train and test data; {args.dataset!r} lacks "
                           "y_train, X_test or y_test.")
        classes = _parse_classes(args.normal_class, y_train)
        X_test, y_test = _subset(X_test, y_test, args.max_test, rng)
        tasks = [(f"class-{c}", X_train[y_train == c], X_test, y_test != c) for c in classes]
        protocol = f"one-class on {info['title']}: train on the normal class, test on {X_test.shape[0]} test images"

    tag = "ood-mnist" if args.ood else (f"class-{args.normal_class}" if len(tasks) == 1 else "classes")
    run_dir, created = _prepare_run_dir(args.out, f"detect-{args.model}", _safe_name(tag), args.force)
    try:
        return _detect_into(run_dir, args, template, clone, scores, tasks, protocol, info, backend)
    except BaseException:
        if created and not any(run_dir.iterdir()):
            run_dir.rmdir()
        raise


def _detect_into(run_dir, args, template, clone, scores, tasks, protocol, info, backend) -> int:
    from npae import plotting

    say = (lambda *a, **k: None) if args.quiet else print
    say(f"npae detect: {args.model} ({type(template).__name__}), scores {', '.join(scores)}; {protocol}; "
        f"{backend.name} backend; writing to {run_dir}", flush=True)
    results, files = {}, []
    for name, X_fit, X_test, is_anomaly in tasks:
        model = clone(template)
        rows, anomaly = _run_detectors(model, scores, args, X_fit, X_test, is_anomaly)
        results[name] = {"n_train": int(X_fit.shape[0]), "n_test": int(X_test.shape[0]),
                         "n_anomalous": int(is_anomaly.sum()), "rows": rows}
        suffix = "" if len(tasks) == 1 else f"-{name}"
        fig = plotting.plot_roc_curves({m: (is_anomaly.astype(int), s) for m, s in anomaly.items()})
        fig.suptitle(f"ROC, {name}: anomalies are the positive class", fontsize=10)
        fig.savefig(run_dir / f"roc{suffix}.png", dpi=100)
        first = rows[0]["method"]
        normal_label = "Fashion-MNIST test" if args.ood else "normal class"
        fig = plotting.plot_score_histograms({normal_label: -anomaly[first][~is_anomaly],
                                              "MNIST test" if args.ood else "other classes": -anomaly[first][is_anomaly]})
        fig.suptitle(f"{first} score, {name}", fontsize=10)
        fig.savefig(run_dir / f"scores{suffix}.png", dpi=100)
        files += [f"roc{suffix}.png", f"scores{suffix}.png"]

    methods = [r["method"] for r in next(iter(results.values()))["rows"]]
    table = {name: {r["method"]: r for r in res["rows"]} for name, res in results.items()}
    mean = {m: float(np.mean([table[t][m]["auroc"] for t in table])) for m in methods}
    metrics = {
        "npae_version": __version__, "command": "detect", "protocol": "ood" if args.ood else "one-class",
        "description": protocol, "dataset": args.dataset, "model": args.model,
        "model_class": type(template).__name__, "params": template.get_params(deep=False),
        "scores": scores, "k": args.k, "backend": backend.name, "seed": args.seed,
        "results": results, "auroc": {t: {m: table[t][m]["auroc"] for m in methods} for t in table},
        "mean_auroc": mean, "files": ["metrics.json", *files],
    }
    _write_metrics(run_dir / "metrics.json", metrics)
    if args.quiet:
        print(run_dir)
        return 0
    print()
    if len(table) == 1:
        (name, by_method), = table.items()
        print(_table([(m, f"{r['auroc']:.3f}", f"{r['average_precision']:.3f}") for m, r in by_method.items()],
                     ("method", "AUROC", "avg precision")))
        print(f"  ({name}: {results[name]['n_anomalous']} of {results[name]['n_test']} test images are "
              f"anomalies; AUROC 0.5 is chance)")
    else:
        rows = [(t, *(f"{table[t][m]['auroc']:.3f}" for m in methods)) for t in table]
        rows.append(("mean", *(f"{mean[m]:.3f}" for m in methods)))
        print(_table(rows, ("AUROC", *methods)))
    if args.ood:
        by_method = next(iter(table.values()))
        for m, r in by_method.items():
            if m.endswith(("(elbo)", "(iwae)")):
                likelier = r["mean_score_anomalous"] > r["mean_score_normal"]
                print(f"  {m}: mean log-likelihood {r['mean_score_normal']:.1f} (Fashion-MNIST) vs "
                      f"{r['mean_score_anomalous']:.1f} (MNIST)"
                      + ("; MNIST looks likelier, the failure of Nalisnick et al. (2019): try "
                         "--score elbo_complexity" if likelier else ""))
    print(f"  wrote {run_dir}{os.sep}{{{', '.join(metrics['files'])}}}")
    return 0


# ------------------------------------------------------------------------------ gradcheck
def cmd_gradcheck(args) -> int:
    """``npae gradcheck``: see ``npae gradcheck --help``."""
    from npae.gradcheck import check_model

    _check_positive(args.n, "--n")
    _check_positive(args.features, "--features")
    _check_positive(args.latent_dim, "--latent-dim")
    if not (args.h > 0 and args.tol > 0):
        raise CLIError(f"--h and --tol must be positive; got --h {args.h:g}, --tol {args.tol:g}.")
    hidden = _parse_hidden_sizes(args.hidden_sizes)
    backend = B.get_backend(args.backend)
    cls = get_model_class(args.model)
    kwargs = {"hidden_sizes": hidden, "latent_dim": args.latent_dim, "activation": args.activation,
              "dtype": "float64", "random_state": args.seed, "backend": backend.name, "verbose": 0}
    if args.model != "vae":
        kwargs["loss"] = args.loss
    extra = {"sparse": {"sparsity": "kl", "latent_activation": "sigmoid", "sparsity_weight": 0.5,
                        "target_sparsity": 0.2},
             "denoising": {"noise": "masking", "noise_level": 0.3},
             "contractive": {"contractive_weight": 0.1}}.get(args.model, {})
    model = cls(**kwargs, **extra)
    model._check_hyperparameters()
    rng = np.random.default_rng(args.seed)
    X = rng.uniform(0.05, 0.95, size=(args.n, args.features))
    X_dev = B.asarray(X, dtype="float64", backend=backend.name)
    loss_kwargs, note = {}, ""
    if args.model == "vae":
        loss_kwargs["eps"] = B.asarray(rng.standard_normal((args.n, args.latent_dim)), dtype="float64",
                                       backend=backend.name)
        note = "eps fixed: one standard-normal draw per row and latent unit"
    elif args.model == "denoising":
        from npae.noise import corrupt

        loss_kwargs["target"] = X_dev
        X_dev = corrupt(X_dev, args.seed + 1, noise="masking", noise_level=0.3)
        note = "input masked (30 % of entries set to 0, one fixed draw), target the clean data"
    model.loss_and_grad(X_dev, **loss_kwargs)  # builds the parameters, to show their shapes
    result = check_model(model, X_dev, h=args.h, tol=args.tol, **loss_kwargs)

    sizes = [args.features, *hidden, args.latent_dim]
    arch = "-".join(map(str, sizes + sizes[-2::-1]))
    objective = ("negative BCE-ELBO" if args.model == "vae" else
                 {"sparse": f"{args.loss.upper()} + KL sparsity penalty",
                  "contractive": f"{args.loss.upper()} + contractive penalty"}.get(args.model, args.loss.upper()))
    print(f"npae gradcheck: {cls.__name__} {arch} ({args.activation}), objective {objective}, float64, "
          f"{backend.name} backend, N={args.n} random rows in [0.05, 0.95], seed {args.seed}")
    if note:
        print(f"  {note}")
    print(f"  central differences with h={args.h:g}; relative error ‖a − n‖ / (‖a‖ + ‖n‖) must be < {args.tol:g}\n")
    width = max(len(k) for k in result.errors)
    shapes = {k: tuple(v.shape) for k, v in model.parameters().items()}
    print(f"  {'parameter':<{width}}  {'shape':>10}  relative error")
    for name, err in result.errors.items():
        shape = "x".join(map(str, shapes.get(name, ()))) or "?"
        print(f"  {name:<{width}}  {shape:>10}  {err:.2e}  {'ok' if err < args.tol else 'FAIL'}")
    worst = max(result.errors, key=result.errors.get)
    verdict = "passed" if result.passed else "FAILED"
    print(f"\n  {verdict}: worst {result.errors[worst]:.2e} ({worst}), tolerance {args.tol:g}")
    if not result.passed and args.activation in ("relu", "leaky_relu", "elu"):
        print("  (a kink of the activation between θ − h and θ + h can fail a correct gradient; try tanh)")
    return 0 if result.passed else 1


# ------------------------------------------------------------------------------ info
def cmd_info(args) -> int:
    """``npae info``: versions, backends and devices, models."""
    import array_api_compat

    print(f"npae {__version__}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, array-api-compat {array_api_compat.__version__}")
    print("backends:")
    for name, status in B.available_backends().items():
        if status == "ok":
            print(f"  {name:<17} ok, device {B.get_backend(name).device}")
        else:
            print(f"  {name:<17} unavailable: {' '.join(status.split())}")
    env = os.environ.get("NPAE_BACKEND")
    print(f"default backend: {env or 'numpy'} ({'from NPAE_BACKEND' if env else 'set NPAE_BACKEND to change'})")
    models = []
    for name, (module, cls) in MODELS.items():
        found = importlib.util.find_spec(module) is not None
        models.append(f"{name} ({cls})" if found else f"{name} (not installed)")
    print(f"models: {', '.join(models)}")
    return 0


# ------------------------------------------------------------------------------ entry point
def _unknown(kind: str, value, valid) -> str:
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"Unknown {kind} {value!r}; expected one of {', '.join(map(repr, valid))}.{hint}"


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    if isinstance(err, KeyError):  # str(KeyError) is the quoted key alone
        text = f"missing key {text}"
    return text or type(err).__name__


def main(argv=None) -> int:
    """Run the ``npae`` command line; return the exit status (0, 2 on a user error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors: argparse has printed them
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("npae: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, KeyError, OSError, ImportError, ArithmeticError,
            B.BackendUnavailableError) as err:
        if os.environ.get("NPAE_DEBUG"):
            raise
        print(f"npae: error: {_one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
