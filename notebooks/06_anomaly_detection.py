# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. Anomaly detection
#
# An autoencoder trained on normal data learns to reconstruct normal data. Shown something
# unusual, it reconstructs it badly, and a VAE gives it a low likelihood. Either number can serve
# as an **anomaly score**. This chapter uses npae's `AnomalyDetector` the way one uses any
# scikit-learn outlier detector, and then measures honestly how good the scores are, beside
# baselines that cost nothing to try.
#
# In this chapter you will
#
# 1. learn scikit-learn's **outlier-detector contract** (`score_samples` higher = more normal,
#    `decision_function`, `predict` → ±1, `offset_`), and why evaluation uses the continuous
#    scores (AUROC, average precision), not the ±1 predictions;
# 2. run the **one-class Fashion-MNIST** protocol: train on one class, score the whole test set,
#    and compare autoencoder and VAE scores with PCA reconstruction error and an IsolationForest
#    measured in the same run;
# 3. run the **out-of-distribution** protocol, Fashion-MNIST against MNIST, and see a likelihood
#    model fail in the way Nalisnick et al. (2019) described: the foreign digits get a *higher*
#    ELBO than the garments the model was trained on;
# 4. take apart why, try the input-complexity correction of Serrà et al. (2020),
#    `anomaly_score="elbo_complexity"`, and test whether it fixes the failure for the right reason.
#
# `NPAE_QUICK=1` in the environment shrinks every size so that the notebook finishes in a minute
# or less on two cores (the test suite runs it that way); the numbers quoted in the text are from
# the full setting, which takes a few minutes on a 2-core laptop CPU. Section 6.4 needs the MNIST
# test files; when they are not found it prints a note and skips.

# %%
import os
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score

import npae
import npae.datasets
import npae.exercises
import npae.plotting
from npae.applications import complexity_bits

try:  # in Jupyter, display() draws a figure; as a plain script the figures are only built
    from IPython.display import display
except ImportError:
    def display(obj):
        return None

QUICK = os.environ.get("NPAE_QUICK") == "1"
CLASSES = (0, 6) if QUICK else tuple(range(10))  # normal classes for the one-class protocol
EPOCHS = 5 if QUICK else 60  # epochs for every autoencoder
N_OOD_TRAIN = 1000 if QUICK else 5000  # Fashion-MNIST training images for the OOD model
N_OOD_TEST = 200 if QUICK else 1000  # test images per side (Fashion-MNIST and MNIST)
IWAE_K = 10 if QUICK else 100  # importance samples for the "iwae" and "elbo_complexity" scores
LATENT = 16  # code size of every model, and the number of PCA components
SEED = 0

npae.set_backend("numpy")
rng = np.random.default_rng(SEED)
class_names = npae.datasets.FASHION_MNIST_CLASSES
X_train, y_train = npae.datasets.load_embedded("train")  # 500 images per class
X_test, y_test = npae.datasets.load_embedded("test")  # 100 images per class


def make_autoencoder():
    """A plain autoencoder with squared error (section 6.5 shows why not BCE for scoring)."""
    return npae.Autoencoder(hidden_sizes=(256,), latent_dim=LATENT, loss="mse", epochs=EPOCHS, random_state=SEED,
                            verbose=0)


def make_vae():
    return npae.VAE(hidden_sizes=(256,), latent_dim=LATENT, epochs=EPOCHS, kl_warmup_epochs=min(10, EPOCHS),
                    random_state=SEED, verbose=0)


def auroc(normal, anomalous):
    """AUROC of 'anomalous' as the positive class, from scores where higher = more normal."""
    labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
    return float(roc_auc_score(labels, -np.r_[normal, anomalous]))


def average_precision(normal, anomalous):
    labels = np.r_[np.zeros(len(normal)), np.ones(len(anomalous))]
    return float(average_precision_score(labels, -np.r_[normal, anomalous]))


# %% [markdown]
# ## 6.1 The outlier-detector contract
#
# `npae.AnomalyDetector(model, contamination, anomaly_score=...)` wraps any npae autoencoder and
# behaves like scikit-learn's `IsolationForest` or `LocalOutlierFactor`:
#
# * `fit(X)` clones and trains the model on (mostly) normal data $X$;
# * `score_samples(X)` returns one number per row, **higher = more normal**: minus the
#   reconstruction loss for `anomaly_score="reconstruction"` (the default for a model you pass),
#   the ELBO for `"elbo"`, the importance-weighted $\log p(x)$ for `"iwae"`;
# * `offset_` is the `contamination` quantile of the training scores, so that a share
#   `contamination` of the training data falls below it;
# * `decision_function(X)` $= $ `score_samples(X)` $-$ `offset_`, negative for outliers;
# * `predict(X)` is $+1$ (inlier) where the decision function is $\ge 0$ and $-1$ (outlier) below.
#
# Train on the 500 T-shirts of the subset and look at all four on the test set, where 100 images
# are T-shirts and 900 are other garments:

# %%
normal_class = CLASSES[0]
X_normal = X_train[y_train == normal_class]
detector = npae.AnomalyDetector(make_autoencoder(), contamination=0.1).fit(X_normal)
train_pred = detector.predict(X_normal)
scores = detector.score_samples(X_test)
decision = detector.decision_function(X_test)
pred = detector.predict(X_test)
is_normal = y_test == normal_class
print(f"offset_ = {detector.offset_:.3f} (minus the squared error at the 10% quantile of the training scores)")
print(f"share of training images predicted -1: {np.mean(train_pred == -1):.3f}")
print(f"test {class_names[normal_class]}s predicted +1: {np.mean(pred[is_normal] == 1):.2f}; "
      f"other garments predicted -1: {np.mean(pred[~is_normal] == -1):.2f}")
print("decision_function == score_samples - offset_:", np.allclose(decision, scores - detector.offset_))

# %% [markdown]
# ## 6.2 Why evaluation uses continuous scores
#
# The ±1 predictions depend on a guess, `contamination`, about how many outliers there are. The
# scores themselves do not. Two threshold-free measures summarise how well a score *ranks*:
#
# * the **area under the ROC curve** (AUROC) is the probability that a randomly chosen anomaly
#   scores as less normal than a randomly chosen normal point (the Mann–Whitney statistic),
#   $$\mathrm{AUROC} = P\big(s(x_{\text{anomaly}}) < s(x_{\text{normal}})\big)
#     + \tfrac12 P\big(s(x_{\text{anomaly}}) = s(x_{\text{normal}})\big);$$
#   0.5 is a coin toss, 1 a perfect ranking, and below 0.5 the score points the wrong way;
# * **average precision** (AP) is the area under the precision–recall curve,
#   $\mathrm{AP} = \sum_n (R_n - R_{n-1}) P_n$ over the thresholds $n$. It stresses the top of the
#   ranking, and its chance level is the share of anomalies, not 0.5.
#
# Feeding the ±1 predictions to the same functions throws the ranking away: the ROC "curve" has
# one corner, at the threshold that `contamination` happened to pick.

# %%
anomaly = (~is_normal).astype(int)
auroc_scores = float(roc_auc_score(anomaly, -scores))
auroc_predictions = float(roc_auc_score(anomaly, -pred))
ap_scores = float(average_precision_score(anomaly, -scores))
print(f"AUROC from the scores {auroc_scores:.3f}, from the ±1 predictions {auroc_predictions:.3f}")
print(f"AP from the scores {ap_scores:.3f} (chance: {anomaly.mean():.2f}, the share of anomalies)")

# %% [markdown]
# In the full setting the scores give an AUROC of 0.92 and the predictions 0.85: seven points
# lost, and how many depends on the contamination guess. From now on every comparison uses
# `score_samples`.
#
# ## 6.3 One-class Fashion-MNIST
#
# The protocol: for each class $c$, train on the training images of class $c$ only and score all
# 1,000 test images; the 900 of other classes are the anomalies. We compare
#
# * **AE (MSE)**: an autoencoder 784-256-16-256-784 with squared error, `anomaly_score="reconstruction"`
#   (squared error rather than chapter 1's BCE, for a reason that section 6.5 makes plain);
# * **VAE ELBO**: a VAE of the same size with the Bernoulli (BCE) likelihood, `anomaly_score="elbo"`;
# * **PCA**: the squared reconstruction error $\lVert x - \hat x\rVert^2$ of a 16-component PCA fitted
#   on the same images, the linear autoencoder of chapter 1;
# * **IsolationForest** (Liu et al., 2008) on the raw pixels, scikit-learn's defaults.

# %%
one_class = {}
for c in CLASSES:
    X_c = X_train[y_train == c]
    normal_test, anomalous_test = X_test[y_test == c], X_test[y_test != c]
    ae_det = npae.AnomalyDetector(make_autoencoder()).fit(X_c)
    vae_det = npae.AnomalyDetector(make_vae(), anomaly_score="elbo", random_state=SEED).fit(X_c)
    pca = PCA(n_components=LATENT, random_state=SEED).fit(X_c)
    forest = IsolationForest(random_state=SEED).fit(X_c)

    def pca_score(X, pca=pca):
        return -np.sum((X - pca.inverse_transform(pca.transform(X))) ** 2, axis=1)

    scorers = {"AE (MSE)": ae_det.score_samples, "VAE ELBO": vae_det.score_samples, "PCA": pca_score,
               "IsolationForest": forest.score_samples}
    one_class[c] = {name: auroc(f(normal_test), f(anomalous_test)) for name, f in scorers.items()}

methods = list(one_class[CLASSES[0]])
print(f"{'normal class':<13}" + "".join(f"{m:>17}" for m in methods))
for c, row in one_class.items():
    print(f"{class_names[c]:<13}" + "".join(f"{row[m]:17.3f}" for m in methods))
mean_auroc = {m: float(np.mean([row[m] for row in one_class.values()])) for m in methods}
print(f"{'mean':<13}" + "".join(f"{mean_auroc[m]:17.3f}" for m in methods))

# %% [markdown]
# Full setting (AUROC, 10 classes): the mean is 0.90 for the MSE autoencoder, 0.90 for PCA,
# 0.92 for the IsolationForest and only 0.79 for the VAE's ELBO. On this small, well-centred data
# set the autoencoder does not beat its linear special case, and a forest on raw pixels is as good
# as either: a baseline measured in the same run is what keeps such a table honest.
#
# The ELBO is the odd one out, and where it fails is telling: shirts (0.52), pullovers (0.55),
# bags (0.58) and T-shirts (0.74), where the other scores reach 0.78 to 0.93. (Full-setting
# figures are from one run; another machine's rounding moves them in the second decimal.) The
# next two sections find the cause.
#
# ## 6.4 Out of distribution: Fashion-MNIST against MNIST
#
# Now a harder-sounding but cleaner question: train on Fashion-MNIST, then score the Fashion-MNIST
# test images (normal) and the MNIST test images (anomalous: handwritten digits, a different data
# set altogether). A density model should give the digits a low likelihood.

# %%
def find_mnist_test():
    """MNIST test images from $NPAE_DATA, the user cache, or the repository's ../shared/data."""
    repo_data = Path(npae.__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    try:
        X, _ = npae.datasets.load_mnist("test", data_dir=repo_data if repo_data.is_dir() else None)
    except FileNotFoundError as err:
        print("Section 6.4 skipped: the MNIST test files were not found.", str(err).splitlines()[0])
        print("Set NPAE_DATA to a directory holding t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz.")
        return None
    return X


X_mnist = find_mnist_test()
HAVE_MNIST = X_mnist is not None

# %%
ood = {}
if HAVE_MNIST:
    X_fit = X_train[rng.permutation(len(X_train))[:N_OOD_TRAIN]]
    X_in = X_test[rng.permutation(len(X_test))[:N_OOD_TEST]]
    X_out = X_mnist[rng.permutation(len(X_mnist))[:N_OOD_TEST]]
    vae = make_vae().fit(X_fit)
    elbo_det = npae.AnomalyDetector(vae, anomaly_score="elbo", refit=False, random_state=SEED).fit(X_fit)
    iwae_det = npae.AnomalyDetector(vae, anomaly_score="iwae", n_samples=IWAE_K, refit=False, random_state=SEED).fit(X_fit)
    ae_det = npae.AnomalyDetector(make_autoencoder()).fit(X_fit)
    pca = PCA(n_components=LATENT, random_state=SEED).fit(X_fit)
    forest = IsolationForest(random_state=SEED).fit(X_fit)
    ood_scorers = {
        "VAE ELBO": elbo_det.score_samples,
        f"VAE IWAE (k = {IWAE_K})": iwae_det.score_samples,
        "AE (MSE)": ae_det.score_samples,
        "PCA": lambda X: -np.sum((X - pca.inverse_transform(pca.transform(X))) ** 2, axis=1),
        "IsolationForest": forest.score_samples,
    }
    ood_scores = {name: (f(X_in), f(X_out)) for name, f in ood_scorers.items()}
    print(f"{'score':<22}{'AUROC':>7}{'AP':>7}   mean score: Fashion-MNIST   MNIST")
    for name, (s_in, s_out) in ood_scores.items():
        ood[name] = auroc(s_in, s_out)
        print(f"{name:<22}{ood[name]:7.3f}{average_precision(s_in, s_out):7.3f}{s_in.mean():26.1f}{s_out.mean():8.1f}")
else:
    print("(skipped: no MNIST)")

# %%
if HAVE_MNIST:
    fig_elbo_hist = npae.plotting.plot_score_histograms(
        {"Fashion-MNIST test (normal)": ood_scores["VAE ELBO"][0], "MNIST test (anomalous)": ood_scores["VAE ELBO"][1]})
    fig_elbo_hist.axes[0].set_xlabel("BCE-ELBO (nats per image; higher = more normal)")
    fig_elbo_hist.axes[0].set_title("VAE trained on Fashion-MNIST: MNIST digits get the higher ELBO")
    display(fig_elbo_hist)

# %% [markdown]
# There it is. The VAE gives the digits, which it has never seen, a **higher** ELBO than the test
# garments: in the full setting −199 against −252 nats on average, an AUROC of 0.30 (the IWAE
# bound with $k = 100$, 0.28, agrees, so this is not a loose bound). A detector built on it flags
# Fashion-MNIST as the anomaly. This is the failure Nalisnick et al. (2019) reported for flows,
# PixelCNNs and VAEs alike. The squared-error scores (AE 0.99, PCA 0.96) have no such trouble; the
# forest is weak here (0.63).
#
# ## 6.5 Why, and the complexity correction
#
# Per pixel, the BCE of a prediction $p$ for a grey level $x \in [0, 1]$ splits into two parts:
#
# $$-x\log p - (1-x)\log(1-p) = \underbrace{H(x)}_{-x\log x - (1-x)\log(1-x)}
#   + \underbrace{\mathrm{KL}\big(\mathrm{Ber}(x)\,\|\,\mathrm{Ber}(p)\big)}_{\ge 0,\ =0 \text{ iff } p = x}.$$
#
# The first part is a **floor** that no model can get under: $H(0) = H(1) = 0$, but a mid-grey
# pixel costs up to $\log 2 \approx 0.69$ nats however well it is reconstructed. MNIST digits are
# almost all pure black and pure white pixels, Fashion-MNIST garments have large grey areas, so
# the BCE-ELBO is dominated by how *grey*, how complex, an image is, not by how well the model
# knows it. Let us measure the floor $\sum_d H(x_d)$ of each data set:

# %%
def bce_floor(X):
    """Σ_d H(x_d): the BCE of a perfect reconstruction, nats per image."""
    x = np.clip(X.astype(np.float64), 1e-12, 1 - 1e-12)
    return -np.sum(x * np.log(x) + (1 - x) * np.log1p(-x), axis=1)


if HAVE_MNIST:
    floor_in, floor_out = bce_floor(X_in), bce_floor(X_out)
    print(f"BCE floor: Fashion-MNIST {floor_in.mean():.1f} nats, MNIST {floor_out.mean():.1f} nats per image")
    excess = (ood_scores["VAE ELBO"][0] + floor_in, ood_scores["VAE ELBO"][1] + floor_out)
    ood["VAE ELBO + floor"] = auroc(*excess)
    print(f"AUROC of ELBO + floor (the excess over the floor): {ood['VAE ELBO + floor']:.3f}")

# %% [markdown]
# The floor alone differs by about 145 nats between the two data sets (189 against 45 in the full
# setting), nearly three times the whole ELBO gap of 52 nats. Removing it (adding $\sum_d H(x_d)$
# to the ELBO leaves $-\sum_d \mathrm{KL}(\mathrm{Ber}(x_d)\| \mathrm{Ber}(p_d)) - \mathrm{KL}_z$,
# the part the model controls) turns the AUROC from 0.30 into 0.97 in the full setting. (It also
# lifts the one-class ELBO for shirts from 0.52 to about 0.83: the same cause was at work in 6.3;
# exercise 5.)
#
# **Serrà et al. (2020)** proposed a general version of this idea for any likelihood model: estimate
# the complexity of $x$ by the length $L(x)$ in bits of $x$ compressed losslessly by a generic
# compressor (npae uses zlib on the 8-bit image), and score by
#
# $$S(x) = -\log_2 p(x) - L(x),$$
#
# a likelihood ratio between the model and a universal "any image" model;
# `anomaly_score="elbo_complexity"` returns $-S(x)$ (higher = more normal), with $\log p$
# estimated by IWAE.

# %%
if HAVE_MNIST:
    cplx_det = npae.AnomalyDetector(vae, anomaly_score="elbo_complexity", n_samples=IWAE_K, refit=False,
                                    random_state=SEED).fit(X_fit)
    cplx_scores = (cplx_det.score_samples(X_in), cplx_det.score_samples(X_out))
    bits_in, bits_out = complexity_bits(X_in), complexity_bits(X_out)
    ood["ELBO complexity (Serrà)"] = auroc(*cplx_scores)
    ood["L(x) alone"] = auroc(bits_in, bits_out)  # "more complex = more normal"
    print(f"L(x): Fashion-MNIST {bits_in.mean():.0f} bits, MNIST {bits_out.mean():.0f} bits per image")
    print(f"-log2 p(x) (IWAE): Fashion-MNIST {-ood_scores[f'VAE IWAE (k = {IWAE_K})'][0].mean() / np.log(2):.0f} bits, "
          f"MNIST {-ood_scores[f'VAE IWAE (k = {IWAE_K})'][1].mean() / np.log(2):.0f} bits")
    print(f"AUROC: elbo_complexity {ood['ELBO complexity (Serrà)']:.3f}, L(x) alone {ood['L(x) alone']:.3f}")

# %%
if HAVE_MNIST:
    y_ood = np.r_[np.zeros(len(X_in)), np.ones(len(X_out))]
    roc_names = ("VAE ELBO", "VAE ELBO + floor", "AE (MSE)", "PCA", "IsolationForest")
    curves = {name: (y_ood, -np.r_[ood_scores[name]]) if name in ood_scores else (y_ood, -np.r_[excess])
              for name in roc_names}
    curves["ELBO complexity (Serrà)"] = (y_ood, -np.r_[cplx_scores])
    fig_roc = npae.plotting.plot_roc_curves(curves)
    fig_roc.axes[0].set_title("Fashion-MNIST (normal) vs MNIST (anomalous)")
    display(fig_roc)

# %% [markdown]
# The corrected score "fixes" the failure: 0.994 in the full setting. But look at the units. The
# BCE-ELBO is not a code length for the 8-bit image: $-\log_2 p(x)$ is about 360 bits for a
# garment and 270 for a digit, while zlib needs about 3,660 and 1,520 bits. So $S(x)$ is almost
# entirely $-L(x)$, and the score reduces to "the more complex an image, the more normal", which
# on its own already gives an AUROC of 0.991. Serrà's correction assumes $-\log_2 p(x)$ and $L(x)$
# are code lengths of the same discrete data (their models, Glow and PixelCNN++, are); a BCE-VAE
# on grey levels does not meet that assumption.
#
# A test that tells the two explanations apart: images that are *more* complex than Fashion-MNIST,
# uniform noise. Any sensible detector must call them anomalous.

# %%
if HAVE_MNIST:
    X_noise = rng.random((N_OOD_TEST, X_in.shape[1]), dtype=np.float32)
    noise_auroc = {
        "VAE ELBO": auroc(ood_scores["VAE ELBO"][0], elbo_det.score_samples(X_noise)),
        "VAE ELBO + floor": auroc(excess[0], elbo_det.score_samples(X_noise) + bce_floor(X_noise)),
        "ELBO complexity (Serrà)": auroc(cplx_scores[0], cplx_det.score_samples(X_noise)),
    }
    print("Fashion-MNIST (normal) vs uniform noise (anomalous), AUROC:")
    for name, value in noise_auroc.items():
        print(f"  {name:<24}{value:.3f}")
    fig_cplx_hist = npae.plotting.plot_score_histograms(
        {"Fashion-MNIST test": cplx_scores[0], "MNIST test": cplx_scores[1],
         "uniform noise": cplx_det.score_samples(X_noise)})
    fig_cplx_hist.axes[0].set_xlabel("−S(x) = log₂ p(x) + L(x) in bits (higher = more normal)")
    fig_cplx_hist.axes[0].set_title("anomaly_score='elbo_complexity'")
    display(fig_cplx_hist)

# %% [markdown]
# The ELBO and the floor-corrected ELBO flag the noise perfectly (AUROC 1.000 in the full
# setting). The complexity score calls noise *more* normal than the training distribution itself
# (AUROC about 0): it ranks images by compressibility, and noise is the least compressible of all.
# So, does `elbo_complexity` fix the Fashion-MNIST/MNIST failure? On that pair, yes (0.30 →
# 0.994), but for the wrong reason with this model, and it breaks on data more complex than the
# training set. With a BCE model on grey levels, subtracting the model's own floor
# $\sum_d H(x_d)$, which lives in the same units as the ELBO, is the sounder correction; with a
# likelihood on the 256 discrete grey levels, Serrà's $L(x)$ would be the right yardstick.
#
# The summary of the out-of-distribution protocol (AUROC, MNIST as the anomalous class):

# %%
for name, value in ood.items():
    print(f"{name:<26}{value:.3f}")

# %% [markdown]
# ## Exercises
#
# The notebook holds no answers to these; each says how to check yourself.
#
# 1. **The floor of one pixel.** What is the smallest BCE a model can reach on a pixel of grey
#    level $x = 0.1$, and on one of $x = 0.9$, in nats? Derive both, explain why they are equal,
#    then evaluate `npae.losses` BCE at the best logit.
# 2. **Chance level of AP.** Section 6.2 says a random score's average precision is, in
#    expectation, the share of anomalies. Show why from AP's definition, then predict it for a
#    test set where only 10 of 1,000 images are anomalies and check your prediction with
#    `npae.metrics` on a few random scores.
# 3. **Contamination.** Refit `detector` with `contamination=0.05`. Predict what share of its
#    *training* images `predict` calls outliers, then run it.
# 4. **A Gaussian VAE.** Repeat 6.4 with `npae.VAE(likelihood="gaussian", sigma=0.1, ...)`. Its
#    $-\log p(x\mid z)$ is a scaled squared error plus a constant, with no grey-level floor. Does
#    MNIST still get the higher ELBO? Why might it (think of the variance of blank pixels)?
# 5. **One-class with the floor.** Add the "VAE ELBO + floor" score to the table of 6.3. Which
#    classes gain most, and does it overtake PCA on average?

# %% [markdown]
# ## What must hold
#
# The detector follows the contract (±1 predictions, a training outlier share equal to the
# contamination, decision function = score − threshold); the continuous scores rank better than
# the ±1 predictions; every one-class AUROC is a number in $[0, 1]$ and the squared-error scores
# beat chance. With MNIST present: the VAE's ELBO scores MNIST as *more* normal (the failure, in the
# full setting), the floor correction and the complexity score both reverse it, and uniform noise
# exposes the complexity score.

# %%
assert set(np.unique(pred)) <= {-1, 1}
assert abs(np.mean(train_pred == -1) - 0.1) < 0.02, np.mean(train_pred == -1)
assert np.allclose(decision, scores - detector.offset_)
assert auroc_scores >= auroc_predictions, (auroc_scores, auroc_predictions)
assert all(0.0 <= v <= 1.0 for row in one_class.values() for v in row.values())
assert mean_auroc["AE (MSE)"] > 0.6 and mean_auroc["PCA"] > 0.6, mean_auroc
if HAVE_MNIST:
    assert ood["VAE ELBO + floor"] > ood["VAE ELBO"], ood
    assert ood["ELBO complexity (Serrà)"] > ood["VAE ELBO"], ood
    assert ood["AE (MSE)"] > 0.7, ood
    assert noise_auroc["VAE ELBO"] > 0.9 and noise_auroc["ELBO complexity (Serrà)"] < 0.5, noise_auroc
    if not QUICK:
        assert ood["VAE ELBO"] < 0.5, ood  # Nalisnick et al.: MNIST gets the higher likelihood
        assert ood["ELBO complexity (Serrà)"] > 0.9 and ood["VAE ELBO + floor"] > 0.9, ood
print("Chapter 6 has no checked \"your turn\" exercises (its Exercises section asks for derivations "
      "and experiments); the checked ones are in chapters 1-5. In this session:")
print(npae.exercises.progress().summary)
