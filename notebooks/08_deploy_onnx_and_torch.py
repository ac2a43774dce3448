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
# # 8. Leaving npae: serve with ONNX, carry on in PyTorch
#
# The chapters so far wrote every forward and backward pass by hand. A trained model is only
# numbers in arrays, though, and two ways out of npae take those numbers elsewhere:
#
# 1. **ONNX**, the exchange format that ONNX Runtime, TensorRT, browsers and phones execute.
#    `import npae.onnx` teaches `skl2onnx` the npae estimators, so the ordinary
#    `skl2onnx.to_onnx(model, X)` writes a graph; a scikit-learn `Pipeline` (a scaler, then the
#    model) converts as a whole, and so does an `AnomalyDetector`.
# 2. **PyTorch**: `npae.export.to_torch(model)` rebuilds the network from `torch.nn` layers with
#    the same weights, so training can go on with autograd and any `torch.optim` optimizer.
#
# Both are translations of one layer, npae's `Dense`:
#
# $$ z = x W + b, \qquad W \in \mathbb{R}^{\text{in} \times \text{out}} $$
#
# ONNX's `Gemm` computes $\alpha A B + \beta C$, which with $A = x$, $B = W$, $C = b$ and
# $\alpha = \beta = 1$ is that layer exactly. `torch.nn.Linear` computes $x A^\top + b$ and stores
# $A$ as (out, in), so it receives $A = W^\top$. Each activation maps to its operator (`Relu`,
# `Sigmoid`, `Tanh`, ...), and a decoder for $[0, 1]$ data ends in logits $y$ followed by
# $\sigma(y)$, as in npae.
#
# The test of a translation is agreement. In float32 both sides round differently, so we ask for
# agreement to float32 rounding (about $10^{-7}$ relative per operation, $10^{-5}$ on the codes);
# in float64, $10^{-6}$ is a loose bound on what we will measure.
#
# `NPAE_QUICK=1` in the environment shrinks the sizes so that the notebook finishes in a minute or
# less on two cores. Sections 8.1 and 8.2 need `pip install "npae[onnx]"` and PyTorch; without
# them they print a note and skip.

# %%
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import npae
import npae.datasets
import npae.exercises

QUICK = os.environ.get("NPAE_QUICK") == "1"
EPOCHS = 2 if QUICK else 20
N_TRAIN = 500 if QUICK else 5000
HIDDEN = 32 if QUICK else 128
TORCH_STEPS = 5 if QUICK else 200
SEED = 0
HAVE_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "skl2onnx", "onnxruntime"))
HAVE_TORCH = importlib.util.find_spec("torch") is not None

npae.set_backend("numpy")
X_train, y_train = npae.datasets.load_embedded("train")
X_train = X_train[:N_TRAIN]
X_test, y_test = npae.datasets.load_embedded("test")

ae = npae.Autoencoder(hidden_sizes=(HIDDEN,), latent_dim=16, epochs=EPOCHS, batch_size=64, verbose=0,
                      random_state=SEED).fit(X_train)
vae = npae.VAE(hidden_sizes=(HIDDEN,), latent_dim=8, epochs=EPOCHS, batch_size=64, verbose=0,
               random_state=SEED).fit(X_train)
print("trained: AE loss", round(ae.history_["loss"][-1], 2), "| VAE loss", round(vae.history_["loss"][-1], 2))

# %% [markdown]
# ## 8.1 ONNX
#
# After `import npae.onnx`, `skl2onnx.to_onnx` needs the model and one row of data, whose dtype
# fixes the graph's. We list the operators of the graph and run it in ONNX Runtime.

# %%
if HAVE_ONNX:
    import onnxruntime as ort
    import skl2onnx

    import npae.onnx

    def run(onx, x):
        """Run a one-input graph in ONNX Runtime; returns its outputs."""
        session = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})

    encoder_graph = skl2onnx.to_onnx(ae, X_train[:1].astype("float32"))
    print("encoder graph:", [node.op_type for node in encoder_graph.graph.node])
    onnx_err = {"AE codes": float(np.max(np.abs(run(encoder_graph, X_test)[0] - ae.transform(X_test))))}
    onnx_err["VAE mean codes"] = float(np.max(np.abs(
        run(skl2onnx.to_onnx(vae, X_train[:1].astype("float32")), X_test)[0] - vae.transform(X_test))))

    decoder_graph = npae.onnx.to_onnx_decoder(ae)  # inverse_transform: codes -> images
    codes = ae.transform(X_test)
    onnx_err["AE decoder"] = float(np.max(np.abs(run(decoder_graph, codes)[0] - ae.inverse_transform(codes))))

    path = Path(tempfile.mkdtemp(prefix="npae-onnx-")) / "autoencoder_encoder.onnx"  # a file to serve
    path.write_bytes(encoder_graph.SerializeToString())
    print(f"wrote {path.name} ({path.stat().st_size / 1024:.0f} KiB), in a temporary folder")
    shutil.rmtree(path.parent)
    for name, err in onnx_err.items():
        print(f"max |ONNX − npae| {name:15s} {err:.1e}")
else:
    print('ONNX section skipped: pip install "npae[onnx]" (onnx, skl2onnx, onnxruntime).')

# %% [markdown]
# The graph is `Gemm → Relu → Gemm`: the encoder and nothing else, since the code layer is
# linear. The differences are float32 rounding: two libraries summing 784 products in different
# orders.
#
# ### Pipelines and serving an anomaly detector
#
# A deployed model usually needs its preprocessing. A `Pipeline` converts as a whole. And
# `to_onnx_score_samples` exports the score of chapter 6, minus the reconstruction loss per row
# (for BCE, $-\sum_d \operatorname{softplus}(y_d) - x_d y_d$), so an `AnomalyDetector` can be
# served: its graph returns a label (+1 normal, −1 outlier) and the decision score.

# %%
if HAVE_ONNX:
    pipe = Pipeline([("scale", StandardScaler()),
                     ("ae", npae.Autoencoder(hidden_sizes=(HIDDEN,), latent_dim=16, loss="mse", epochs=EPOCHS,
                                             batch_size=64, verbose=0, random_state=SEED))]).fit(X_train)
    pipe_codes = pipe.transform(X_test)
    # standardised pixels reach tens (a border pixel's std is tiny), so codes are large: compare
    # the difference with their scale
    pipe_rel = float(np.max(np.abs(run(skl2onnx.to_onnx(pipe, X_train[:1]), X_test)[0] - pipe_codes))
                     / np.max(np.abs(pipe_codes)))

    score_graph = npae.onnx.to_onnx_score_samples(ae)
    scores = ae.score_samples(X_test)
    score_rel = float(np.max(np.abs(run(score_graph, X_test)[0] - scores) / np.abs(scores)))

    detector = npae.AnomalyDetector(ae, contamination=0.1, refit=False).fit(X_train)
    labels, decision = run(skl2onnx.to_onnx(detector, X_train[:1]), X_test)
    clear = np.abs(detector.decision_function(X_test)) > 1e-4  # away from the threshold's rounding
    label_agreement = float(np.mean(labels[clear] == detector.predict(X_test)[clear]))
    print(f"pipeline codes: max diff / max |code| {pipe_rel:.1e}")
    print(f"score graph: max relative diff {score_rel:.1e}; detector labels agree on {label_agreement:.0%}")

    fig, ax = plt.subplots(figsize=(5, 3))
    for c in range(10):
        ax.hist(run(score_graph, X_test[y_test == c])[0], bins=20, histtype="step", label=str(c))
    ax.axvline(detector.offset_, color="k", linestyle="--", label="threshold (offset_)")
    ax.set_xlabel("score_samples from the ONNX graph")
    ax.set_ylabel("test images")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()

# %% [markdown]
# The histogram is computed by ONNX Runtime alone: each class of the test set has its own range
# of scores (plain garments reconstruct better than patterned ones), which is what a detector
# thresholds.
#
# ## 8.2 PyTorch
#
# `to_torch` returns a `torch.nn.Module` with `encoder`, `decoder` and, for the VAE, the heads
# `mu` and `logvar`. For an autoencoder its `encode`, `decode` and `forward` are npae's
# `transform`, `inverse_transform` and `reconstruct` (a VAE's `encode` returns $(\mu, \log\sigma^2)$
# and its `forward` samples a code, as in training; `decode(mu)` is its `reconstruct`). We check agreement in float64, then check something
# stronger: PyTorch's autograd, differentiating npae's objective
#
# $$ L = \frac{1}{N} \sum_n \sum_d \operatorname{softplus}(y_{nd}) - x_{nd}\, y_{nd}, $$
#
# gives the same gradients as npae's hand-written backward pass.

# %%
if HAVE_TORCH:
    import torch
    import torch.nn.functional as F

    from npae.export import to_torch

    torch.manual_seed(SEED)
    X64, T64 = X_train.astype(np.float64), X_test.astype(np.float64)
    ae64 = npae.Autoencoder(hidden_sizes=(HIDDEN,), latent_dim=16, epochs=EPOCHS, batch_size=64, dtype="float64",
                            verbose=0, random_state=SEED).fit(X64)
    net = to_torch(ae64)
    print(net)  # npae's latent Activation("identity") became nn.Identity
    with torch.no_grad():
        torch_err = {"codes": float(np.max(np.abs(net.encode(torch.from_numpy(T64)).numpy() - ae64.transform(T64)))),
                     "reconstructions": float(np.max(np.abs(net(torch.from_numpy(T64)).numpy()
                                                            - ae64.reconstruct(T64))))}

    x = torch.from_numpy(X64[:256])
    loss = F.binary_cross_entropy_with_logits(net.decoder(net.encode(x)), x, reduction="sum") / x.shape[0]
    loss.backward()
    npae_loss, npae_grads = ae64.loss_and_grad(X64[:256])
    first = net.encoder[0]  # npae's encoder.0: W = weightᵀ
    grad_rel = float(np.linalg.norm(first.weight.grad.numpy().T - npae_grads["encoder.0.W"])
                     / np.linalg.norm(npae_grads["encoder.0.W"]))
    print(f"max |torch − npae|: codes {torch_err['codes']:.1e}, reconstructions {torch_err['reconstructions']:.1e}")
    print(f"loss {loss.item():.6f} vs npae {npae_loss:.6f}; encoder.0.W gradient relative error {grad_rel:.1e}")
else:
    print("PyTorch section skipped: pip install torch.")

# %% [markdown]
# The gradients agree to about $10^{-15}$: two independent derivations of the same derivative,
# one by hand and one by the chain rule applied mechanically. Now training continues in PyTorch
# from where npae stopped, with `torch.optim.Adam` on minibatches.

# %%
if HAVE_TORCH:
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    data = torch.from_numpy(X64)
    generator = torch.Generator().manual_seed(SEED)
    torch_losses = []
    for step in range(TORCH_STEPS):
        batch = data[torch.randint(0, data.shape[0], (64,), generator=generator)]
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(net.decoder(net.encode(batch)), batch, reduction="sum") / 64
        loss.backward()
        optimizer.step()
        torch_losses.append(loss.item())
    with torch.no_grad():
        full = data
        loss_after = (F.binary_cross_entropy_with_logits(net.decoder(net.encode(full)), full, reduction="sum")
                      / full.shape[0]).item()
    loss_before = -ae64.score_samples(X64).mean()  # the objective (score is the reconstruction error)
    print(f"training loss: {loss_before:.2f} after npae, {loss_after:.2f} after {TORCH_STEPS} PyTorch steps")

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(np.arange(1, EPOCHS + 1), ae64.history_["loss"], "o-", label="npae (per epoch)")
    ax.plot(EPOCHS + np.arange(1, TORCH_STEPS + 1) * 64 / X64.shape[0], torch_losses, alpha=0.6,
            label="PyTorch (per step)")
    ax.set_xlabel("epochs")
    ax.set_ylabel("BCE per image (nats)")
    ax.legend()
    fig.tight_layout()

# %% [markdown]
# The curve picks up where npae left it: the PyTorch steps start at npae's last loss, because the
# module holds exactly npae's weights.
#
# ## Exercises
#
# 1. **Layouts.** An npae `Dense` kernel of shape (784, 128) goes to a `torch.nn.Linear`. What is
# the shape of its `weight`? Check yourself:
# `npae.export.to_torch(model).encoder[0].weight.shape`.
# 2. **Counting operators.** How many `Gemm` nodes does the encoder graph of an `Autoencoder` with
#    `hidden_sizes=(256, 64)` have? (The latent activation is the identity.) Check yourself: count
#    `node.op_type == "Gemm"` in the graph's `graph.node`.
# 3. **The VAE's heads.** `to_torch(vae).encode(x)` returns two tensors. Which one equals
#    `vae.transform(x)`? Check yourself by comparing both with `vae.transform(x)`.
# 4. **Why no VAE score graph?** `npae.onnx.to_onnx_score_samples(vae)` is refused. Read the
#    message, then write (on paper) what inputs a graph would need to reproduce `vae.elbo(X)`
#    exactly.

# %% [markdown]
# ## What must hold
#
# ONNX Runtime reproduces npae's codes, decodings and scores to float32 rounding, the pipeline
# and the detector included; PyTorch reproduces them to float64 rounding, its autograd gradient
# equals npae's hand-written one, and training in PyTorch lowers the loss further.

# %%
if HAVE_ONNX:
    assert all(err < 1e-5 for err in onnx_err.values()), onnx_err
    assert score_rel < 1e-5 and pipe_rel < 1e-5, (score_rel, pipe_rel)
    assert label_agreement == 1.0, label_agreement
    assert set(np.unique(labels)) <= {-1, 1}
if HAVE_TORCH:
    assert all(err < 1e-6 for err in torch_err.values()), torch_err
    assert grad_rel < 1e-10, grad_rel
    assert loss_after < loss_before, (loss_before, loss_after)
print("Chapter 8 has no checked \"your turn\" exercises (its Exercises section asks for derivations "
      "and experiments); the checked ones are in chapters 1-5. In this session:")
print(npae.exercises.progress().summary)
