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
# # 4. The contractive autoencoder
#
# A good code should not care about changes of the input that do not matter. The contractive
# autoencoder (Rifai et al., 2011) says so directly: it penalises how much the code $h(x)$
# moves when the input $x$ moves, measured by the squared Frobenius norm of the encoder's
# Jacobian,
#
# $$L = \frac{1}{N}\sum_{n=1}^{N}\Big[\ell\big(x_n, g(h(x_n))\big)
#   + \lambda \,\Big\lVert \frac{\partial h}{\partial x}(x_n) \Big\rVert_F^2\Big],
#   \qquad \Big\lVert \frac{\partial h}{\partial x} \Big\rVert_F^2 = \sum_{k}\sum_{d}
#   \Big(\frac{\partial h_k}{\partial x_d}\Big)^2 .$$
#
# The penalty alone would make $h$ constant; the reconstruction term alone lets $h$ react to
# everything. Together they ask for a code that is flat in most directions and sensitive only
# along the few directions in which the training data actually vary.
#
# In this chapter you will
#
# 1. derive the penalty in closed form for a one-layer encoder (Rifai et al.'s formula), then
#    the exact recurrence for an encoder of any depth, and its backward pass, which needs the
#    **second** derivative $f''$ of the activations;
# 2. check numerically that the closed form, the recurrence (`model.jacobian`) and finite
#    differences of `model.transform` agree, and that the "one-layer formula applied to a deep
#    encoder" does not;
# 3. compare the Jacobian **singular-value spectra** of a contractive and a plain autoencoder,
#    and measure how much their codes move under small input perturbations, in random
#    directions and along the data;
# 4. gradient-check the contractive model.
#
# In the **"your turn"** cells you write the one-layer penalty, its gradient and the deep
# recurrence yourself; `npae.exercises.check` compares each with npae's own and with central
# differences, and names the mistake if there is one (a forgotten $f''$ term, a square left out,
# a sum over the wrong axis).
#
# `NPAE_QUICK=1` in the environment shrinks every size so that the notebook finishes in a minute
# or less on two cores (the test suite runs it that way); the numbers quoted in the text are from
# the full setting.

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
from npae.activations import get_activation
from npae.gradcheck import check_model

QUICK = os.environ.get("NPAE_QUICK") == "1"
N_TRAIN = 1000 if QUICK else 5000  # training images (the embedded subset has 5,000)
N_EVAL = 100 if QUICK else 300  # test images whose Jacobians we examine
EPOCHS = 3 if QUICK else 30
SEED = 0
your_turn = {}  # exercise name -> the result of npae.exercises.check for each "your turn" cell

npae.set_backend("numpy")
rng = np.random.default_rng(SEED)

X_train, _ = npae.datasets.load_embedded("train")
X_test, y_test = npae.datasets.load_embedded("test")
X_train = X_train[:N_TRAIN]  # the file is already shuffled
X_eval = X_test[:N_EVAL]
print("train", X_train.shape, "evaluation", X_eval.shape)

# %% [markdown]
# ## 4.1 One layer: Rifai's closed form
#
# For a one-layer sigmoid encoder $h = \sigma(z)$, $z = xW + b$ with $W \in \mathbb{R}^{D\times K}$,
# the chain rule gives each Jacobian entry as the slope of unit $k$ times the weight that connects
# pixel $d$ to it,
#
# $$\frac{\partial h_k}{\partial x_d} = \sigma'(z_k)\, W_{dk} = h_k(1 - h_k)\, W_{dk},$$
#
# so the Jacobian is $W^\top$ with row $k$ scaled by $h_k(1-h_k)$, and its squared norm needs no
# $K\times D$ matrix at all:
#
# $$\Big\lVert \frac{\partial h}{\partial x} \Big\rVert_F^2
#   = \sum_{k=1}^{K} \big(h_k(1-h_k)\big)^2 \sum_{d=1}^{D} W_{dk}^2 .$$
#
# The column norms $\sum_d W_{dk}^2$ are computed once per batch, after which each example costs
# $O(K)$. The formula also shows the two ways a unit can become contractive: a small weight
# vector, or saturation ($h_k$ near 0 or 1, where the slope $h_k(1-h_k)$ vanishes).
#
# ### Your turn: the one-layer penalty and its gradient
#
# Write the penalty for any activation $f$ (the slope $\sigma'(z_k) = h_k(1-h_k)$ above becomes
# $f'(z_k)$), averaged over the batch: $P = \frac1N\sum_n \sum_k f'(z_{nk})^2 \sum_d W_{dk}^2$.
# Then differentiate $\lambda P$ twice over: with respect to $W$ with $z$ held fixed, and with
# respect to $z$ with $W$ held fixed. The second one is where the model's backward pass meets
# the penalty; it needs $f''$ (your chapter 2 exercise; here `activation.d2f`).

# %%
def contractive_penalty(W, z, activation):
    """P = mean_n Σ_k f′(z_nk)² Σ_d W_dk², a 0-d array."""
    xp = array_namespace(W)
    # BEGIN SOLUTION
    column_norms = xp.sum(W * W, axis=0)  # (K,)
    slope = activation.df(z)  # (N, K)
    return xp.mean(xp.sum(slope * slope * column_norms, axis=1))
    # END SOLUTION


your_turn["contractive_penalty"] = npae.exercises.check("contractive_penalty", contractive_penalty)
print(your_turn["contractive_penalty"])

# %%
def contractive_penalty_grad(W, z, activation, weight):
    """∂(λP)/∂W (D, K) with z fixed, and ∂(λP)/∂z (N, K) with W fixed."""
    xp = array_namespace(W)
    # BEGIN SOLUTION
    slope = activation.df(z)
    dW = 2.0 * weight * W * xp.mean(slope * slope, axis=0)
    dz = (2.0 * weight / z.shape[0]) * slope * activation.d2f(z) * xp.sum(W * W, axis=0)
    return dW, dz
    # END SOLUTION


your_turn["contractive_penalty_grad"] = npae.exercises.check("contractive_penalty_grad", contractive_penalty_grad)
print(your_turn["contractive_penalty_grad"])

# %% [markdown]
# Let us check it on a small float64 model trained for a couple of epochs: the closed form from
# `transform` and the weight matrix, the exact Jacobian from `model.jacobian`, and central
# differences of `transform` itself, $\big(h(x + \epsilon e_d) - h(x - \epsilon
# e_d)\big)/2\epsilon$ for every pixel $d$.

# %%
def finite_difference_jacobian(model, x, eps=1e-6):
    """J[k, d] ≈ (h(x + eps·e_d) − h(x − eps·e_d)) / 2eps for one input x (D,), in float64."""
    steps = eps * np.eye(x.shape[0])
    return ((model.transform(x + steps) - model.transform(x - steps)) / (2 * eps)).T


def relative_difference(a, b):
    return float(np.linalg.norm(a - b) / (np.linalg.norm(a) + np.linalg.norm(b)))


X_small = X_train[:500].astype(np.float64)
one_layer = npae.ContractiveAutoencoder(hidden_sizes=(), latent_dim=16, latent_activation="sigmoid",
                                        contractive_weight=0.5, dtype="float64", epochs=2, random_state=SEED,
                                        verbose=0)
one_layer.fit(X_small, validation_data=X_eval.astype(np.float64))

X_check = X_eval[:20].astype(np.float64)
H1 = one_layer.transform(X_check)  # (20, 16)
W1 = npae.to_numpy(one_layer.parameters()["encoder.0.W"])  # (784, 16)
closed_form = ((H1 * (1 - H1)) ** 2 * (W1**2).sum(axis=0)).sum(axis=1)  # (20,)
J1 = one_layer.jacobian(X_check)  # (20, 16, 784)
exact = (J1**2).sum(axis=(1, 2))
J1_fd = np.stack([finite_difference_jacobian(one_layer, x) for x in X_check[:3]])

err_closed = relative_difference(closed_form, exact)
err_fd_one = relative_difference(J1[:3], J1_fd)
print("‖J‖² closed form:", np.round(closed_form[:4], 5))
print("‖J‖² jacobian(): ", np.round(exact[:4], 5))
print(f"closed form vs jacobian(): relative difference {err_closed:.1e}")
print(f"jacobian() vs finite differences of transform(): relative difference {err_fd_one:.1e}")

# %% [markdown]
# The two exact computations agree to rounding ($10^{-16}$), and the finite differences to about
# $10^{-9}$, the accuracy of a central difference. The model's own bookkeeping agrees too: with
# validation data, `history_["val_contractive"]` is $\lambda$ times the mean of $\lVert
# J\rVert_F^2$ over the validation set at the end of the last epoch.

# %%
H_val = one_layer.transform(X_eval.astype(np.float64))
closed_val = 0.5 * ((H_val * (1 - H_val)) ** 2 * (W1**2).sum(axis=0)).sum(axis=1).mean()
logged_val = one_layer.history_["val_contractive"][-1]
err_logged = abs(closed_val - logged_val) / abs(closed_val)
print(f"λ·mean ‖J‖², closed form {closed_val:.6f}; logged by the model {logged_val:.6f}")

# %% [markdown]
# ## 4.2 Deep encoders: the exact recurrence, and why its backward needs $f''$
#
# With more layers, $h_l = f_l(z_l)$, $z_l = h_{l-1}W_l + b_l$, $h_0 = x$, $h = h_L$, the Jacobian
# is a product of per-layer Jacobians, and its norm is no longer a sum over units. npae carries
# $T_l = \partial h_l/\partial x \in \mathbb{R}^{D\times H_l}$ (one matrix per example) forward
# through the encoder:
#
# $$T_1 = W_1 \odot f_1'(z_1), \qquad
#   T_l = \underbrace{(T_{l-1} W_l)}_{A_l} \odot f_l'(z_l) \quad (l = 2, \dots, L),
#   \qquad P = \lVert T_L \rVert_F^2,$$
#
# where $\odot f'(z_l)$ scales column $k$ by $f'(z_{lk})$ (a broadcast over the $D$ rows). This is
# forward-mode differentiation: it costs $O(D \sum_l H_{l-1} H_l)$ per example, $D$ times a
# forward pass, and is exact.
#
# ### Your turn: the recurrence
#
# Carry $T_l$ for a whole batch at once, as an array of shape $(N, D, H_l)$: one Jacobian per row.
# Start from layer 1 without building a $D\times D$ identity matrix. (`@` multiplies the last two
# axes and broadcasts the first; `xp.expand_dims(a, axis=1)` inserts the axis that makes an
# $(N, H)$ array broadcast over the $D$ rows.)

# %%
def contractive_jacobian(Ws, zs, activations):
    """T_L[n, d, j] = ∂h_L[n, j]/∂x[n, d], shape (N, D, H_L), by the forward recurrence."""
    xp = array_namespace(Ws[0])
    # BEGIN SOLUTION
    T = xp.expand_dims(Ws[0], axis=0) * xp.expand_dims(activations[0].df(zs[0]), axis=1)
    for W, z, activation in zip(Ws[1:], zs[1:], activations[1:]):
        T = (T @ W) * xp.expand_dims(activation.df(z), axis=1)
    return T
    # END SOLUTION


your_turn["contractive_jacobian"] = npae.exercises.check("contractive_jacobian", contractive_jacobian)
print(your_turn["contractive_jacobian"])

# %% [markdown]
# **Backward.** Write $G_l = \partial P/\partial T_l$, starting from $G_L = 2T_L$. From
# $T_l = A_l \odot f'(z_l)$ the gradient reaches three places:
#
# $$\frac{\partial P}{\partial A_l} = G_l \odot f'(z_l), \qquad
#   \frac{\partial P}{\partial z_{lk}} = f''(z_{lk}) \sum_{d} G_l[d, k]\, A_l[d, k],$$
#
# and from $A_l = T_{l-1}W_l$: a direct weight gradient $T_{l-1}^\top (\partial P/\partial A_l)$ and
# $G_{l-1} = (\partial P/\partial A_l)\, W_l^\top$. The middle term is the new one: the penalty
# depends on the *slopes* $f'(z_l)$, so moving $z_l$ changes it at the rate $f''(z_l)$. That extra
# $\partial P/\partial z_l$ is added to the ordinary gradient at layer $l$'s pre-activation and then
# flows into $W_l$, $b_l$ and all earlier layers through the usual dense backward. (For ReLU,
# $f'' = 0$ almost everywhere, so that path is dead and the penalty can only shrink the weights;
# smooth activations such as tanh, sigmoid or softplus suit it better.) The second derivatives
# live next to the first in `npae.activations` (`get_activation("sigmoid").d2f` is the $\sigma''$
# you wrote in chapter 2). The model's backward pass adds the penalty's two gradients where they
# meet the encoder:

# %%
print(inspect.getsource(npae.ContractiveAutoencoder._forward_backward))

# %% [markdown]
# Now a deep encoder, 784 → 64 (tanh) → 16 (sigmoid). We compare `jacobian` with finite
# differences, and with the tempting shortcut of applying the one-layer formula to the last
# layer only (as if $h_1$ were the input), which some implementations do.

# %%
deep = npae.ContractiveAutoencoder(hidden_sizes=(64,), latent_dim=16, activation="tanh",
                                   latent_activation="sigmoid", contractive_weight=0.5, dtype="float64", epochs=2,
                                   random_state=SEED, verbose=0)
deep.fit(X_small)

J_deep = deep.jacobian(X_check)  # (20, 16, 784)
J_deep_fd = np.stack([finite_difference_jacobian(deep, x) for x in X_check[:3]])
err_fd_deep = relative_difference(J_deep[:3], J_deep_fd)

H_deep = deep.transform(X_check)
W_last = npae.to_numpy(deep.parameters()["encoder.1.W"])  # (64, 16)
last_layer_only = ((H_deep * (1 - H_deep)) ** 2 * (W_last**2).sum(axis=0)).sum(axis=1)
exact_deep = (J_deep**2).sum(axis=(1, 2))
print(f"deep jacobian() vs finite differences: relative difference {err_fd_deep:.1e}")
print("‖J‖² exact (recurrence):     ", np.round(exact_deep[:5], 4))
print("one-layer formula, last layer:", np.round(last_layer_only[:5], 4))
ratio_shortcut = float(np.median(last_layer_only / exact_deep))
print(f"median ratio shortcut / exact: {ratio_shortcut:.2f}")

# %% [markdown]
# The recurrence matches finite differences. The shortcut is off by a large factor (here it
# overestimates the penalty about 3.7-fold; other weights can make it an underestimate), because
# it measures the sensitivity of the code to the *hidden layer*, not to the image: it ignores how
# strongly the first layer amplifies or damps each pixel. Penalising it does not make the code
# insensitive to the input.
#
# The recurrence is npae's reference for deep encoders (`npae.penalties.contractive`, selected by
# `contractive_method="recurrence"`). The default, `"auto"`, uses the closed form of 4.1 for one
# layer and, for deeper encoders, the cheaper by a cost model of the recurrence and the **Gram
# form** (`npae.penalties.gram`): a different exact algorithm, which carries
# $\partial z_L/\partial z_l$ from right to left and meets the input only through the
# $H_1\times H_1$ matrix $W_1^\top W_1$, so it never builds the $D$-wide Jacobian. Both give the
# same objective and gradients, to rounding:

# %%
loss_rec, grads_rec = deep.set_params(contractive_method="recurrence").loss_and_grad(X_check)
loss_gram, grads_gram = deep.set_params(contractive_method="gram").loss_and_grad(X_check)
deep.set_params(contractive_method="auto")
err_methods = max(relative_difference(grads_gram[k], grads_rec[k]) for k in grads_rec)
print(f"objective: recurrence {loss_rec:.10f}, Gram form {loss_gram:.10f}")
print(f"largest relative difference of a parameter gradient: {err_methods:.1e}")

# %% [markdown]
# ## 4.3 Jacobian spectra: contractive vs plain
#
# The Frobenius norm is the sum of the squared singular values of $J(x)$, $\lVert J\rVert_F^2 =
# \sum_i s_i^2$. The singular vectors with large $s_i$ are the input directions the code is
# sensitive to; Rifai et al. argued that a contractive model keeps only a few large ones, aligned
# with the data's local tangent directions, and flattens all the rest.
#
# Train two models that differ only in $\lambda$: a plain one ($\lambda = 0$) and a contractive one
# ($\lambda = 1$), both 784 → 64 sigmoid units → 784 with BCE, and compute the 64 singular values of
# $J(x)$ at each of the evaluation images.

# %%
common = {"hidden_sizes": (), "latent_dim": 64, "latent_activation": "sigmoid", "loss": "bce", "learning_rate": 3e-3,
          "batch_size": 128, "epochs": EPOCHS, "random_state": SEED, "verbose": 0}
models = {
    "plain (λ = 0)": npae.ContractiveAutoencoder(contractive_weight=0.0, **common),
    "contractive (λ = 1)": npae.ContractiveAutoencoder(contractive_weight=1.0, **common),
}
THRESHOLD = 0.1
spectra, rows = {}, []
for name, model in models.items():
    model.fit(X_train, validation_data=X_test)
    s = np.linalg.svd(model.jacobian(X_eval), compute_uv=False)  # (N_EVAL, 64), decreasing
    spectra[name] = s
    rows.append((name, s.mean(), s[:, 0].mean(), (s > THRESHOLD).sum(axis=1).mean(),
                 model.history_["val_reconstruction"][-1], (s**2).sum(axis=1).mean()))

print(f"{'model':<22} {'mean s':>7} {'top s':>6} {f's > {THRESHOLD}':>8} {'test BCE':>9} {'‖J‖²':>7}")
for name, mean_s, top_s, count, recon, frob in rows:
    print(f"{name:<22} {mean_s:7.3f} {top_s:6.2f} {count:8.1f} {recon:9.1f} {frob:7.2f}")
mean_singular = {row[0]: row[1] for row in rows}
count_above = {row[0]: row[3] for row in rows}

# %%
fig_spectra = npae.plotting.plot_singular_values(spectra)
fig_spectra.axes[0].axhline(THRESHOLD, color="grey", linestyle=":", linewidth=1)
fig_spectra.axes[0].set_title(f"Singular values of ∂h/∂x at {N_EVAL} test images (median, 10–90 % band)")
fig_spectra.axes[0].set_ylim(1e-4, 5)  # saturated units reach rounding level (1e-18); not of interest here
fig_spectra  # noqa: B018 (a notebook displays the value of a cell's last line)

# %% [markdown]
# The contractive model's spectrum lies below the plain model's at every index, and the gap
# widens along the spectrum: the largest singular value shrinks by a factor of about three
# (1.8 → 0.6 in the full setting), the tail by up to an order of magnitude, so fewer directions stay
# above the threshold (53 → 35 of 64) and $\lVert J\rVert_F^2$ falls sevenfold (24.7 → 3.6). The
# price in reconstruction is small: the test BCE rises by about 1.5 % (228.5 → 231.9 nats). The
# code now responds strongly to a few directions only. (The steep drop at the right end is
# units saturated for that image, whose slope $h(1-h)$ is nearly zero.)
#
# ## 4.4 Sensitivity to input perturbations
#
# The spectrum describes infinitesimal changes. A direct, finite test: perturb each evaluation
# image by $\delta$ with $\lVert\delta\rVert = 1$ (a root-mean-square change of $1/28 \approx
# 0.036$ per pixel) and measure the code's response $\lVert h(x + \delta) - h(x)\rVert /
# \lVert\delta\rVert$. Two kinds of direction:
#
# * **random**: $\delta$ uniform on the sphere, almost surely almost orthogonal to anything
#   image-like;
# * **along the data**: $\delta$ pointing from $x$ towards its nearest neighbour among the test
#   images, a crude estimate of a tangent direction of the data manifold.

# %%
def sensitivity(model, X, directions, radius=1.0):
    """Mean of ‖h(x + r·u) − h(x)‖ / r over rows, for unit directions u (N, D)."""
    delta = (radius * directions).astype(X.dtype)
    return float(np.mean(np.linalg.norm(model.transform(X + delta) - model.transform(X), axis=1) / radius))


random_dirs = rng.standard_normal(X_eval.shape)
random_dirs /= np.linalg.norm(random_dirs, axis=1, keepdims=True)
sq_dist = (X_eval**2).sum(1)[:, None] + (X_test**2).sum(1)[None, :] - 2 * X_eval @ X_test.T
sq_dist[np.arange(N_EVAL), np.arange(N_EVAL)] = np.inf  # not itself (X_eval = X_test[:N_EVAL])
data_dirs = X_test[np.argmin(sq_dist, axis=1)] - X_eval
data_dirs /= np.linalg.norm(data_dirs, axis=1, keepdims=True)

sens = {name: {"random": sensitivity(model, X_eval, random_dirs), "along data": sensitivity(model, X_eval, data_dirs)}
        for name, model in models.items()}
print(f"{'model':<22} {'random δ':>9} {'along data':>11} {'ratio':>6}")
for name, s in sens.items():
    print(f"{name:<22} {s['random']:9.3f} {s['along data']:11.3f} {s['along data'] / s['random']:6.2f}")

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
names = list(sens)
width = 0.38
for i, kind in enumerate(("random", "along data")):
    ax.bar(np.arange(len(names)) + (i - 0.5) * width, [sens[n][kind] for n in names], width, label=f"δ {kind}")
ax.set_xticks(np.arange(len(names)), names)
ax.set_ylabel(r"$\Vert h(x+\delta) - h(x)\Vert \,/\, \Vert\delta\Vert$")
ax.set_title(f"Code sensitivity, ‖δ‖ = 1, {N_EVAL} test images")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The contractive code moves much less under a random perturbation (0.066 against 0.175 in the
# full setting, about a third), and it gives up less of its response *along the data* (0.197
# against 0.308): the ratio "along data / random" grows from 1.8 to 3.0. That is the contractive
# autoencoder's promise in one number: the code stays sensitive to the changes that turn one
# garment into a neighbouring one and becomes insensitive to the rest.
#
# ## 4.5 Gradient check
#
# The hand-written backward with its $f''$ term is the part most likely to hide a bug, so check it
# for a deep encoder (two tanh layers and a sigmoid code) and for the one-layer case. A band of 20
# pixels keeps the check fast.

# %%
X_band = X_train[:8, 300:320]
checks = {
    "deep (6 tanh, 5 tanh, 3 sigmoid)": npae.ContractiveAutoencoder(
        hidden_sizes=(6, 5), latent_dim=3, activation="tanh", latent_activation="sigmoid", contractive_weight=0.5,
        random_state=SEED, verbose=0),
    "one layer (4 sigmoid)": npae.ContractiveAutoencoder(
        hidden_sizes=(), latent_dim=4, latent_activation="sigmoid", contractive_weight=0.5, random_state=SEED,
        verbose=0),
}
grad_checks = {name: check_model(model, X_band) for name, model in checks.items()}
for name, result in grad_checks.items():
    print(f"{name}:\n{result}\n")

# %% [markdown]
# ## 4.6 Capstone: a contractive autoencoder made of your functions
#
# Your one-layer penalty and its two partial derivatives now regularise a contractive autoencoder
# like section 4.1's (your Jacobian recurrence runs in its `jacobian()` and in deep encoders).
# `npae.exercises.assemble(functions, model="contractive", **params)` builds npae's
# `ContractiveAutoencoder` with your functions where npae's own code runs. Each of them is checked
# as it is plugged in, and for the first training steps every call is also computed by npae: the
# first function to disagree is named (here with a warning, so that you see what the mistake does
# to the loss curve; the default stops `fit`). An exercise whose cell still raises
# `NotImplementedError` runs npae's reference instead, and `summary()` says which pieces are
# yours. Below, your model and npae's train on the same images with the same hyperparameters and
# seed, in float64: with every function right, the two loss curves are the same to float rounding.

# %%
CAPSTONE_EPOCHS = 2 if QUICK else 10
capstone = dict(hidden_sizes=(), latent_dim=16, latent_activation="sigmoid", loss="bce", contractive_weight=0.1,
                learning_rate=3e-3 if QUICK else 1e-3, batch_size=64, epochs=CAPSTONE_EPOCHS, dtype="float64",
                random_state=SEED, verbose=0)
X_capstone, X_capstone_val = X_train[: 1000 if QUICK else 5000], X_test[:200]
mine = {"contractive_penalty": contractive_penalty, "contractive_penalty_grad": contractive_penalty_grad,
        "contractive_jacobian": contractive_jacobian}
your_model = npae.exercises.assemble(mine, model="contractive", **capstone)
your_model.on_disagreement = "warn"  # a wrong function: train on, and see what it does
your_model.fit(X_capstone, validation_data=X_capstone_val)
npae_model = npae.ContractiveAutoencoder(**capstone).fit(X_capstone, validation_data=X_capstone_val)
print(your_model.summary())
print(your_model.compare_with(npae_model))

shown = X_capstone_val[:8]
fig = npae.plotting.plot_model_comparison(
    {"npae": npae_model.history_, "yours": your_model.history_}, shown,
    {"npae": npae_model.reconstruct(shown), "yours": your_model.reconstruct(shown)}, title="Your contractive autoencoder against npae's")
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
# 1. **A linear encoder.** For $h = xW + b$ (no activation), show that $\lVert\partial h/\partial x\rVert_F^2$
#    is the same at every $x$, and name the familiar regulariser the penalty becomes. Confirm it
#    with `jacobian` of a contractive model with `latent_activation="identity"`.
# 2. **The most a sigmoid can amplify.** For a one-layer sigmoid encoder, find the constant $c$ in
# the bound $\lVert\partial h/\partial x\rVert_F^2 \le c\,\lVert W\rVert_F^2$, and the inputs at
# which it is attained. Check it on `one_layer`'s Jacobians.
# 3. **Where $f''$ vanishes.** Where is $\tanh''$ zero, and what does that mean for the penalty's
#    gradient at a unit with $z = 0$? Which parts of `contractive_penalty_grad` still push there?
# 4. **The trade-off.** Train contractive models with $\lambda \in \{0.1, 0.3, 1, 3, 10\}$ and plot
#    test reconstruction against the mean singular value. Where does the reconstruction start
#    to pay?
# 5. **ReLU.** Train with `activation="relu"` in a deep encoder. Which part of the penalty's
#    gradient disappears, and can the penalty still change which units are active?
# 6. **Denoising is contractive.** Alain & Bengio (2014) showed that a denoising autoencoder with
#    small Gaussian noise penalises the Jacobian of the whole reconstruction $g(h(x))$. Train a
#    `DenoisingAutoencoder` with the same architecture and measure its code sensitivity with
#    `sensitivity`. Is its *encoder* contractive too?

# %% [markdown]
# ## What must hold
#
# The claims of this chapter as assertions: the closed form, the recurrence, the model's logged
# penalty and finite differences agree; the Gram form agrees with the recurrence; the last-layer
# shortcut does not; the contractive model has smaller Jacobian singular values, fewer of them
# above the threshold, and a less sensitive code (and, in the full setting, a larger along-data /
# random sensitivity ratio); the gradient checks pass; your capstone model, when none of its
# functions fails its check, trained to npae's numbers; and the last line is your progress report,
# `npae.exercises.progress()`: how many exercises you have done, which fail (with the mistakes
# named) and which are not written yet.

# %%
plain_name, cae_name = list(models)
assert err_closed < 1e-10 and err_logged < 1e-10, (err_closed, err_logged)
assert err_fd_one < 1e-6 and err_fd_deep < 1e-6, (err_fd_one, err_fd_deep)
assert abs(loss_gram - loss_rec) <= 1e-12 * abs(loss_rec) and err_methods < 1e-12, (loss_gram, loss_rec, err_methods)
assert abs(ratio_shortcut - 1.0) > 0.5, ratio_shortcut
assert mean_singular[cae_name] < mean_singular[plain_name], mean_singular
assert count_above[cae_name] < count_above[plain_name], count_above
assert sens[cae_name]["random"] < sens[plain_name]["random"], sens
assert all(result.passed for result in grad_checks.values()), {k: str(v) for k, v in grad_checks.items()}
if not QUICK:
    assert mean_singular[cae_name] < 0.5 * mean_singular[plain_name], mean_singular
    ratio = {name: s["along data"] / s["random"] for name, s in sens.items()}
    assert ratio[cae_name] > ratio[plain_name], ratio
if not npae.exercises.progress(names=list(mine)).failing:  # your model trained as npae's did
    assert your_model.loss_gap(npae_model) < 1e-6, your_model.loss_gap(npae_model)
print(npae.exercises.progress(chapter=4))
