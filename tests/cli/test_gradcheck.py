"""``npae gradcheck``: every parameter array's relative error, and exit status 1 when one fails."""

import pytest


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("model", ["ae", "sparse", "denoising", "contractive", "vae"])
def test_gradcheck_prints_every_parameter_and_passes(run, model, backend):
    code, out, err = run("gradcheck", "--model", model, "--backend", backend)
    assert code == 0, out + err
    expected = {"ae": 8, "sparse": 8, "denoising": 8, "contractive": 8, "vae": 10}[model]
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("encoder.", "decoder."))]
    assert len(rows) == expected and all(row[-1] == "ok" and float(row[-2]) < 1e-6 for row in rows)
    assert ("encoder.logvar.W" in out) == (model == "vae")
    assert "passed: worst" in out


def test_gradcheck_exit_status_1_when_a_check_fails(run):
    code, out, _ = run("gradcheck", "--model", "ae", "--tol", "1e-30")
    assert code == 1
    assert "FAIL" in out and "FAILED" in out


def test_gradcheck_bad_option_is_one_line(run, assert_one_line_error):
    code, _, err = run("gradcheck", "--model", "ae", "--n", "0")
    assert_one_line_error(code, err, "--n must be a positive integer")


# ---------------------------------------------------------------------- FILE.py:NAME
LEARNER = '''
import numpy as np
from array_api_compat import array_namespace

from npae.layers import Dense, Layer
from npae import ops


class Swish:
    """f = z σ(z), written by a learner: f′ and f″ by hand."""

    def f(self, z):
        return z * ops.sigmoid(z)

    def df(self, z):
        s = ops.sigmoid(z)
        return s + z * s * (1 - s)

    def d2f(self, z):
        s = ops.sigmoid(z)
        return s * (1 - s) * (2 + z * (1 - 2 * s))


class SwishWrongSecond(Swish):
    def d2f(self, z):
        s = ops.sigmoid(z)
        return s * (1 - s) * (2 + z)  # forgot the (1 − 2σ) factor of the second term


class Scale(Layer):
    """y = x · a, one parameter a per feature."""

    def __init__(self):
        super().__init__()
        self.in_features = 3
        self.params = {"a": np.array([0.5, -1.0, 2.0])}
        self.zero_grad()

    def forward(self, x):
        self._x = x
        return x * self.params["a"]

    def backward(self, grad_out, input_grad=True):
        xp = array_namespace(grad_out)
        self.grads["a"] += xp.sum(grad_out * self._x, axis=0)
        return grad_out * self.params["a"]


class ScaleForgetsInput(Scale):
    def backward(self, grad_out, input_grad=True):
        super().backward(grad_out)
        return grad_out  # forgot the factor a


class SquaredError:
    def value(self, x, out):
        return array_namespace(out).sum((out - x) ** 2, axis=1)

    def grad(self, x, out):
        return 2 * (out - x)


class HalfSquaredErrorWrong(SquaredError):
    def grad(self, x, out):
        return out - x  # a factor of 2 short


def dense():
    """A factory: Dense needs its sizes, so point npae gradcheck at a function."""
    return Dense(4, 2, rng=0, dtype="float64")


def dense32():
    """Built in float32, npae's default: npae gradcheck checks a float64 copy of its parameters."""
    return Dense(3, 2, rng=1)


class NeedsArguments(Layer):
    def __init__(self, width):
        super().__init__()


class WithExample(Scale):
    def example_input(self):
        return np.linspace(-1.0, 1.0, 9).reshape(3, 3)


NOT_CHECKABLE = 42


class _NoZeroGrad:  # forward, backward, params, grads: a layer but for zero_grad
    params, grads = {}, {}

    def forward(self, x):
        return x

    def backward(self, g, input_grad=True):
        return g


NO_ZERO_GRAD = _NoZeroGrad()


class ScaleAssigns(Scale):
    def backward(self, grad_out, input_grad=True):
        xp = array_namespace(grad_out)
        self.grads["a"] = xp.sum(grad_out * self._x, axis=0)  # = where += belongs
        return grad_out * self.params["a"]


class ScaleMean(Scale):
    def backward(self, grad_out, input_grad=True):
        xp = array_namespace(grad_out)
        self.grads["a"] += xp.mean(grad_out * self._x, axis=0)  # a mean where the loss sums
        return grad_out * self.params["a"]


class ScaleSign(Scale):
    def backward(self, grad_out, input_grad=True):
        super().backward(grad_out)
        return -grad_out * self.params["a"]


class ScalePerRow(Scale):
    def backward(self, grad_out, input_grad=True):
        self.grads["a"] = grad_out * self._x  # one gradient per row, never summed
        return grad_out * self.params["a"]


class MyDense(Layer):
    def __init__(self):
        super().__init__()
        self.in_features = 3
        self.params = {"W": np.linspace(-1, 1, 6).reshape(3, 2), "b": np.array([0.1, -0.2])}
        self.zero_grad()

    def forward(self, x):
        self._x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, grad_out, input_grad=True):
        xp = array_namespace(grad_out)
        self.grads["W"] = self.grads["W"] + (self._x.T @ grad_out)
        self.grads["b"] += xp.sum(grad_out, axis=0)
        return grad_out @ self.params["W"].T


class MyDenseTransposed(MyDense):
    def backward(self, grad_out, input_grad=True):
        xp = array_namespace(grad_out)
        self.grads["W"] = grad_out.T @ self._x   # the transpose of dW
        self.grads["b"] += xp.sum(grad_out, axis=0)
        return grad_out @ self.params["W"].T


class WideDense(MyDense):
    """Built for 784 inputs but says nothing of its width: --features must say it."""

    def __init__(self):
        super().__init__()
        del self.in_features
        self.params = {"W": np.zeros((784, 2)) + 0.01, "b": np.zeros(2)}
        self.zero_grad()


class SwishWrongFirst(Swish):
    def df(self, z):
        s = ops.sigmoid(z)
        return s + z * s  # wrong f′, but f″ below is right
'''


@pytest.fixture
def learner_file(tmp_path):
    path = tmp_path / "my_layers.py"
    path.write_text(LEARNER)
    return str(path)


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("name, kind, arrays", [
    ("Swish", "an activation", ["df", "d2f"]),
    ("Scale", "a layer", ["input", "a"]),
    ("SquaredError", "a loss", ["output"]),
    ("dense", "a layer", ["input", "W", "b"]),
    ("dense32", "a layer", ["input", "W", "b"]),
])
def test_a_learners_object_is_checked_per_array(run, learner_file, name, kind, arrays, backend):
    code, out, err = run("gradcheck", f"{learner_file}:{name}", "--backend", backend)
    assert code == 0, out + err
    assert f"({kind})" in out and "passed: worst" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip().endswith(("ok", "FAIL"))}
    assert sorted(rows) == sorted(arrays)
    assert all(row[-1] == "ok" and float(row[-2]) < 1e-6 for row in rows.values())


@pytest.mark.parametrize("name, failing", [
    ("SwishWrongSecond", "d2f"), ("ScaleForgetsInput", "input"), ("HalfSquaredErrorWrong", "output"),
])
def test_a_wrong_gradient_fails_on_exactly_its_array_and_exits_1(run, learner_file, name, failing):
    code, out, _ = run("gradcheck", f"{learner_file}:{name}")
    assert code == 1 and "FAILED" in out
    failed = [line.split()[0] for line in out.splitlines() if line.strip().endswith("FAIL")]
    assert failed == [failing]


def test_example_input_gives_the_input(run, learner_file):
    code, out, _ = run("gradcheck", f"{learner_file}:WithExample")
    assert code == 0 and "input x of shape 3x3" in out


@pytest.mark.parametrize("target, fragment", [
    ("missing_file.py:Swish", "No such file: missing_file.py"),
    ("{file}:Nope", "has no 'Nope'; it defines"),
    ("{file}:NOT_CHECKABLE", "NOT_CHECKABLE is a int, not something npae gradcheck can check"),
    ("{file}:NeedsArguments", "NeedsArguments() with no arguments failed"),
    ("{file}:NO_ZERO_GRAD", "grads, zero_grad; subclass npae.layers.Layer"),
    ("{file}", "Expected FILE.py:NAME"),
])
def test_bad_targets_are_one_line_errors(run, assert_one_line_error, learner_file, target, fragment):
    code, _, err = run("gradcheck", target.format(file=learner_file))
    assert_one_line_error(code, err, fragment)


def test_a_file_that_raises_is_a_one_line_error(run, assert_one_line_error, tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('half-written')\n")
    code, _, err = run("gradcheck", f"{path}:Anything")
    assert_one_line_error(code, err, "raised RuntimeError while being run: half-written")


# ---------------------------------------------------------------------- diagnoses (issue 22)
@pytest.mark.parametrize("name, array, mistake", [
    ("ScaleAssigns", "a ×2", "not_accumulated"),
    ("ScaleMean", "a", "extra_1/N"),
    ("ScaleSign", "input", "sign"),
    ("ScalePerRow", "a", "per_row"),
    ("MyDenseTransposed", "W", "transposed"),
    ("HalfSquaredErrorWrong", "output", "factor_2"),
])
def test_a_wrong_layer_or_loss_gets_its_mistake_named(run, learner_file, name, array, mistake):
    code, out, _ = run("gradcheck", f"{learner_file}:{name}")
    assert code == 1 and "FAILED" in out
    named = [line for line in out.splitlines() if line.strip().startswith(f"{array}:") and f"[{mistake}]" in line]
    assert named, out


def test_a_backward_that_adds_up_passes_the_twice_check(run, learner_file):
    code, out, _ = run("gradcheck", f"{learner_file}:MyDense")
    assert code == 0, out
    assert "W ×2" in out and "b ×2" in out


def test_a_correct_second_derivative_is_not_failed_by_a_wrong_first(run, learner_file):
    code, out, _ = run("gradcheck", f"{learner_file}:SwishWrongFirst")
    assert code == 1
    rows = {line.split()[0]: line.split()[-1] for line in out.splitlines() if line.strip().endswith(("ok", "FAIL"))}
    assert rows == {"df": "FAIL", "d2f": "ok"}
    assert "Fix df first" in out and "[fix_df_first]" in out


def test_a_shape_error_names_the_parameter_and_suggests_features(run, learner_file, assert_one_line_error):
    code, _, err = run("gradcheck", f"{learner_file}:WideDense")
    assert_one_line_error(code, err, "raised ValueError", "parameter W has shape 784x2", "--features 784",
                          "input x has width 7")
    code, out, _ = run("gradcheck", f"{learner_file}:WideDense", "--features", "784", "--n", "2")
    assert code == 0, out
