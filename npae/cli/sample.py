"""``npae sample``: draw new images from a saved VAE's prior and save them as a grid."""

from __future__ import annotations

import argparse

import numpy as np

from npae import backend as B
from npae import plotting
from npae._version import __version__
from npae.cli.data import image_shape, load_model
from npae.cli.options import CLIError, add_backend_option, add_seed_option, check_positive
from npae.cli.output import figure_target, save_figure, write_metrics

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """Add ``sample`` and its options to the ``npae`` subcommands."""
    p = subparsers.add_parser(
        "sample",
        help="draw new images from a saved VAE and save them as a grid",
        description="Draw z ~ N(0, I) and decode it with a saved VAE (model.sample), then save the\n"
                    "images as a grid. Only a VAE has a prior to sample from: train one with\n"
                    "'npae train --model vae'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  npae sample runs/vae/model.npz\n"
               "  npae sample runs/vae/model.npz -n 100 --cols 10 --seed 3 --out samples.png\n"
               "  npae sample runs/vae/model.npz --seed 4 --out samples.png --force   # replace it",
    )
    p.add_argument("model_path", metavar="MODEL.npz",
                   help="a VAE saved by 'npae train --model vae' (RUN/model.npz), or its run directory")
    p.add_argument("-n", "--n-samples", type=int, default=64, metavar="N",
                   help="how many images to draw (default: 64)")
    p.add_argument("--cols", type=int, default=8, metavar="C",
                   help="images per row of the grid (default: 8)")
    add_seed_option(p, "seeds the latent draws z; the same seed gives the same images (default: 0)")
    add_backend_option(p, "numpy, cupy, torch or array_api_strict (default: the one the model was saved "
                          "with, else $NPAE_BACKEND, else numpy)")
    p.add_argument("--out", default=None, metavar="FILE.png|DIR",
                   help="the grid image (.png, .pdf, .svg or .jpg), with its metrics in FILE.json beside "
                        "it; or a directory, which gets samples.png and metrics.json (default: "
                        "samples.png in the model's run directory)")
    p.add_argument("--force", action="store_true",
                   help="replace the figure and metrics files --out names if they exist (otherwise refused)")
    p.set_defaults(handler=run)


def run(args) -> int:
    """``npae sample``: see ``npae sample --help``."""
    check_positive(args.n_samples, "-n/--n-samples")
    check_positive(args.cols, "--cols")
    model, model_path = load_model(args.model_path, args.backend)
    if not hasattr(model, "sample"):
        name = type(model).__name__
        article = "an" if name[0] in "AEIOU" else "a"
        raise CLIError(f"npae sample needs a VAE, but {str(model_path)!r} holds {article} {name}, which has "
                       "no prior to sample from; train one with 'npae train --model vae'.")
    figure, metrics_path = figure_target(args.out, model_path, "samples.png", "samples.png", force=args.force)
    X = np.asarray(B.to_numpy(model.sample(args.n_samples, random_state=args.seed)), dtype=np.float64)
    n_features = X.shape[1]
    shape = image_shape({"image_shape": None}, n_features)
    fig = plotting.plot_samples(X, n_cols=1 if shape[0] == 1 else args.cols, image_shape=shape)
    save_figure(fig, figure)
    write_metrics(metrics_path, {
        "npae_version": __version__, "command": "sample", "model_file": str(model_path),
        "model_class": type(model).__name__, "n_samples": args.n_samples, "seed": args.seed,
        "latent_dim": int(model.latent_dim), "mean": float(X.mean()), "std": float(X.std()),
        "min": float(X.min()), "max": float(X.max()), "files": [figure.name]})
    print(f"npae sample: {args.n_samples} images from {type(model).__name__} (z ~ N(0, I), K={model.latent_dim}, "
          f"seed {args.seed})\n  wrote {figure} and {metrics_path}")
    return 0
