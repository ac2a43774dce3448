"""The applications of issue 5, measured: anomaly AUROC tables, denoising PSNR, rate-distortion,
linear probes and samples, each beside its baseline in the same run; writes a markdown report.

    python benchmarks/applications.py            # full settings, ~6-8 min on 2 cores
    python benchmarks/applications.py --quick    # smoke run, < 1 min

Output: ``benchmarks/out/applications.md`` and PNG figures beside it (``benchmarks/out/`` is
git-ignored; the tables are merged into ``benchmarks/RESULTS.md`` by hand).

Data (full settings):

* one-class protocol (a): the full Fashion-MNIST (6,000 training images of the normal class,
  the whole 10,000-image test set) when the IDX files are found (``npae.datasets``), else the
  embedded subset (500 per class / 1,000 test);
* out-of-distribution (b): trained on ``--ood-train`` Fashion-MNIST training images, scored on
  the Fashion-MNIST test set (normal) vs the MNIST test set (anomalies; ``npae.datasets.load_mnist``
  and its usual search: ``$NPAE_DATA/mnist``, ``$NPAE_DATA``, the user cache, the system folder);
* tabular (c): scikit-learn's breast-cancer data (``npae.applications.breast_cancer_split``);
* denoising, rate-distortion, linear probe, generation: the embedded subset, 5,000 / 1,000.

``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are removed from the environment (the script
re-executes itself without them, ``harness.reexec_without_openblas_env``): they pin OpenBLAS to a
slower kernel.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import time
from pathlib import Path

import harness as H
import numpy as np
import sklearn
import threadpoolctl

import npae
from npae import applications as A
from npae.datasets import FASHION_MNIST_CLASSES, load_embedded, load_fashion_mnist, load_mnist
from npae.models.denoising import DenoisingAutoencoder
from npae.models.variational import VAE

try:
    from npae import plotting
except ImportError:  # the plots are optional; the tables are not
    plotting = None


# ------------------------------------------------------------------------------ helpers
def fmt(x, digits=3):
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def table(rows, columns, headers=None, digits=3):
    headers = headers or columns
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(fmt(r.get(c), digits) for c in columns) + " |")
    return "\n".join(lines)


def save(fig, out: Path, name: str, saved: list) -> None:
    path = out / name
    fig.savefig(path, dpi=110)
    saved.append(name)


class Timer:
    def __init__(self):
        self.times = {}

    def __call__(self, name):
        timer = self

        class _Ctx:
            def __enter__(self):
                self.t = time.perf_counter()
                print(f"[{datetime.datetime.now():%H:%M:%S}] {name} …", flush=True)

            def __exit__(self, *exc):
                timer.times[name] = time.perf_counter() - self.t
                print(f"    {name}: {timer.times[name]:.1f} s", flush=True)

        return _Ctx()


def load_fashion(quick: bool):
    """Full Fashion-MNIST if its IDX files are found (and not quick), else the embedded subset."""
    if not quick:
        try:
            X_train, y_train = load_fashion_mnist("train")
            X_test, y_test = load_fashion_mnist("test")
            return X_train, y_train, X_test, y_test, "Fashion-MNIST (60,000 train / 10,000 test)"
        except FileNotFoundError:
            pass
    X_train, y_train = load_embedded("train")
    X_test, y_test = load_embedded("test")
    return X_train, y_train, X_test, y_test, "embedded Fashion-MNIST subset (5,000 train / 1,000 test)"


# ------------------------------------------------------------------------------ sections
def section_one_class(cfg, timer, out, saved):
    X_train, y_train, X_test, y_test, source = cfg["fashion"]
    models = {name: (A.default_autoencoder(32, epochs=cfg["epochs"], loss=loss, random_state=0), "reconstruction")
              for name, loss in (("AE, BCE loss", "bce"), ("AE, MSE loss", "mse"))}
    with timer("one-class Fashion-MNIST"):
        rows, scores = A.one_class_auroc(X_train, y_train, X_test, y_test, classes=cfg["classes"], models=models,
                                         random_state=0, return_scores=True)
    methods = [k for k in rows[0] if k != "class"]
    for r in rows:
        r["name"] = "**mean**" if r["class"] == "mean" else f"{r['class']} {FASHION_MNIST_CLASSES[r['class']]}"
    md = [
        "## (a) One-class Fashion-MNIST: AUROC per normal class",
        "",
        (f"Data: {source}. For each class c the detectors are fitted on the training images of class c "
        f"only; the whole test set is scored, class c normal ({100 * np.mean(y_test == 0):.0f} %), "
        "every other class anomalous. Autoencoders 784-256-32-256-784 (ReLU, Adam 1e-3, batch 128, "
        f"{cfg['epochs']} epochs) trained with BCE (sigmoid output) or MSE (linear output), score = −the "
        "training loss; PCA with 32 components; IsolationForest with 100 trees on the raw pixels. Continuous "
        "scores, `roc_auc_score`. The BCE score carries the entropy of x's own grey levels (BCE ≥ H(x) even "
        "for a perfect reconstruction), so mostly-black images look normal to models of bright, textured "
        "classes: where the BCE column sits near or below 0.5 this is why; MSE has no such floor."),
        "",
        table(rows, ["name", *methods], ["normal class", *methods]),
        "",
    ]
    if plotting is not None:
        c = cfg["classes"][0]
        is_anomaly, by_method = scores[c]
        save(plotting.plot_roc_curves({m: (is_anomaly.astype(int), s) for m, s in by_method.items()}), out,
             "one_class_roc.png", saved)
    return md, rows


def verdict(iwae: dict, corrected: dict) -> str:
    """One sentence: is Nalisnick et al.'s failure reproduced, and does the correction fix it?"""
    failed = iwae["auroc"] < 0.5
    fixed = failed and corrected["auroc"] > 0.5
    return (f"**Nalisnick et al. reproduced: {'yes' if iwae['out_likelier'] else 'no'}**: the VAE gives MNIST a "
            f"mean IWAE log-likelihood of {iwae['mean_score_anomalous']:.1f} nats against "
            f"{iwae['mean_score_normal']:.1f} on its own test set (AUROC of −log p: {iwae['auroc']:.3f}). "
            f"**Complexity correction (Serrà et al.): AUROC {corrected['auroc']:.3f}**, "
            + ("which fixes the failure." if fixed else "which does not fix the failure." if failed
               else "(there was no failure to fix)."))


def section_ood(cfg, timer, out, saved):
    X_train_all = cfg["fashion"][0]
    X_train = X_train_all[: cfg["ood_train"]]
    X_in = cfg["fashion"][2][: cfg["ood_test"]]
    X_out, _ = load_mnist("test")
    X_out = X_out[: cfg["ood_test"]]
    with timer("OOD: fit autoencoders and VAE"):
        ae = {f"AE, {loss.upper()} loss (reconstruction)":
              A.default_autoencoder(32, epochs=cfg["epochs"], loss=loss, random_state=0).fit(X_train)
              for loss in ("bce", "mse")}
        vae = VAE(hidden_sizes=(256,), latent_dim=16, epochs=cfg["epochs"], verbose=0, random_state=0).fit(X_train)
    with timer("OOD: scores"):
        rows, extra = A.ood_auroc(X_train, X_in, X_out, autoencoder=ae, vae=vae, n_samples=cfg["iwae_k"],
                                  random_state=0, return_scores=True)
    L_in, L_out = extra["complexity_bits_in"], extra["complexity_bits_out"]
    by = {r["method"]: r for r in rows}
    iwae = by["VAE (iwae)"]
    md = [
        "## (b) Out-of-distribution: trained on Fashion-MNIST, Fashion-MNIST test vs MNIST test",
        "",
        (f"Training: {X_train.shape[0]:,} Fashion-MNIST training images; scored: {X_in.shape[0]:,} Fashion-MNIST "
        f"test images (normal) vs {X_out.shape[0]:,} MNIST test images (anomalies). Autoencoders as in (a); "
        f"VAE 784-256-(16)-256-784, Bernoulli decoder, {cfg['epochs']} epochs. 'iwae' uses k = {cfg['iwae_k']} "
        "importance samples. On grey-level images the Bernoulli figures are BCE-ELBOs, not normalized "
        "likelihoods. AUROC < 0.5 means the detector ranks MNIST as *more* normal than Fashion-MNIST."),
        "",
        table(rows, ["method", "auroc", "average_precision", "mean_score_normal", "mean_score_anomalous"],
              ["score", "AUROC", "average precision", "mean score, Fashion-MNIST", "mean score, MNIST"]),
        "",
        "Likelihoods (BCE-ELBO / IWAE, bits per dimension, lower = likelier):",
        "",
        table([r for r in rows if "bits_per_dim_in" in r],
              ["method", "bits_per_dim_in", "bits_per_dim_out", "out_likelier"],
              ["score", "Fashion-MNIST", "MNIST", "MNIST likelier?"], digits=4),
        "",
        f"zlib complexity L(x): mean {L_in.mean():.0f} bits on Fashion-MNIST, {L_out.mean():.0f} bits on MNIST.",
        "",
        verdict(iwae, by["VAE (elbo_complexity)"]),
        "",
    ]
    if plotting is not None:
        y = extra["is_anomaly"].astype(int)
        save(plotting.plot_roc_curves({m: (y, s) for m, s in extra["anomaly_scores"].items()}), out,
             "ood_roc.png", saved)
        s = extra["anomaly_scores"]
        n_in = X_in.shape[0]
        save(plotting.plot_score_histograms({"Fashion-MNIST test": -s["VAE (iwae)"][:n_in] / math.log(2.0),
                                             "MNIST test": -s["VAE (iwae)"][n_in:] / math.log(2.0)}),
             out, "ood_hist_iwae.png", saved)
        save(plotting.plot_score_histograms({"Fashion-MNIST test": -s["VAE (elbo_complexity)"][:n_in],
                                             "MNIST test": -s["VAE (elbo_complexity)"][n_in:]}),
             out, "ood_hist_complexity.png", saved)
    return md, rows


def section_tabular(cfg, timer, out, saved):
    with timer("tabular breast cancer"):
        X_train, X_test, is_anomaly = A.breast_cancer_split(0.6, random_state=0)
        rows, scores = A.tabular_auroc(X_train, X_test, is_anomaly, random_state=0, return_scores=True)
    md = [
        "## (c) Tabular: breast cancer (benign normal, malignant anomalous)",
        "",
        (f"scikit-learn's breast-cancer data, 30 features standardized on the training rows; training: "
        f"{X_train.shape[0]} benign tumours (60 %); test: {int((~is_anomaly).sum())} benign + "
        f"{int(is_anomaly.sum())} malignant (prevalence {is_anomaly.mean():.3f} = the average precision of "
        "chance). Autoencoder 30-16-4-16-30 (tanh, MSE, 300 epochs, batch 32, Adam 3e-3); Gaussian VAE "
        "(σ = 0.5) of the same shape scored by its ELBO; PCA with 4 components; IsolationForest (100 trees)."),
        "",
        table(rows, ["method", "auroc", "average_precision"], ["method", "AUROC", "average precision"]),
        "",
    ]
    if plotting is not None:
        save(plotting.plot_roc_curves({m: (is_anomaly.astype(int), s) for m, s in scores.items()}), out,
             "tabular_roc.png", saved)
    return md, rows


def section_denoising(cfg, timer, out, saved):
    X_train, _, X_test, _ = cfg["embedded"]
    params = {"hidden_sizes": (256,), "latent_dim": 64, "epochs": cfg["epochs"], "verbose": 0}
    with timer("denoising"):
        rows = A.denoising_table(X_train, X_test, model_params=params, random_state=0)
    md = [
        "## Denoising: PSNR (dB) of noisy and denoised test images",
        "",
        (f"Embedded Fashion-MNIST, {X_train.shape[0]:,} train / {X_test.shape[0]:,} test. One "
        f"DenoisingAutoencoder 784-256-64-256-784 (ReLU, BCE, {cfg['epochs']} epochs) per corruption and level; "
        "the test images are corrupted once with a fixed seed. Baselines on the same noisy images: a plain "
        "autoencoder of the same shape trained on clean images, and a 3 × 3 median filter. PSNR = "
        "10·log10(1/MSE) per image, averaged over images."),
        "",
        table(rows, ["noise", "noise_level", "psnr_noisy", "psnr_denoised", "gain", "psnr_plain_ae", "psnr_median"],
              ["noise", "level", "noisy", "denoised (DAE)", "gain", "plain AE", "median 3×3"], digits=2),
        "",
    ]
    if plotting is not None:
        dae = DenoisingAutoencoder(noise="salt_pepper", noise_level=0.25, **params, random_state=0).fit(X_train)
        X_noisy = dae.corrupt(X_test[:8], random_state=0)
        grid = np.concatenate([X_test[:8], X_noisy, dae.denoise(X_noisy)])
        save(plotting.plot_samples(grid, n_cols=8), out, "denoising_salt_pepper.png", saved)
    return md, rows


def section_rate_distortion(cfg, timer, out, saved):
    X_train, _, X_test, _ = cfg["embedded"]
    with timer("rate-distortion"):
        rows = A.rate_distortion(cfg["latent_sizes"], X_train, X_test, bits=8,
                                 model_params={"epochs": cfg["epochs"], "random_state": 0})
    md = [
        "## Compression: rate–distortion, codes quantised to 8 bits",
        "",
        (f"Embedded Fashion-MNIST, {X_train.shape[0]:,} train / {X_test.shape[0]:,} test. Autoencoder "
        f"784-256-K-256-784 (ReLU, BCE, {cfg['epochs']} epochs) beside PCA with K components, fitted on the "
        "training set. Each code dimension is quantised uniformly to 8 bits between its minimum and maximum "
        "over the training codes (test codes outside are clipped), so the rate is K·8 bits per image; the "
        "2·K range values (like the decoder) are fitted once and shared by coder and decoder, costing "
        "2·K·32 bits once per data set, not per image. Decoded images clipped to [0, 1]. Raw images are "
        "784·8 = 6,272 bits."),
        "",
        table(rows, ["latent_dim", "bits_per_image", "psnr_ae", "psnr_pca", "psnr_ae_float", "psnr_pca_float"],
              ["K", "bits / image", "PSNR AE (dB)", "PSNR PCA (dB)", "AE, unquantised", "PCA, unquantised"],
              digits=2),
        "",
    ]
    if plotting is not None:
        bits = np.array([r["bits_per_image"] for r in rows], float)
        save(plotting.plot_rate_distortion({"autoencoder": (bits, np.array([r["psnr_ae"] for r in rows])),
                                            "PCA": (bits, np.array([r["psnr_pca"] for r in rows]))}),
             out, "rate_distortion.png", saved)
    return md, rows


def section_probe(cfg, timer, out, saved):
    X_train, y_train, X_test, y_test = cfg["embedded"]
    rows = []
    with timer("linear probe"):
        for K in cfg["probe_sizes"]:
            ae = A.default_autoencoder(K, epochs=cfg["epochs"], random_state=0).fit(X_train)
            rows.append(A.linear_probe(ae, X_train, y_train, X_test, y_test, raw=(K == cfg["probe_sizes"][0])))
    raw = rows[0]["raw"]
    for r in rows:
        r["raw"] = raw
        r["all_converged"] = all(r["converged"].values())
    md = [
        "## Representation: linear-probe test accuracy",
        "",
        (f"Embedded Fashion-MNIST, {X_train.shape[0]:,} train / {X_test.shape[0]:,} test (chance 0.100). "
        "Multinomial logistic regression (L2, C = 1, lbfgs, standardized features) on the autoencoder's codes, "
        "on PCA with the same number of components, and on the 784 raw pixels. Autoencoders and PCA are "
        "unsupervised and fitted on the training images only."),
        "",
        table(rows, ["latent_dim", "codes", "pca", "raw", "all_converged"],
              ["K", "AE codes", "PCA (K components)", "raw pixels", "probes converged"]),
        "",
    ]
    return md, rows


def section_generation(cfg, timer, out, saved):
    X_train, _, X_test, _ = cfg["embedded"]
    n = X_test.shape[0]
    with timer("generation"):
        ae = A.default_autoencoder(16, epochs=cfg["epochs"], random_state=0).fit(X_train)
        vae = VAE(hidden_sizes=(256,), latent_dim=16, epochs=cfg["epochs"], verbose=0, random_state=0).fit(X_train)
        gmm = A.LatentGMMSampler(ae, n_components=10, random_state=0).fit(X_train)
        one = A.LatentGMMSampler(ae, n_components=1, random_state=0).fit(X_train)
        samples = {
            "GMM (10 components) on AE codes": gmm.sample(n, random_state=1),
            "one Gaussian on AE codes": one.sample(n, random_state=1),
            "VAE, z ~ N(0, I)": npae.to_numpy(vae.sample(n, random_state=1)),
            "AE decoder, z ~ N(0, I) (no fitted prior)": npae.to_numpy(
                ae.inverse_transform(np.random.default_rng(1).standard_normal((n, 16)).astype(np.float32))),
            "real training images (floor)": X_train[:n],
        }
        rows = [{"generator": name, "fd": A.frechet_pca_distance(S, X_test, n_components=50)}
                for name, S in samples.items()]
    md = [
        "## Generation: samples scored by a Fréchet distance in PCA space",
        "",
        (f"Embedded Fashion-MNIST. Autoencoder 784-256-16 and VAE 784-256-(16), {cfg['epochs']} epochs. The "
        "'latent diffusion in miniature' sampler fits a Gaussian mixture to the autoencoder's codes and decodes "
        f"its samples. Each generator draws {n:,} images; the Fréchet distance between their and the "
        f"{n:,} test images' coefficients on the test set's first 50 principal components (an FID without "
        "Inception features; lower is closer; the real-vs-real row is the floor at this sample size)."),
        "",
        table(rows, ["generator", "fd"], ["generator", "Fréchet distance (PCA-50)"], digits=2),
        "",
    ]
    if plotting is not None:
        save(plotting.plot_samples(samples["GMM (10 components) on AE codes"][:32], n_cols=8), out,
             "samples_latent_gmm.png", saved)
        save(plotting.plot_samples(samples["VAE, z ~ N(0, I)"][:32], n_cols=8), out, "samples_vae.png", saved)
        # one pair per row: T-shirt -> trouser, sneaker -> bag, ... (first test image of classes i and i+1)
        y_test = cfg["embedded"][3]
        firsts = [int(np.flatnonzero(y_test == c)[0]) for c in range(10)]
        a, b = X_test[firsts[0:8:2]], X_test[firsts[1:9:2]]
        save(plotting.plot_samples(A.interpolate(vae, a, b, steps=10), n_cols=10), out,
             "interpolation_vae.png", saved)
        save(plotting.plot_samples(A.interpolate(ae, a, b, steps=10), n_cols=10), out,
             "interpolation_ae.png", saved)
    return md, rows


# ------------------------------------------------------------------------------ main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings for a smoke run (< 1 min)")
    parser.add_argument("--out", type=Path, default=H.OUT_DIR, help="output folder (default benchmarks/out)")
    parser.add_argument("--ood-train", type=int, default=20000, help="Fashion-MNIST training rows for (b)")
    parser.add_argument(H.KEEP_FLAG, action="store_true", help="do not unset OPENBLAS_* variables")
    parser.add_argument("--threads", type=int, default=1,
                        help="BLAS threads (default 1: on a shared 2-core machine, 2 threads per process "
                             "oversubscribe the cores and made training 25x slower)")
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    with threadpoolctl.threadpool_limits(args.threads):
        return run(args)


def run(args) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    quick = args.quick
    X_tr, y_tr = load_embedded("train")
    X_te, y_te = load_embedded("test")
    cfg = {
        "epochs": 2 if quick else 20,
        "classes": [0, 1] if quick else list(range(10)),
        "iwae_k": 10 if quick else 100,
        "ood_train": 2000 if quick else args.ood_train,
        "ood_test": 500 if quick else 10000,
        "latent_sizes": [4, 16] if quick else [2, 4, 8, 16, 32, 64],
        "probe_sizes": [16] if quick else [32, 8],
        "fashion": load_fashion(quick),
        "embedded": (X_tr, y_tr, X_te, y_te),
    }
    timer, saved = Timer(), []
    md = [
        "# npae applications: measured results",
        "",
        (f"Generated by `benchmarks/applications.py{' --quick' if quick else ''}`; scikit-learn "
        f"{sklearn.__version__}, backend {npae.get_backend().name}, float32, {args.threads} BLAS thread(s). "
        "Seeds fixed (0). "
        "All anomaly figures are computed from continuous scores (ROC AUC, average precision), never 0/1 "
        "predictions; every baseline is fitted and scored in the same run on the same split."),
        "",
        *H.machine_lines(H.machine_info(torch_used=False), H.command_line("applications.py", args.argv)),
        "",
    ]
    results = {}
    for name, fn in [("one_class", section_one_class), ("ood", section_ood), ("tabular", section_tabular),
                     ("denoising", section_denoising), ("rate_distortion", section_rate_distortion),
                     ("probe", section_probe), ("generation", section_generation)]:
        lines, results[name] = fn(cfg, timer, args.out, saved)
        md += lines
    total = time.perf_counter() - start
    md += ["## Run", "", f"Total {total:.0f} s. " + ", ".join(f"{k} {v:.0f} s" for k, v in timer.times.items()) + ".",
           "", "Figures: " + ", ".join(f"`{s}`" for s in saved) + "." if saved else "Figures: none (no npae.plotting).",
           ""]
    path = args.out / "applications.md"
    path.write_text("\n".join(md))
    print(f"wrote {path} ({total:.0f} s)")
    return 0


if __name__ == "__main__":
    H.reexec_without_openblas_env()
    sys.exit(main())
