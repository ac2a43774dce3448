"""npae.kernels.activations against npae.activations."""

import numpy as np
import pytest

from npae import activations, kernels
from npae.kernels import activations as fast


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_relu_kernel_is_bit_exact(dtype, rng):
    z = (rng.standard_normal((64, 33)) * 10).astype(dtype)
    z[0, :3] = [0.0, -0.0, np.inf]
    spec = next(k for k in kernels.KERNELS if k.owner is activations.ReLU)
    relu = activations.ReLU()
    np.testing.assert_array_equal(fast.relu(relu, z), kernels.reference(spec)(relu, z))
