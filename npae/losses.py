"""Losses: one value per row (summed over features) and the gradient beside it.

Reconstruction losses (BCE on logits, squared error), the VAE's likelihoods (Bernoulli = BCE on
logits, Gaussian NLL with a fixed σ) and the Gaussian KL of its latent code to N(0, I).

Models average the rows over the batch, so penalty weights mean the same for any width D.
A per-pixel figure is the row value divided by D, and is labelled so where it is reported.
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace

from npae import ops
from npae.validation import check_in_unit_interval, check_option, check_positive_float

__all__ = [
    "bce_with_logits",
    "bce_with_logits_grad",
    "bce_with_logits_and_grad",
    "squared_error",
    "squared_error_grad",
    "Loss",
    "BCE",
    "MSE",
    "LOSSES",
    "get_loss",
    "gaussian_nll",
    "gaussian_nll_grad",
    "GaussianNLL",
    "BernoulliNLL",
    "gaussian_kl",
    "gaussian_kl_grad",
    "LIKELIHOODS",
    "get_likelihood",
]


def bce_with_logits(x, logits):
    """Binary cross-entropy on logits, per row: Σ_d softplus(y) − x·y.

    This is −[x log σ(y) + (1 − x) log(1 − σ(y))] rewritten with softplus(−y) = softplus(y) − y:
    exact for every logit, with no clipping of probabilities.

    Parameters
    ----------
    x : array of shape (N, D)
        Targets in [0, 1].
    logits : array of shape (N, D)
        y, the decoder's pre-sigmoid output.

    Returns
    -------
    array of shape (N,)
    """
    xp = array_namespace(x, logits)
    return xp.sum(ops.softplus(logits) - x * logits, axis=1)


def bce_with_logits_grad(x, logits):
    """d/dy of the per-row BCE: σ(y) − x, shape (N, D)."""
    return ops.sigmoid(logits) - x


def bce_with_logits_and_grad(x, logits):
    """``bce_with_logits(x, y)`` (N,) and ``bce_with_logits_grad(x, y)`` (N, D) together.

    A training step needs both; here they are simply the two functions above.

    Parameters
    ----------
    x : array of shape (N, D)
        Targets in [0, 1].
    logits : array of shape (N, D)

    Returns
    -------
    value : array of shape (N,)
    grad : array of shape (N, D)
    """
    return bce_with_logits(x, logits), bce_with_logits_grad(x, logits)


def squared_error(x, x_hat):
    """Squared error per row: Σ_d (x̂ − x)², x and x̂ of shape (N, D) -> (N,)."""
    xp = array_namespace(x, x_hat)
    r = x_hat - x
    return xp.sum(r * r, axis=1)


def squared_error_grad(x, x_hat):
    """d/dx̂ of the per-row squared error: 2 (x̂ − x), shape (N, D)."""
    return 2.0 * (x_hat - x)


class Loss:
    """A reconstruction loss: ``value(x, out)`` -> (N,), ``grad(x, out)`` -> (N, D),
    ``output(out)`` maps the decoder output into data space, ``check_target(x)`` validates data.
    """

    name = "loss"

    def value(self, x, out):
        """The loss of each row, (N, D), (N, D) -> (N,): summed over features."""
        raise NotImplementedError

    def grad(self, x, out):
        """dℓ_n/d out_nd, (N, D): the gradient of each row's loss with respect to the decoder's output
        (the caller divides by N for a batch mean)."""
        raise NotImplementedError

    def output(self, out):
        """The decoder's output in data space (σ of the logits for BCE; the identity by default)."""
        return out

    def value_and_grad(self, x, out):
        """(``value(x, out)``, ``grad(x, out)``), what a training step needs."""
        return self.value(x, out), self.grad(x, out)

    def check_target(self, x, who: str = "This model", name: str = "X") -> None:
        """Raise a clear error for targets this loss cannot score (default: accept all); ``name`` is the
        argument the data came in (X, validation_data)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class BCE(Loss):
    """Bernoulli cross-entropy on logits (``bce_with_logits``); targets must lie in [0, 1]."""

    name = "bce"

    def value(self, x, out):
        return bce_with_logits(x, out)

    def grad(self, x, out):
        return bce_with_logits_grad(x, out)

    def value_and_grad(self, x, out):
        return bce_with_logits_and_grad(x, out)

    def output(self, out):
        return ops.sigmoid(out)

    def check_target(self, x, who: str = "This model", name: str = "X") -> None:
        check_in_unit_interval(x, name, f"{who} with loss='bce'")


class MSE(Loss):
    """Squared error summed over features (``squared_error``); the decoder output is x̂ itself."""

    name = "mse"

    def value(self, x, out):
        return squared_error(x, out)

    def grad(self, x, out):
        return squared_error_grad(x, out)


# ---------------------------------------------------------------------- the VAE's likelihoods and KL
#: log 2π, the constant of every Gaussian log-density.
LOG_2PI = math.log(2.0 * math.pi)


def gaussian_nll(x, mean, sigma):
    """Gaussian negative log-likelihood per row, −log N(x; mean, σ²I):

        Σ_d [½·log(2πσ²) + (x_d − mean_d)²/(2σ²)]  =  ‖x − mean‖²/(2σ²) + D·(log σ + ½·log 2π)

    computed in the right-hand form, the constant taken out of the sum.

    Parameters
    ----------
    x : array of shape (N, D)
        The data.
    mean : array of shape (N, D)
        The decoder's output x̂, the mean of the Gaussian.
    sigma : float
        σ > 0, its fixed standard deviation.

    Returns
    -------
    array of shape (N,)
    """
    xp = array_namespace(x, mean)
    sigma = float(sigma)
    r = x - mean
    return (0.5 / sigma**2) * xp.sum(r * r, axis=1) + x.shape[1] * (math.log(sigma) + 0.5 * LOG_2PI)


def gaussian_nll_grad(x, mean, sigma):
    """d/dmean of the per-row ``gaussian_nll``: (mean − x)/σ², shape (N, D)."""
    return (mean - x) * (1.0 / float(sigma) ** 2)


class GaussianNLL(Loss):
    """The Gaussian likelihood N(x; x̂, σ²I) with a fixed σ (``gaussian_nll``); the decoder
    output is the mean x̂ itself, and any real data can be scored.

    Parameters
    ----------
    sigma : float, default=1.0
        σ > 0.
    """

    name = "gaussian"

    def __init__(self, sigma: float = 1.0):
        self.sigma = check_positive_float(sigma, "sigma")

    def value(self, x, out):
        return gaussian_nll(x, out, self.sigma)

    def grad(self, x, out):
        return gaussian_nll_grad(x, out, self.sigma)

    def __repr__(self) -> str:
        return f"GaussianNLL(sigma={self.sigma!r})"


class BernoulliNLL(BCE):
    """The Bernoulli likelihood p(x|z) = Π_d σ(y_d)^x_d (1 − σ(y_d))^(1 − x_d) on logits y.

    Its negative log is the BCE on logits: value, gradient and output σ(y) are ``BCE``'s. Only
    the name differs, so that a refused target speaks of ``likelihood='bernoulli'``.
    """

    name = "bernoulli"

    def check_target(self, x, who: str = "This model", name: str = "X") -> None:
        check_in_unit_interval(x, name, f"{who} with likelihood='bernoulli'", alternative="likelihood='gaussian'")


def gaussian_kl(mu, log_var):
    """KL(N(mu, diag(exp(log_var))) ‖ N(0, I)) per row: −½ Σ_k (1 + log_var − mu² − exp(log_var)).

    Parameters
    ----------
    mu, log_var : arrays of shape (N, K)
        The encoder's posterior mean and log-variance, log_var = log σ².

    Returns
    -------
    array of shape (N,), ≥ 0
    """
    xp = array_namespace(mu, log_var)
    return -0.5 * xp.sum(1.0 + log_var - mu * mu - xp.exp(log_var), axis=1)


def gaussian_kl_grad(mu, log_var):
    """Gradients of the per-row ``gaussian_kl``: d/dmu = mu, d/dlog_var = ½(exp(log_var) − 1).

    Parameters
    ----------
    mu, log_var : arrays of shape (N, K)

    Returns
    -------
    dmu, dlog_var : arrays of shape (N, K)
    """
    xp = array_namespace(mu, log_var)
    return mu, 0.5 * (xp.exp(log_var) - 1.0)


LOSSES = {"bce": BCE, "mse": MSE}


def get_loss(name) -> Loss:
    """The loss object called ``name`` (``"bce"`` or ``"mse"``), or a Loss instance itself."""
    if isinstance(name, Loss):
        return name
    return LOSSES[check_option(name, tuple(LOSSES), "loss")]()


LIKELIHOODS = {"bernoulli": BernoulliNLL, "gaussian": GaussianNLL}


def get_likelihood(name, sigma: float = 1.0) -> Loss:
    """The VAE's likelihood object: ``BernoulliNLL()`` for ``"bernoulli"``, ``GaussianNLL(sigma)``
    for ``"gaussian"``."""
    name = check_option(name, tuple(LIKELIHOODS), "likelihood")
    return GaussianNLL(sigma) if name == "gaussian" else BernoulliNLL()
