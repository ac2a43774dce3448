"""``npae denoise``: corrupt test images, reconstruct them with a saved model, report PSNR, save a figure."""

from __future__ import annotations

import argparse
import math

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from npae import backend as B
from npae._version import __version__
from npae.cli.data import data_range, dataset_record, held_out_split, image_shape, load_model, pick_examples
from npae.cli.options import CLIError, add_model_file_options, add_seed_option, check_positive, unknown
from npae.cli.output import figure_target, save_figure, table, write_metrics
from npae.metrics import psnr
from npae.noise import NOISE_KINDS, corrupt

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Add ``denoise`` and its options to the ``npae`` subcommands."""
    p = subparsers.add_parser(
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
    add_model_file_options(p, what="to corrupt and denoise")
    noise = p.add_argument_group("corruption")
    noise.add_argument("--noise", default=None, metavar="{" + ",".join(NOISE_KINDS) + "}",
                       help="gaussian: add N(0, σ²) and clip to the data range; masking: set a fraction "
                            "of pixels to 0; salt_pepper: set a fraction to the minimum or maximum "
                            "(default: the model's own noise for a denoising model, else gaussian)")
    noise.add_argument("--noise-level", type=float, default=None, metavar="P",
                       help="σ for gaussian (> 0, data units), the corrupted fraction in (0, 1) for "
                            "masking and salt_pepper (default: the model's own level for a denoising "
                            "model, else 0.3)")
    add_seed_option(noise, "seeds the corruption (default: 0)")
    out = p.add_argument_group("output")
    out.add_argument("--n-show", type=int, default=10, metavar="N",
                     help="how many images the figure shows (default: 10)")
    out.add_argument("--out", default=None, metavar="FILE.png|DIR",
                     help="the figure (.png, .pdf, .svg or .jpg), with its metrics in FILE.json beside "
                          "it; or a directory, which gets denoise.png and metrics.json (default: "
                          "denoise-<noise>-<level>.png in the model's run directory)")
    out.add_argument("--force", action="store_true",
                     help="replace the figure and metrics files --out names if they exist (otherwise refused)")
    p.set_defaults(handler=run)


def _noise_setting(args, model):
    """(noise, noise_level) from the options, else the model's own, else gaussian 0.3."""
    own = getattr(model, "noise", None) in NOISE_KINDS
    noise = args.noise or (model.noise if own else "gaussian")
    if noise not in NOISE_KINDS:
        raise CLIError(unknown("--noise", noise, NOISE_KINDS))
    level = args.noise_level
    if level is None:
        level = float(model.noise_level) if own and noise == model.noise else 0.3
    if noise == "gaussian" and not (math.isfinite(level) and level > 0):
        raise CLIError(f"--noise-level is σ for gaussian noise and must be positive; got {level:g}.")
    if noise != "gaussian" and not 0.0 < level < 1.0:
        raise CLIError(f"--noise-level is the fraction of pixels corrupted by {noise} and must lie in (0, 1); "
                       f"got {level:g}.")
    return noise, float(level)


def _denoise_figure(rows: dict, shape, title: str):
    """One row of images per entry of ``rows`` (label -> (n, D) array), on shared grey levels.

    ``shape`` is the (h, w) of an image; (1, D) draws each group as one heat map instead.
    """
    arrays = list(rows.values())
    n = arrays[0].shape[0]
    vmin = min(float(a.min()) for a in arrays)
    vmax = max(float(a.max()) for a in arrays)
    if shape[0] == 1:  # rows that are not images: one heat map per group
        fig = Figure(figsize=(4.0 * len(rows), 1.2 + 0.25 * n), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(rows), sharey=True)
        for ax, (label, data) in zip(axes, rows.items()):
            image = ax.imshow(data, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
            ax.set_title(label, fontsize=9)
            ax.set_xlabel("feature")
        fig.colorbar(image, ax=list(axes), shrink=0.8)
    else:
        h, w = shape
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


def run(args) -> int:
    """``npae denoise``: see ``npae denoise --help``."""
    check_positive(args.n_show, "--n-show")
    model, model_path = load_model(args.model_path, args.backend)
    noise, level = _noise_setting(args, model)
    X, y, info, split = held_out_split(args, model, model_path)
    low, high = (0.0, 1.0) if 0.0 <= float(X.min()) and float(X.max()) <= 1.0 else (float(X.min()), float(X.max()))
    if hasattr(model, "corrupt"):
        X_noisy = model.corrupt(X, random_state=args.seed, noise=noise, noise_level=level)
    else:
        X_noisy = corrupt(X, args.seed, noise=noise, noise_level=level, low=low, high=high)
    X_noisy = np.asarray(B.to_numpy(X_noisy), dtype=np.float64)
    X_denoised = np.asarray(B.to_numpy(model.reconstruct(X_noisy)), dtype=np.float64)
    X_clean_rec = np.asarray(B.to_numpy(model.reconstruct(X)), dtype=np.float64)
    R = data_range(X)
    psnr_noisy, psnr_denoised = psnr(X, X_noisy, data_range=R), psnr(X, X_denoised, data_range=R)
    psnr_clean = psnr(X, X_clean_rec, data_range=R)
    level_text = f"{level:g}".replace(".", "p")
    figure, metrics_path = figure_target(args.out, model_path, f"denoise-{noise}-{level_text}.png", "denoise.png",
                                         force=args.force)

    picks = pick_examples(y, X.shape[0], args.n_show)
    shape = image_shape(info, X.shape[1])
    fig = _denoise_figure({"noisy": X_noisy[picks], "denoised": X_denoised[picks], "clean": np.asarray(X)[picks]},
                          shape, f"{noise} noise, level {level:g}: PSNR noisy {psnr_noisy:.2f} dB → "
                                 f"denoised {psnr_denoised:.2f} dB")
    save_figure(fig, figure)
    gain = psnr_denoised - psnr_noisy
    write_metrics(metrics_path, {
        "npae_version": __version__, "command": "denoise", "model_file": str(model_path),
        "model_class": type(model).__name__, "dataset": dataset_record(args.dataset), "split": split, "n": int(X.shape[0]),
        "noise": noise, "noise_level": level, "seed": args.seed, "psnr_data_range": R,
        "psnr_noisy_db": psnr_noisy, "psnr_denoised_db": psnr_denoised, "psnr_gain_db": gain,
        "psnr_clean_reconstruction_db": psnr_clean, "files": [figure.name]})
    print(f"npae denoise: {type(model).__name__} from {model_path} on {info['title']}, {split} split "
          f"{X.shape}; {noise} noise, level {level:g}, seed {args.seed}\n")
    print(table([("noisy vs clean", f"{psnr_noisy:.2f}"), ("denoised vs clean", f"{psnr_denoised:.2f}"),
                 ("gain", f"{gain:+.2f}"), ("reconstruction of clean input", f"{psnr_clean:.2f}")],
                ("mean over the test images", "PSNR (dB)")))
    if gain <= 0 and type(model).__name__ != "DenoisingAutoencoder":
        print("  (no gain: a model trained with 'npae train --model denoising' learns to remove noise)")
    print(f"  wrote {figure} and {metrics_path}")
    return 0
