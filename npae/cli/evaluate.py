"""``npae evaluate``: test loss and PSNR of a saved model; for a VAE also its ELBO and IWAE estimate."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from npae import backend as B
from npae import plotting
from npae._version import __version__
from npae.cli.data import data_range, dataset_record, held_out_split, image_shape, load_model, pick_examples
from npae.cli.options import (
    CLIError,
    add_model_file_options,
    add_output_directory_options,
    check_positive,
)
from npae.cli.output import (
    architecture,
    cli_path,
    objective_name,
    refuse_a_training_run,
    run_directory,
    safe_name,
    table,
    write_metrics,
)
from npae.metrics import psnr

__all__ = ["MAX_K", "add_parser", "run"]

#: The most importance samples per image ``--k`` accepts: the estimate costs k decoder passes per
#: image (memory stays bounded, see ``VAE.log_likelihood``), and Burda et al. (2016) report at k = 5,000.
MAX_K = 10_000


def add_parser(subparsers) -> None:
    """Add ``evaluate`` and its options to the ``npae`` subcommands."""
    p = subparsers.add_parser(
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
    add_model_file_options(p, what="to evaluate on")
    vae = p.add_argument_group("VAE likelihood (ignored for other models)")
    vae.add_argument("--k", type=int, default=100, metavar="K",
                     help="importance samples per image for the IWAE estimate of log p(x), at most "
                          f"{MAX_K:,} (default: 100)")
    vae.add_argument("--n", type=int, default=1000, metavar="N",
                     help="how many test images (the first N) the IWAE estimate uses (default: 1000)")
    vae.add_argument("--seed", type=int, default=None,
                     help="seeds the latent noise of the ELBO and IWAE estimates (default: the model's own "
                          "inference seed, so the ELBO is the test loss 'npae train' reported)")
    add_output_directory_options(p, "directory for metrics.json and reconstructions.png (default: "
                                    "evaluate-<dataset>/ inside the model's run directory, replaced on a rerun)")
    p.set_defaults(handler=run)


def run(args) -> int:
    """``npae evaluate``: see ``npae evaluate --help``."""
    check_positive(args.k, "--k")
    if args.k > MAX_K:
        raise CLIError(f"--k must be at most {MAX_K:,} importance samples per image; got {args.k:,}. "
                       "The IWAE estimate costs k decoder passes per image; a few thousand suffice.")
    check_positive(args.n, "--n")
    model, model_path = load_model(args.model_path, args.backend)
    X, y, info, split = held_out_split(args, model, model_path)
    if args.out is not None:
        refuse_a_training_run(cli_path(args.out, "--out"))
    out = args.out if args.out is not None else model_path.parent / f"evaluate-{safe_name(info['name'])}"
    with run_directory(out, "", "", args.force or args.out is None) as run_dir:
        return _evaluate_into(run_dir, args, model, model_path, X, y, info, split)


def _evaluate_into(run_dir: Path, args, model, model_path: Path, X, y, info, split) -> int:
    n_features = X.shape[1]
    is_vae = hasattr(model, "log_likelihood")
    X_hat = np.asarray(B.to_numpy(model.reconstruct(X)), dtype=np.float64)
    mse = float(np.mean((np.asarray(X, dtype=np.float64) - X_hat) ** 2))
    R = data_range(X)
    recon_psnr = psnr(X, X_hat, data_range=R)
    objective = objective_name(model)
    unit = "pixel" if image_shape(info, n_features)[0] != 1 else "feature"
    rows = []
    metrics = {
        "npae_version": __version__, "command": "evaluate", "model_file": str(model_path),
        "model_class": type(model).__name__, "dataset": dataset_record(args.dataset), "split": split,
        "n": int(X.shape[0]), "n_features": int(n_features), "backend": model.backend_.name,
    }
    if is_vae:
        elbo = np.asarray(B.to_numpy(model.elbo(X, random_state=args.seed)), dtype=np.float64)
        n = min(args.n, X.shape[0])
        log_p = np.asarray(B.to_numpy(model.log_likelihood(X[:n], k=args.k, random_state=args.seed)), dtype=np.float64)
        elbo_n = elbo[:n]
        name = "BCE-ELBO" if model.likelihood == "bernoulli" else "ELBO"
        test_loss = -float(elbo.mean())
        metrics.update({"objective": f"negative {name} (beta = 1, one sampled z)", f"{split}_loss": test_loss,
                        "elbo": float(elbo.mean()), "iwae": float(log_p.mean()), "iwae_k": args.k,
                        "iwae_n": n, "elbo_on_iwae_rows": float(elbo_n.mean()),
                        "iwae_minus_elbo": float(log_p.mean() - elbo_n.mean())})
        rows += [(f"{split} loss (negative {name})", f"{test_loss:.4f}", f"{test_loss / n_features:.5f}"),
                 (f"{name}, {X.shape[0]} images", f"{elbo.mean():.4f}", f"{elbo.mean() / n_features:.5f}")]
        if n < X.shape[0]:
            rows.append((f"{name}, first {n}", f"{elbo_n.mean():.4f}", f"{elbo_n.mean() / n_features:.5f}"))
        rows.append((f"IWAE log p(x), k={args.k}, {'first ' if n < X.shape[0] else ''}{n}",
                     f"{log_p.mean():.4f}", f"{log_p.mean() / n_features:.5f}"))
    else:
        test_loss = -float(np.mean(model.score_samples(X)))  # the objective, not score
        metrics.update({"objective": objective, f"{split}_loss": test_loss})
        rows.append((f"{split} loss ({objective})", f"{test_loss:.4f}", f"{test_loss / n_features:.5f}"))
    if split != "test":  # a file without X_test: say so, never report it as a test loss
        metrics["note"] = ("the dataset has no test split (no X_test): every figure is measured on the "
                           "training split, which the model may have been fitted on")
    metrics.update({f"{split}_loss_per_{unit}": test_loss / n_features, "reconstruction_mse": mse,
                    "reconstruction_psnr_db": recon_psnr, "psnr_data_range": R})
    rows += [("reconstruction squared error", f"{mse * n_features:.4f}", f"{mse:.5f}"),
             ("reconstruction PSNR (dB)", f"{recon_psnr:.2f}", "")]

    picks = pick_examples(y, X.shape[0])
    fig = plotting.plot_reconstructions(X[picks], X_hat[picks], n=len(picks),
                                        image_shape=image_shape(info, n_features))
    fig.suptitle(f"{split} images (top) and their reconstructions (bottom)")
    fig.savefig(run_dir / "reconstructions.png", dpi=100)
    metrics["files"] = ["metrics.json", "reconstructions.png"]
    write_metrics(run_dir / "metrics.json", metrics)

    print(f"npae evaluate: {type(model).__name__} {architecture(model, n_features)} from {model_path}\n"
          f"  on {info['title']}, {split} split {X.shape}, {model.backend_.name} backend\n")
    print(table(rows, ("metric", "per sample", f"per {unit}")))
    if split != "test":
        print(f"\n  note: {metrics['note']}.")
    if is_vae:
        print(f"\n  IWAE ≥ ELBO on average (Burda et al. 2016): the gap is {log_p.mean() - elbo_n.mean():.4f} nats.")
    print(f"  wrote {run_dir}{os.sep}{{metrics.json, reconstructions.png}}")
    return 0
