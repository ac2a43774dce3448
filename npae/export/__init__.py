"""Hand-over to PyTorch: a fitted npae model as a ``torch.nn.Module`` with the same weights.

A learner who has followed every derivative in npae can carry the model on in a framework:
``to_torch`` rebuilds the architecture from PyTorch's own layers and copies the weights in,

    npae Dense  z = x @ W + b,  W : (in, out)   ->   torch.nn.Linear, weight = Wᵀ : (out, in), bias = b
    npae Activation(name)                      ->   torch.nn.ReLU, Sigmoid, Tanh, Softplus, ELU, ...

so the module computes what the estimator computes (to rounding) and trains with
``loss.backward()`` and any ``torch.optim`` optimizer from where npae stopped. Nothing is shared:
the module owns copies of the weights, on the CPU, in the model's dtype (``module.to(device)``
moves it).

Like every consumer of a fitted model (``npae.onnx``, ``npae.dask``, npae's own methods), it
reads the fitted snapshot, ``BaseAutoencoder._as_fitted()``: the configuration the weights were
trained with, never a hyperparameter changed by ``set_params`` after the fit (a fitted model is
a value; see ``npae.models.base``).

torch is imported inside ``to_torch`` only: ``import npae`` never imports it, and npae does
not depend on it. The module classes live in ``npae.export.modules`` (which imports torch), at
module level, so the modules pickle: ``torch.save(net, path)`` and ``torch.load(path,
weights_only=False)`` work as for any ``nn.Module``, and so does ``torch.jit.script``. This module is the hand-over, not a backend: ``npae.backend`` stays the one
place that runs npae's own arithmetic on torch tensors.
"""

from __future__ import annotations

from npae import backend as B
from npae.layers import Activation, Dense, Sequential
from npae.models.base import BaseAutoencoder
from npae.models.variational import VAE

__all__ = ["parameter_names", "to_torch"]

#: npae activation name -> (torch.nn class name, keyword arguments read off the npae activation)
_TORCH_ACTIVATIONS = {
    "identity": ("Identity", lambda act: {}),
    "relu": ("ReLU", lambda act: {}),
    "leaky_relu": ("LeakyReLU", lambda act: {"negative_slope": act.negative_slope}),
    "elu": ("ELU", lambda act: {"alpha": 1.0}),
    "sigmoid": ("Sigmoid", lambda act: {}),
    "tanh": ("Tanh", lambda act: {}),
    # torch's Softplus returns z itself above z = 20, where log(1 + e^z) − z < 2.1e-9
    "softplus": ("Softplus", lambda act: {}),
}
#: losses and likelihoods whose decoder emits logits, so data space is σ(decoder(z))
_LOGIT_OUTPUTS = ("bce", "bernoulli")


def _torch():
    try:
        import torch
    except ImportError as err:
        raise ImportError("npae.export.to_torch needs PyTorch: pip install torch "
                          "(the CPU build is enough).") from err
    return torch


def _linear(nn, torch, dense: Dense):
    W, b = B.to_numpy(dense.params["W"]), B.to_numpy(dense.params["b"])
    layer = nn.Linear(dense.in_features, dense.out_features, dtype=torch.from_numpy(W).dtype)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(W.T.copy()))
        layer.bias.copy_(torch.from_numpy(b.copy()))
    return layer


def _activation(nn, activation):
    spec = _TORCH_ACTIVATIONS.get(getattr(activation, "name", None))
    if spec is None:
        raise TypeError(f"to_torch knows the activations {sorted(_TORCH_ACTIVATIONS)}; got "
                        f"{activation!r}. Map it to a torch.nn module in npae.export._TORCH_ACTIVATIONS.")
    cls_name, kwargs = spec
    return getattr(nn, cls_name)(**kwargs(activation))


def _sequential(nn, torch, stack: Sequential):
    layers = []
    for layer in stack.layers:
        if isinstance(layer, Dense):
            layers.append(_linear(nn, torch, layer))
        elif isinstance(layer, Activation):
            layers.append(_activation(nn, layer.activation))
        else:
            raise TypeError(f"to_torch converts Dense and Activation layers; got {layer!r}.")
    return nn.Sequential(*layers)


def _stack_names(stack: Sequential, prefix: str) -> dict:
    """{torch key: npae key} for one Sequential: torch numbers every module, npae its Dense layers."""
    names, dense_index = {}, 0
    for torch_index, layer in enumerate(stack.layers):
        if isinstance(layer, Dense):
            names[f"{prefix}.{torch_index}.weight"] = f"{prefix}.{dense_index}.W"
            names[f"{prefix}.{torch_index}.bias"] = f"{prefix}.{dense_index}.b"
            dense_index += 1
    return names


def parameter_names(model) -> dict:
    """{``to_torch(model).state_dict()`` key: ``model.parameters()`` key} for a fitted npae model.

    ``nn.Sequential`` numbers every module, activations included, npae only its Dense layers, so
    the same-looking names differ beyond the first layer: npae's ``encoder.1.W`` is torch's
    ``encoder.2.weight`` (transposed: torch's weight is Wᵀ, (out, in)), and the VAE's heads
    ``encoder.mu.W`` / ``encoder.logvar.W`` are ``mu.weight`` / ``logvar.weight``.

    Examples
    --------
    >>> import numpy as np, npae
    >>> from npae.export import parameter_names
    >>> ae = npae.Autoencoder(hidden_sizes=(4,), latent_dim=2, epochs=1, verbose=0).fit(np.eye(6))
    >>> parameter_names(ae)["encoder.2.weight"]
    'encoder.1.W'
    """
    if not isinstance(model, BaseAutoencoder):
        raise TypeError(f"parameter_names takes an npae model; got {type(model).__name__}.")
    model.parameters()  # raises NotFittedError for an unfitted model
    model = model._as_fitted()
    names = {**_stack_names(model.encoder_, "encoder"), **_stack_names(model.decoder_, "decoder")}
    if isinstance(model, VAE):
        for head in ("mu", "logvar"):
            names.update({f"{head}.weight": f"encoder.{head}.W", f"{head}.bias": f"encoder.{head}.b"})
    return names


def to_torch(model):
    """A ``torch.nn.Module`` with the architecture and a copy of the weights of a fitted npae model.

    Parameters
    ----------
    model : fitted npae.Autoencoder, SparseAutoencoder, DenoisingAutoencoder,
            ContractiveAutoencoder or VAE
        Trained on any backend; the weights are copied through the host.

    Returns
    -------
    torch.nn.Module
        For the autoencoders, ``encode`` (N, D) -> (N, K), ``decode`` (N, K) -> (N, D) in data
        space and ``forward`` = decode(encode(x)), with submodules ``encoder``, ``decoder``
        (``nn.Sequential`` of ``nn.Linear`` and activations; the decoder ends in logits for
        loss="bce") and ``output`` (``nn.Sigmoid`` or ``nn.Identity``). For the VAE, also the
        heads ``mu`` and ``logvar``; ``encode`` returns (mu, log_var) and ``forward(x, eps=None)``
        returns (x̂, mu, log_var). Parameters are CPU tensors in the model's dtype, with
        ``requires_grad=True``, ready for ``torch.optim``; ``parameter_names`` maps their
        names to npae's. The module pickles (``torch.save``) and scripts (``torch.jit.script``).

    Raises
    ------
    ImportError
        If PyTorch is not installed.
    TypeError
        If ``model`` is not an npae model, or uses an activation with no torch counterpart.
    sklearn.exceptions.NotFittedError
        If ``model`` has not been fitted.

    Examples
    --------
    >>> import torch, npae
    >>> from npae.export import to_torch
    >>> X, _ = npae.datasets.load_embedded("test")
    >>> ae = npae.Autoencoder(hidden_sizes=(64,), latent_dim=8, epochs=1, dtype="float64", verbose=0).fit(X)
    >>> net = to_torch(ae)
    >>> torch.allclose(net.encode(torch.from_numpy(X.astype("float64"))), torch.from_numpy(ae.transform(X)))
    True
    """
    if not isinstance(model, BaseAutoencoder):
        raise TypeError(f"to_torch converts npae models (npae.Autoencoder, ..., npae.VAE); got "
                        f"{type(model).__name__}.")
    model.parameters()  # raises NotFittedError for an unfitted model
    model = model._as_fitted()  # the fitted snapshot, whatever set_params said since (module docstring)
    torch = _torch()
    nn = torch.nn
    from npae.export.modules import AutoencoderModule, VAEModule  # imports torch: only here
    likelihood = getattr(model, "likelihood_", None) or model.loss_
    output = nn.Sigmoid() if likelihood.name in _LOGIT_OUTPUTS else nn.Identity()
    encoder = _sequential(nn, torch, model.encoder_)
    decoder = _sequential(nn, torch, model.decoder_)
    if isinstance(model, VAE):
        return VAEModule(encoder, _linear(nn, torch, model.mu_head_), _linear(nn, torch, model.logvar_head_),
                         decoder, output)
    return AutoencoderModule(encoder, decoder, output)
