"""npae's AnomalyDetector against PyOD's defaults, same splits and seeds (issue 18).

    python benchmarks/bench_pyod.py --threads 1 --results   # full run (~15 min on 2 cores)
    python benchmarks/bench_pyod.py --quick                 # smoke run: one seed, two classes, subsets

Three protocols, every detector fitted and scored on the same rows in the same run:

* **tabular** (semi-supervised): scikit-learn's breast-cancer data, malignant = anomaly; train
  on a random 60 % of the 357 benign rows (the permutation of
  ``npae.applications.breast_cancer_split`` for the same seed), test on the other benign rows
  and all 212 malignant ones. *Raw* features: each detector does its own preprocessing (PyOD's
  AutoEncoder, VAE and PCA standardize by default; npae's AnomalyDetector() does too).
* **contaminated** tabular: a random 60 % of *all* 569 rows (37 % malignant) to train on, the
  other 40 % to test.
* **images**, one-class Fashion-MNIST: train on the 6,000 training images of one class, score
  the full 10,000-image test set (that class normal, the nine others anomalous), all ten classes.

Detectors: ``npae.AnomalyDetector(random_state=seed)`` with no other argument ("npae default");
an "npae tuned" arm per protocol (named in the table); PyOD's ``AutoEncoder``, ``VAE``,
``IForest`` and ``PCA`` with their default hyperparameters (``random_state=seed``,
``verbose=0``). Figures: AUROC and average precision with anomalies as the positive class
(each detector's own anomaly score: −score_samples for npae, decision_function for PyOD),
mean ± standard deviation over seeds, and the wall-clock seconds of fit + scoring the test set.
On images the "npae tuned" arm and PyOD's VAE and PCA run for the first seed only (PCA is
deterministic; the VAE costs about four AutoEncoders), which the table says.

Writes ``benchmarks/out/bench_pyod.md`` and ``.json``; ``--results`` also writes the section of
RESULTS.md. Needs PyOD (``pip install "npae[bench]"``) and torch.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # idle torch threads sleep (see quality.py)

import argparse
import json
import time
import warnings
from pathlib import Path

import harness as H
import numpy as np

SECTION = "bench_pyod.py"
OUT_DIR = H.OUT_DIR
PYOD_ARMS = ("PyOD AutoEncoder", "PyOD VAE", "PyOD IForest", "PyOD PCA")


# ------------------------------------------------------------------------------ data
def tabular_split(seed: int):
    """Raw breast-cancer features: (X_train benign, X_test, is_malignant), the permutation of
    ``npae.applications.breast_cancer_split(0.6, seed)``."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    malignant = data.target == 0
    benign = np.random.default_rng(seed).permutation(np.flatnonzero(~malignant))
    n = round(0.6 * benign.size)
    test = np.r_[benign[n:], np.flatnonzero(malignant)]
    return data.data[benign[:n]], data.data[test], malignant[test]


def contaminated_split(seed: int):
    """Raw breast-cancer features, a random 60 % of all rows (37 % malignant) to train on."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    order = np.random.default_rng(seed).permutation(data.target.size)
    n = round(0.6 * order.size)
    return data.data[order[:n]], data.data[order[n:]], data.target[order[n:]] == 0


def fashion(quick: bool):
    from npae import datasets

    try:
        X_train, y_train = datasets.load_fashion_mnist("train")
        X_test, y_test = datasets.load_fashion_mnist("test")
        source = "Fashion-MNIST, full training and test sets (`npae.datasets.load_fashion_mnist`)"
    except FileNotFoundError:
        X_train, y_train = datasets.load_embedded("train")
        X_test, y_test = datasets.load_embedded("test")
        source = "the embedded Fashion-MNIST subset (the full IDX files were not found)"
    if quick:
        X_train, y_train, X_test, y_test = X_train[:12000], y_train[:12000], X_test[:2000], y_test[:2000]
    return (np.ascontiguousarray(X_train, np.float32), y_train, np.ascontiguousarray(X_test, np.float32), y_test,
            source)


# ------------------------------------------------------------------------------ detectors
def npae_arm(name: str, seed: int):
    import npae

    if name == "npae default":
        return npae.AnomalyDetector(random_state=seed)
    if name == "npae robust":
        return npae.AnomalyDetector(contamination=0.4, robust=True, random_state=seed)
    if name == "npae before (30-16-4 MSE, reconstruction)":
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = npae.Autoencoder(hidden_sizes=(16,), latent_dim=4, loss="mse", activation="tanh", epochs=300,
                                 batch_size=32, learning_rate=3e-3, random_state=seed, verbose=0)
        return make_pipeline(StandardScaler(), npae.AnomalyDetector(model, anomaly_score="reconstruction"))
    if name == "npae tuned (784-256-16 ReLU, 20 epochs)":
        model = npae.Autoencoder(hidden_sizes=(256,), latent_dim=16, loss="mse", activation="relu", epochs=20,
                                 batch_size=128, learning_rate=1e-3, random_state=seed, verbose=0)
        return npae.AnomalyDetector(model, anomaly_score="gaussian", scaler="standard", random_state=seed)
    raise ValueError(name)


def pyod_arm(name: str, seed: int):
    from pyod.models.auto_encoder import AutoEncoder
    from pyod.models.iforest import IForest
    from pyod.models.pca import PCA
    from pyod.models.vae import VAE

    return {"PyOD AutoEncoder": lambda: AutoEncoder(random_state=seed, verbose=0),
            "PyOD VAE": lambda: VAE(random_state=seed, verbose=0),
            "PyOD IForest": lambda: IForest(random_state=seed),
            "PyOD PCA": lambda: PCA(random_state=seed)}[name]()


def run_arm(name: str, seed: int, X_train, X_test, is_anomaly) -> dict:
    """Fit, score the test set (higher = more abnormal), and measure."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    det = pyod_arm(name, seed) if name.startswith("PyOD") else npae_arm(name, seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        det.fit(X_train)
        scores = det.decision_function(X_test) if name.startswith("PyOD") else -det.score_samples(X_test)
    seconds = time.perf_counter() - t0
    scores = np.asarray(scores, dtype=np.float64)
    return {"auroc": float(roc_auc_score(is_anomaly, scores)),
            "ap": float(average_precision_score(is_anomaly, scores)), "seconds": seconds}


# ------------------------------------------------------------------------------ protocols
def tabular(arms, seeds, split, log) -> dict:
    results = {arm: [] for arm in arms}
    for seed in seeds:
        X_train, X_test, y = split(seed)
        for arm in arms:
            r = run_arm(arm, seed, X_train, X_test, y)
            results[arm].append({"seed": seed, **r})
            log(f"{split.__name__} seed {seed} {arm}: AUROC {r['auroc']:.4f} ({r['seconds']:.2f} s)")
    return results


def images(arms, seeds, classes, first_seed_only, data, log, save=None) -> dict:
    X_train, y_train, X_test, y_test, _ = data
    results = {arm: [] for arm in arms}
    for c in classes:
        X_c, y = X_train[y_train == c], y_test != c
        for seed in seeds:
            for arm in arms:
                if arm in first_seed_only and seed != seeds[0]:
                    continue
                r = run_arm(arm, seed, X_c, X_test, y)
                results[arm].append({"class": int(c), "seed": seed, **r})
                log(f"class {c} seed {seed} {arm}: AUROC {r['auroc']:.4f} ({r['seconds']:.1f} s)")
        if save is not None:
            save(results)  # after every class: an interrupted run keeps what it measured
    return results


# ------------------------------------------------------------------------------ report
def pm(values, digits=3) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def summary_table(results: dict, note: dict | None = None) -> list:
    lines = ["| detector | AUROC | average precision | fit + score (s) | runs |", "|---|---|---|---|---|"]
    for arm, runs in results.items():
        if not runs:
            continue
        name = arm + (f" ({note[arm]})" if note and arm in note else "")
        lines.append(f"| {name} | {pm([r['auroc'] for r in runs])} | {pm([r['ap'] for r in runs])} | "
                     f"{np.mean([r['seconds'] for r in runs]):.2f} | {len(runs)} |")
    return lines


def class_means(runs, key="auroc") -> dict:
    by = {}
    for r in runs:
        by.setdefault(r["class"], []).append(r[key])
    return {c: float(np.mean(v)) for c, v in sorted(by.items())}


def image_tables(results: dict, note: dict) -> list:
    """Mean over classes of the per-class mean AUROC (± std over classes), then per class."""
    lines = ["| detector | mean AUROC over classes (± std over classes) | mean AP | fit + score (s) | runs |",
             "|---|---|---|---|---|"]
    for arm, runs in results.items():
        if not runs:
            continue
        auroc, ap = list(class_means(runs).values()), list(class_means(runs, "ap").values())
        name = arm + (f" ({note[arm]})" if arm in note else "")
        lines.append(f"| {name} | {pm(auroc)} | {np.mean(ap):.3f} | {np.mean([r['seconds'] for r in runs]):.1f} | "
                     f"{len(runs)} |")
    classes = sorted({r["class"] for runs in results.values() for r in runs})
    lines += ["", "Per class, mean AUROC over the seeds each arm ran:", "",
              "| detector | " + " | ".join(str(c) for c in classes) + " |", "|---|" + "---|" * len(classes)]
    for arm, runs in results.items():
        if runs:
            means = class_means(runs)
            lines.append(f"| {arm} | " + " | ".join(f"{means.get(c, float('nan')):.3f}" for c in classes) + " |")
    return lines


def mean_auroc(results, arm, images_protocol=False) -> float:
    runs = results.get(arm) or []
    if not runs:
        return float("nan")
    if images_protocol:
        return float(np.mean(list(class_means(runs).values())))
    return float(np.mean([r["auroc"] for r in runs]))


def targets(res: dict) -> list:
    lines = ["| target | npae | PyOD | met? |", "|---|---|---|---|"]
    if "tabular" in res:
        t = res["tabular"]
        best = max(PYOD_ARMS, key=lambda a: mean_auroc(t, a))
        a, b = mean_auroc(t, "npae default"), mean_auroc(t, best)
        lines.append(f"| tabular: AnomalyDetector() ≥ best PyOD default ({best}) | {a:.4f} | {b:.4f} | "
                     f"{'yes' if a >= b else f'no (gap {b - a:.4f})'} |")
    if "contaminated" in res:
        t = res["contaminated"]
        b = mean_auroc(t, "PyOD IForest")
        for arm in ("npae default", "npae robust"):
            a = mean_auroc(t, arm)
            lines.append(f"| contaminated: {arm} ≥ PyOD IForest | {a:.4f} | {b:.4f} | "
                         f"{'yes' if a >= b else f'no (gap {b - a:.4f})'} |")
    if "images" in res:
        t = res["images"]
        a, b = mean_auroc(t, "npae default", True), mean_auroc(t, "PyOD AutoEncoder", True)
        lines.append(f"| images: AnomalyDetector() mean AUROC ≥ PyOD AutoEncoder | {a:.4f} | {b:.4f} | "
                     f"{'yes' if a >= b else f'no (gap {b - a:.4f})'} |")
        sa = np.mean([r["seconds"] for r in t["npae default"]])
        sb = np.mean([r["seconds"] for r in t["PyOD AutoEncoder"]])
        lines.append(f"| images: AnomalyDetector() faster per fit + score | {sa:.1f} s | {sb:.1f} s | "
                     f"{'yes' if sa < sb else 'no'} ({sb / sa:.2f}×) |")
    return lines


def build_report(res: dict, args, wall: float, image_source: str) -> str:
    import pyod

    lines = ["# npae AnomalyDetector against PyOD's defaults (`bench_pyod.py`)", "",
             *H.machine_lines(args.machine, args.command),
             (f"- PyOD {pyod.__version__}; BLAS and torch threads: {args.threads}; checkout {args.git}; "
              f"wall time {wall / 60:.1f} min"), ""]
    lines += ["## Targets (issue 18)", "", *targets(res), "",
              ("Fit + score seconds are wall-clock on the machine as it was (the load average at the start is "
               "above); within each seed (and class) the arms run one after another, so a busy spell slows them "
               "alike. Scores: −score_samples for npae, PyOD's decision_function, both higher = more abnormal."), ""]
    if "tabular" in res:
        lines += ["## Tabular, semi-supervised: breast cancer, train on 60 % of the benign rows", "",
                  (f"Raw features; seeds {args.seeds}. \"npae before\" is the configuration the issue measured "
                   "(StandardScaler, then a 30-16-4 tanh MSE autoencoder, 300 epochs, scored by its "
                   "reconstruction error)."), "", *summary_table(res["tabular"]), ""]
    if "contaminated" in res:
        lines += ["## Tabular, contaminated: train on 60 % of all rows (37 % malignant)", "",
                  (f"Raw features; seeds {args.seeds}. \"npae robust\" is "
                   "`AnomalyDetector(contamination=0.4, robust=True)`: each epoch after the first "
                   "leaves out the 40 % of rows with the highest normalised reconstruction error."), "",
                  *summary_table(res["contaminated"]), ""]
    if "images" in res:
        note = {arm: f"seed {args.image_seeds[0]} only" for arm in args.first_seed_only}
        lines += ["## One-class Fashion-MNIST: train on one class, score the full test set", "",
                  (f"{image_source}; classes {args.classes}; seeds {args.image_seeds}. "
                   "\"npae tuned\" is `AnomalyDetector(Autoencoder(784-256-16, ReLU, MSE, 20 epochs), "
                   "anomaly_score=\"gaussian\", scaler=\"standard\")`. AUROC per class is the mean over "
                   "seeds; the first column is the mean (± std) of those over classes."), "",
                  *image_tables(res["images"], note), ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: seed 0, classes 0 and 1, data subsets")
    parser.add_argument("--protocols", nargs="+", choices=["tabular", "contaminated", "images"],
                        default=["tabular", "contaminated", "images"])
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="tabular seeds (default 0-4)")
    parser.add_argument("--image-seeds", type=int, nargs="+", default=None, help="image seeds (default 0-2)")
    parser.add_argument("--classes", type=int, nargs="+", default=None, help="Fashion-MNIST classes (default 0-9)")
    parser.add_argument("--out", type=Path, default=None, help="markdown path (default benchmarks/out/bench_pyod.md)")
    parser.add_argument("--results", action="store_true", help="also write the report's section of RESULTS.md")
    parser.add_argument("--report-from", type=Path, default=None,
                        help="build the report from a saved .json (e.g. an interrupted run's) instead of running")
    H.add_common_arguments(parser)
    args = parser.parse_args(argv)
    args.seeds = args.seeds or ([0] if args.quick else [0, 1, 2, 3, 4])
    args.image_seeds = args.image_seeds or ([0] if args.quick else [0, 1, 2])
    args.classes = args.classes if args.classes is not None else ([0, 1] if args.quick else list(range(10)))
    args.first_seed_only = ("npae tuned (784-256-16 ReLU, 20 epochs)", "PyOD VAE", "PyOD PCA")
    out = args.out or OUT_DIR / ("bench_pyod_quick.md" if args.quick else "bench_pyod.md")
    H.limit_threads(args.threads)
    args.machine, args.command = H.machine_info(), H.command_line("bench_pyod.py", sys.argv[1:] if argv is None else argv)
    args.git = H.git_state()
    meta = {"machine": args.machine, "command": args.command, "git": args.git, "seeds": args.seeds,
            "image_seeds": args.image_seeds, "classes": args.classes}
    log = H.logger("bench_pyod")
    t0 = time.perf_counter()
    res, image_source = {}, ""
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.report_from is not None:
        res = json.loads(Path(args.report_from).read_text())
        meta = res.pop("_meta", {})  # the header of the run that measured, not of this call
        for key in ("machine", "command", "git", "seeds", "image_seeds", "classes"):
            setattr(args, key, meta.get(key, getattr(args, key)))
        report = build_report(res, args, meta.get("elapsed_s", float("nan")), fashion(args.quick)[-1] if "images" in res else "")
        H.write_report(report, out, SECTION, results=args.results)
        print(report)
        return 0
    if "tabular" in args.protocols:
        arms = ("npae default", "npae before (30-16-4 MSE, reconstruction)", *PYOD_ARMS)
        res["tabular"] = tabular(arms, args.seeds, tabular_split, log)
    if "contaminated" in args.protocols:
        res["contaminated"] = tabular(("npae default", "npae robust", *PYOD_ARMS), args.seeds, contaminated_split, log)
    out.with_suffix(".json").write_text(json.dumps({**res, "_meta": meta}, indent=1))
    if "images" in args.protocols:
        data = fashion(args.quick)
        image_source = data[-1]
        arms = ("npae default", "npae tuned (784-256-16 ReLU, 20 epochs)", *PYOD_ARMS)
        def save(partial):
            out.with_suffix(".json").write_text(json.dumps(
                {**res, "images": partial, "_meta": {**meta, "elapsed_s": time.perf_counter() - t0}}, indent=1))

        res["images"] = images(arms, args.image_seeds, args.classes, args.first_seed_only, data, log, save)
    wall = time.perf_counter() - t0
    report = build_report(res, args, wall, image_source)
    H.write_report(report, out, SECTION, results=args.results and not args.quick)
    out.with_suffix(".json").write_text(json.dumps({**res, "_meta": {**meta, "elapsed_s": wall}}, indent=1))
    print(report)
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    H.reexec_without_openblas_env()
    sys.exit(main())
