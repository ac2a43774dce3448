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
# # 1. An autoencoder from scratch
#
# An autoencoder is a network trained to copy its input to its output through a narrow middle
# layer, the **code**. Because the code has fewer numbers than the input, the network cannot copy
# blindly: it has to find the few directions along which the data actually vary.
#
# In this chapter you will
#
# 1. derive the backward pass of a dense layer, $z = xW + b$, by hand, read the three lines of
#    npae that implement it, and verify them against a numerical derivative;
# 2. train a one-hidden-layer autoencoder on a 5,000-image subset of Fashion-MNIST that ships
#    with npae, and read its loss curves and reconstructions;
# 3. prove to yourself that a **linear** autoencoder trained with squared error finds the same
#    subspace as principal component analysis (PCA), by measuring the principal angles between
#    the two.
#
# Along the way you write the pieces yourself: each **"your turn"** cell holds a function to fill
# in (in your copy of the notebook its body is `raise NotImplementedError`) and, under it,
# `npae.exercises.check(name, fn)`, which runs your function on fresh random inputs, compares it
# with npae's own and central differences, and names the mistake if there is one (a transposed
# product, a missing $1/N$, a forgotten $f'$) without printing the answer.
# `print(npae.exercises.describe(name))` states each task in full.
#
# The full setting takes a few minutes on a 2-core laptop CPU (without the capstone of section
# 1.4 it took 73 s on a busy 2-core server; a faster BLAS or more cores shorten it). Setting the environment variable
# `NPAE_QUICK=1` shrinks every size so the notebook finishes in a minute or less on two
# cores (that is how the test
# suite runs it): 2,000 images, a few epochs and a larger step, enough for the same pictures;
# the figures quoted in the text are from the full setting.

# %%
import inspect
import os

import matplotlib.pyplot as plt
import numpy as np
from array_api_compat import array_namespace
from scipy.linalg import subspace_angles
from sklearn.decomposition import PCA

import npae
import npae.datasets
import npae.exercises
import npae.plotting
from npae.gradcheck import check_layer, numerical_gradient, relative_error
from npae.layers import Activation, Dense

QUICK = os.environ.get("NPAE_QUICK") == "1"
N_TRAIN = 2000 if QUICK else 5000  # training images (the embedded subset has 5,000)
EPOCHS = 4 if QUICK else 30  # epochs for the non-linear autoencoder
LEARNING_RATE = 3e-3 if QUICK else 1e-3  # a larger step and smaller batches make up for the few QUICK epochs
BATCH_SIZE = 64 if QUICK else 128
LINEAR_EPOCHS = 15 if QUICK else 100  # epochs for the linear autoencoder
SEED = 0
your_turn = {}  # exercise name -> the result of npae.exercises.check for each "your turn" cell


reveal = npae.exercises.reveal  # npae's code for an exercise, once yours has passed its check

npae.set_backend("numpy")
rng = np.random.default_rng(SEED)

# %% [markdown]
# ## 1.1 The dense layer and its backward pass
#
# A dense (fully connected) layer maps a batch of $N$ row vectors $x \in \mathbb{R}^{N\times D}$
# to $z \in \mathbb{R}^{N\times H}$ with a weight matrix $W \in \mathbb{R}^{D\times H}$ and a bias
# $b \in \mathbb{R}^{H}$:
#
# $$z_{nj} = \sum_{i} x_{ni} W_{ij} + b_j, \qquad z = xW + b.$$
#
# Training needs the gradient of a scalar loss $L$ with respect to $W$, $b$ and (to keep going
# backwards through earlier layers) $x$. Suppose the layer above has already handed us
# $g = \partial L / \partial z$, one number per entry of $z$. The chain rule sums over every
# $z_{nk}$ that a parameter touches:
#
# $$\frac{\partial L}{\partial W_{ij}} = \sum_{n,k} g_{nk}\,\frac{\partial z_{nk}}{\partial W_{ij}}, \qquad
#   \frac{\partial L}{\partial b_j} = \sum_{n,k} g_{nk}\,\frac{\partial z_{nk}}{\partial b_j}, \qquad
#   \frac{\partial L}{\partial x_{ni}} = \sum_{m,k} g_{mk}\,\frac{\partial z_{mk}}{\partial x_{ni}} .$$
#
# Work out each $\partial z/\partial(\cdot)$ from $z_{nk} = \sum_i x_{ni} W_{ik} + b_k$: most of
# them are zero (which ones survive?), and each sum collapses to one index. Then write the result
# as a matrix product. A useful sanity check is the shapes: $\partial L/\partial W$ must be
# $D\times H$ like $W$ and $\partial L/\partial x$ must be $N\times D$ like $x$; only one product
# of $x$, $g$, $W$ and their transposes has each shape. The sum over $n$ is why a batch gradient
# is a *sum* of per-example gradients.
#
# <details><summary>Hint: the last step (open it after you have tried)</summary>
#
# $$\frac{\partial L}{\partial W_{ij}} = \sum_n g_{nj}\, x_{ni} = (x^\top g)_{ij}, \qquad
#   \frac{\partial L}{\partial b_j} = \sum_n g_{nj}, \qquad
#   \frac{\partial L}{\partial x_{ni}} = \sum_j g_{nj} W_{ij} = (g W^\top)_{ni}.$$
#
# </details>
#
# ### Your turn: the dense layer
#
# Write the forward pass and the backward pass, with array operations only (no loop over rows).
# `array_namespace(x)` returns the array library `x` belongs to (NumPy here, CuPy on a GPU), so
# the same code runs everywhere. The check runs your function on fresh random inputs of two
# shapes, in float64 and float32, and compares it with npae's layer and with central
# differences; a wrong answer is named (a transposed product, a sum over the wrong axis, a
# forgotten bias), never shown.

# %%
def dense_forward(x, W, b):
    """z = x W + b for a batch x (N, D), W (D, H), b (H,)."""
    # BEGIN SOLUTION
    return x @ W + b
    # END SOLUTION


your_turn["dense_forward"] = npae.exercises.check("dense_forward", dense_forward)
print(your_turn["dense_forward"])

# %%
def dense_backward(x, W, b, grad_out):
    """∂L/∂x, ∂L/∂W, ∂L/∂b of z = x W + b, given grad_out = ∂L/∂z (N, H)."""
    xp = array_namespace(x)
    # BEGIN SOLUTION
    return grad_out @ W.T, x.T @ grad_out, xp.sum(grad_out, axis=0)
    # END SOLUTION


your_turn["dense_backward"] = npae.exercises.check("dense_backward", dense_backward)
print(your_turn["dense_backward"])

# %% [markdown]
# Once your `dense_backward` passes, the next cell shows npae's implementation; `backward` sits
# right under `forward`.

# %%
reveal("dense_backward", Dense.forward, Dense.backward)

# %% [markdown]
# After a guard (`_require_forward` raises a clear error if `forward` has not cached an $x$ yet),
# `backward` is the three formulas you derived, one line each, the last one's result handed to the
# layer below.
#
# The parameter gradients are **added** into `grads`, which `zero_grad()` fills with zeros before
# each step: a parameter reached twice (chapter 4's contractive penalty reaches $W$ a second time)
# simply collects both contributions. The flag `input_grad=False` skips the third product and
# returns `None`. The first layer of a network is fed the data, and nobody needs the gradient of
# the data, so the models pass `input_grad=False` there, just as autograd computes no gradient for
# an input that does not require one.
#
# Let us run it on a tiny example, $N = 5$, $D = 4$, $H = 3$, in float64, with a random upstream
# gradient $g$. The scalar being differentiated is $L = \sum_{n,j} g_{nj} z_{nj}$, whose
# gradient with respect to $z$ is exactly $g$.

# %%
layer = Dense(4, 3, rng=SEED, dtype="float64")
x = npae.asarray(rng.standard_normal((5, 4)), dtype="float64")
g = npae.asarray(rng.standard_normal((5, 3)), dtype="float64")

z = layer.forward(x)
layer.zero_grad()
grad_x = layer.backward(g)

# Your three formulas against npae's layer (once your dense_backward passes its check).
if "dense_backward" in npae.exercises.progress(names=["dense_backward"]).passed:
    mine_x, mine_W, mine_b = dense_backward(x, layer.params["W"], layer.params["b"], g)
    print("your dL/dW matches layer.grads['W']:", np.allclose(npae.to_numpy(mine_W), npae.to_numpy(layer.grads["W"])))
    print("your dL/db matches layer.grads['b']:", np.allclose(npae.to_numpy(mine_b), npae.to_numpy(layer.grads["b"])))
    print("your dL/dx matches backward's return:", np.allclose(npae.to_numpy(mine_x), npae.to_numpy(grad_x)))
else:
    print("Once your dense_backward passes its check, this cell compares it with npae's layer.")

# On a second layer: two backward passes add up, and input_grad=False returns no data gradient.
twice = Dense(4, 3, rng=SEED, dtype="float64")
twice.forward(x)
twice.zero_grad()
twice.backward(g)
skipped = twice.backward(g, input_grad=False)
doubled = np.allclose(npae.to_numpy(twice.grads["W"]), 2 * npae.to_numpy(layer.grads["W"]))
print("backward(g, input_grad=False) returns", skipped, "| two backward passes give twice one pass's grads['W']:",
      doubled)

# %% [markdown]
# Agreeing with our own algebra proves little if the algebra is wrong. An independent check is
# the **central difference**: nudge one entry of $W$ by $\pm h$ and watch $L$ move,
#
# $$\frac{\partial L}{\partial W_{ij}} \approx \frac{L(W_{ij} + h) - L(W_{ij} - h)}{2h},$$
#
# and compare the two with the norm-wise relative error
# $\lVert a - n\rVert / (\lVert a\rVert + \lVert n\rVert)$. (Chapter 2 is about why exactly this
# formula and $h = 10^{-6}$.)

# %%
xp = npae.get_backend().xp


def L():
    return xp.sum(g * layer.forward(x))


numeric_W = numerical_gradient(L, layer.params["W"])
err_W = relative_error(layer.grads["W"], numeric_W)
print(f"relative error of dL/dW: {err_W:.2e}")

# npae.gradcheck.check_layer does the same for every parameter and for the input at once.
dense_check = check_layer(Dense(4, 3, rng=SEED, dtype="float64"), x)
print(dense_check)

# %% [markdown]
# Errors around $10^{-10}$ mean the analytic gradient is right to about ten digits; a wrong
# formula gives errors of order one.
#
# An activation layer $h = f(z)$ applied entry by entry has no parameters; its backward pass is
# $\partial L/\partial z = \partial L/\partial h \odot f'(z)$, one multiplication (skipped, like
# Dense's data gradient, when `input_grad=False`). It needs each activation's derivative:
#
# $$\sigma(z) = \frac{1}{1 + e^{-z}},\quad \tanh z,\quad \mathrm{relu}(z) = \max(z, 0).$$
#
# ### Your turn: three derivatives
#
# Write $f'(z)$ for each, entry by entry. Express it through $f$ itself where you can, and make
# it exact for large $\lvert z\rvert$ too: the check also feeds $z = \pm 40$ and $\pm 800$, where
# $e^{800}$ overflows float64. ReLU's inputs avoid the kink at $0$.

# %%
def sigmoid_derivative(z):
    """σ′(z), element by element."""
    xp = array_namespace(z)
    # BEGIN SOLUTION
    e = xp.exp(-xp.abs(z))  # σ′ is even, and e^(−|z|) never overflows
    return e / (1.0 + e) ** 2
    # END SOLUTION


your_turn["sigmoid_derivative"] = npae.exercises.check("sigmoid_derivative", sigmoid_derivative)
print(your_turn["sigmoid_derivative"])

# %%
def tanh_derivative(z):
    """tanh′(z), element by element."""
    xp = array_namespace(z)
    # BEGIN SOLUTION
    t = xp.tanh(z)
    return 1.0 - t * t
    # END SOLUTION


your_turn["tanh_derivative"] = npae.exercises.check("tanh_derivative", tanh_derivative)
print(your_turn["tanh_derivative"])

# %%
def relu_derivative(z):
    """relu′(z), element by element (z is never exactly 0 here)."""
    xp = array_namespace(z)
    # BEGIN SOLUTION
    return xp.astype(z > 0, z.dtype)
    # END SOLUTION


your_turn["relu_derivative"] = npae.exercises.check("relu_derivative", relu_derivative)
print(your_turn["relu_derivative"])

# %% [markdown]
# npae's `Activation` layer multiplies by the activation object's `df`:

# %%
print(inspect.getsource(Activation.backward))
z_off_kink = npae.asarray(rng.standard_normal((5, 3)) + 0.5, dtype="float64")
tanh_check = check_layer(Activation("tanh"), z_off_kink)
print(tanh_check)

# %% [markdown]
# ## 1.2 An autoencoder on Fashion-MNIST
#
# Stack the pieces. The encoder maps an image $x \in [0,1]^{784}$ to a code
# $c \in \mathbb{R}^{K}$, the decoder maps the code back to 784 **logits** $y$:
#
# $$h = \mathrm{relu}(xW_1 + b_1),\quad c = hW_2 + b_2,\quad
#   h' = \mathrm{relu}(cW_3 + b_3),\quad y = h'W_4 + b_4 .$$
#
# Pixels lie in $[0, 1]$, so we score a reconstruction with the Bernoulli cross-entropy,
# written on logits so that it never takes the log of a rounded probability:
#
# $$\ell(x, y) = \sum_d \big[\operatorname{softplus}(y_d) - x_d y_d\big].$$
#
# (Expand $-[x\log\sigma(y) + (1-x)\log(1-\sigma(y))]$ with
# $\log\sigma(y) = -\operatorname{softplus}(-y)$ and
# $\operatorname{softplus}(-y) = \operatorname{softplus}(y) - y$ to get it.) Its gradient
# $\partial\ell/\partial y_d$ is yours to derive: $\operatorname{softplus}(y) = \log(1 + e^{y})$,
# and its derivative is a function you have met above. The training loss is the batch mean of
# $\ell$; backward starts from $\partial\ell/\partial y$ divided by $N$ and runs the layers'
# `backward` in reverse order, the encoder's first layer with `input_grad=False`.
#
# <details><summary>Hint: the gradient (open it after you have tried)</summary>
#
# $$\frac{\partial \ell}{\partial y_d} = \sigma(y_d) - x_d .$$
#
# </details>
#
# ### Your turn: BCE on logits, its value and its gradient
#
# Return the per-row loss $\ell_n$ (summed over the $D$ pixels) and its gradient with respect to
# the logits. "Exact for every logit" is part of the task: the check feeds logits of $\pm 800$,
# where $\sigma(y)$ rounds to exactly 0 or 1 and $\log\sigma(y)$ would be $-\infty$; write
# softplus so that it cannot overflow.

# %%
def bce_with_logits(x, logits):
    """ℓ_n = Σ_d softplus(y_nd) − x_nd y_nd, one value per row (N,)."""
    xp = array_namespace(x)
    # BEGIN SOLUTION
    softplus = xp.maximum(logits, 0.0) + xp.log1p(xp.exp(-xp.abs(logits)))
    return xp.sum(softplus - x * logits, axis=1)
    # END SOLUTION


your_turn["bce_with_logits"] = npae.exercises.check("bce_with_logits", bce_with_logits)
print(your_turn["bce_with_logits"])

# %%
def bce_with_logits_grad(x, logits):
    """∂(Σ_n ℓ_n)/∂y (N, D)."""
    xp = array_namespace(x)
    # BEGIN SOLUTION
    e = xp.exp(-xp.abs(logits))
    sigmoid = xp.where(logits >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return sigmoid - x
    # END SOLUTION


your_turn["bce_with_logits_grad"] = npae.exercises.check("bce_with_logits_grad", bce_with_logits_grad)
print(your_turn["bce_with_logits_grad"])

# %% [markdown]
# That is all `Autoencoder` does:

# %%
print(inspect.getsource(npae.Autoencoder._forward_backward))

# %% [markdown]
# The gradients then go to the optimizer. npae's default is **Adam** (Kingma & Ba, 2015): for a
# parameter $\theta$ with gradient $g$ at step $t = 1, 2, \dots$ it keeps running averages of
# $g$ and $g^2$, corrects them for starting at zero, and takes a step whose size is set per
# entry by the recent gradient magnitudes:
#
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1)\,g, \quad v_t = \beta_2 v_{t-1} + (1-\beta_2)\,g^2, \quad
#   \hat m_t = \frac{m_t}{1-\beta_1^t}, \quad \hat v_t = \frac{v_t}{1-\beta_2^t}, \quad
#   \theta_t = \theta_{t-1} - \eta\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}.$$
#
# ### Your turn: one Adam update
#
# Return the new parameter and the two new moment arrays; leave the inputs unchanged.

# %%
def adam_step(param, grad, m, v, t, learning_rate, beta1, beta2, epsilon):
    """One Adam update of param; returns (param_new, m_new, v_new)."""
    xp = array_namespace(param)
    # BEGIN SOLUTION
    m_new = beta1 * m + (1.0 - beta1) * grad
    v_new = beta2 * v + (1.0 - beta2) * grad * grad
    m_hat = m_new / (1.0 - beta1**t)
    v_hat = v_new / (1.0 - beta2**t)
    return param - learning_rate * m_hat / (xp.sqrt(v_hat) + epsilon), m_new, v_new
    # END SOLUTION


your_turn["adam_step"] = npae.exercises.check("adam_step", adam_step)
print(your_turn["adam_step"])

# %% [markdown]
# npae's version, `npae.optimizers.Adam._update`, updates the arrays in place (shown once your
# `adam_step` passes):

# %%
reveal("adam_step", npae.optimizers.Adam._update)

# %% [markdown]
# The embedded subset holds 500 training and 100 test images of each of the ten classes.

# %%
X_train, y_train = npae.datasets.load_embedded("train")
X_test, y_test = npae.datasets.load_embedded("test")
X_train, y_train = X_train[:N_TRAIN], y_train[:N_TRAIN]
print("train", X_train.shape, X_train.dtype, "range", X_train.min(), X_train.max())
print("test ", X_test.shape)

ae = npae.Autoencoder(hidden_sizes=(256,), latent_dim=32, activation="relu", loss="bce",
                      learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE, epochs=EPOCHS, random_state=SEED,
                      verbose=0)
ae.fit(X_train, validation_data=X_test)
loss, val_loss = ae.history_["loss"], ae.history_["val_loss"]
print(f"epoch 1: loss {loss[0]:.1f}, val_loss {val_loss[0]:.1f}")
print(f"epoch {len(loss)}: loss {loss[-1]:.1f}, val_loss {val_loss[-1]:.1f}  (nats per image)")

# %% [markdown]
# Before trusting the training, check the gradient of the whole model once. `check_model`
# copies the model, casts the copy to float64 and compares every parameter's gradient with
# central differences. A tiny model keeps that quick (each entry costs two forward passes).

# %%
tiny = npae.Autoencoder(hidden_sizes=(6,), latent_dim=3, activation="tanh", loss="bce", random_state=SEED)
model_check = npae.gradcheck.check_model(tiny, X_train[:8, :20])
print(model_check)

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
epochs_axis = np.arange(1, len(loss) + 1)
ax.plot(epochs_axis, loss, marker="o", label="training loss")
ax.plot(epochs_axis, val_loss, marker="s", label="validation loss (test images)")
ax.set_xlabel("epoch")
ax.set_ylabel("BCE per image (nats)")
ax.set_title("Autoencoder 784-256-32-256-784 on Fashion-MNIST")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Both curves fall steeply for the first few epochs and then flatten. (The first training value
# lies above the validation one because it is averaged over the first epoch, while the weights
# were still poor; the validation loss is measured at the end of the epoch.) The validation curve
# stays close to the training curve: with 32 numbers per image and 5,000 images the model is far
# from memorising the training set. (BCE on grey levels never reaches zero: an image with pixel
# value $0.5$ contributes $\log 2$ nats even when reconstructed perfectly.)
#
# Now the reconstructions: one test image of each class on the top row, the decoder's
# $\sigma(y)$ below it.

# %%
class_names = npae.datasets.FASHION_MNIST_CLASSES
first_of_class = [int(np.flatnonzero(y_test == c)[0]) for c in range(10)]
originals = X_test[first_of_class]
reconstructions = ae.reconstruct(originals)

fig, axes = plt.subplots(2, 10, figsize=(12, 2.8))
for col in range(10):
    for row, images in enumerate((originals, reconstructions)):
        axes[row, col].imshow(images[col].reshape(28, 28), cmap="gray", vmin=0.0, vmax=1.0)
        axes[row, col].set_xticks([])
        axes[row, col].set_yticks([])
    axes[0, col].set_title(class_names[col], fontsize=8)
axes[0, 0].set_ylabel("input")
axes[1, 0].set_ylabel("output")
fig.tight_layout()
plt.show()

# %% [markdown]
# The reconstructions keep each garment's silhouette and its overall brightness but lose fine
# texture (stripes, logos, the laces of a sneaker): 32 numbers cannot store 784 pixels, so the
# network keeps what it can share across many images.
#
# ## 1.3 A linear autoencoder finds the PCA subspace
#
# Remove every non-linearity and use squared error. With centred data $X$ (mean subtracted), the
# autoencoder computes $\hat X = X W_e W_d$ (plus biases) with $W_e \in \mathbb{R}^{D\times K}$,
# $W_d \in \mathbb{R}^{K\times D}$, and minimises
#
# $$L(W_e, W_d) = \frac{1}{N}\,\lVert X - X W_e W_d \rVert_F^2 .$$
#
# The product $W_e W_d$ has rank at most $K$, and by the Eckart–Young theorem the best rank-$K$
# approximation of $X$ is its truncated SVD, $X V_K V_K^\top$, where the columns of $V_K$ are the
# top $K$ principal directions. Baldi & Hornik (1989) showed more: every local minimum of $L$ is a
# global one, and at it the rows of $W_d$ span exactly the span of $V_K$. They span it, they do
# not *equal* it: for any invertible $K\times K$ matrix $A$, $(W_eA)(A^{-1}W_d)$ is the same
# product, so the individual code units are an arbitrary mixture of principal components.
#
# The right way to compare two subspaces that are only defined up to such a mixing is through
# their **principal angles** $0 \le \theta_1 \le \dots \le \theta_K \le 90°$. With orthonormal
# bases $Q_1$, $Q_2$ of the two subspaces, $\cos\theta_k$ are the singular values of
# $Q_1^\top Q_2$. All angles zero means identical subspaces; `scipy.linalg.subspace_angles`
# computes them.
#
# Two things make the training converge quickly: centring the data (otherwise the decoder's
# bias and the mean direction compete with the principal directions early on) and a small
# Adam step ($10^{-3}$) for enough epochs (the quick setting takes $3\times10^{-3}$ and batches
# of 64 for its 15 epochs). We track the largest angle after every epoch with `partial_fit`,
# which runs exactly one epoch per call.
#
# With squared error the gradient that starts the backward pass is that of
# $\ell_n = \sum_d (\hat x_{nd} - x_{nd})^2$ (npae averages over the batch afterwards).
#
# ### Your turn: the squared error's gradient

# %%
def mse_grad(x, x_hat):
    """∂(Σ_n ℓ_n)/∂x̂ for ℓ_n = Σ_d (x̂_nd − x_nd)², shape (N, D)."""
    # BEGIN SOLUTION
    return 2.0 * (x_hat - x)
    # END SOLUTION


your_turn["mse_grad"] = npae.exercises.check("mse_grad", mse_grad)
print(your_turn["mse_grad"])

# %%
K = 8
X_mean = X_train.mean(axis=0)
X_centred = X_train - X_mean
pca = PCA(n_components=K).fit(X_centred)
V_K = pca.components_.T  # (D, K), orthonormal columns

linear = npae.Autoencoder(hidden_sizes=(), latent_dim=K, activation="identity", latent_activation="identity",
                          loss="mse", learning_rate=LEARNING_RATE, batch_size=BATCH_SIZE, random_state=SEED,
                          verbose=0)
decoder_angle, encoder_angle = [], []
for epoch in range(LINEAR_EPOCHS):
    linear.partial_fit(X_centred)
    params = linear.parameters()
    W_d = npae.to_numpy(params["decoder.0.W"])  # (K, D): its rows span the decoder's subspace
    W_e = npae.to_numpy(params["encoder.0.W"])  # (D, K)
    decoder_angle.append(np.degrees(subspace_angles(W_d.T, V_K)).max())
    encoder_angle.append(np.degrees(subspace_angles(W_e, V_K)).max())

angles = np.sort(np.degrees(subspace_angles(W_d.T, V_K)))
pca_error = float(((X_centred - pca.inverse_transform(pca.transform(X_centred))) ** 2).sum(axis=1).mean())
linear_error = float(linear.history_["loss"][-1])
print("principal angles, decoder vs PCA (degrees):", np.round(angles, 2))
print(f"largest angle: decoder {decoder_angle[-1]:.2f}°, encoder {encoder_angle[-1]:.2f}°")
print(f"squared error per image: linear autoencoder {linear_error:.3f}, PCA {pca_error:.3f}")

# %%
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.5))
ax0.semilogy(np.arange(1, LINEAR_EPOCHS + 1), decoder_angle, label="decoder rows $W_d$")
ax0.semilogy(np.arange(1, LINEAR_EPOCHS + 1), encoder_angle, label="encoder columns $W_e$")
ax0.set_xlabel("epoch")
ax0.set_ylabel("largest principal angle to PCA (°)")
ax0.set_title(f"Linear autoencoder, K = {K}")
ax0.legend()
ax1.bar(np.arange(1, K + 1), angles)
ax1.set_xlabel("k")
ax1.set_ylabel(r"$\theta_k$ (°)")
ax1.set_title("Final principal angles, decoder vs PCA")
fig.tight_layout()
plt.show()

# %% [markdown]
# The decoder's subspace swings onto the PCA subspace in about 25 epochs (about ten in the quick
# setting, with its larger step); after that its largest angle hovers between 1° and 3° (about 2°
# at the end of the full setting, about 3° in the quick one): the minibatch noise of Adam's steps
# keeps it from reaching zero. The largest angles belong to the last principal
# directions, whose variances are closest to those of the directions left out (the eigengap
# $\lambda_8 - \lambda_9$ is small), so the loss hardly cares which of them the decoder keeps.
#
# The encoder is much slower. A component of a column of $W_e$ that points along a direction in
# which the data hardly vary changes $XW_e$, and therefore the loss, hardly at all, so its
# gradient is tiny and it decays slowly. The *reconstruction*, which only depends on $W_e$
# through $XW_e$, is nonetheless almost as good as PCA's: compare the two squared errors above.

# %% [markdown]
# ## 1.4 Capstone: an autoencoder made of your functions
#
# Every piece of an autoencoder like section 1.2's is now something you have written: the dense
# layer's forward and backward passes, the ReLU derivative, the BCE and its gradient, and Adam's
# step. `npae.exercises.assemble(functions, model="autoencoder", **params)` builds npae's
# `Autoencoder` with your functions where npae's own code runs. Each of them is checked as it is
# plugged in, and for the first training steps every call is also computed by npae: the first
# function to disagree is named (here with a warning, so that you see what the mistake does to the
# loss curve; the default stops `fit`). An exercise whose cell still raises `NotImplementedError`
# runs npae's reference instead, and `summary()` says which pieces are yours. Below, your model
# and npae's train on the same images with the same hyperparameters and seed, in float64: with
# every function right, the two loss curves are the same to float rounding.

# %%
CAPSTONE_EPOCHS = 2 if QUICK else 10
capstone = dict(hidden_sizes=(64,), latent_dim=16, activation="relu", loss="bce", learning_rate=LEARNING_RATE,
                batch_size=BATCH_SIZE, epochs=CAPSTONE_EPOCHS, dtype="float64", random_state=SEED, verbose=0)
X_capstone, X_capstone_val = X_train[: 1000 if QUICK else 5000], X_test[:200]
mine = {"dense_forward": dense_forward, "dense_backward": dense_backward, "sigmoid_derivative": sigmoid_derivative,
        "tanh_derivative": tanh_derivative, "relu_derivative": relu_derivative, "mse_grad": mse_grad,
        "bce_with_logits": bce_with_logits, "bce_with_logits_grad": bce_with_logits_grad, "adam_step": adam_step}
your_model = npae.exercises.assemble(mine, model="autoencoder", **capstone)
your_model.on_disagreement = "warn"  # a wrong function: train on, and see what it does
your_model.fit(X_capstone, validation_data=X_capstone_val)
npae_model = npae.Autoencoder(**capstone).fit(X_capstone, validation_data=X_capstone_val)
print(your_model.summary())
print(your_model.compare_with(npae_model))

shown = X_capstone_val[:8]
fig = npae.plotting.plot_model_comparison(
    {"npae": npae_model.history_, "yours": your_model.history_}, shown,
    {"npae": npae_model.reconstruct(shown), "yours": your_model.reconstruct(shown)}, title="Your autoencoder against npae's")
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
# 1. **Count the parameters.** How many numbers does the non-linear autoencoder `ae` learn?
#    Work it out from the layer sizes 784 → 256 → 32 → 256 → 784 (every Dense layer has a
#    weight matrix and a bias), then count the entries of `ae.parameters()` to check yourself.
# 2. **The transpose convention.** PyTorch stores a weight matrix as $(H\times D)$ and computes
#    $z = xW^\top + b$. Derive $\partial L/\partial W$ and $\partial L/\partial x$ for that
#    convention. Which of npae's two matrix products change? Write `dense_backward` for that
#    convention and check it against `torch.autograd` or against central differences
#    (`npae.gradcheck.numerical_gradient`).
# 3. **The rank of a batch gradient.** For a single row ($N = 1$), $\partial L/\partial W$
#    is an outer product and so has rank one. What is the largest rank the batch gradient
#    $x^\top g$ can have for a batch of $N$ rows, in terms of $N$, $D$ and $H$? Test your formula
#    with `np.linalg.matrix_rank` on random $x$ and $g$ of a few shapes.
# 4. **Weight decay is not an L2 penalty under Adam.** Adding $\frac{\lambda}{2}\lVert\theta\rVert^2$
#    to the loss adds $\lambda\theta$ to the gradient, which Adam then divides by $\sqrt{\hat v}$
#    entry by entry. `optimizer="adamw"` instead shrinks every weight by $\eta\lambda\theta$ per
#    step *outside* Adam's scaling (decoupled weight decay, Loshchilov & Hutter, 2019; npae's
#    `AdamW` uses $\lambda = 0.01$), so it does not minimise the L2-regularised loss, and results
#    about that loss do not carry over. One such result: at every minimum of the linear
#    autoencoder's loss with an L2 penalty on both weights, $W_e = W_d^\top$ (Kunin et al., 2019).
#    Refit the linear autoencoder with `optimizer="adamw"`: does the encoder's largest principal
#    angle fall as fast as the decoder's now, and how far is $W_e$ from $W_d^\top$? Then derive
#    the fixed point of one AdamW step for a single weight with a constant gradient $g$, and
#    compare it with the minimiser of $gw + \frac{\lambda}{2}w^2$.
# 5. **Latent size.** Repeat section 1.3 with `K = 2` and `K = 20` and plot the final largest
#    angle against the eigengap $\lambda_K - \lambda_{K+1}$ (`pca.explained_variance_`).

# %% [markdown]
# ## What must hold
#
# The notebook ends by asserting what it claimed: the hand-written gradients agree with central
# differences, training lowered the loss, the linear autoencoder found the PCA subspace (within
# 10°, and within 1 % of PCA's error in the full setting), and your capstone model, when none of
# its functions fails its check, trained to npae's numbers. The last line is your progress report,
# `npae.exercises.progress()`: how many exercises you have done, which fail (with the mistakes
# named) and which are not written yet.

# %%
assert err_W < 1e-8, err_W
assert skipped is None and doubled
assert dense_check.passed, str(dense_check)
assert tanh_check.passed, str(tanh_check)
assert model_check.passed, str(model_check)
assert loss[-1] < loss[0] and val_loss[-1] < val_loss[0], (loss, val_loss)
assert max(angles) < 10.0, angles
assert linear_error < 1.05 * pca_error, (linear_error, pca_error)
if not QUICK:
    assert linear_error < 1.01 * pca_error, (linear_error, pca_error)
if not npae.exercises.progress(names=list(mine)).failing:  # your model trained as npae's did
    assert your_model.loss_gap(npae_model) < 1e-6, your_model.loss_gap(npae_model)
print(npae.exercises.progress(chapter=1))
