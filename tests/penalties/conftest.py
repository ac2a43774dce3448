"""Fixtures shared by the contractive penalty tests: a random encoder and its forward pass."""

import itertools

import numpy as np
import pytest

from npae import backend as B
from npae.activations import get_activation


def _random_encoder(xp, rng, sizes, act_names, n=7):
    """Random float64 encoder on backend xp: X (n, D), Ws, bs and activation objects."""

    def on(a):
        return B.asarray(np.asarray(a), dtype="float64", backend=xp)

    X = on(rng.normal(size=(n, sizes[0])))
    Ws = [on(rng.normal(size=(a, b)) / np.sqrt(a)) for a, b in itertools.pairwise(sizes)]
    bs = [on(0.3 * rng.normal(size=(b,))) for b in sizes[1:]]
    acts = [get_activation(a) for a in act_names]
    return X, Ws, bs, acts


def _encoder_forward(X, Ws, bs, acts):
    """h_L and the pre-activations [z_1, …, z_L] of h_l = f_l(h_{l−1} W_l + b_l), h_0 = X."""
    h, zs = X, []
    for W, b, act in zip(Ws, bs, acts):
        z = h @ W + b
        zs.append(z)
        h = act.f(z)
    return h, zs


@pytest.fixture
def random_encoder():
    """``random_encoder(xp, rng, sizes, act_names, n=7)`` -> X, Ws, bs, acts."""
    return _random_encoder


@pytest.fixture
def encoder_forward():
    """``encoder_forward(X, Ws, bs, acts)`` -> h_L, zs."""
    return _encoder_forward
