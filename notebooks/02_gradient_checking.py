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
# # 2. Gradient checking
#
# Every backward pass in npae is written by hand, and a hand-written derivative is wrong more
# often than one would like: a forgotten factor, a transpose, a sum over the wrong axis. Such a
# bug rarely crashes anything. The model still trains, only worse, and nobody notices. The cure
# is to compare each analytic gradient with a numerical one, computed from nothing but the
# forward pass.
#
# In this chapter you will learn
#
# 1. why the **central difference** is the right numerical derivative, and how to choose its step
#    $h$ from the trade-off between truncation error $O(h^2)$ and rounding error $O(\varepsilon/h)$,
#    which is also why checks run in float64 and not float32;
# 2. why npae compares gradients with a **norm-wise** relative error and not an element-wise one;
# 3. why ReLU's kink produces false alarms and how to avoid them;
# 4. how `npae.gradcheck` catches deliberately broken backward passes, and why it checks
#    $\sum G\odot\text{output}$ with a *random* $G$ instead of a plain sum;
# 5. how to check an entire `Autoencoder` and read the table it prints.
#
# In the **"your turn"** cells you write a backward pass and two second derivatives yourself, and
# `npae.exercises.check` compares them with npae's and with central differences, and names the
# mistake if there is one.
#
# `NPAE_QUICK=1` in the environment makes every size small (the test suite runs it that way).

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
from npae.activations import Sigmoid
from npae.gradcheck import check_gradients, check_layer, check_model, numerical_gradient, relative_error
from npae.layers import Activation, Dense, Sequential

QUICK = os.environ.get("NPAE_QUICK") == "1"
N_STEPS = 25 if QUICK else 61  # step sizes h in the error-versus-h sweep
N_POINTS = 50 if QUICK else 1000  # points at which the sweep differentiates the sigmoid
SEED = 0
your_turn = {}  # exercise name -> the result of npae.exercises.check for each "your turn" cell

npae.set_backend("numpy")
xp = npae.get_backend().xp
rng = np.random.default_rng(SEED)

# %% [markdown]
# ## 2.1 Central differences and the choice of $h$
#
# Taylor's theorem around $x$ gives
#
# $$f(x \pm h) = f(x) \pm h f'(x) + \tfrac{h^2}{2} f''(x) \pm \tfrac{h^3}{6} f'''(x) + O(h^4).$$
#
# The **forward difference** $\big(f(x+h) - f(x)\big)/h = f'(x) + \tfrac{h}{2}f''(x) + O(h^2)$
# is only first-order accurate. Subtracting the two expansions cancels the even terms, so the
# **central difference** is second-order accurate:
#
# $$\frac{f(x+h) - f(x-h)}{2h} = f'(x) + \frac{h^2}{6} f'''(x) + O(h^4).$$
#
# That suggests making $h$ tiny, but the computer evaluates $f$ with a relative rounding error of
# about the machine epsilon $\varepsilon$ ($2.2\times10^{-16}$ in float64, $1.2\times10^{-7}$ in
# float32). The difference of two such values carries an absolute error of order
# $\varepsilon\lvert f\rvert$, which the division by $2h$ magnifies. The total error is about
#
# $$E(h) \approx \underbrace{\frac{h^2}{6}\lvert f'''\rvert}_{\text{truncation}}
#   + \underbrace{\frac{\varepsilon \lvert f\rvert}{h}}_{\text{rounding}},$$
#
# smallest at $h^\ast = (3\varepsilon\lvert f\rvert/\lvert f'''\rvert)^{1/3} \sim
# \varepsilon^{1/3}$ where $E(h^\ast) \sim \varepsilon^{2/3}$: about $4\times10^{-11}$ for float64
# and $2\times10^{-5}$ for float32,
# *if* $f$ and $f'''$ are of order one. Let us measure it on the sigmoid (its exact
# derivative $\sigma(1-\sigma)$ is known) at many points $x \in [-3, 3]$, in both precisions.

# %%
sigmoid = Sigmoid()
x_points = np.linspace(-3.0, 3.0, N_POINTS)
exact = sigmoid.df(x_points)  # float64 reference
steps = np.logspace(-13, 0, N_STEPS)


def median_relative_error(dtype, h, scheme):
    # h must be a Python float: NumPy keeps float32 + float in float32, but a NumPy float64
    # scalar such as an entry of `steps` would silently promote the whole computation (NEP 50).
    h = float(h)
    x = x_points.astype(dtype)
    if scheme == "central":
        numeric = (sigmoid.f(x + h) - sigmoid.f(x - h)) / (2.0 * h)
    else:
        numeric = (sigmoid.f(x + h) - sigmoid.f(x)) / h
    return float(np.median(np.abs(numeric.astype(np.float64) - exact) / np.abs(exact)))


errors = {
    (dtype, scheme): np.array([median_relative_error(dtype, h, scheme) for h in steps])
    for dtype in ("float64", "float32")
    for scheme in ("central", "forward")
}
best = {key: (steps[np.argmin(err)], err.min()) for key, err in errors.items()}
for (dtype, scheme), (h_best, e_best) in best.items():
    print(f"{dtype} {scheme:>7} difference: best h = {h_best:.0e}, median relative error {e_best:.1e}")

# %%
fig, ax = plt.subplots(figsize=(7, 4.5))
colours = {"float64": "C0", "float32": "C3"}
for (dtype, scheme), err in errors.items():
    style = "-" if scheme == "central" else ":"
    ax.loglog(steps, np.maximum(err, 1e-17), style, color=colours[dtype], marker="." if scheme == "central" else None,
              label=f"{dtype}, {scheme}")
for dtype, eps in (("float64", np.finfo(np.float64).eps), ("float32", np.finfo(np.float32).eps)):
    ax.loglog(steps, eps / steps, "--", color=colours[dtype], alpha=0.4, lw=1)
ax.loglog(steps, steps**2 / 6, "k--", alpha=0.4, lw=1, label=r"$h^2/6$ and $\varepsilon/h$ guides")
ax.axvline(1e-6, color="grey", lw=0.8)
ax.text(1.3e-6, 3e-16, "npae's h = 1e-6", color="grey")
ax.set_ylim(1e-16, 10)
ax.set_xlabel("step h")
ax.set_ylabel("median relative error of f′")
ax.set_title("Finite differences of the sigmoid: truncation vs rounding")
ax.legend(loc="upper left", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Each solid curve is a V. To the right of its minimum the truncation error dominates and falls
# like $h^2$ (the slope of the black guide); to the left the rounding error dominates and grows
# like $\varepsilon/h$ (the dashed guides), with the jagged look of rounding noise. The dotted
# forward differences fall only like $h$ and bottom out much higher. On the far left the float32
# curve is flat at 1: there $x \pm h$ rounds back to $x$, the difference is exactly zero and all
# of $f'$ is lost. Both minima sit where the theory put them: in float64 the central difference
# reaches about $10^{-11}$ at $h \approx 10^{-5}$, and npae's $h = 10^{-6}$ still gives a few
# times $10^{-11}$. In float32 the best possible is about $10^{-5}$ at $h \approx 10^{-2}$, ten
# times *worse* than npae's tolerance of $10^{-6}$: a float32 gradient check cannot tell a correct
# gradient from a slightly wrong one. That is why `npae.gradcheck` refuses float32 arrays:

# %%
try:
    check_layer(Dense(3, 2, rng=SEED, dtype="float32"), npae.asarray(rng.standard_normal((4, 3)), dtype="float32"))
except TypeError as err:
    float32_message = str(err)
    print("TypeError:", float32_message)

# %% [markdown]
# ## 2.2 Which relative error?
#
# An absolute difference $\lvert a - n\rvert$ between the analytic gradient $a$ and the numerical
# one $n$ means nothing without a scale: $10^{-6}$ is a perfect match for a gradient of size
# $10^{3}$ and a total failure for one of size $10^{-8}$. The classic fix is an element-wise
# relative error,
#
# $$e_{\text{elem}} = \max_i \frac{\lvert a_i - n_i\rvert}{\max(\lvert a_i\rvert, \lvert n_i\rvert)},$$
#
# but it has a flaw. The numerical gradient carries an *absolute* rounding error of about
# $\varepsilon\lvert f\rvert/h \approx 10^{-10}$, whatever the size of the entry. An entry that is
# correctly $10^{-8}$ is then measured with 1% error, and the check fails although nothing is
# wrong. npae compares whole arrays instead:
#
# $$e = \frac{\lVert a - n\rVert}{\lVert a\rVert + \lVert n\rVert}\qquad(0 \text{ when both are } 0).$$
#
# Here is the situation in miniature: a dense layer whose input has one feature that is almost
# always zero (think of a pixel at the border of an image), so the row of $\partial L/\partial W$
# that belongs to that feature is tiny (chapter 1's `dense_backward` says why).

# %%
print(inspect.getsource(relative_error))

x_small = rng.standard_normal((6, 4))
x_small[:, 0] *= 1e-8  # feature 0 is nearly constant at zero
x_small = npae.asarray(x_small, dtype="float64")
G = npae.asarray(rng.standard_normal((6, 3)), dtype="float64")
dense = Dense(4, 3, rng=SEED, dtype="float64")


def weighted_output():
    return xp.sum(G * dense.forward(x_small))


dense.zero_grad()
dense.forward(x_small)
dense.backward(G)
analytic_W = npae.to_numpy(dense.grads["W"])
numeric_W = numerical_gradient(weighted_output, dense.params["W"])

elementwise = np.max(np.abs(analytic_W - numeric_W) / np.maximum(np.abs(analytic_W), np.abs(numeric_W)))
normwise = relative_error(analytic_W, numeric_W)
print("row 0 of dL/dW (analytic):", analytic_W[0])
print("row 0 of dL/dW (numeric): ", numeric_W[0])
print(f"element-wise relative error: {elementwise:.1e}   (fails a 1e-6 tolerance)")
print(f"norm-wise relative error:    {normwise:.1e}   (passes)")

# %% [markdown]
# The tiny row agrees to only a few digits, but that disagreement is of absolute size
# $10^{-10}$, invisible next to the other rows. The norm-wise error weighs every entry by the size
# of the whole gradient, which is what matters for training.
#
# The same weighting makes it blind to a *wrong* tiny entry. A wrong entry that should be large,
# or many wrong entries, move the norm; a wrong entry a hundred million times smaller than the
# rest moves it by a similarly tiny fraction and passes. Here is a dense layer whose backward pass
# flips the sign of row 0 of $\partial L/\partial W$, the row of the nearly-zero feature:

# %%
class TinyRowBugDense(Dense):
    """Broken on purpose: row 0 of dL/dW gets the wrong sign."""

    def backward(self, grad_out, input_grad=True):
        grad_x = super().backward(grad_out, input_grad)
        self.grads["W"][0, :] = -self.grads["W"][0, :]
        return grad_x


normwise_bug = check_layer(TinyRowBugDense(4, 3, rng=SEED, dtype="float64"), x_small)
print("norm-wise check of the sign-flipped tiny row:\n" + str(normwise_bug))

# %% [markdown]
# It passes, with an error of a few times $10^{-9}$: the flipped row is that small a part of the
# gradient's norm. For this case `npae.gradcheck`
# has a **per-entry** mode, `per_entry=True`. It scores every entry on its own as well,
#
# $$e_{\text{entry}} = \max\Big(\frac{\lVert a - n\rVert}{\lVert a\rVert + \lVert n\rVert},\;
#   \max_i \frac{\max\big(0,\ \lvert a_i - n_i\rvert - \delta\big)}{\lvert a_i\rvert + \lvert n_i\rvert}\Big),$$
#
# where $\delta$ is the rounding noise of the differences, so an entry counts only where $a$ and
# $n$ disagree by more than the arithmetic can explain; that is what the element-wise error above
# lacked. $\delta$ is 100 times the larger of $\varepsilon\lvert f\rvert/h$ and the median of
# $\lvert a_i - n_i\rvert$ over all entries (the median of a correct gradient's discrepancies
# measures the noise, and a few wrong entries cannot move it). The mode uses a fourth-order
# central difference with $h = 10^{-4}$, whose truncation error is negligible and whose noise is a
# hundred times lower than with $h = 10^{-6}$. It costs the same as the full check, and it names
# the worst entry of each array:

# %%
per_entry_bug = check_layer(TinyRowBugDense(4, 3, rng=SEED, dtype="float64"), x_small, per_entry=True)
per_entry_good = check_layer(Dense(4, 3, rng=SEED, dtype="float64"), x_small, per_entry=True)
print("per-entry check of the same bug:\n" + str(per_entry_bug))
print("\nper-entry check of the correct layer:\n" + str(per_entry_good))

# %% [markdown]
# The per-entry check fails the broken layer on `W` alone (its worst entry lies in row 0) and
# passes the correct one, tiny row included. Use the norm-wise check by default and the
# per-entry one when some inputs or parameters are much smaller than the rest.
#
# ## 2.3 Kinks: false alarms from ReLU
#
# $\mathrm{relu}(z) = \max(z, 0)$ has no derivative at $z = 0$, and npae's `ReLU.df` returns
# $1$ for $z > 0$ and $0$ otherwise. If an input lies within $h$ of the kink, the central
# difference straddles it and measures the slope of a chord, neither 0 nor 1:

# %%
h = 1e-6
z_near = 3e-7  # closer to the kink than h
chord = (max(z_near + h, 0.0) - max(z_near - h, 0.0)) / (2 * h)
print(f"at z = {z_near:g}: analytic relu'(z) = 1, central difference = {chord:.3f}")

z_kink = rng.standard_normal((4, 5))
z_kink[1, 2] = z_near
relu_fail = check_layer(Activation("relu"), npae.asarray(z_kink, dtype="float64"))
print(relu_fail)

# %% [markdown]
# One entry out of twenty was enough to fail the whole check. Nothing is wrong with the backward
# pass: the function is simply not differentiable there. The fix is to keep the inputs of a check
# at least a safe distance (npae's tests use $10^{-3} \gg h$) away from every kink:

# %%
z_safe = np.where(np.abs(z_kink) < 1e-3, np.sign(z_kink + 1e-12) * 1e-2, z_kink)
assert np.abs(z_safe).min() > 1e-3
relu_pass = check_layer(Activation("relu"), npae.asarray(z_safe, dtype="float64"))
print(relu_pass)

# %%
zs = np.linspace(-2.5 * h, 2.5 * h, 201)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(zs / h, np.maximum(zs, 0.0) / h, color="k", label="relu(z)")
stencil = np.array([z_near - h, z_near + h])
ax.plot(stencil / h, np.maximum(stencil, 0.0) / h, "o--", color="C3", label=f"chord, slope {chord:.2f}")
ax.plot([z_near / h - 1.5, z_near / h + 1.5], [z_near / h - 1.5, z_near / h + 1.5], ":", color="C0",
        label="tangent, slope 1")
ax.axvline(z_near / h, color="grey", lw=0.8)
ax.set_xlabel("z / h")
ax.set_ylabel("relu(z) / h")
ax.set_title("A central difference that straddles the kink")
ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# The two stencil points $z \pm h$ (red) lie on both sides of the kink, so the chord through them
# is flatter than the true slope at $z$ (blue). Smooth activations (tanh, sigmoid, softplus) have
# no such problem, which is why npae's model-level checks use them.
#
# Smooth activations have a second derivative too, and chapter 4 needs it: the contractive
# penalty depends on the slopes $f'(z)$, so its gradient contains $f''(z)$.
#
# ### Your turn: $\tanh''$ and $\sigma''$
#
# Differentiate $f'$ once more, and write the result through $f$ itself (as $f'$ was in chapter 1).
# The check compares your $f''$ with central differences of npae's $f'$.

# %%
def tanh_second_derivative(z):
    """tanh″(z), element by element."""
    xp = array_namespace(z)
    # BEGIN SOLUTION
    t = xp.tanh(z)
    return -2.0 * t * (1.0 - t * t)
    # END SOLUTION


your_turn["tanh_second_derivative"] = npae.exercises.check("tanh_second_derivative", tanh_second_derivative)
print(your_turn["tanh_second_derivative"])

# %%
def sigmoid_second_derivative(z):
    """σ″(z), element by element."""
    xp = array_namespace(z)
    # BEGIN SOLUTION
    e = xp.exp(-xp.abs(z))
    s = xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))  # σ(z), without overflow
    return s * (1.0 - s) * (1.0 - 2.0 * s)
    # END SOLUTION


your_turn["sigmoid_second_derivative"] = npae.exercises.check("sigmoid_second_derivative", sigmoid_second_derivative)
print(your_turn["sigmoid_second_derivative"])

# %% [markdown]
#
# ## 2.4 Catching broken backward passes
#
# ### Your turn: a dense layer and its activation
#
# First a backward pass that is right. Chapter 1 had the two pieces; now chain them: the forward
# pass computed $h = f(z)$, $z = xW + b$, and you are given $\partial L/\partial h$ and the
# activation object (with `f`, `df` $= f'$ and `d2f` $= f''$). The checker knows the classic slips
# of this exercise (a forgotten $f'$, $f'$ applied to the wrong array, a transposed product) and
# names the one you made.

# %%
def dense_activation_backward(x, W, b, grad_out, activation):
    """∂L/∂x, ∂L/∂W, ∂L/∂b of h = f(x W + b), given grad_out = ∂L/∂h."""
    xp = array_namespace(x)
    # BEGIN SOLUTION
    grad_z = grad_out * activation.df(x @ W + b)
    return grad_z @ W.T, x.T @ grad_z, xp.sum(grad_z, axis=0)
    # END SOLUTION


your_turn["dense_activation_backward"] = npae.exercises.check("dense_activation_backward",
                                                              dense_activation_backward)
print(your_turn["dense_activation_backward"])

# %% [markdown]
# A checker that never fails proves nothing, so let us break things on purpose. `check_layer`
# computes the scalar $L = \sum_{n,j} G_{nj}\,\mathrm{layer}(x)_{nj}$ with a random $G$, calls
# `backward(G)`, and compares the returned input gradient and the accumulated parameter
# gradients with central differences:

# %%
print(inspect.getsource(check_layer))

# %% [markdown]
# **Bug 1: a forgotten $f'$.** The activation passes the upstream gradient through unchanged, as if
# $f$ were the identity.

# %%
class ForgetfulActivation(Activation):
    """Broken on purpose: dL/dz = dL/dh, the factor f′(z) forgotten."""

    def backward(self, grad_out):
        return grad_out


def small_net(activation_layer):
    return Sequential([Dense(5, 4, rng=1, dtype="float64"), activation_layer, Dense(4, 3, rng=2, dtype="float64")])


x_net = npae.asarray(rng.standard_normal((7, 5)), dtype="float64")
print("correct tanh:\n" + str(check_layer(small_net(Activation("tanh")), x_net)))
forgetful = check_layer(small_net(ForgetfulActivation("tanh")), x_net)
print("\nforgotten f':\n" + str(forgetful))

# %% [markdown]
# The table also says *where* the bug is: the parameters of the second dense layer (`1.W`, `1.b`)
# are still right, because their gradients are computed before the signal reaches the broken
# activation; everything below it (`0.W`, `0.b`, the input) is wrong.
#
# **Bug 2: a missing transpose.** With a square weight matrix, the product without the transpose
# has the same shape as the correct one, so nothing crashes. The broken layer lets `Dense.backward` add the (correct)
# parameter gradients, asking it for no data gradient (`input_grad=False`), and returns its own,
# wrong one.

# %%
class TransposeBugDense(Dense):
    """Broken on purpose: returns g W instead of g Wᵀ (shapes agree when W is square)."""

    def backward(self, grad_out, input_grad=True):
        super().backward(grad_out, input_grad=False)  # dL/dW and dL/db, correct
        return grad_out @ self.params["W"]  # broken: the wrong product (see the markdown above)


transpose_bug = check_layer(TransposeBugDense(4, 4, rng=SEED, dtype="float64"),
                            npae.asarray(rng.standard_normal((6, 4)), dtype="float64"))
print(transpose_bug)

# %% [markdown]
# **Bug 3: a forgotten chain rule, and why $G$ is random.** This activation returns $f'(z)$ itself
# instead of $G\odot f'(z)$. If we checked the plain sum $L = \sum \mathrm{layer}(x)$, the upstream
# gradient would be all ones and the bug would be invisible, because $1\odot f'(z) = f'(z)$:

# %%
class ChainlessActivation(Activation):
    """Broken on purpose: dL/dz = f′(z), the upstream gradient ignored."""

    def backward(self, grad_out):
        return self.activation.df(self._z)


chainless = ChainlessActivation("tanh")
z_in = npae.asarray(rng.standard_normal((5, 4)), dtype="float64")
chainless.forward(z_in)
grad_from_ones = chainless.backward(xp.ones((5, 4), dtype=xp.float64))
plain_sum = check_gradients(lambda: xp.sum(chainless.forward(z_in)), {"input": z_in}, {"input": grad_from_ones})
random_g = check_layer(ChainlessActivation("tanh"), z_in)
print("checked with the plain sum (G = 1):\n" + str(plain_sum))
print("\nchecked with a random G (check_layer):\n" + str(random_g))

# %% [markdown]
# The same goes for transposition and broadcasting slips that happen to be symmetric under an
# all-ones $G$. A random $G$ costs nothing and makes every entry of the upstream gradient
# matter.
#
# ## 2.5 Checking a whole autoencoder
#
# `check_model(model, X)` deep-copies the model, casts the copy to float64 (so you may pass a
# float32 model), builds it on `X` if needed, and checks `loss_and_grad` for every parameter
# array. A small model on a few images keeps the cost low: every parameter entry costs two
# forward passes. We use tanh hidden units so that no unit sits on a kink.

# %%
X_images, _ = npae.datasets.load_embedded("test")
n_rows, n_pixels = (6, 30) if QUICK else (16, 120)
X_check = X_images[:n_rows, 300:300 + n_pixels]  # a band of pixels through the middle of the image
model = npae.Autoencoder(hidden_sizes=(8,), latent_dim=3, activation="tanh", loss="bce", random_state=SEED,
                         verbose=0)
model_result = check_model(model, X_check)
print(model_result)

# %% [markdown]
# Every parameter array agrees to a few times $10^{-8}$ or better, far below the $10^{-6}$
# tolerance. For a model too big for one difference per entry, `directional=True` compares $n =
# \big(L(\theta + hv) - L(\theta - hv)\big)/2h$ with $\langle a, v\rangle$, $a$ the analytic
# gradient, along a few random directions $v \sim \mathcal N(0, I)$ per array instead. It costs
# two forward passes per direction, whatever the size. The error of a direction is
#
# $$e_v = \frac{\lvert\langle a, v\rangle - n\rvert}{\lVert a\rVert + \lvert n\rvert}.$$
#
# The denominator is $\lVert a\rVert$, the typical size of $\langle a, v\rangle$ over random $v$,
# and not $\lvert\langle a, v\rangle\rvert$ itself: a direction nearly orthogonal to the gradient
# has a tiny $\langle a, v\rangle$, and a ratio to it would blow the rounding error up and fail a
# correct model for an unlucky draw. A wrong gradient $a \ne g$ is still off by $\lvert\langle a -
# g, v\rangle\rvert \approx \lVert a - g\rVert$, as in the norm-wise error.

# %%
big = npae.Autoencoder(hidden_sizes=(64,), latent_dim=8, activation="tanh", loss="bce", random_state=SEED,
                       verbose=0)
big_result = check_model(big, X_images[:32], directional=True, n_directions=4)
print(big_result)

# %% [markdown]
# ## 2.6 Capstone: an autoencoder made of your functions
#
# Your `dense_activation_backward` runs the backward pass of every dense layer and the tanh after
# it (chapter 1's other pieces are npae's here, since this chapter's session does not hold them;
# the σ″ and tanh″ you wrote join the contractive model of chapter 4).
# `npae.exercises.assemble(functions, model="autoencoder", **params)` builds npae's `Autoencoder`
# with your functions where npae's own code runs. Each of them is checked as it is plugged in, and
# for the first training steps every call is also computed by npae: the first function to disagree
# is named (here with a warning, so that you see what the mistake does to the loss curve; the
# default stops `fit`). An exercise whose cell still raises `NotImplementedError` runs npae's
# reference instead, and `summary()` says which pieces are yours. Below, your model and npae's
# train on the same images with the same hyperparameters and seed, in float64: with every function
# right, the two loss curves are the same to float rounding.

# %%
CAPSTONE_EPOCHS = 2 if QUICK else 10
capstone = dict(hidden_sizes=(64,), latent_dim=16, activation="tanh", loss="bce", learning_rate=1e-3, batch_size=64,
                epochs=CAPSTONE_EPOCHS, dtype="float64", random_state=SEED, verbose=0)
X_capstone = npae.datasets.load_embedded("train")[0][: 1000 if QUICK else 5000]
X_capstone_val = X_images[:200]
mine = {"dense_activation_backward": dense_activation_backward}
your_model = npae.exercises.assemble(mine, model="autoencoder", **capstone)
your_model.on_disagreement = "warn"  # a wrong function: train on, and see what it does
your_model.fit(X_capstone, validation_data=X_capstone_val)
npae_model = npae.Autoencoder(**capstone).fit(X_capstone, validation_data=X_capstone_val)
print(your_model.summary())
print(your_model.compare_with(npae_model))

shown = X_capstone_val[:8]
fig = npae.plotting.plot_model_comparison(
    {"npae": npae_model.history_, "yours": your_model.history_}, shown,
    {"npae": npae_model.reconstruct(shown), "yours": your_model.reconstruct(shown)}, title="Your fused backward against npae's")
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
# 1. **The best step in float32.** From the sweep in section 2.1, read off the step $h$ that
# minimises the float32 central-difference error (to within a factor of ten). Then predict it from
# $h^\ast = (3\varepsilon\lvert f\rvert/\lvert f'''\rvert)^{1/3}$ with $\varepsilon =
# 1.2\times10^{-7}$ and $\lvert f\rvert/\lvert f'''\rvert \approx 5$. Do they agree?
# 2. **The forward difference.** Derive the truncation error of the forward difference from the
#    Taylor expansion, its best step $h^\ast$ and its best error, each as a power of
#    $\varepsilon$, and compare them with the dotted curves of the sweep.
# 3. **Your own bug.** Write `BiasBugDense`, a `Dense` whose backward adds only the first row's
#    gradient to the bias (`self.grads["b"] += grad_out[0, ...]`) instead of the sum over rows.
#    Predict which arrays of `check_layer`'s table fail, then run it. Save the class in a file,
#    with default sizes so that the command line can build it with no arguments
#    (`def __init__(self, in_features=4, out_features=3, **kw)`), and run
#    `npae gradcheck my_layers.py:BiasBugDense` in a terminal: the same table, from the command
#    line, for any layer, activation or loss you write.
# 4. **Leaky ReLU.** `npae.activations.LeakyReLU` has a kink too. How far from 0 must every
#    input be for a central difference with step $h$ never to straddle it? Test your answer with
#    `check_layer(Activation("leaky_relu"), ...)` on inputs just inside and just outside it.
# 5. **Softplus, a smooth ReLU.** Repeat section 2.3 with `Activation("softplus")` and inputs at
#    $3\times10^{-7}$. Does the check pass? Why?
# 6. **How small can the tiny row be?** Repeat the sign-flip experiment of section 2.2 with
# feature 0 scaled by $10^{-4}$, $10^{-6}$, $10^{-8}$ and $10^{-10}$. Where does the norm-wise
# check start to miss the bug, and does the per-entry one ever miss it?

# %% [markdown]
# ## What must hold
#
# The numbers this chapter relied on: float64 central differences reach $10^{-9}$ while float32
# cannot reach $10^{-6}$; the norm-wise error passes the tiny-row gradient that the element-wise
# error fails, and passes a wrong tiny row too, which the per-entry check catches; the kink fails
# and the moved inputs pass; every broken backward is caught (and the chain-rule bug only with a
# random $G$); the autoencoder passes; your capstone model, when none of its functions fails its
# check, trained to npae's numbers; and the last line is your progress report,
# `npae.exercises.progress()`: how many exercises you have done, which fail (with the mistakes
# named) and which are not written yet.

# %%
assert best[("float64", "central")][1] < 1e-9, best
assert best[("float32", "central")][1] > 1e-6, best
assert best[("float64", "central")][1] < best[("float64", "forward")][1], best
assert "float64" in float32_message
assert elementwise > 1e-6 and normwise < 1e-8, (elementwise, normwise)
assert normwise_bug.passed, str(normwise_bug)
assert not per_entry_bug.passed and per_entry_good.passed, (str(per_entry_bug), str(per_entry_good))
assert per_entry_bug.errors["W"] > 1e-3 and per_entry_bug.worst_entries["W"][0] == 0, str(per_entry_bug)
assert not relu_fail.passed and relu_pass.passed, (str(relu_fail), str(relu_pass))
assert not forgetful.passed and forgetful.errors["1.W"] < 1e-6 and forgetful.errors["0.W"] > 1e-3, str(forgetful)
assert not transpose_bug.passed and transpose_bug.errors["input"] > 1e-3, str(transpose_bug)
assert plain_sum.passed and not random_g.passed, (str(plain_sum), str(random_g))
assert model_result.passed, str(model_result)
assert big_result.passed, str(big_result)
if not npae.exercises.progress(names=list(mine)).failing:  # your model trained as npae's did
    assert your_model.loss_gap(npae_model) < 1e-6, your_model.loss_gap(npae_model)
print(npae.exercises.progress(chapter=2))
