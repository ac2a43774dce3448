"""Corruption layers for denoising autoencoders: Gaussian, masking and salt-and-pepper noise.

Each layer corrupts its input only while training (``layer.training``, default True; ``eval()``
makes it the identity). The corruption is either given (``noise=``, ``mask=``, ``salt=``), which
makes the layer a deterministic function that gradient checks can difference, or drawn from a
``numpy.random.Generator`` on the host (``npae.backend.uniform`` and ``npae.backend.standard_normal``)
and moved beside x, so one seed gives the same corruption on every backend (for a given dtype:
the float32 and float64 streams of a Generator differ).

With x the input (N, D):

    GaussianNoise        x̃ = clip(x + σ·ε, low, high),  ε ~ N(0, 1)       (no clip if low = high = None)
                         dL/dx = where(low < x + σ·ε < high, g, 0)  (the identity without clipping)
    MaskingNoise         x̃ = where(m, x, 0),  m_nd ~ Bernoulli(1 − ν)  (a fraction ν set to 0, no rescaling)
                         dL/dx = where(m, g, 0)
    SaltAndPepperNoise   x̃ = where(kept, x, where(salt, high, low)); a fraction ν replaced, half by
                         `high` (salt), half by `low` (pepper);  dL/dx = where(kept, g, 0)

(Vincent et al., 2010, "Stacked denoising autoencoders", §4.) Forward caches the pass-through mask
that backward needs; ``corrupt(x, rng)`` is the pure functional form (no cache, always corrupts).
"""

from __future__ import annotations


from array_api_compat import array_namespace

from npae import backend as B
from npae.layers import Layer
from npae.validation import (
    check_finite_or_none,
    check_fraction,
    check_nonnegative_float,
    check_option,
    check_ordered_range,
)

__all__ = [
    "NOISE_KINDS",
    "GaussianNoise",
    "MaskingNoise",
    "NoiseLayer",
    "SaltAndPepperNoise",
    "corrupt",
    "make_noise",
]

NOISE_KINDS = ("gaussian", "masking", "salt_pepper")
"""The names ``noise=`` accepts (``make_noise``, ``DenoisingAutoencoder``)."""


def _beside(a, x, name: str, dtype=None):
    """Move a given corruption array ``a`` onto x's backend and check its shape is x's (N, D)."""
    a = B.asarray(a, dtype=dtype, backend=B.backend_of(x))
    if tuple(a.shape) != tuple(x.shape):
        raise ValueError(f"{name} must have the shape of x, {tuple(x.shape)}; got {tuple(a.shape)}.")
    return a


def _bool_beside(a, x, name: str):
    a = _beside(a, x, name)
    xp = array_namespace(a)
    if a.dtype != xp.bool:
        raise TypeError(f"{name} must be a boolean array (True = keep the entry); got dtype {a.dtype}. "
                        f"Build it with a comparison, e.g. u >= rate.")
    return a


class NoiseLayer(Layer):
    """Base of the corruption layers: no parameters, a ``training`` switch, a pass-through mask.

    Attributes
    ----------
    training : bool
        Corrupt in ``forward`` only when True (``train()``/``eval()`` set it).
    rng : numpy.random.Generator
        Default source of draws when ``forward``/``corrupt`` get no ``rng``.
    """

    _caches = ("_mask",)

    def __init__(self, *, rng=None):
        super().__init__()
        self.training = True
        self.rng = B.check_random_state(rng)
        self._mask = None  # what backward needs: the bool (N, D) pass-through mask (GaussianNoise: x̃), or True

    def train(self, mode: bool = True):
        """Switch corruption on (``mode=True``) or off; returns self."""
        self.training = bool(mode)
        return self

    def eval(self):
        """Switch corruption off (forward and backward become the identity); returns self."""
        return self.train(False)

    def _generator(self, rng):
        return self.rng if rng is None else B.check_random_state(rng)

    def corrupt(self, x, rng=None):
        """Corrupt x (N, D) with a fresh draw from ``rng`` (default ``self.rng``); no cache.

        Returns
        -------
        x_tilde : array of shape (N, D), same backend and dtype as x
        """
        x_tilde, _ = self._apply(x, **self._draw(x, self._generator(rng)))
        return x_tilde

    def backward(self, grad_out, input_grad: bool = True):
        """dL/dx = where(mask, g, 0) with the pass-through mask cached by forward; g : (N, D).

        The mask is True (not an array) where forward did not corrupt: then dL/dx = g.
        """
        self._require_forward(self._mask)
        if not input_grad:
            return None
        if self._mask is True:
            return grad_out
        return array_namespace(grad_out).where(self._mask, grad_out, 0.0)

    def _draw(self, x, rng) -> dict:
        raise NotImplementedError

    def _apply(self, x, **corruption):
        """(x̃, pass-through mask or True) for an explicit corruption."""
        raise NotImplementedError


class GaussianNoise(NoiseLayer):
    """Additive Gaussian noise, x̃ = clip(x + σ·ε, low, high), ε ~ N(0, 1).

    Parameters
    ----------
    std : float
        σ ≥ 0, in the units of x.
    low : float or None, default=None
        Clip the corrupted values from below (the data's minimum: 0 for images scaled to [0, 1]);
        None leaves that side open.
    high : float or None, default=None
        Clip them from above (1 for images in [0, 1]); None leaves that side open.
    rng : None, int or numpy.random.Generator
        Default source of ε.

    Notes
    -----
    dL/dx = g where the unclipped value lies strictly inside (low, high), and 0 where the clip is
    active (there x̃ is the constant bound); without clipping the backward is the identity.
    """

    def __init__(self, std: float, *, low=None, high=None, rng=None):
        super().__init__(rng=rng)
        self.std = check_nonnegative_float(std, "std", hint="A typical value is 0.1.")
        self.low, self.high = check_finite_or_none(low, "low"), check_finite_or_none(high, "high")
        check_ordered_range(self.low, self.high)

    def forward(self, x, *, noise=None, rng=None):
        """x̃ = clip(x + σ·ε, low, high) while training (x itself in eval mode); cache the mask.

        Parameters
        ----------
        x : array of shape (N, D)
        noise : array of shape (N, D), optional
            ε, the standard normal draw (unscaled: the layer multiplies it by σ). Given, it is
            applied even in eval mode.
        rng : None, int or numpy.random.Generator, optional
            Source of ε when ``noise`` is None (default ``self.rng``).

        Returns
        -------
        x_tilde : array of shape (N, D)
        """
        if noise is None and not self.training:
            self._mask = True
            return x
        eps = self._draw(x, self._generator(rng))["noise"] if noise is None else noise
        x_tilde, self._mask = self._apply(x, noise=eps)
        return x_tilde

    def _draw(self, x, rng) -> dict:
        return {"noise": B.standard_normal(rng, tuple(x.shape), like=x)}

    def _apply(self, x, noise):
        """(x̃, pass-through mask): low < v < high for v = x + σ·ε, or True without clipping."""
        xp = array_namespace(x)
        v = x + self.std * _beside(noise, x, "noise", dtype=x.dtype)
        if self.low is None and self.high is None:
            return v, True
        if self.high is None:
            inside = v > self.low
        elif self.low is None:
            inside = v < self.high
        else:
            inside = xp.logical_and(v > self.low, v < self.high)
        return xp.clip(v, min=self.low, max=self.high), inside

    def __repr__(self) -> str:
        return f"GaussianNoise(std={self.std}, low={self.low}, high={self.high})"


class MaskingNoise(NoiseLayer):
    """Masking noise: a random fraction ν of the entries is set to 0, x̃ = where(m, x, 0).

    m_nd = (u_nd ≥ ν) with u ~ U[0, 1), so P(entry zeroed) = ν exactly. Unlike dropout, the kept
    entries are not rescaled: the model must learn to fill the holes in (Vincent et al., 2010).

    Parameters
    ----------
    rate : float
        ν in [0, 1], the expected fraction of entries set to 0.
    rng : None, int or numpy.random.Generator
    """

    def __init__(self, rate: float, *, rng=None):
        super().__init__(rng=rng)
        self.rate = check_fraction(rate, "rate", hint="A typical value is 0.25.")

    def forward(self, x, *, mask=None, rng=None):
        """x̃ = where(m, x, 0) while training (x itself in eval mode); cache m.

        Parameters
        ----------
        x : array of shape (N, D)
        mask : bool array of shape (N, D), optional
            m, True where the entry is kept. Given, it is applied even in eval mode.
        rng : None, int or numpy.random.Generator, optional
            Source of u when ``mask`` is None (default ``self.rng``).

        Returns
        -------
        x_tilde : array of shape (N, D)
        """
        if mask is None and not self.training:
            self._mask = True
            return x
        mask = self._draw(x, self._generator(rng))["mask"] if mask is None else mask
        x_tilde, self._mask = self._apply(x, mask=mask)
        return x_tilde

    def _draw(self, x, rng) -> dict:
        return {"mask": B.uniform(rng, tuple(x.shape), like=x) >= self.rate}

    def _apply(self, x, mask):
        """(x̃ = where(m, x, 0), m)."""
        mask = _bool_beside(mask, x, "mask")
        return array_namespace(x).where(mask, x, 0.0), mask

    def __repr__(self) -> str:
        return f"MaskingNoise(rate={self.rate})"


class SaltAndPepperNoise(NoiseLayer):
    """Salt-and-pepper noise: a random fraction ν of the entries is set to ``low`` or ``high``.

    One uniform draw u ~ U[0, 1) per entry decides: u < ν/2 → low (pepper), ν/2 ≤ u < ν → high
    (salt), u ≥ ν → kept; so each corrupted entry is salt or pepper with probability ½.

        x̃ = where(kept, x, where(salt, high, low)),   dL/dx = where(kept, g, 0)

    Parameters
    ----------
    rate : float
        ν in [0, 1], the expected fraction of corrupted entries.
    low : float, default=0.0
        The pepper value (the data's minimum).
    high : float, default=1.0
        The salt value (the data's maximum).
    rng : None, int or numpy.random.Generator
    """

    def __init__(self, rate: float, *, low: float = 0.0, high: float = 1.0, rng=None):
        super().__init__(rng=rng)
        self.rate = check_fraction(rate, "rate", hint="A typical value is 0.25.")
        if low is None or high is None:
            raise ValueError("SaltAndPepperNoise needs numeric low and high values (the data range).")
        self.low, self.high = check_finite_or_none(low, "low"), check_finite_or_none(high, "high")
        check_ordered_range(self.low, self.high)

    def forward(self, x, *, mask=None, salt=None, rng=None):
        """Replace the entries where ``mask`` is False by ``high`` (salt) or ``low``; cache mask.

        Parameters
        ----------
        x : array of shape (N, D)
        mask : bool array of shape (N, D), optional
            True where the entry is kept. Given (with ``salt``), it is applied even in eval mode.
        salt : bool array of shape (N, D), optional
            Where a corrupted entry becomes ``high``; elsewhere it becomes ``low``. Required with
            ``mask``; ignored where mask is True.
        rng : None, int or numpy.random.Generator, optional
            Source of u when ``mask`` is None (default ``self.rng``).

        Returns
        -------
        x_tilde : array of shape (N, D)
        """
        if (mask is None) != (salt is None):
            raise ValueError("Pass mask and salt together (both bool arrays shaped like x), or neither "
                             "to draw them.")
        if mask is None and not self.training:
            self._mask = True
            return x
        drawn = self._draw(x, self._generator(rng)) if mask is None else {"mask": mask, "salt": salt}
        x_tilde, self._mask = self._apply(x, **drawn)
        return x_tilde

    def _draw(self, x, rng) -> dict:
        u = B.uniform(rng, tuple(x.shape), like=x)
        return {"mask": u >= self.rate, "salt": u >= 0.5 * self.rate}

    def _apply(self, x, mask, salt):
        """(x̃ = where(kept, x, where(salt, high, low)), kept)."""
        xp = array_namespace(x)
        mask = _bool_beside(mask, x, "mask")
        salt = _bool_beside(salt, x, "salt")
        return xp.where(mask, x, xp.where(salt, xp.full_like(x, self.high), self.low)), mask

    def __repr__(self) -> str:
        return f"SaltAndPepperNoise(rate={self.rate}, low={self.low}, high={self.high})"


def make_noise(noise: str, noise_level: float, *, low=0.0, high=1.0, rng=None) -> NoiseLayer:
    """The corruption layer called ``noise`` (one of ``NOISE_KINDS``) at ``noise_level``.

    ``noise_level`` is σ for "gaussian" (clipped to [low, high]) and the corrupted fraction ν for
    "masking" and "salt_pepper" (whose salt and pepper values are high and low).
    """
    noise = check_option(noise, NOISE_KINDS, "noise")
    if noise == "gaussian":
        return GaussianNoise(noise_level, low=low, high=high, rng=rng)
    if noise == "masking":
        return MaskingNoise(noise_level, rng=rng)
    return SaltAndPepperNoise(noise_level, low=low, high=high, rng=rng)


def corrupt(x, rng=None, *, noise: str = "gaussian", noise_level: float = 0.1, low=0.0, high=1.0):
    """Functional form: corrupt x (N, D) once with ``make_noise(noise, noise_level, low, high)``.

    The draw comes from ``rng`` (None, int or Generator) on the host, so a seed gives the same
    x̃ on every backend. Returns x̃, shape (N, D), beside x.
    """
    return make_noise(noise, noise_level, low=low, high=high).corrupt(x, B.check_random_state(rng))
