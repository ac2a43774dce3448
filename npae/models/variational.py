"""The variational autoencoder (Kingma & Welling, 2014), with every derivative written by hand.

Encoder: x → Dense → f → … (the hidden stack, output h of width H) and two linear heads,

    mu      = h @ W_mu + b_mu                                   (N, K)
    log_var = clamp(h @ W_lv + b_lv, LOG_VAR_MIN, LOG_VAR_MAX)  (N, K)   log_var = log σ²

Sampling by reparameterization, z = mu + std·eps with std = exp(½·log_var), eps ~ N(0, I);
the decoder mirrors the encoder and ends with a linear layer whose output y is the Bernoulli
logits or the Gaussian mean. The objective is the batch mean of the negative β-ELBO:

    L = mean_n [ NLL(x_n | z_n) + β·KL_n ]
    KL_n = −½ Σ_k (1 + log_var − mu² − exp(log_var))            (KL(q(z|x) ‖ N(0, I)), exact)
    bernoulli: NLL = Σ_d softplus(y_d) − x_d·y_d                 (BCE on logits, x in [0, 1])
    gaussian:  NLL = ½‖x − y‖²/σ² + D·log σ + ½·D·log 2π          (fixed σ = ``sigma``)

The NLL and the KL are ``npae.losses``' (``BernoulliNLL``, ``GaussianNLL``, ``gaussian_kl``):
the model picks its likelihood object once, when it builds its layers (``likelihood_``).

Backward, in the order it runs: dy = ∂NLL/∂y / N through the decoder gives dz; the only
hand-written junction is the split and the sampling,

    dmu      = dz + (β/N)·mu
    dlog_var = dz·½·std·eps + (β/N)·½(exp(log_var) − 1)          (zero where the clamp is active)

then both heads' backward passes add into dh, which runs through the encoder stack.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import secrets

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from npae import backend as B
from npae import losses
from npae.activations import get_activation
from npae.initializers import default_init, get_initializer
from npae.layers import Dense, dense_stack
from npae.losses import gaussian_kl, gaussian_kl_grad  # public here before they moved to losses
from npae.models.base import INFERENCE_CHUNK, BaseAutoencoder, _finite_losses, finite_row_mean
from npae.optimizers import OPTIMIZERS
from npae.validation import (
    check_array,
    check_hidden_sizes,
    check_nonnegative_float,
    check_nonnegative_int,
    check_option,
    check_positive_float,
    check_positive_int,
    restore_kind,
)

__all__ = [
    "LIKELIHOODS",
    "LOG_VAR_MAX",
    "LOG_VAR_MIN",
    "RowStreams",
    "VAE",
    "clamp_log_var",
    "clamp_log_var_grad",
    "gaussian_kl",
    "gaussian_kl_grad",
    "reparameterize",
    "reparameterize_grad",
]

#: The ``likelihood`` options; ``npae.losses.LIKELIHOODS`` maps them to their loss classes.
LIKELIHOODS = tuple(losses.LIKELIHOODS)

#: log_var is clamped to [LOG_VAR_MIN, LOG_VAR_MAX] right after the split. exp(LOG_VAR_MAX) =
#: exp(20) ≈ 4.9e8 and exp(½·LOG_VAR_MAX) ≈ 2.2e4 stay far from float32 overflow (3.4e38), and
#: exp(LOG_VAR_MIN) ≈ 9.4e-14 keeps std ≈ 3.1e-7 from underflowing to zero.
LOG_VAR_MIN = -30.0
LOG_VAR_MAX = 20.0

#: How many rows (importance samples × data rows) one decoder pass of ``log_likelihood`` takes:
#: memory per pass is IWAE_CHUNK_ROWS·D numbers, whatever k is.
IWAE_CHUNK_ROWS = INFERENCE_CHUNK


# ---------------------------------------------------------------------- the junction pieces
def clamp_log_var(raw):
    """log_var = min(max(raw, LOG_VAR_MIN), LOG_VAR_MAX), element-wise.

    Parameters
    ----------
    raw : array of shape (N, K)
        The log-variance head's output, h @ W_lv + b_lv.

    Returns
    -------
    log_var : array of shape (N, K)
    """
    xp = array_namespace(raw)
    return xp.clip(raw, LOG_VAR_MIN, LOG_VAR_MAX)


def clamp_log_var_grad(dlog_var, raw):
    """d/draw of the clamp: dlog_var where LOG_VAR_MIN ≤ raw ≤ LOG_VAR_MAX, 0 outside.

    The clamp is flat outside its range, so no gradient reaches the head from clamped entries
    (the same convention as ``torch.clamp``, which passes the gradient at the bounds).

    Parameters
    ----------
    dlog_var : array of shape (N, K)
        dL/dlog_var.
    raw : array of shape (N, K)
        The unclamped head output.

    Returns
    -------
    array of shape (N, K)
        dL/draw.
    """
    xp = array_namespace(dlog_var, raw)
    inside = (raw >= LOG_VAR_MIN) & (raw <= LOG_VAR_MAX)
    return xp.where(inside, dlog_var, 0.0)


def reparameterize(mu, log_var, eps=None, random_state=None):
    """z = mu + std·eps with std = exp(½·log_var): a draw from N(mu, diag(exp(log_var))).

    Parameters
    ----------
    mu, log_var : arrays of shape (N, K)
    eps : array of shape (N, K), optional
        The standard-normal noise; drawn with ``npae.backend.standard_normal`` from
        ``random_state`` when not given (host draw, so a seed gives the same eps on every backend).
    random_state : None, int, numpy.random.Generator or RowStreams
        A Generator draws eps as one (N, K) block, so row n gets the n-th draw (training);
        ``RowStreams`` draws each row's eps from that row's own stream (inference).

    Returns
    -------
    z : array of shape (N, K)
    eps : array of shape (N, K)
        The noise used, which the backward pass (``reparameterize_grad``) needs.
    """
    if eps is None and isinstance(random_state, RowStreams):
        eps = random_state.standard_normal(1, like=mu)[0, ...]
    elif eps is None:
        eps = B.standard_normal(B.check_random_state(random_state), tuple(mu.shape), like=mu)
    xp = array_namespace(mu, log_var, eps)
    std = xp.exp(0.5 * log_var)
    return mu + std * eps, eps


def reparameterize_grad(dz, log_var, eps):
    """Backward of ``reparameterize``: dmu = dz, dlog_var = dz·½·std·eps.

    Parameters
    ----------
    dz : array of shape (N, K)
        dL/dz.
    log_var, eps : arrays of shape (N, K)
        As used in the forward pass.

    Returns
    -------
    dmu, dlog_var : arrays of shape (N, K)
    """
    xp = array_namespace(dz, log_var, eps)
    std = xp.exp(0.5 * log_var)
    return dz, dz * (0.5 * std * eps)


# ---------------------------------------------------------------------- inference seeds
def _digest(value) -> int:
    """A 128-bit int from the repr of ``value`` (ints and tuples of them): a stable seed."""
    return int.from_bytes(hashlib.sha256(repr(value).encode()).digest()[:16], "little")


def _inference_seed(random_state) -> int:
    """The seed of a model's inference stream, from its ``random_state`` at build time.

    An int seeds it deterministically (a saved and loaded model scores alike); a Generator made
    from a seed (``numpy.random.default_rng(0)``) does too, from its seed sequence, without
    drawing from it; anything else (None, a legacy RandomState) gets fresh entropy. The stream
    differs from the training stream of the same seed.
    """
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return _digest(("npae-vae-inference", int(random_state)))
    seed_seq = getattr(getattr(random_state, "bit_generator", None), "seed_seq", None)
    entropy = getattr(seed_seq, "entropy", None)
    if entropy is not None:
        entropy = tuple(entropy) if isinstance(entropy, (list, tuple)) else int(entropy)
        return _digest(("npae-vae-inference", entropy, tuple(int(k) for k in seed_seq.spawn_key)))
    return secrets.randbits(128)


def _scoring_key(random_state) -> bytes:
    """The 16-byte key of the row streams an explicit ``random_state`` gives an inference call:
    an int is hashed (the same int, the same draws); a Generator (or RandomState) gives 16 of its
    bytes, so the caller's stream advances, as drawing from it would."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return _digest(("npae-vae-scoring", int(random_state))).to_bytes(16, "little")
    return B.check_random_state(random_state).bytes(16)


class RowStreams:
    """One random stream per row of X, seeded by the row's content: the inference draws of a VAE.

    Row n's stream is SplitMix64 seeded by a keyed 64-bit hash of x_n's values
    (``npae.backend.hash_rows``), keyed by ``key`` (16 bytes: the model's inference seed, or the
    call's ``random_state``). So a row draws the same eps wherever it stands in X and whatever rows
    stand beside it, and equal rows draw equal eps (0.0 and −0.0 count as equal): a score is a
    function of the row, the model and the key, as scikit-learn expects of ``score_samples``.
    Rows that differ in any bit get other seeds (a one-ulp change always does) and so
    independent streams.

    The streams are counter-based (``npae.backend.CounterStreams``): number i of a row's stream
    depends on its seed and i alone, so every row's draws come out of one vectorised pass, and
    a draw can start anywhere in the stream (``first``). The normals are npae's one sampler
    (``npae.backend.standard_normal``, Box–Muller) applied to those uniforms on the host and
    moved to X's backend in one transfer, so a key gives the same numbers on every backend.
    Reading X's rows on the host costs one device-to-host copy of X on a GPU.

    Parameters
    ----------
    X : array of shape (N, D)
    key : bytes
        16 bytes.
    """

    def __init__(self, X, key: bytes):
        self._seeds = B.hash_rows(X, key)  # (N,) host uint64

    def __getitem__(self, rows: slice) -> RowStreams:
        """The streams of a block of rows."""
        block = object.__new__(RowStreams)
        block._seeds = self._seeds[rows]
        return block

    def standard_normal(self, s: int, *, like, first: int = 0):
        """Draws first … first + s − 1 of K = like.shape[1] standard normals per row: eps (s, N, K).

        eps[:, n, :] comes from row n's stream, beside ``like`` (N, K) (its dtype and backend).
        Draw j takes the uniforms at positions j·W … (j + 1)·W − 1 of the stream, W = K + K % 2
        (whole Box–Muller pairs, the last normal dropped when K is odd), so a row's samples are
        the same however they are split into calls.
        """
        N, K = like.shape[0], like.shape[1]
        width = K + K % 2
        uniforms = B.CounterStreams(self._seeds, start=first * width, count=s * width)
        eps = B.standard_normal(uniforms, (N, s, width), like=like)  # row after row
        return array_namespace(eps).permute_dims(eps, (1, 0, 2))[:, :, :K]


# ---------------------------------------------------------------------- the model
class VAE(BaseAutoencoder):
    """A variational autoencoder with hand-written backpropagation; a scikit-learn transformer.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(256,)
        Encoder hidden widths H_1, …; the decoder uses them reversed.
    latent_dim : int, default=32
        K, the width of z.
    activation : str, default="relu"
        Hidden activation (``npae.activations.ACTIVATIONS``), encoder and decoder.
    likelihood : {"bernoulli", "gaussian"}, default="bernoulli"
        p(x|z). "bernoulli": the decoder emits logits, X must lie in [0, 1] (on grey-level data
        the figure is a "BCE-ELBO", not a normalized likelihood). "gaussian": the decoder emits
        the mean of N(x̂, σ²I), σ = ``sigma``.
    sigma : float, default=1.0
        σ > 0 of the Gaussian likelihood (ignored for "bernoulli").
    beta : float, default=1.0
        β ≥ 0, the weight of the KL term (β = 1: the ELBO; β > 1: β-VAE).
    kl_warmup_epochs : int, default=0
        W ≥ 0. During ``fit`` the KL weight in epoch e (counted from 0, continuing across
        ``warm_start`` fits) is β·min(1, e/W): 0 in the first epoch, β from epoch W on.
    optimizer : {"adam", "adamw", "sgd", "momentum", "nesterov"}, default="adam"
        As for ``npae.Autoencoder`` (momentum and Nesterov: SGD with μ = 0.9).
    learning_rate : float, default=1e-3
        The step size of whichever optimizer.
    batch_size : int, default=128
    epochs : int, default=10
    dtype : {"float32", "float64"}, default="float32"
    random_state : None, int or numpy.random.Generator
        Seeds the initial weights, the minibatch order and every eps drawn during ``fit``; and,
        through a separate stream fixed when the network is built, the draws of inference
        (``score_samples``, ``elbo``, ``log_likelihood``, ``sample`` without ``random_state``).
    backend : {None, "numpy", "cupy", "torch", "array_api_strict"}
        None uses the active backend when fitting.
    verbose : {0, 1, 2}, default=1
        1 shows a tqdm progress bar over epochs; 2 prints one line per epoch (for logs and CI, as
        Keras); 0 is silent.
    weight_init : str or None, default=None
        Kernel initializer; None picks He for ReLU-like activations and Glorot otherwise.
    warm_start : bool, default=False
        If True, ``fit`` continues from the current parameters, optimizer state and warm-up.
    clip_norm : float or None, default=None
        If set, each step scales the gradients so their global L2 norm is at most ``clip_norm``
        (``npae.optimizers.clip_grad_norm``): a guard against one huge step blowing training up.

    Attributes
    ----------
    encoder_ : npae.layers.Sequential
        The hidden stack (parameters ``encoder.{i}.W/b``).
    mu_head_ : npae.layers.Dense
        The mean head (parameters ``encoder.mu.W/b``), H → K.
    logvar_head_ : npae.layers.Dense
        The log-variance head (parameters ``encoder.logvar.W/b``), H → K.
    decoder_ : npae.layers.Sequential
        Parameters ``decoder.{i}.W/b``; the last layer is linear.
    likelihood_ : npae.losses.BernoulliNLL or npae.losses.GaussianNLL
        −log p(x|z) as a loss object (value, gradient, output), chosen from ``likelihood`` and
        ``sigma`` when the layers are built.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Defined only when X had string column names (a DataFrame); later calls check them.
    backend_ : npae.backend.Backend
    optimizer_ : npae.optimizers.Optimizer
    history_ : dict[str, list[float]]
        Per epoch: "loss" (the objective with that epoch's KL weight), "reconstruction" (mean
        NLL), "kl" (mean KL, unweighted), "beta" (the KL weight used); with validation data
        "val_loss" (at the full β), "val_reconstruction" and "val_kl".

    Notes
    -----
    log_var is clamped to [LOG_VAR_MIN, LOG_VAR_MAX] = [−30, 20] right after the split, so
    exp(log_var) stays finite in float32; the gradient is zero for clamped entries, and gradient
    checks run inside the range. All sampled quantities (``fit``, ``elbo``, ``log_likelihood``,
    ``sample``) use eps drawn on the host by ``npae.backend.standard_normal``, so a seed gives the
    same numbers on every backend (float32 and float64 draw different streams).

    Inference never draws from the training Generator: without ``random_state``, each call of
    ``score_samples``, ``elbo``, ``log_likelihood``, ``log_importance_weights`` or ``sample``
    starts afresh from the model's inference seed. A fitted model therefore gives the same
    numbers for the same call every time, from any thread, and scoring between fits does not
    change later training; pass ``random_state`` for other draws. The inference seed follows an
    int (or seeded Generator) ``random_state``, so a loaded model scores as the saved one did;
    with ``random_state=None`` it is fresh entropy at each fit from scratch.

    The scores draw each row's eps from a stream of its own, seeded by a keyed hash of the row's
    bytes (``RowStreams``): a row scores the same alone, in any batch and in any order, as
    scikit-learn's sample-order and subset invariance ask, and equal rows score alike. (To
    average over noise, score with several ``random_state`` values, not with repeated rows.)

    Examples
    --------
    >>> import npae
    >>> from npae.models.variational import VAE
    >>> X, _ = npae.datasets.load_digits()
    >>> vae = VAE(hidden_sizes=(64,), latent_dim=4, epochs=2, verbose=0, random_state=0).fit(X)
    >>> vae.transform(X).shape, vae.sample(5).shape
    ((1797, 4), (5, 64))
    """

    _TRAIN_LOGS = ("reconstruction", "kl", "beta")
    _VALIDATION_LOGS = ("reconstruction", "kl")

    def __init__(
        self,
        hidden_sizes=(256,),
        latent_dim=32,
        activation="relu",
        likelihood="bernoulli",
        sigma=1.0,
        beta=1.0,
        kl_warmup_epochs=0,
        optimizer="adam",
        learning_rate=1e-3,
        batch_size=128,
        epochs=10,
        dtype="float32",
        random_state=None,
        backend=None,
        verbose=1,
        weight_init=None,
        warm_start=False,
        clip_norm=None,
    ):
        self.hidden_sizes = hidden_sizes
        self.latent_dim = latent_dim
        self.activation = activation
        self.likelihood = likelihood
        self.sigma = sigma
        self.beta = beta
        self.kl_warmup_epochs = kl_warmup_epochs
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.dtype = dtype
        self.random_state = random_state
        self.backend = backend
        self.verbose = verbose
        self.weight_init = weight_init
        self.warm_start = warm_start
        self.clip_norm = clip_norm

    # ------------------------------------------------------------------ checks and layers
    def _check_hyperparameters(self) -> None:
        super()._check_hyperparameters()
        get_activation(self.activation)
        check_option(self.likelihood, LIKELIHOODS, "likelihood")
        check_positive_float(self.sigma, "sigma")
        check_nonnegative_float(self.beta, "beta")
        check_nonnegative_int(self.kl_warmup_epochs, "kl_warmup_epochs", hint="Use 0 for no warm-up.")
        check_option(self.optimizer, tuple(OPTIMIZERS), "optimizer")
        if self.weight_init is not None:
            get_initializer(self.weight_init)

    def _check_data_range(self, Xb, name: str = "X") -> None:
        """The likelihood's own check (Bernoulli targets must lie in [0, 1]); changes nothing."""
        losses.get_likelihood(self.likelihood, self.sigma).check_target(Xb, type(self).__name__, name)

    def _build(self, n_features: int, rng) -> None:
        self._inference_seed = _inference_seed(self.random_state)
        self.likelihood_ = losses.get_likelihood(self.likelihood, self.sigma)
        init = self.weight_init or default_init(self.activation)
        hidden = check_hidden_sizes(self.hidden_sizes)
        common = {"init": init, "rng": rng, "dtype": self.dtype, "backend": self.backend_}
        sizes = (n_features, *hidden)
        self.encoder_ = dense_stack(sizes, [self.activation] * len(hidden), **common)
        self.mu_head_ = Dense(sizes[-1], self.latent_dim, **common)
        self.logvar_head_ = Dense(sizes[-1], self.latent_dim, **common)
        self.decoder_ = dense_stack(
            (self.latent_dim, *hidden[::-1], n_features), [self.activation] * len(hidden) + [None], **common
        )

    def _named_layers(self):
        return (
            [(f"encoder.{i}", layer) for i, layer in enumerate(self.encoder_.parameter_layers())]
            + [("encoder.mu", self.mu_head_), ("encoder.logvar", self.logvar_head_)]
            + [(f"decoder.{i}", layer) for i, layer in enumerate(self.decoder_.parameter_layers())]
        )

    def _fixed_randomness(self, X, rng) -> dict:
        """eps (N, K), drawn once from ``rng``: the reparameterization's noise, fixed for a gradient check."""
        return {"eps": rng.standard_normal((int(X.shape[0]), int(self.latent_dim)))}

    def _training_state(self) -> dict:
        """The base class's (the training stream), plus the inference seed (as a decimal string:
        128 bits exceed JSON's exact integers), so a loaded model scores, samples and estimates
        log-likelihoods as the saved one did, whatever its ``random_state`` was."""
        state = super()._training_state()
        state["inference_seed"] = str(int(self._inference_seed))
        return state

    def _restore_training_state(self, state: dict) -> None:
        super()._restore_training_state(state)
        seed = state.get("inference_seed")
        if seed is None:  # a checkpoint written before npae saved it: the seed of random_state
            return
        if not (isinstance(seed, str) and seed.isdigit() and 0 <= int(seed) < 2**128):
            raise ValueError(f"inference_seed must be a decimal string of a 128-bit integer; got {seed!r:.60}")
        self._inference_seed = int(seed)

    # ------------------------------------------------------------------ inference randomness
    # Inference draws (elbo / score_samples, log_likelihood, log_importance_weights, sample) never
    # touch the training Generator ``_rng``: each call starts afresh from the model's inference
    # seed, fixed when the network is built. So scoring between fits does not change later
    # training, concurrent calls give what sequential ones give, and a call is a function of the
    # fitted model and its arguments (a fitted model is a value). The scores go further: each row
    # draws from its own stream (``RowStreams``), keyed by that seed, so a row's score is a
    # function of the row and the model alone; npae.dask's blocks therefore score their rows as
    # the whole array does in memory, with no key of their own.
    def _model_rng(self, random_state=None):
        """The Generator for an inference draw: ``random_state`` if given, else a fresh one from
        the model's inference stream (see ``_inference_rng``)."""
        if random_state is not None:
            return B.check_random_state(random_state)
        return self._inference_rng()

    def _inference_rng(self):
        """A new Generator on the inference stream of this model; it never advances anything on the model."""
        return B.check_random_state(self._stream_seed())

    def _stream_seed(self) -> int:
        """The 128-bit seed of this model's inference stream."""
        seed = getattr(self, "_inference_seed", None)
        if seed is None:  # a model pickled before the inference stream existed
            seed = _inference_seed(getattr(self, "_fitted_params", {}).get("random_state", 0))
        return seed

    def _row_key(self, random_state=None) -> bytes:
        """The key of the row streams of an inference call: ``random_state``'s if given (see
        ``_scoring_key``), else the model's inference seed."""
        if random_state is not None:
            return _scoring_key(random_state)
        return self._stream_seed().to_bytes(16, "little")

    def __dask_tokenize__(self):
        """The base class's content token, plus the inference seed (it decides sampled scores)."""
        return (*super().__dask_tokenize__(), str(getattr(self, "_inference_seed", None)))

    def _kl_weight(self) -> float:
        """β·min(1, e/W) for the epoch e about to run (e = epochs already in ``history_``)."""
        beta, warmup = float(self.beta), int(self.kl_warmup_epochs)
        if warmup == 0:
            return beta
        done = len(self.history_.get("loss", []))
        return beta * min(1.0, done / warmup)

    # ------------------------------------------------------------------ forward pieces
    def _encode_stats(self, X):
        """mu, log_var (clamped) and the raw head output, each (N, K), from X (N, D); inference
        (the layers' ``infer``: no cache is written)."""
        h = self.encoder_.infer(X)
        mu = self.mu_head_.infer(h)
        raw = self.logvar_head_.infer(h)
        return mu, clamp_log_var(raw), raw

    def _encode(self, X):
        """mu = the posterior mean, (N, D) -> (N, K)."""
        return self.mu_head_.infer(self.encoder_.infer(X))

    def _decode_output(self, Z):
        """x̂ in data space, (N, K) -> (N, D): σ(logits) for "bernoulli", the mean for "gaussian"."""
        return self.likelihood_.output(self.decoder_.infer(Z))

    def _terms(self, X, rng):
        """Per-row NLL and KL with z sampled from ``rng`` (a Generator or ``RowStreams``), (N, 2)."""
        xp = array_namespace(X)
        mu, log_var, _ = self._encode_stats(X)
        z, _ = reparameterize(mu, log_var, random_state=rng)
        nll = self.likelihood_.value(X, self.decoder_.infer(z))
        return xp.stack([nll, losses.gaussian_kl(mu, log_var)], axis=1)

    def _sample_losses(self, X, rng=None):
        """−ELBO per row with sampled z (β = 1 whatever ``beta`` is): NLL + KL, shape (N,).

        ``rng`` None draws each row's eps from its own stream under the model's key."""
        terms = self._terms(X, RowStreams(X, self._row_key()) if rng is None else rng)
        return terms[:, 0] + terms[:, 1]

    def _evaluate(self, Xb) -> dict:
        """Validation figures over all of Xb with sampled z: loss (at the full β), NLL and KL.

        Each row draws its eps from its own inference stream (as ``score_samples`` does), never from
        the training stream, so a fit with validation data trains exactly as one without."""
        terms = self._chunks(lambda x: self._terms(x, RowStreams(x, self._row_key())), Xb)
        recon, kl = finite_row_mean(terms[:, 0]), finite_row_mean(terms[:, 1])
        return {"loss": recon + float(self.beta) * kl, "reconstruction": recon, "kl": kl}

    # ------------------------------------------------------------------ forward and backward
    def _validate_loss_kwargs(self, Xb, kwargs: dict) -> dict:
        """Accept only ``eps``: a finite real array of shape (N, K), moved to X's backend and dtype."""
        unexpected = sorted(set(kwargs) - {"eps"})
        if unexpected:
            raise TypeError(
                f"{type(self).__name__}.loss_and_grad() got unexpected arguments {unexpected}; "
                "the only one it takes is eps=, the (N, K) standard-normal noise."
            )
        eps = kwargs.get("eps")
        if eps is None:
            return {}
        eps, _ = check_array(
            eps, backend=self._resolve_backend(), dtype=self.dtype, name="eps", estimator_name=type(self).__name__
        )
        expected = (Xb.shape[0], int(self.latent_dim))
        if tuple(eps.shape) != expected:
            raise ValueError(
                f"eps must have shape (N, K) = {expected}, one row of latent noise per row of X; got "
                f"shape {tuple(eps.shape)}. Draw it as rng.standard_normal({expected})."
            )
        return {"eps": eps}

    def _training_objective(self, X):
        """The step's objective with the warm-up KL weight β (``_kl_weight``)."""
        return self._forward_backward(X, beta=self._kl_weight())

    def _forward_backward(self, X, eps=None, beta=None):
        """L = mean_n [NLL(x_n | z_n) + β·KL_n], z = mu + exp(½·log_var)·eps; gradients into the layers.

        Parameters
        ----------
        X : array of shape (N, D)
        eps : array of shape (N, K), optional
            The noise; drawn from the model's Generator when None.
        beta : float, optional
            The KL weight; ``self.beta`` when None (``fit`` passes the warm-up value).

        Returns
        -------
        loss : 0-d array
        logs : dict of 0-d arrays
            "reconstruction" (mean NLL), "kl" (mean KL, unweighted), "beta" (the weight used).
        """
        beta = float(self.beta) if beta is None else float(beta)
        N = X.shape[0]
        h = self.encoder_.forward(X)
        mu = self.mu_head_.forward(h)
        raw = self.logvar_head_.forward(h)
        log_var = clamp_log_var(raw)
        z, eps = reparameterize(mu, log_var, eps, random_state=self._rng)
        y = self.decoder_.forward(z)
        xp = array_namespace(y)
        nll, dy = self.likelihood_.value_and_grad(X, y)
        kl = losses.gaussian_kl(mu, log_var)
        recon, kl_mean = xp.mean(nll), xp.mean(kl)
        loss = xp.mean(nll + beta * kl)

        dz = self.decoder_.backward(dy * (1.0 / N))
        dmu, dlog_var = reparameterize_grad(dz, log_var, eps)
        dmu_kl, dlog_var_kl = losses.gaussian_kl_grad(mu, log_var)
        dmu = dmu + (beta / N) * dmu_kl
        dlog_var = dlog_var + (beta / N) * dlog_var_kl
        dh = self.mu_head_.backward(dmu) + self.logvar_head_.backward(clamp_log_var_grad(dlog_var, raw))
        self.encoder_.backward(dh, input_grad=False)
        beta_log = xp.asarray(beta, dtype=loss.dtype, device=device_of(loss))
        return loss, {"reconstruction": recon, "kl": kl_mean, "beta": beta_log}

    # ------------------------------------------------------------------ generative API
    def sample(self, n_samples: int, random_state=None):
        """Draw z ~ N(0, I) and decode: new data, in data space (probabilities for "bernoulli").

        Parameters
        ----------
        n_samples : int
        random_state : None, int or numpy.random.Generator
            None draws from the model's inference stream (the same samples on every call).

        Returns
        -------
        array of shape (n_samples, D)
            An array of the model's backend (NumPy on the default backend;
            ``npae.backend.to_numpy`` brings any other to the host).
        """
        self._check_is_fitted()
        model = self._as_fitted()
        n = check_positive_int(n_samples, "n_samples")
        rng = self._model_rng(random_state)
        Z = B.standard_normal(rng, (n, int(model.latent_dim)), dtype=model.dtype, backend=model.backend_)
        return model._chunks(model._decode_output, Z)

    def elbo(self, X, random_state=None):
        """Per-sample ELBO with one sampled z: log p(x|z) − KL(q(z|x) ‖ N(0, I)) (β = 1).

        For "bernoulli" on grey-level data this is a BCE-ELBO, not a bound on a normalized
        likelihood.

        Each row's eps comes from its own stream, seeded by the row's content under a key
        (``RowStreams``): a row's ELBO does not depend on its position in X or on the other rows,
        and equal rows get equal values.

        Parameters
        ----------
        X : array-like of shape (N, D)
        random_state : None, int or numpy.random.Generator
            The key of the rows' streams: None uses the model's inference seed (the same eps on
            every call); an int its own key; a Generator gives 16 bytes of its stream as the key.

        Returns
        -------
        array of shape (N,), the kind of array X was
        """
        self._check_is_fitted()
        model = self._as_fitted()
        Xb, kind = model._validate(X, n_features=model.n_features_in_)
        key = self._row_key(random_state)
        losses_ = model._chunks(lambda x: model._sample_losses(x, RowStreams(x, key)), Xb)
        return restore_kind(-_finite_losses(losses_), kind)

    def score_samples(self, X):
        """The per-sample ELBO (``elbo`` on the model's inference seed): higher means more normal.

        A row's score is a function of the row and the fitted model only: the same in any order,
        alone or in any batch (``RowStreams``). A row whose ELBO overflows the dtype scores
        −finfo(dtype).max (see ``BaseAutoencoder``).
        """
        return self.elbo(X)

    def _score_rows(self, X, rng=None):
        """The per-row ELBO at β = 1, whose mean is ``score``."""
        return -_finite_losses(self._sample_losses(X, rng))

    def _row_scorer(self):
        """``_score_rows`` with each row's eps from its own stream under the model's key."""
        key = self._row_key()
        return lambda X: self._score_rows(X, RowStreams(X, key))

    def score(self, X, y=None) -> float:
        """The mean ELBO at β = 1 (one sampled z per row): a lower bound on the mean log-likelihood.

        As ``GaussianMixture.score`` and ``KernelDensity.score`` give the mean log-likelihood, the
        VAE, a density model, scores the bound on it. It is the same for every ``beta`` and
        ``kl_warmup_epochs`` (they weight training only), so ``GridSearchCV`` over them ranks
        models by the bound, not by their own objective; over ``sigma`` it compares Gaussian
        likelihoods, as it should. Bernoulli and Gaussian ELBOs are densities of different kinds
        and do not compare: to choose ``likelihood``, pass a ``scoring=`` that calls
        ``reconstruction_error`` (the autoencoders' default ``score``) or ``log_likelihood``.
        """
        return super().score(X, y)

    def _log_weight_chunks(self, X, k: int, rng):
        """Yield log w_s = log p(x|z_s) + log N(z_s; 0, I) − log q(z_s|x) for s = 1 … k, a block
        of samples at a time: arrays of shape (s, N) whose first axes add up to k.

        log q(z_s|x) = −½ Σ_k (log 2π + log_var + eps_s²) and log N(z_s; 0, I) = −½ Σ_k (log 2π + z_s²),
        so the two log 2π terms cancel. A block runs at most IWAE_CHUNK_ROWS rows (samples × rows)
        through the decoder, eps drawn block after block: from ``RowStreams``, each row its own
        samples in order; from a Generator, one (s, N, K) block; the likelihood scores the s·N
        rows of a block against X repeated s times.
        """
        xp = array_namespace(X)
        N = X.shape[0]
        K = int(self.latent_dim)
        mu, log_var, _ = self._encode_stats(X)
        std = xp.exp(0.5 * log_var)
        per_chunk = max(1, IWAE_CHUNK_ROWS // N)
        for start in range(0, k, per_chunk):
            s = min(per_chunk, k - start)
            if isinstance(rng, RowStreams):
                eps = rng.standard_normal(s, like=mu, first=start)
            else:
                eps = B.standard_normal(rng, (s, N, K), like=X)
            z = mu[None, :, :] + std[None, :, :] * eps
            y = self.decoder_.infer(xp.reshape(z, (s * N, K)))  # row s·N + n holds sample s of x_n
            log_px = -xp.reshape(self.likelihood_.value(xp.tile(X, (s, 1)), y), (s, N))
            log_pz_minus_log_q = -0.5 * xp.sum(z * z - log_var[None, :, :] - eps * eps, axis=-1)
            yield log_px + log_pz_minus_log_q

    def _log_weights(self, X, k: int, rng):
        """All k log importance weights of X (N, D) at once: (k, N)."""
        return array_namespace(X).concat(list(self._log_weight_chunks(X, k, rng)), axis=0)

    def _streamed_log_mean_weight(self, X, k: int, rng):
        """log (1/k) Σ_s w_s for X (N, D), streamed over the blocks of ``_log_weight_chunks``: (N,).

        A running logsumexp keeps only m = max_s log w_s so far and S = Σ_s exp(log w_s − m),
        shape (N,) each; a block with maximum m_b updates m′ = max(m, m_b) and
        S′ = S·exp(m − m′) + Σ_block exp(log w − m′). Every exponent is ≤ 0, so nothing
        overflows, and memory is one block, whatever k is.
        """
        xp = array_namespace(X)
        m = total = None
        for log_w in self._log_weight_chunks(X, k, rng):
            block_max = xp.max(log_w, axis=0)
            if m is None:
                m_new = block_max
                total = xp.sum(xp.exp(log_w - m_new[None, :]), axis=0)
            else:
                m_new = xp.maximum(m, block_max)
                total = total * xp.exp(m - m_new) + xp.sum(xp.exp(log_w - m_new[None, :]), axis=0)
            m = m_new
        return m + xp.log(total) - math.log(k)

    def log_importance_weights(self, X, k: int = 100, random_state=None):
        """The k log importance weights log p(x, z_s)/q(z_s|x), z_s ~ q(z|x), per row.

        Parameters
        ----------
        X : array-like of shape (N, D)
        k : int, default=100
            S, the number of importance samples.
        random_state : None, int or numpy.random.Generator
            The key of the rows' streams, as in ``elbo`` (each row draws its k samples from its
            own stream, the ones ``log_likelihood`` draws); None uses the model's inference seed
            (the same eps on every call).

        Returns
        -------
        array of shape (k, N), the kind of array X was
        """
        self._check_is_fitted()
        model = self._as_fitted()
        k = check_positive_int(k, "k")
        Xb, kind = model._validate(X, n_features=model.n_features_in_)
        key = self._row_key(random_state)
        # _chunks concatenates along rows, so each row block returns its weights as (N_block, k)
        weights = model._chunks(lambda x: model._log_weights(x, k, RowStreams(x, key)).T, Xb)
        return restore_kind(weights.T, kind)

    def log_likelihood(self, X, k: int = 100, random_state=None):
        """Importance-weighted estimate of log p(x): log (1/k) Σ_s p(x, z_s)/q(z_s|x), z_s ~ q(z|x).

        Computed as logsumexp_s(log w_s) − log k (max subtracted first, so nothing overflows),
        streamed over blocks of samples: the (k, N) log-weights are never held at once, and
        memory stays bounded for any k (IWAE_CHUNK_ROWS rows per decoder pass). Each row draws
        its k samples from its own stream (``RowStreams``), the ones ``log_importance_weights``
        draws: a row's estimate does not depend on its position in X or on the other rows.
        It is a lower bound on log p(x) in expectation, equal to the ELBO in expectation at k = 1
        and rising with k (Burda et al., 2016).

        Parameters
        ----------
        X : array-like of shape (N, D)
        k : int, default=100
            S, the number of importance samples.
        random_state : None, int or numpy.random.Generator
            The key of the rows' streams, as in ``elbo``; None uses the model's inference seed
            (the same eps on every call).

        Returns
        -------
        array of shape (N,), the kind of array X was
        """
        self._check_is_fitted()
        model = self._as_fitted()
        k = check_positive_int(k, "k")
        Xb, kind = model._validate(X, n_features=model.n_features_in_)
        key = self._row_key(random_state)
        log_p = model._chunks(lambda x: model._streamed_log_mean_weight(x, k, RowStreams(x, key)), Xb)
        return restore_kind(-_finite_losses(-log_p), kind)  # an overflowing row: −finfo.max, not NaN
