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
# # 3. Sparse and denoising autoencoders
#
# A plain autoencoder is kept from copying its input by a narrow code. This chapter is about two
# other ways of making the copy task hard enough to be useful, both of which leave the code as
# wide as we like:
#
# * a **sparse** autoencoder adds a penalty that keeps most code units near zero for any given
#   input, so each unit has to specialise;
# * a **denoising** autoencoder is shown a *corrupted* input and asked for the *clean* one, so it
#   has to learn what clean images look like.
#
# In this chapter you will
#
# 1. derive the two classic sparsity penalties, the **L1** activity penalty and the **KL**
#    penalty on the mean activation, with their gradients, including the way the KL gradient
#    flows through a *batch mean* and so couples every row of a batch to every other;
# 2. check both gradients numerically, first by hand and then for whole models with
#    `npae.gradcheck`;
# 3. train three autoencoders with the same architecture (no penalty, L1, KL) on the embedded
#    Fashion-MNIST subset and compare their code-activation histograms and their first-layer
#    filters;
# 4. apply the three corruptions npae implements (Gaussian, masking, salt-and-pepper), train a
#    denoiser for each, and measure the result in **PSNR**, beside the noisy input and beside a
#    plain autoencoder of the same size that never saw noise.
#
# In the **"your turn"** cells you write both penalty gradients and two corruptions yourself;
# `npae.exercises.check` compares each with npae's own and names the mistake if there is one
# (a per-row KL, a missing $1/N$, a wrong sign).
#
# `NPAE_QUICK=1` in the environment shrinks every size so that the notebook finishes in a minute
# or less on two cores (the test suite runs it that way): 2,000 training images and smaller
# batches, enough for the same pictures; the numbers quoted in the text are from the full setting,
# which takes a few minutes on a 2-core laptop CPU.

# %%
import inspect
import os

import matplotlib.pyplot as plt
import numpy as np
from array_api_compat import array_namespace

import npae
import npae.datasets
import npae.exercises
import npae.plotting
from npae.gradcheck import check_model, numerical_gradient, relative_error
from npae.metrics import psnr
from npae.noise import corrupt

QUICK = os.environ.get("NPAE_QUICK") == "1"
N_TRAIN = 2000 if QUICK else 5000  # training images (the embedded subset has 5,000)
N_TEST = 200 if QUICK else 1000  # test images used for every measurement
SPARSE_EPOCHS = 8 if QUICK else 30
SPARSE_BATCH = 32 if QUICK else 128  # smaller batches: more steps for the few QUICK epochs
DENOISE_EPOCHS = 5 if QUICK else 20
SEED = 0
your_turn = {}  # exercise name -> the result of npae.exercises.check for each "your turn" cell

npae.set_backend("numpy")
xp = npae.get_backend().xp
rng = np.random.default_rng(SEED)

X_train, y_train = npae.datasets.load_embedded("train")
X_test, y_test = npae.datasets.load_embedded("test")
X_train, y_train = X_train[:N_TRAIN], y_train[:N_TRAIN]  # the file is already shuffled
X_test, y_test = X_test[:N_TEST], y_test[:N_TEST]
print("train", X_train.shape, "test", X_test.shape)

# %% [markdown]
# ## 3.1 Two sparsity penalties and their gradients
#
# Take an encoder with a single layer of $K$ sigmoid units, the classic sparse autoencoder:
#
# $$z = xW + b, \qquad h = \sigma(z) \in (0, 1)^{K},$$
#
# followed by a decoder that maps $h$ back to the image. For a batch of $N$ rows the training
# loss is the mean reconstruction loss plus a sparsity penalty $S(h)$ on the codes.
#
# **L1 activity.** Penalise the size of every code entry:
#
# $$S_{\mathrm{L1}} = \frac{\lambda}{N} \sum_{n=1}^{N} \sum_{j=1}^{K} \lvert h_{nj} \rvert .$$
#
# Each $h_{nj}$ appears in exactly one term of the double sum, and $\lvert u\rvert$ has slope
# $\pm1$ away from $0$. With sigmoid codes $h > 0$, so (as you will find) every unit is pushed
# down with the same force, however small it already is. Through the sigmoid the force on the
# logit picks up the factor $\sigma'(z_{nj}) = h_{nj}(1 - h_{nj})$, which vanishes as the unit
# saturates at $0$: a unit that is off for every image feels no push at all, and nothing pulls it
# back.
#
# **KL sparsity.** Treat the *average* activation of unit $j$ over the batch,
#
# $$\hat\rho_j = \frac{1}{N}\sum_{n=1}^{N} h_{nj},$$
#
# as the probability of a Bernoulli variable, and penalise its Kullback–Leibler divergence from
# a small target rate $\rho$ (for example $0.05$: "each unit should fire for about one image in
# twenty"):
#
# $$S_{\mathrm{KL}} = \beta \sum_{j=1}^{K} \mathrm{KL}(\rho \,\Vert\, \hat\rho_j)
#   = \beta \sum_{j} \Big[\rho \log\frac{\rho}{\hat\rho_j}
#   + (1-\rho)\log\frac{1-\rho}{1-\hat\rho_j}\Big].$$
#
# Differentiate it with respect to $\hat\rho_j$ first (only the logs depend on it); then the chain
# rule goes **through the batch mean**: $\partial\hat\rho_j/\partial h_{nj} = 1/N$ for *every* row
# $n$, so $\partial S_{\mathrm{KL}}/\partial h_{nj} = \frac{1}{N}\,\partial
# S_{\mathrm{KL}}/\partial\hat\rho_j$.
#
# <details><summary>Hint: the last step (open it after you have tried)</summary>
#
# $$\frac{\partial S_{\mathrm{KL}}}{\partial h_{nj}} = \frac{\beta}{N}
#   \left(-\frac{\rho}{\hat\rho_j} + \frac{1-\rho}{1-\hat\rho_j}\right).$$
#
# </details>
#
# Three consequences:
#
# * the gradient is the same for every row of the batch, and it depends on all of them (through
#   $\hat\rho_j$): the penalty belongs to the batch, not to any one image, so a batch's gradient
#   is *not* a sum of per-image gradients;
# * it is zero when $\hat\rho_j = \rho$ and *negative* when $\hat\rho_j < \rho$: unlike L1, the KL
#   penalty pushes an under-used unit back up;
# * near $\hat\rho_j \to 0$ or $1$ it blows up, so it is computed from the logits
#   with a stable log-mean-exp, not from rounded $h$.
#
# ### Your turn: the two penalty gradients
#
# Write $\partial S/\partial h$ for both penalties, for a batch of codes $h$ of shape $(N, K)$. The
# L1 exercise takes the weight $\lambda$ (its inputs stay at least $0.01$ away from the kink at
# $0$); the KL exercise has $\beta = 1$ and takes the target $\rho$. The KL checker recognises the
# per-row gradient that forgets the batch mean.

# %%
def l1_activity_grad(h, weight):
    """∂S/∂h for S = λ · mean_n Σ_j |h_nj|, shape (N, K)."""
    xp = array_namespace(h)
    # BEGIN SOLUTION
    return weight / h.shape[0] * xp.sign(h)
    # END SOLUTION


your_turn["l1_activity_grad"] = npae.exercises.check("l1_activity_grad", l1_activity_grad)
print(your_turn["l1_activity_grad"])

# %%
def kl_sparsity_grad(h, target):
    """∂S/∂h for S = Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j = mean_n h_nj, shape (N, K)."""
    xp = array_namespace(h)
    # BEGIN SOLUTION
    rho_hat = xp.mean(h, axis=0)
    per_unit = -target / rho_hat + (1.0 - target) / (1.0 - rho_hat)
    return xp.zeros_like(h) + per_unit / h.shape[0]  # the same row for every n
    # END SOLUTION


your_turn["kl_sparsity_grad"] = npae.exercises.check("kl_sparsity_grad", kl_sparsity_grad)
print(your_turn["kl_sparsity_grad"])

# %% [markdown]
# Here are both penalties written out with NumPy on a small batch of codes, and their gradients
# (yours once they pass their checks, npae's until then) checked against central differences.
# The third check uses the tempting but wrong *per-row* gradient: the penalty's gradient for each
# image on its own, as if it were a batch of one, which forgets that $\hat\rho_j$ is shared by
# the batch.

# %%
lam, beta, rho = 0.5, 2.0, 0.05
H = rng.uniform(0.02, 0.9, size=(6, 4))  # six codes of four sigmoid units (kept away from 0)


def l1_penalty():
    return lam * np.abs(H).sum() / H.shape[0]


def kl_penalty():
    rho_hat = H.mean(axis=0)
    return beta * np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))


N = H.shape[0]
l1_grad = npae.exercises.yours_or_npae("l1_activity_grad", l1_activity_grad)(H, lam)
kl_fn = npae.exercises.yours_or_npae("kl_sparsity_grad", kl_sparsity_grad)
kl_grad = beta * kl_fn(H, rho)
# wrong: each row's gradient as if it were a batch of one (scaled to this batch), the batch mean ignored
kl_grad_per_row = np.concatenate([beta * kl_fn(H[n : n + 1], rho) for n in range(N)]) / N

err_l1 = relative_error(l1_grad, numerical_gradient(l1_penalty, H))
err_kl = relative_error(kl_grad, numerical_gradient(kl_penalty, H))
err_kl_wrong = relative_error(kl_grad_per_row, numerical_gradient(kl_penalty, H))
print(f"L1 gradient:               relative error {err_l1:.1e}")
print(f"KL gradient (batch mean):  relative error {err_kl:.1e}")
print(f"KL gradient (per row):     relative error {err_kl_wrong:.1e}   <- wrong")

# %% [markdown]
# The first two agree to about ten digits; the per-row version is wrong by order one. In npae the
# penalty's gradient is injected between the decoder's and the encoder's backward passes, at the
# code $h$, so it then flows through the code's sigmoid and the encoder like any other gradient:

# %%
print(inspect.getsource(npae.SparseAutoencoder._forward_backward))

# %% [markdown]
# The same check for whole models: `check_model` casts a copy to float64 and compares every
# parameter's gradient with central differences. Tiny models on a band of 20 pixels keep it fast;
# tanh hidden units and sigmoid codes keep everything smooth (and $h > 0$, away from the kink of
# $\lvert h\rvert$).

# %%
X_band = X_train[:8, 300:320]
sparse_checks = {}
for kind, weight in (("l1", 0.5), ("kl", 2.0)):
    tiny = npae.SparseAutoencoder(hidden_sizes=(6,), latent_dim=4, activation="tanh", latent_activation="sigmoid",
                                  sparsity=kind, sparsity_weight=weight, target_sparsity=0.1, random_state=SEED,
                                  verbose=0)
    sparse_checks[kind] = check_model(tiny, X_band)
    print(f"sparsity={kind!r}:\n{sparse_checks[kind]}\n")

# %% [markdown]
# ## 3.2 Training: no penalty, L1 and KL
#
# Three models with the same architecture — 784 pixels, 64 sigmoid code units, a linear decoder
# with Bernoulli cross-entropy (chapter 1) — differ only in the penalty: none, L1 with
# $\lambda = 2$, KL with $\beta = 10$ and target $\rho = 0.05$. The weights are large because the
# reconstruction loss is *summed* over 784 pixels (about 230 nats per image) while the penalty
# is summed over only 64 units.

# %%
common = {"hidden_sizes": (), "latent_dim": 64, "latent_activation": "sigmoid", "loss": "bce", "learning_rate": 3e-3,
          "batch_size": SPARSE_BATCH, "epochs": SPARSE_EPOCHS, "random_state": SEED, "verbose": 0}
sparse_models = {
    "no penalty": npae.SparseAutoencoder(sparsity="l1", sparsity_weight=0.0, **common),
    "L1, λ = 2": npae.SparseAutoencoder(sparsity="l1", sparsity_weight=2.0, **common),
    "KL, β = 10, ρ = 0.05": npae.SparseAutoencoder(sparsity="kl", sparsity_weight=10.0, target_sparsity=0.05,
                                                   **common),
}
codes, sparse_rows = {}, []
for name, model in sparse_models.items():
    model.fit(X_train, validation_data=X_test)  # history_ then holds the test-set terms per epoch
    H_test = model.transform(X_test)  # (N_TEST, 64) sigmoid codes
    codes[name] = H_test
    recon = model.history_["val_reconstruction"][-1]  # BCE per test image, penalty excluded
    sparse_rows.append((name, H_test.mean(), np.mean(H_test < 0.05), np.sum(H_test.mean(axis=0) < 0.01), recon))

print(f"{'model':<22} {'mean h':>7} {'h < 0.05':>9} {'dead units':>11} {'test BCE':>9}")
for name, mean_h, frac_small, dead, recon in sparse_rows:
    print(f"{name:<22} {mean_h:7.3f} {frac_small:9.1%} {dead:11d} {recon:9.1f}")
mean_activation = {name: row[1] for name, row in zip(sparse_models, sparse_rows)}
dead_units = {name: row[3] for name, row in zip(sparse_models, sparse_rows)}

# %% [markdown]
# Both penalties lower the mean activation a lot, from about one half to about a tenth (0.48 →
# 0.13 for L1, 0.08 for KL in the full setting), for a reconstruction loss only 4–8 % higher (the
# last column, measured on the test images without the penalty). The plots show *how*
# differently they get there.

# %%
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.8))
bins = np.linspace(0.0, 1.0, 41)
for name, H_test in codes.items():
    ax0.hist(H_test.ravel(), bins=bins, histtype="step", linewidth=1.6, density=True, label=name)
    ax1.plot(np.sort(H_test.mean(axis=0)), marker=".", label=name)
ax0.set_yscale("log")
ax0.set_xlabel("code activation $h_{nj}$")
ax0.set_ylabel("density")
ax0.set_title("All code entries on the test images")
ax0.legend()
ax1.axhline(0.05, color="grey", linestyle="--", linewidth=1)
ax1.text(30, 0.037, r"target $\rho = 0.05$", color="grey")
ax1.set_yscale("log")
ax1.set_xlabel("code unit (sorted by mean activation)")
ax1.set_ylabel(r"mean activation $\hat\rho_j$ over the test images")
ax1.set_title("Per-unit mean activation")
fig.tight_layout()
plt.show()

# %% [markdown]
# On the left, the unpenalised codes spread over the whole interval, with many units saturated
# near 0 *or* 1: a unit is as likely to be fully on as fully off. Both penalties pile the mass up
# near zero and leave a thin tail of strong activations, which is what sparse means: for a given
# image, a few units speak and the rest are silent.
#
# The right panel shows the difference between the two penalties. L1 pushes every unit down
# with the same force, and the units that lose the competition die: their mean activation is
# near zero on *every* image (the "dead units" column above) and, as derived in 3.1, nothing
# brings them back. KL has a target per unit: it pulls the over-active units down and the
# under-active ones up, so every unit ends up used, with a mean between $\rho$ and about three
# times $\rho$ (the reconstruction term pulls the other way, and $\hat\rho$ is a minibatch estimate
# during training but measured here on the whole test set).
#
# ### Learned filters
#
# Column $j$ of the encoder's weight matrix $W$ (784 × 64) is the image that excites unit $j$
# most, for a fixed norm. Shown as 28 × 28 pictures (red positive, blue negative, each filter
# scaled to its own range; `npae.plotting.plot_filters(W)` draws one model's filters in one line):

# %%
def filter_mosaic(W, n=36, cols=6, pad=1):
    """Columns of W (784, K) as a grid of 28×28 images, each scaled to its 99th percentile of |w|."""
    F = W[:, :n].T.reshape(n, 28, 28)
    F = F / np.percentile(np.abs(F), 99, axis=(1, 2), keepdims=True)
    rows = -(-n // cols)
    mosaic = np.full((rows * (28 + pad) - pad, cols * (28 + pad) - pad), np.nan)
    for i, f in enumerate(F):
        r, c = divmod(i, cols)
        mosaic[r * (28 + pad): r * (28 + pad) + 28, c * (28 + pad): c * (28 + pad) + 28] = f
    return mosaic


fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
for ax, (name, model) in zip(axes, sparse_models.items()):
    W = npae.to_numpy(model.parameters()["encoder.0.W"])
    ax.imshow(filter_mosaic(W), cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    ax.set_title(name)
    ax.set_axis_off()
fig.suptitle("First 36 encoder filters")
fig.tight_layout()
plt.show()

# %% [markdown]
# The differences are subtler than in the histograms, but visible. Without a penalty the filters
# are busy red-and-blue patterns spread over the whole image: every unit takes part in every
# reconstruction, so no unit needs to mean anything on its own. With a sparsity penalty many
# filters become one dominant shape on a quieter background — the outline of a shirt, a pair of
# trouser legs, a shoe's sole, a horizontal edge — because a unit that fires for few images must
# stand for one recognisable part. The L1 panel also shows its dead units: the tiles of fine
# speckle on a uniformly blue (negative) field are units that the penalty switched off for every
# image early in training. Once saturated they receive almost no gradient, so their weights keep
# the speckle of the random initialisation, only shifted negative. (The speckle at the image
# borders of every model has a similar cause: border pixels are almost always zero in
# Fashion-MNIST, so their weights receive almost no gradient.)
#
# ## 3.3 Denoising: three corruptions
#
# A denoising autoencoder (Vincent et al., 2008) corrupts each training image $x$ into
# $\tilde x$ with a random corruption $q(\tilde x \mid x)$ and minimises the loss of
# reconstructing the *clean* $x$ from $\tilde x$:
#
# $$L = \frac{1}{N}\sum_n \ell\big(x_n,\; g(f(\tilde x_n))\big), \qquad \tilde x_n \sim q(\cdot \mid x_n).$$
#
# The corruption is drawn afresh for every minibatch and is not differentiated through (it acts
# on the input), so the backward pass is the plain autoencoder's, with the clean image as the
# target. npae implements three corruptions (`npae.noise`), all kept inside the pixel range
# $[0, 1]$:
#
# * **Gaussian**: $\tilde x = \operatorname{clip}(x + \sigma\varepsilon, 0, 1)$, $\varepsilon \sim \mathcal N(0, I)$;
# * **masking**: a random fraction $\nu$ of the pixels set to $0$ (not rescaled, unlike dropout);
# * **salt-and-pepper**: a random fraction $\nu$ set to $0$ or $1$, half each.
#
# We measure quality with the peak signal-to-noise ratio, per image and then averaged, for a
# data range $R = 1$:
#
# $$\mathrm{PSNR}(x, \hat x) = 10\log_{10}\frac{R^2}{\frac{1}{D}\sum_d (x_d - \hat x_d)^2}\ \text{dB}.$$
#
# Every 10 dB is a factor of ten in mean squared error.
#
# ### Your turn: masking and Gaussian corruption
#
# The random draw is given (a boolean mask that is True where a pixel is kept; a standard-normal
# $\varepsilon$), so the checker can compare your corrupted images with npae's exactly.

# %%
def masking_noise(x, mask, rate):
    """x with the entries where mask is False set to 0 (rate ν is the fraction the mask drops)."""
    xp = array_namespace(x)
    # BEGIN SOLUTION
    return xp.where(mask, x, xp.zeros_like(x))
    # END SOLUTION


your_turn["masking_noise"] = npae.exercises.check("masking_noise", masking_noise)
print(your_turn["masking_noise"])

# %%
def gaussian_noise(x, eps, std):
    """x + σ·ε, kept inside the pixel range [0, 1]."""
    xp = array_namespace(x)
    # BEGIN SOLUTION
    return xp.clip(x + std * eps, 0.0, 1.0)
    # END SOLUTION


your_turn["gaussian_noise"] = npae.exercises.check("gaussian_noise", gaussian_noise)
print(your_turn["gaussian_noise"])

# %% [markdown]
# npae's `corrupt(X, random_state, noise=..., noise_level=...)` draws the mask or $\varepsilon$ and
# applies the same formulas. Here is what the three corruptions do to one test image of each of
# eight classes:

# %%
NOISES = {"gaussian": 0.3, "masking": 0.5, "salt_pepper": 0.2}  # σ for gaussian, ν for the others
class_names = npae.datasets.FASHION_MNIST_CLASSES
shown = [int(np.flatnonzero(y_test == c)[0]) for c in range(8)]
X_noisy = {noise: corrupt(X_test, SEED + 1, noise=noise, noise_level=level) for noise, level in NOISES.items()}

fig, axes = plt.subplots(4, 8, figsize=(10, 5.4))
for col, i in enumerate(shown):
    for row, (label, images) in enumerate([("clean", X_test)] + [(f"{k} {v}", X_noisy[k]) for k, v in NOISES.items()]):
        axes[row, col].imshow(images[i].reshape(28, 28), cmap="gray", vmin=0.0, vmax=1.0)
        axes[row, col].set_xticks([])
        axes[row, col].set_yticks([])
        if col == 0:
            axes[row, col].set_ylabel(label, fontsize=8)
    axes[0, col].set_title(class_names[y_test[i]], fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Gaussian noise greys the black background (clipping makes its mean there positive), masking
# punches holes into the garment, salt-and-pepper sprinkles white dots on the background and
# black ones on the garment.
#
# ## 3.4 Training denoisers and measuring PSNR
#
# One `DenoisingAutoencoder` per corruption (784 → 256 → 64 → 256 → 784, ReLU, BCE), and, as
# the baseline, a plain `Autoencoder` of the same shape that never saw noise. All four are fed
# the same noisy test images.

# %%
dae_common = {"hidden_sizes": (256,), "latent_dim": 64, "loss": "bce", "learning_rate": 3e-3, "batch_size": 64,
              "epochs": DENOISE_EPOCHS, "random_state": SEED, "verbose": 0}
plain = npae.Autoencoder(**dae_common).fit(X_train)
denoisers = {noise: npae.DenoisingAutoencoder(noise=noise, noise_level=level, **dae_common).fit(X_train)
             for noise, level in NOISES.items()}

psnr_table = {}
for noise, dae in denoisers.items():
    psnr_table[noise] = {
        "noisy": psnr(X_test, X_noisy[noise]),
        "plain AE": psnr(X_test, plain.reconstruct(X_noisy[noise])),
        "denoiser": psnr(X_test, dae.denoise(X_noisy[noise])),
    }
psnr_clean_plain = psnr(X_test, plain.reconstruct(X_test))

print(f"{'corruption':<18} {'noisy':>7} {'plain AE':>9} {'denoiser':>9}   (PSNR in dB, {N_TEST} test images)")
for noise, row in psnr_table.items():
    label = f"{noise} {NOISES[noise]}"
    print(f"{label:<18} {row['noisy']:7.2f} {row['plain AE']:9.2f} {row['denoiser']:9.2f}")
print(f"{'(clean input)':<18} {'':>7} {psnr_clean_plain:9.2f}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 2.6))
cols = 6
for ax, (noise, dae) in zip(axes, denoisers.items()):
    noisy, clean = X_noisy[noise][shown[:cols]], X_test[shown[:cols]]
    denoised = dae.denoise(noisy)
    rows = [np.concatenate([np.pad(img.reshape(28, 28), 1, constant_values=1.0) for img in block], axis=1)
            for block in (noisy, denoised, clean)]
    ax.imshow(np.concatenate(rows, axis=0), cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_yticks([15, 45, 75], ["noisy", "denoised", "clean"])
    ax.set_xticks([])
    row = psnr_table[noise]
    ax.set_title(f"{noise} {NOISES[noise]}: {row['noisy']:.1f} → {row['denoiser']:.1f} dB", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# Every denoiser gains 5–8 dB over its noisy input (one full-setting run: 12.8 → 18.5 dB for
# Gaussian noise, 10.7 → 18.2 for masking, 10.8 → 18.2 for salt-and-pepper; another machine may
# differ in the last digit), that is, it divides the squared error by three to six. The plain
# autoencoder is an instructive baseline: it also "denoises" somewhat, because its narrow code
# cannot represent the noise, but it gains only 1–4 dB: it has never seen a corrupted image, so it
# reconstructs much of the corruption along with the image (the holes of masking, the speckle of
# salt-and-pepper). The denoisers were trained to remove it. The denoised images are smoother than the clean ones (fine
# texture is lost, as for any 64-number code: the plain autoencoder's PSNR on *clean* input,
# about 20 dB, is the ceiling for this architecture), but the corruption is gone.
#
# The denoising objective has its own gradient check: pass a fixed corruption as the input and
# the clean images as `target=`, so the objective is a deterministic function of the weights.

# %%
X_band_noisy = corrupt(X_band, SEED, noise="masking", noise_level=0.3)
tiny_dae = npae.DenoisingAutoencoder(hidden_sizes=(6,), latent_dim=4, activation="tanh", noise="masking",
                                     noise_level=0.3, random_state=SEED, verbose=0)
dae_check = check_model(tiny_dae, X_band_noisy, target=X_band)
print(dae_check)

# %% [markdown]
# ## 3.5 Capstone: a sparse autoencoder made of your functions
#
# Your KL sparsity gradient now drives the penalty of a sparse autoencoder like section 3.2's
# (your L1 gradient would with `sparsity="l1"`, and your two corruptions run in
# `npae.exercises.assemble(..., model="denoising")`, in exercise 7 below).
# `npae.exercises.assemble(functions, model="sparse", **params)` builds npae's `SparseAutoencoder`
# with your functions where npae's own code runs. Each of them is checked as it is plugged in, and
# for the first training steps every call is also computed by npae: the first function to disagree
# is named (here with a warning, so that you see what the mistake does to the loss curve; the
# default stops `fit`). An exercise whose cell still raises `NotImplementedError` runs npae's
# reference instead, and `summary()` says which pieces are yours. Below, your model and npae's
# train on the same images with the same hyperparameters and seed, in float64: with every function
# right, the two loss curves are the same to float rounding.

# %%
CAPSTONE_EPOCHS = 2 if QUICK else 10
capstone = dict(hidden_sizes=(), latent_dim=64, latent_activation="sigmoid", loss="bce", sparsity="kl",
                sparsity_weight=10.0, target_sparsity=0.05, learning_rate=3e-3 if QUICK else 1e-3,
                batch_size=SPARSE_BATCH, epochs=CAPSTONE_EPOCHS, dtype="float64", random_state=SEED, verbose=0)
X_capstone, X_capstone_val = X_train[: 1000 if QUICK else 5000], X_test[:200]
mine = {"l1_activity_grad": l1_activity_grad, "kl_sparsity_grad": kl_sparsity_grad}
your_model = npae.exercises.assemble(mine, model="sparse", **capstone)
your_model.on_disagreement = "warn"  # a wrong function: train on, and see what it does
your_model.fit(X_capstone, validation_data=X_capstone_val)
npae_model = npae.SparseAutoencoder(**capstone).fit(X_capstone, validation_data=X_capstone_val)
print(your_model.summary())
print(your_model.compare_with(npae_model))

shown = X_capstone_val[:8]
fig = npae.plotting.plot_model_comparison(
    {"npae": npae_model.history_, "yours": your_model.history_}, shown,
    {"npae": npae_model.reconstruct(shown), "yours": your_model.reconstruct(shown)}, title="Your KL-sparse autoencoder against npae's")
fig  # noqa: B018 (a notebook displays the value of a cell's last line)

# %% [markdown]
# The reconstructions come from the two trained models: input on top, npae's below it, yours at the
# bottom. When every function of yours is right the curves lie on top of each other and the images
# match; a wrong one is named in the warning above (and in the summary), and the curve shows what
# it does to training.

# %% [markdown]
# ## Exercises
#
# The "your turn" cells above were checked automatically. These ask for a derivation or an
# experiment; the notebook holds no answers to them.
#
# 1. **A KL value.** Compute $\mathrm{KL}(\rho \,\Vert\, \hat\rho)$ for $\rho = 0.05$ and
#    $\hat\rho = 0.5$ (an unpenalised unit) by hand, in nats. How does it compare with the
#    reconstruction loss per image, and what does that say about the weight $\beta = 10$?
# 2. **Where L1 pushes hardest.** Through the sigmoid, the L1 penalty's gradient on the logit is
#    $\frac{\lambda}{N}h(1-h)$. For which code value $h$ is the push largest? What does that mean
#    for units that are already nearly off? Compare with the sorted per-unit means of 3.2.
# 3. **Predict the noise.** Show that masking a fraction $\nu$ of the pixels of an image $x$ gives
#    an expected squared error $\nu\cdot\frac{1}{D}\sum_d x_d^2$, use it to predict the *noisy* PSNR
#    of the masking row in the table from `X_test` alone, without drawing any noise, and compare
#    with the table.
# 4. **Batch size and KL.** $\hat\rho_j$ is a minibatch estimate. Train the KL model with
#    `batch_size=8` and with `batch_size=1024` and compare the per-unit means. Why does the
#    batch size matter for KL but not for L1? (Hint: is the expected minibatch KL gradient the
#    full-batch one?)
# 5. **A mismatched denoiser.** Feed masking-corrupted images (`corrupt(..., noise="masking")`)
#    to the Gaussian-trained denoiser. How much of the masking denoiser's gain does it keep?
# 6. **Exact zeros.** Train the L1 model with `latent_activation="relu"` instead of sigmoid.
#    What fraction of the code entries are exactly zero? Why can a sigmoid code never be?
# 7. **A denoiser of your own.** Build a denoising autoencoder from your two corruptions,
#    `npae.exercises.assemble({"masking_noise": masking_noise, "gaussian_noise": gaussian_noise},
#    model="denoising", noise="masking", noise_level=0.5, **dae_common)` (section 3.4's settings),
#    train it and add its row to the PSNR table. Does it match npae's masking denoiser? Then plant
#    a mistake in your masking (rescale the kept pixels, as dropout does): where does the model
#    stop, and what does it say?

# %% [markdown]
# ## What must hold
#
# The claims of this chapter, as assertions: the hand-written penalty gradients are right (and the
# per-row KL gradient is wrong), the three models pass the gradient check, both penalties lowered
# the mean code activation, L1 left dead units and KL none, every denoiser raised the PSNR above
# its noisy input (and, in the full setting, above the plain autoencoder's); your capstone model,
# when none of its functions fails its check, trained to npae's numbers; and the last line is your
# progress report, `npae.exercises.progress()`: how many exercises you have done, which fail (with
# the mistakes named) and which are not written yet.

# %%
assert err_l1 < 1e-8 and err_kl < 1e-8, (err_l1, err_kl)
assert err_kl_wrong > 1e-2, err_kl_wrong
assert all(result.passed for result in sparse_checks.values()), {k: str(v) for k, v in sparse_checks.items()}
assert dae_check.passed, str(dae_check)
off = mean_activation["no penalty"]
assert all(mean_activation[name] < off for name in sparse_models if name != "no penalty"), mean_activation
l1_name, kl_name = list(sparse_models)[1:]
assert dead_units[l1_name] > 0 and dead_units[kl_name] == 0, dead_units
for noise, row in psnr_table.items():
    assert row["denoiser"] > row["noisy"], (noise, row)
if not QUICK:
    assert all(mean_activation[name] < 0.5 * off for name in sparse_models if name != "no penalty"), mean_activation
    for noise, row in psnr_table.items():
        assert row["denoiser"] > row["plain AE"] and row["denoiser"] > row["noisy"] + 3.0, (noise, row)
if not npae.exercises.progress(names=list(mine)).failing:  # your model trained as npae's did
    assert your_model.loss_gap(npae_model) < 1e-6, your_model.loss_gap(npae_model)
print(npae.exercises.progress(chapter=3))
