"""The roofline of a training step: what the host's GEMMs and memory allow, counted from the layers.

Not a benchmark: ``run.py`` measures a step and divides this limit by it. For a model of
``harness.MODELS`` at batch N the limit is

    t_limit = GEMM FLOPs / measured GEMM peak  +  bytes of the element-wise passes / measured bandwidth

with the peak from ``harness.gemm_peak`` (NumPy's BLAS for npae, PyTorch's for the twin) and the
bandwidth from ``harness.triad_bandwidth`` (one thread, as NumPy's and npae's element-wise passes
run). The two terms are added, not overlapped: a step runs its products and its element-wise passes
one after another. A step's *roofline fraction* is t_limit ÷ its measured time (1 = at the limit).

GEMM FLOPs (``gemm_flops``), counted exactly from the Dense layers (fan_in → fan_out):

* forward: 2·N·fan_in·fan_out per Dense (x @ W);
* backward, weight gradient: 2·N·fan_in·fan_out per Dense (xᵀ @ g);
* backward, data gradient: 2·N·fan_in·fan_out per Dense (g @ Wᵀ), except the layers that read
  the data (no one needs ∂L/∂x there): the first encoder layer.

The rule of thumb 6·P per sample (P parameters, biases included) counts the first layer's data
gradient and the biases as GEMM work; ``efficiency`` uses it, because that is the figure the issue
and PyTorch's literature quote.

Bytes (``step_bytes``): the element-wise passes of one step, each counted once, in float32 words of
4 bytes, as a program that fuses what can be fused in one pass moves them (the minimum a kernel can
reach, not what the reference code moves); ``BYTE_MODEL`` lists them:

* **Adam**: reads θ, g, m, v and writes θ, m, v: 7 words per parameter (weights and biases);
* **bias + activation forward**: for each Dense followed by an activation, one pass reads the
  GEMM's output z and writes the activation h (the bias added on the way): 2 words per output
  element; a Dense with no activation after it (the identity code, the logits, the VAE heads) adds
  its bias in place: 2 words;
* **activation backward + bias gradient**: one pass reads the upstream gradient and z (or h) and
  writes the gradient, summing the bias gradient's columns on the way: 3 words per element; a
  Dense with no activation: its bias gradient reads the upstream gradient once: 1 word;
* **loss value and gradient** (BCE on logits): one pass reads the logits and x and writes ∂L/∂y:
  3 words per element of the N×D output;
* **noise** (DAE): the draw writes ε (1 word), the corruption x̃ = clip(x + σ·ε, 0, 1) reads x and
  ε and writes x̃ (3 words): 4 words per element of N×D. Generating the normal variates is
  arithmetic, not memory traffic; it is not in the limit (``run.py``'s phase tables show its time);
* **sparsity penalty** (L1 or KL on the code): reads the code h and adds its gradient into the
  code's upstream gradient: 3 words per element of N×K;
* **VAE reparameterisation**: eps drawn (1 word), z = mu + exp(½·log_var)·eps reads mu, log_var,
  eps and writes z (4 words), its backward with the KL term reads ∂L/∂z, mu, log_var, eps and
  writes ∂L/∂mu, ∂L/∂log_var (6 words): 11 words per element of N×K;
* **batch gather** (``fit`` only, ``gather=True``): the shuffled rows of X read and written to the
  batch: 2 words per element of N×D (``train_step`` blocks get ready-made batches).

Not counted: zeroing gradients (the weight-gradient products can write them), the GEMMs' own
operand traffic (inside the GEMM peak), reductions to a scalar loss, and Python's own time per
call: that overhead is what separates a fraction from 1 at small batches.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import harness as H

WORD = 4  # bytes of a float32

#: The byte model, pass by pass: (pass, words per element, what an element is). ``step_bytes``
#: applies it; the report prints it so the numbers can be checked by hand.
BYTE_MODEL = (
    ("Adam update", 7, "parameter (read θ, g, m, v; write θ, m, v)"),
    ("bias + activation forward", 2, "Dense output (read z, write h; an identity output: bias in place)"),
    ("activation backward + bias gradient", 3, "Dense output with an activation (read g, z; write g)"),
    ("bias gradient, no activation", 1, "Dense output without one (read g)"),
    ("loss value and gradient (BCE)", 3, "element of the N×D output (read y, x; write ∂L/∂y)"),
    ("noise (DAE)", 4, "element of N×D (write ε; read x, ε; write x̃)"),
    ("sparsity penalty", 3, "element of the N×K code (read h; read and write its gradient)"),
    ("VAE reparameterisation + KL, forward and backward", 11, "element of N×K (eps, z; ∂mu, ∂log_var)"),
    ("batch gather (fit)", 2, "element of N×D (read the shuffled rows, write the batch)"),
)
_WORDS = {name: words for name, words, _ in BYTE_MODEL}


@dataclass(frozen=True)
class Dense:
    """One Dense layer: fan_in → fan_out; ``activation``: an element-wise activation follows it;
    ``data_grad``: the backward pass computes its input's gradient (False for layers reading X)."""

    fan_in: int
    fan_out: int
    activation: bool
    data_grad: bool = True


def network(name: str, n_features: int = 784) -> dict:
    """The Dense layers and the extra element-wise work of ``harness.make_npae(name)``.

    Returns {"layers": [Dense], "noise": bool, "penalty": bool, "vae_latent": int (0 if none),
    "code": K}. Written from the sizes in ``harness`` (HIDDEN, LATENT; the VAE is 784-400-20),
    so the counts do not depend on npae's internals; ``check_layers`` compares them with a built
    model's parameters.
    """
    if name == "vae":
        hidden, latent = 400, 20
        layers = [Dense(n_features, hidden, True, data_grad=False),
                  Dense(hidden, latent, False), Dense(hidden, latent, False),  # mu and log_var heads
                  Dense(latent, hidden, True), Dense(hidden, n_features, False)]
        return {"layers": layers, "noise": False, "penalty": False, "vae_latent": latent, "code": latent}
    if name not in H.MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {', '.join(H.MODELS)}")
    sizes = (n_features, *H.HIDDEN, H.LATENT)
    code_activation = name.startswith("sparse")  # sigmoid code; the AE and DAE have an identity code
    enc = [Dense(a, b, i < len(sizes) - 2 or code_activation, data_grad=i > 0)
           for i, (a, b) in enumerate(itertools.pairwise(sizes))]
    back = sizes[::-1]
    dec = [Dense(a, b, i < len(back) - 2) for i, (a, b) in enumerate(itertools.pairwise(back))]
    return {"layers": enc + dec, "noise": name.startswith("dae"), "penalty": code_activation, "vae_latent": 0,
            "code": H.LATENT}


def n_parameters(name: str, n_features: int = 784) -> int:
    """P: weights and biases of every Dense layer."""
    return sum(d.fan_in * d.fan_out + d.fan_out for d in network(name, n_features)["layers"])


def check_layers(name: str, model) -> None:
    """Raise if ``network(name)`` does not list the kernels of the built npae ``model`` (in, out)."""
    want = sorted((d.fan_in, d.fan_out) for d in network(name, model.n_features_in_)["layers"])
    got = sorted(tuple(int(s) for s in W.shape) for k, W in model.parameters().items() if k.endswith(".W"))
    if want != got:
        raise RuntimeError(f"roofline.network({name!r}) lists {want}, the model has {got}")


def gemm_flops(name: str, batch: int, n_features: int = 784) -> dict:
    """GEMM FLOPs of one training step at batch ``batch``: forward, weight and data gradients, total."""
    layers = network(name, n_features)["layers"]
    fwd = sum(2 * batch * d.fan_in * d.fan_out for d in layers)
    dx = sum(2 * batch * d.fan_in * d.fan_out for d in layers if d.data_grad)
    return {"forward": fwd, "weight_grad": fwd, "data_grad": dx, "total": 2 * fwd + dx}


def step_bytes(name: str, batch: int, n_features: int = 784, gather: bool = False) -> dict:
    """Bytes of the element-wise passes of one training step, pass by pass (``BYTE_MODEL``), and "total".

    ``gather``: add the batch gather that ``fit`` does every step (``train_step`` blocks are fed
    ready-made batches).
    """
    net = network(name, n_features)
    N, D = batch, n_features
    act_out = sum(d.fan_out for d in net["layers"] if d.activation)
    plain_out = sum(d.fan_out for d in net["layers"] if not d.activation)
    words = {
        "Adam update": _WORDS["Adam update"] * n_parameters(name, n_features),
        "bias + activation forward": _WORDS["bias + activation forward"] * N * (act_out + plain_out),
        "activation backward + bias gradient": _WORDS["activation backward + bias gradient"] * N * act_out,
        "bias gradient, no activation": _WORDS["bias gradient, no activation"] * N * plain_out,
        "loss value and gradient (BCE)": _WORDS["loss value and gradient (BCE)"] * N * D,
    }
    if net["noise"]:
        words["noise (DAE)"] = _WORDS["noise (DAE)"] * N * D
    if net["penalty"]:
        words["sparsity penalty"] = _WORDS["sparsity penalty"] * N * net["code"]
    if net["vae_latent"]:
        words["VAE reparameterisation + KL, forward and backward"] = (
            _WORDS["VAE reparameterisation + KL, forward and backward"] * N * net["vae_latent"])
    if gather:
        words["batch gather (fit)"] = _WORDS["batch gather (fit)"] * N * D
    out = {k: WORD * v for k, v in words.items()}
    out["total"] = sum(out.values())
    return out


def step_limit(name: str, batch: int, peak_gflops: float, bandwidth_gbs: float, n_features: int = 784,
               gather: bool = False) -> dict:
    """The step's limit on this host: seconds of GEMMs at the peak plus seconds of bytes at the bandwidth.

    Returns {"flops", "bytes", "gemm_s", "memory_s", "limit_s"} (FLOPs and bytes of one step).
    """
    flops = gemm_flops(name, batch, n_features)["total"]
    nbytes = step_bytes(name, batch, n_features, gather)["total"]
    gemm_s, memory_s = flops / (peak_gflops * 1e9), nbytes / (bandwidth_gbs * 1e9)
    return {"flops": flops, "bytes": nbytes, "gemm_s": gemm_s, "memory_s": memory_s, "limit_s": gemm_s + memory_s}


def roofline_fraction(limit_s: float, samples_per_s: float, batch: int) -> float:
    """The limit ÷ the measured step time (a step of ``batch`` samples at ``samples_per_s``)."""
    return limit_s / (batch / samples_per_s)


def efficiency(name: str, samples_per_s: float, peak_gflops: float, n_features: int = 784) -> float:
    """6·P FLOPs per sample × samples/s ÷ the GEMM peak (the rule-of-thumb efficiency figure)."""
    return 6 * n_parameters(name, n_features) * samples_per_s / (peak_gflops * 1e9)
