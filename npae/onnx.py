"""ONNX export through skl2onnx: serve an npae model wherever ONNX models are served.

``import npae.onnx`` registers skl2onnx converters for the estimators, so the usual call works,
alone or at the end of a scikit-learn ``Pipeline`` (a scaler first, say):

    import npae.onnx, skl2onnx
    onx = skl2onnx.to_onnx(model, X[:1].astype("float32"))   # transform: input "X", one output

Each npae layer becomes its ONNX operator, with the weights as initializers:

    Dense            z = x @ W + b               ->  Gemm(x, W, b)          W : (in, out)
    Activation       relu, leaky_relu, elu,      ->  Relu, LeakyRelu, Elu,
                     sigmoid, tanh, softplus         Sigmoid, Tanh, Softplus (identity: nothing)

What each graph computes:

* Autoencoder, SparseAutoencoder, DenoisingAutoencoder, ContractiveAutoencoder: ``transform``, the
  encoder, X (N, D) -> codes (N, K). VAE: ``transform``, the mean code mu (N, K).
* ``to_onnx_decoder``: ``inverse_transform``, codes Z (N, K) -> X̂ (N, D) in data space
  (the decoder's logits through Sigmoid for loss="bce" / likelihood="bernoulli").
* ``to_onnx_score_samples``: ``score_samples`` of the autoencoders, X (N, D) -> (N,), minus the
  per-row objective: the reconstruction loss ℓ(x, y) with y = decoder(encoder(x)),

      bce:  ℓ = Σ_d softplus(y_d) − x_d·y_d          mse:  ℓ = Σ_d (y_d − x_d)²

  plus λ Σ_j |h_j| for sparsity="l1", and λ ‖∂h/∂x‖²_F for the contractive autoencoder: the
  one-layer closed form Σ_j f′(z_j)² ‖W_{:,j}‖²; deeper, the Gram form of
  ``npae.penalties.gram`` when the code is narrower than the input (K < D: (N, K, H_l) tensors,
  nothing D-wide), else the recurrence T_1 = W_1 · f′(z_1), T_l = (T_{l−1} W_l) · f′(z_l)
  ((N, D, H_l) tensors). As in npae, a row whose objective is NaN or overflows scores
  −finfo(dtype).max, the lowest finite score. Also accepts a Pipeline ending in such a model;
  ``skl2onnx.to_onnx(model, X, options={"score_samples": True})`` adds the same score as a
  second output of the transform graph (skl2onnx's idiom for its outlier detectors).
* ``AnomalyDetector`` with the "reconstruction" or "gaussian" score (for a VAE model only
  "gaussian": its "reconstruction" is the sampled ELBO), its own scaler included:
  outputs "label" (+1 inlier, −1 outlier, int64) and "scores" (``decision_function`` =
  score_samples − offset_), as skl2onnx does for IsolationForest; ``options={"score_samples":
  True}`` adds a third output, "score_samples".

  **Rows npae cannot score.** npae refuses NaN and ±inf; a graph cannot raise, so it never calls
  such a row normal instead. A row whose score comes out NaN (a NaN anywhere in the row, or an
  inf that meets another inf) or −inf gets label −1 and the most abnormal value in "scores" and
  "score_samples": npae's ``EXTREME_SCORE`` (−1e300) in a float64 graph, the lowest float32
  (about −3.4e38) in a float32 one, which cannot hold −1e300. (``decision_function`` in npae is
  floored there too.) A finite row beyond the model's float range, which npae scores as
  ``EXTREME_SCORE``, gets that floor where the graph's arithmetic overflows, and a finite
  score (a float64 graph may evaluate it) otherwise.

The VAE's ``score_samples`` is a sampled ELBO (eps drawn on the host, from the model's inference
stream), and so are the detector's "elbo", "iwae" and "elbo_complexity"; no deterministic graph
reproduces them, so they are refused.

Graphs take the input's float type (float32 or float64; an integer sample gives a float32 graph
that casts its input, as skl2onnx's own converters do); in float32 they agree with npae to
float32 rounding. A DataFrame sample gives one input per column (skl2onnx's rule): the graph
concatenates them, and refuses at conversion columns other than ``feature_names_in_`` in order. Every initializer is read by some node (onnxruntime warns about the others).
Needs ``pip install "npae[onnx]"`` (onnx, skl2onnx, onnxruntime).

Architecture: a fitted model is a value. A graph is built from the model's fitted snapshot
(``BaseAutoencoder._as_fitted()``: the configuration the weights were trained with, and the
weights), the same one npae's own methods, ``npae.dask`` and ``npae.export.to_torch`` read: a
``set_params`` after the fit (``sparsity_weight``, ``contractive_weight``, ``latent_dim``,
``loss``, ``dtype``...) changes neither the graph nor its declared shapes, as it changes
nothing npae computes until the next fit. A graph holds a copy of the weights at export time.
"""

from __future__ import annotations

import numpy as np

try:
    from onnx import TensorProto, numpy_helper
    from skl2onnx import convert_sklearn, get_model_alias, update_registered_converter, update_registered_parser
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int32TensorType,
        Int64TensorType,
        guess_tensor_type,
    )
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError('npae.onnx needs onnx and skl2onnx: pip install "npae[onnx]" '
                      "(onnx, skl2onnx and onnxruntime to run the graphs).") from err
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline

from npae import backend as B
from npae.activations import Identity, Softplus
from npae.applications import AnomalyDetector
from npae.applications.detector import EXTREME_SCORE
from npae.layers import Activation, Dense
from npae.models import VAE, Autoencoder, ContractiveAutoencoder, DenoisingAutoencoder, SparseAutoencoder
from npae.models.base import BaseAutoencoder

__all__ = ["MODELS", "to_onnx_decoder", "to_onnx_score_samples"]

#: the estimators whose ``transform`` converts after ``import npae.onnx``
MODELS = (Autoencoder, SparseAutoencoder, DenoisingAutoencoder, ContractiveAutoencoder, VAE)

_ONNX_ACTIVATIONS = {"relu": "Relu", "leaky_relu": "LeakyRelu", "elu": "Elu", "sigmoid": "Sigmoid",
                     "tanh": "Tanh", "softplus": "Softplus"}
_LOGIT_OUTPUTS = ("bce", "bernoulli")
#: operators onnxruntime runs in float32 only; float64 graphs spell them out (``_Graph.spelled_out``)
_NO_DOUBLE_KERNEL = ("softplus", "elu", "leaky_relu")
_SOFTPLUS = Softplus()
_TENSOR_TYPES = {"float32": FloatTensorType, "float64": DoubleTensorType}
_VAE_SCORE_REFUSAL = (
    "VAE.score_samples is a sampled ELBO (eps drawn on the host for every row), which a deterministic ONNX "
    "graph cannot reproduce. Export its encoder (skl2onnx.to_onnx: the mean code) and decoder "
    "(npae.onnx.to_onnx_decoder), or score with an Autoencoder."
)


# --------------------------------------------------------------------------------------------
# graph building: one method per npae operation


class _Graph:
    """Emits ONNX nodes into skl2onnx's container, names made unique by its scope."""

    def __init__(self, scope, operator, container):
        self.scope, self.container = scope, container
        self.dtype = _graph_dtype(operator)
        self.opset = container.target_opset
        self.operator = operator

    def input(self):
        """The converter's input as one (N, D) tensor of the graph's float type: skl2onnx gives a
        DataFrame one input per column (concatenated here, in order) and keeps an integer
        input's type (cast here, as its own converters do)."""
        to = TensorProto.DOUBLE if self.dtype == np.float64 else TensorProto.FLOAT
        names = [v.full_name if isinstance(v.type, _TENSOR_TYPES[np.dtype(self.dtype).name])
                 else self.op("Cast", [v.full_name], "x_float", to=to) for v in self.operator.inputs]
        return names[0] if len(names) == 1 else self.op("Concat", names, "x", axis=1)

    def const(self, value, hint, dtype=None):
        name = self.scope.get_unique_variable_name(hint)
        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        self.container.add_initializer(name, None, None, numpy_helper.from_array(array, name))
        return name

    def op(self, op_type, inputs, hint, output=None, **attrs):
        output = output or self.scope.get_unique_variable_name(hint)
        self.container.add_node(op_type, list(inputs), [output], name=self.scope.get_unique_operator_name(op_type),
                                **attrs)
        return output

    def reduce_sum(self, x, axes, hint, output=None):
        """Σ over ``axes``, dropping them (axes became an input in opset 13)."""
        if self.opset is not None and self.opset < 13:
            return self.op("ReduceSum", [x], hint, output, axes=list(axes), keepdims=0)
        return self.op("ReduceSum", [x, self.const(list(axes), "axes", np.int64)], hint, output, keepdims=0)

    # -- layers
    def dense(self, x, layer: Dense, output=None):
        """z = x @ W + b: Gemm(x, W, b), W : (in, out), b : (out,)."""
        W = self.const(B.to_numpy(layer.params["W"]), "W")
        b = self.const(B.to_numpy(layer.params["b"]), "b")
        return self.op("Gemm", [x, W, b], "z", output)

    def activation(self, z, act, output=None):
        """h = f(z) as its ONNX operator."""
        name = act.name
        if name == "identity":
            return self.op("Identity", [z], "h", output) if output else z
        if name not in _ONNX_ACTIVATIONS:
            raise TypeError(f"npae.onnx knows the activations identity, {', '.join(sorted(_ONNX_ACTIVATIONS))}; "
                            f"got {act!r}.")
        if self.dtype == np.float64 and name in _NO_DOUBLE_KERNEL:
            return self.spelled_out(z, act, output)
        attrs = {"alpha": act.negative_slope} if name == "leaky_relu" else {"alpha": 1.0} if name == "elu" else {}
        return self.op(_ONNX_ACTIVATIONS[name], [z], "h", output, **attrs)

    def spelled_out(self, z, act, output=None):
        """Softplus, Elu and LeakyRelu from operators onnxruntime runs in float64 too:

            softplus(z) = max(z, 0) + log(1 + e^(−|z|))    (the stable form: e^(−|z|) ≤ 1)
            elu(z)      = z if z > 0 else e^min(z, 0) − 1
            leaky(z)    = z if z > 0 else a·z
        """
        # each constant is made where it is used: an initializer no node reads makes onnxruntime warn
        if act.name == "softplus":
            e = self.op("Exp", [self.op("Neg", [self.op("Abs", [z], "abs")], "neg_abs")], "exp")
            log1p = self.op("Log", [self.op("Add", [self.const(1.0, "one"), e], "one_plus")], "log1p")
            return self.op("Add", [self.op("Relu", [z], "relu"), log1p], "softplus", output)
        zero = self.const(0.0, "zero")
        if act.name == "elu":
            other = self.op("Sub", [self.op("Exp", [self.op("Min", [z, zero], "zneg")], "exp"),
                                    self.const(1.0, "one")], "expm1")
        else:
            other = self.op("Mul", [z, self.const(act.negative_slope, "slope")], "az")
        return self.op("Where", [self.op("Greater", [z, zero], "positive"), z, other], "h", output)

    def derivative(self, z, act):
        """f′(z), same shape as z."""
        name = act.name
        if name == "identity":  # 1 everywhere
            one = numpy_helper.from_array(np.ones(1, dtype=self.dtype), "one")
            return self.op("ConstantOfShape", [self.op("Shape", [z], "shape")], "df", value=one)
        positive = None
        if name in ("relu", "leaky_relu", "elu"):
            positive = self.op("Greater", [z, self.const(0.0, "zero")], "positive")
        if name == "relu":  # 1 if z > 0 else 0
            to = TensorProto.DOUBLE if self.dtype == np.float64 else TensorProto.FLOAT
            return self.op("Cast", [positive], "df", to=to)
        if name == "leaky_relu":  # 1 or a
            return self.op("Where", [positive, self.const(1.0, "one"), self.const(act.negative_slope, "slope")], "df")
        if name == "elu":  # 1 or e^z, e^z taken at min(z, 0) as npae does
            e = self.op("Exp", [self.op("Min", [z, self.const(0.0, "zero")], "zneg")], "exp")
            return self.op("Where", [positive, self.const(1.0, "one"), e], "df")
        if name == "sigmoid":  # σ(1 − σ)
            s = self.op("Sigmoid", [z], "s")
            return self.op("Mul", [s, self.op("Sub", [self.const(1.0, "one"), s], "one_minus_s")], "df")
        if name == "tanh":  # 1 − tanh²
            t = self.op("Tanh", [z], "t")
            return self.op("Sub", [self.const(1.0, "one"), self.op("Mul", [t, t], "t2")], "df")
        if name == "softplus":  # σ(z)
            return self.op("Sigmoid", [z], "df")
        raise TypeError(f"npae.onnx has no derivative for activation {act!r}.")

    def stack(self, x, sequential, output=None):
        """Run a Sequential of Dense and Activation layers, the last node writing ``output`` if
        named; returns (its result, [(Dense, z_l, f_l)])."""
        trace = []
        # identity activations are no node at all: the Dense before them writes the output
        layers = [layer for layer in sequential.layers
                  if not (isinstance(layer, Activation) and layer.activation.name == "identity")]
        for i, layer in enumerate(layers):
            last = output if i == len(layers) - 1 else None
            if isinstance(layer, Dense):
                x = self.dense(x, layer, last)
                trace.append([layer, x, Identity()])
            elif isinstance(layer, Activation):
                x = self.activation(x, layer.activation, last)
                trace[-1][2] = layer.activation
            else:
                raise TypeError(f"npae.onnx converts Dense and Activation layers; got {layer!r}.")
        return x, trace

    # -- models
    def encode(self, model, x, output=None):
        """codes (N, K): the encoder, or the VAE's mean head on its hidden stack; also the
        encoder's trace (see ``stack``)."""
        if isinstance(model, VAE):
            h, trace = self.stack(x, model.encoder_)
            return self.dense(h, model.mu_head_, output), trace
        return self.stack(x, model.encoder_, output)

    def decode_raw(self, model, z, output=None):
        """decoder(z) (N, D): logits for bce/bernoulli, the mean otherwise."""
        return self.stack(z, model.decoder_, output)[0]

    def decode(self, model, z, output=None):
        """x̂ (N, D) in data space: σ(logits) for bce/bernoulli, the mean otherwise."""
        if _likelihood(model).name in _LOGIT_OUTPUTS:
            return self.op("Sigmoid", [self.decode_raw(model, z)], "x_hat", output)
        return self.decode_raw(model, z, output)

    def reconstruction_loss(self, model, x, y):
        """ℓ(x, y) per row (N,)."""
        if _likelihood(model).name == "bce":
            softplus = self.activation(y, _SOFTPLUS)
            per_entry = self.op("Sub", [softplus, self.op("Mul", [x, y], "xy")], "bce")
        else:
            r = self.op("Sub", [y, x], "residual")
            per_entry = self.op("Mul", [r, r], "squared")
        return self.reduce_sum(per_entry, [1], "loss")

    def contractive_rows(self, trace):
        """‖∂h/∂x‖²_F per row (N,), from the encoder's [(Dense, z_l, f_l)].

        One layer: Σ_j f′(z_j)² ‖W_{:,j}‖². Deeper: T_1 = W_1[None] · f′(z_1)[:, None, :],
        T_l = (T_{l−1} @ W_l) · f′(z_l)[:, None, :], then Σ over (d, j) of T_L², (N, D, H_l) each.
        """
        if len(trace) == 1:
            dense, z, act = trace[0]
            W = B.to_numpy(dense.params["W"])
            norms = self.const(np.sum(W * W, axis=0), "col_norms2")  # ‖W_{:,j}‖², (H,)
            s = self.derivative(z, act)
            return self.op("MatMul", [self.op("Mul", [s, s], "s2"), norms], "rows")
        n_inputs, n_codes = trace[0][0].in_features, trace[-1][0].out_features
        if n_codes < n_inputs:
            return self.contractive_rows_gram(trace)
        column = self.const([0, 1, -1], "shape_n1h", np.int64)  # (N, H) -> (N, 1, H); 0 keeps N
        T = None
        for dense, z, act in trace:
            W = self.const(B.to_numpy(dense.params["W"]), "W")
            A = W if T is None else self.op("MatMul", [T, W], "A")  # W_1, or T_{l−1} @ W_l : (N, D, H_l)
            T = self.op("Mul", [A, self.op("Reshape", [self.derivative(z, act), column], "df3")], "T")
        return self.reduce_sum(self.op("Mul", [T, T], "T2"), [1, 2], "rows")

    def contractive_rows_gram(self, trace):
        """‖∂h/∂x‖²_F per row (N,) in the Gram form, right to left, nothing D-wide (K < D):

            R_L = diag f′(z_L)  (N, K, K),   R_l = (R_{l+1} W_{l+1}ᵀ) · f′(z_l)[:, None, :]  (N, K, H_l),
            ‖J‖²_F = Σ_{k,j} (R_1 Γ)_{kj} (R_1)_{kj},   Γ = W_1ᵀ W_1  (H_1, H_1), a constant,

        since J = R_1 W_1ᵀ and ‖J‖²_F = tr(R_1 W_1ᵀ W_1 R_1ᵀ) (``npae.penalties.gram``). Memory per row
        is K·ΣH_l instead of D·ΣH_l.
        """
        dense_L, z_L, act_L = trace[-1]
        K = dense_L.out_features
        as_column = self.const([0, -1, 1], "shape_nk1", np.int64)  # (N, K) -> (N, K, 1)
        R = self.op("Mul", [self.op("Reshape", [self.derivative(z_L, act_L), as_column], "df_col"),
                            self.const(np.eye(K), "eye")], "R")  # diag f′(z_L), (N, K, K)
        as_row = self.const([0, 1, -1], "shape_n1h", np.int64)  # (N, H) -> (N, 1, H)
        for (dense_above, _, _), (_, z, act) in zip(trace[:0:-1], trace[-2::-1]):
            W_T = self.const(B.to_numpy(dense_above.params["W"]).T, "W_T")  # W_{l+1}ᵀ (H_{l+1}, H_l)
            R = self.op("Mul", [self.op("MatMul", [R, W_T], "RW"),
                                self.op("Reshape", [self.derivative(z, act), as_row], "df_row")], "R")
        W_1 = B.to_numpy(trace[0][0].params["W"]).astype(np.float64)
        gram = self.const(W_1.T @ W_1, "gram")  # Γ = W_1ᵀ W_1, in float64 on the host
        return self.reduce_sum(self.op("Mul", [self.op("MatMul", [R, gram], "R_gram"), R], "R_gram_R"), [1, 2],
                               "rows")

    def score_samples(self, model, x, output=None):
        """−(per-row objective) (N,), as ``model.score_samples``: a row whose objective is NaN or
        overflows gets −finfo(dtype).max, the lowest finite score, as npae gives it."""
        if isinstance(model, VAE):
            raise TypeError(_VAE_SCORE_REFUSAL)
        h, trace = self.encode(model, x)
        loss = self.reconstruction_loss(model, x, self.decode_raw(model, h))
        weight = None
        if isinstance(model, SparseAutoencoder) and model.sparsity == "l1":
            weight, penalty = float(model.sparsity_weight), self.reduce_sum(self.op("Abs", [h], "abs_h"), [1], "l1")
        elif isinstance(model, ContractiveAutoencoder):
            weight, penalty = float(model.contractive_weight), self.contractive_rows(trace)
        if weight:
            loss = self.op("Add", [loss, self.op("Mul", [penalty, self.const(weight, "weight")], "penalty")], "objective")
        score = self.op("Neg", [loss], "minus_loss")
        # npae's _finite_losses: NaN first (Max's NaN handling is the runtime's), then −inf
        floor = self.const(-np.finfo(self.dtype).max, "lowest_score")
        known = self.op("Where", [self.op("IsNaN", [score], "score_is_nan"), floor, score], "score_known")
        return self.op("Max", [known, floor], "score_samples", output)


    # -- the detector's own steps
    def standardize(self, scaler, x):
        """(x − mean) / scale with a fitted StandardScaler's statistics; x itself for None."""
        if scaler is None:
            return x
        if getattr(scaler, "mean_", None) is not None:
            x = self.op("Sub", [x, self.const(scaler.mean_, "mean")], "centred")
        if getattr(scaler, "scale_", None) is not None:
            x = self.op("Div", [x, self.const(scaler.scale_, "scale")], "standardized")
        return x

    def gaussian_log_density(self, detector, x, output=None):
        """log N(r; 0, diag v) + log N(h; μ_h, Σ_h) per row (N,), the detector's "gaussian" score:

            −½ (Σ_d r_d²/v_d + Σ_d log 2πv_d)  −  ½ (‖(h − μ_h) L⁻ᵀ‖² + 2 Σ_k log L_kk + K log 2π)

        with r = x − x̂, h = encode(x) and Σ_h = L Lᵀ (Cholesky); the constants are folded on the host.
        """
        model = _fitted(detector.model_)
        v = np.asarray(detector.residual_var_, dtype=np.float64)
        L = np.linalg.cholesky(np.asarray(detector.code_cov_, dtype=np.float64))
        h, _ = self.encode(model, x)
        r = self.op("Sub", [x, self.decode(model, h)], "residual")
        quad_r = self.op("MatMul", [self.op("Mul", [r, r], "r2"), self.const(1.0 / v, "inv_var")], "quad_r")
        u = self.op("MatMul", [self.op("Sub", [h, self.const(detector.code_mean_, "code_mean")], "h_centred"),
                               self.const(np.linalg.inv(L).T, "inv_chol_T")], "u")
        quad_h = self.reduce_sum(self.op("Mul", [u, u], "u2"), [1], "quad_h")
        constant = (np.sum(np.log(2.0 * np.pi * v)) + 2.0 * np.sum(np.log(np.diag(L)))
                    + L.shape[0] * np.log(2.0 * np.pi))
        total = self.op("Add", [self.op("Add", [quad_r, quad_h], "quad"), self.const(constant, "log_norm")], "twice_nll")
        return self.op("Mul", [total, self.const(-0.5, "minus_half")], "log_density", output)


def _likelihood(model):
    return getattr(model, "likelihood_", None) or model.loss_


def _fitted(model):
    """The model as fitted (``BaseAutoencoder._as_fitted``): every graph and every declared
    shape follows the configuration the weights were trained with, never a ``set_params`` since."""
    return model._as_fitted()


# --------------------------------------------------------------------------------------------
# converters and shape calculators


def _graph_dtype(operator):
    """float64 when every input is float64, else float32 (float32 and integer inputs)."""
    return np.float64 if all(isinstance(v.type, DoubleTensorType) for v in operator.inputs) else np.float32


def _first_dim(operator):
    return operator.inputs[0].get_first_dimension()


def _float_type(operator, shape):
    return _TENSOR_TYPES[np.dtype(_graph_dtype(operator)).name](shape)


def _check_inputs(operator, model, width: int, what: str = "X"):
    """Refuse inputs the graph cannot take, when the graph is built (not when it is served):
    non-numeric types, widths that do not add up to ``width``, and a DataFrame whose columns are
    not the model's ``feature_names_in_`` in order (one input per column, as skl2onnx declares)."""
    for v in operator.inputs:
        if not isinstance(v.type, (FloatTensorType, DoubleTensorType, Int64TensorType, Int32TensorType)):
            raise TypeError(f"npae.onnx graphs take float32, float64 or integer input; got {v.raw_name!r} of type "
                            f"{type(v.type).__name__}. Pass a numeric sample, e.g. X[:1].astype('float32').")
    widths = [v.type.shape[1] if len(v.type.shape) == 2 else None for v in operator.inputs]
    if all(isinstance(w, int) for w in widths) and sum(widths) != width:
        raise ValueError(f"{type(model).__name__} takes {what} with {width} columns; the graph's inputs declare "
                         f"{sum(widths)} ({', '.join(f'{v.raw_name}: {w}' for v, w in zip(operator.inputs, widths))}).")
    names = getattr(model, "feature_names_in_", None)
    if len(operator.inputs) > 1 and names is not None and [v.raw_name for v in operator.inputs] != list(names):
        raise ValueError(f"The graph's inputs {[v.raw_name for v in operator.inputs][:5]}… are not the columns "
                         f"{list(names)[:5]}… the model was fitted on, in that order. Convert with a sample of "
                         "X[model.feature_names_in_].")


def _model_parser(scope, model, inputs, custom_parsers=None):
    """transform's output ("variable", skl2onnx's default name); with ``options={"score_samples":
    True}`` a second output, "score_samples", as skl2onnx does for its outlier detectors."""
    operator = scope.declare_local_operator(get_model_alias(type(model)), model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("variable", guess_tensor_type(inputs[0].type)))
    if scope.get_options(model, {"score_samples": False})["score_samples"]:
        if isinstance(model, VAE):
            raise TypeError(_VAE_SCORE_REFUSAL)
        operator.outputs.append(scope.declare_local_variable("score_samples", guess_tensor_type(inputs[0].type)))
    return operator.outputs


def _transform_shape(operator):
    model = _fitted(operator.raw_operator)
    _check_inputs(operator, model, int(model.n_features_in_))
    N = _first_dim(operator)
    operator.outputs[0].type = _float_type(operator, [N, int(model.latent_dim)])
    for output in operator.outputs[1:]:
        output.type = _float_type(operator, [N])


def _transform_converter(scope, operator, container):
    graph = _Graph(scope, operator, container)
    model, x = _fitted(operator.raw_operator), graph.input()
    graph.encode(model, x, operator.outputs[0].full_name)
    if len(operator.outputs) > 1:  # options={"score_samples": True}
        graph.score_samples(model, x, operator.outputs[1].full_name)


class _Decoder(TransformerMixin, BaseEstimator):
    """Carries a fitted model to its decoder converter (``to_onnx_decoder``)."""

    def __init__(self, model=None):
        self.model = model


class _ScoreSamples(TransformerMixin, BaseEstimator):
    """Carries a fitted model to its score converter (``to_onnx_score_samples``)."""

    def __init__(self, model=None):
        self.model = model


def _decoder_shape(operator):
    model = _fitted(operator.raw_operator.model)
    _check_inputs(operator, None, int(model.latent_dim), "codes Z")
    operator.outputs[0].type = _float_type(operator, [_first_dim(operator), int(model.n_features_in_)])


def _decoder_converter(scope, operator, container):
    graph = _Graph(scope, operator, container)
    graph.decode(_fitted(operator.raw_operator.model), graph.input(), operator.outputs[0].full_name)


def _score_shape(operator):
    model = _fitted(operator.raw_operator.model)
    _check_inputs(operator, model, int(model.n_features_in_))
    operator.outputs[0].type = _float_type(operator, [_first_dim(operator)])


def _score_converter(scope, operator, container):
    graph = _Graph(scope, operator, container)
    graph.score_samples(_fitted(operator.raw_operator.model), graph.input(), operator.outputs[0].full_name)


def _named_output_parser(output_name):
    """A parser declaring one float output called ``output_name`` (skl2onnx's default is "variable")."""

    def parser(scope, model, inputs, custom_parsers=None):
        operator = scope.declare_local_operator(get_model_alias(type(model)), model)
        operator.inputs = inputs
        operator.outputs.append(scope.declare_local_variable(output_name, guess_tensor_type(inputs[0].type)))
        return operator.outputs

    return parser


def _detector_parser(scope, model, inputs, custom_parsers=None):
    """label and scores, like skl2onnx's IsolationForest; score_samples too with that option."""
    operator = scope.declare_local_operator(get_model_alias(type(model)), model)
    operator.inputs = inputs
    operator.outputs.append(scope.declare_local_variable("label", Int64TensorType()))
    operator.outputs.append(scope.declare_local_variable("scores", guess_tensor_type(inputs[0].type)))
    if scope.get_options(model, {"score_samples": False})["score_samples"]:
        operator.outputs.append(scope.declare_local_variable("score_samples", guess_tensor_type(inputs[0].type)))
    return operator.outputs


def _detector_shape(operator):
    detector = operator.raw_operator
    if hasattr(detector, "n_features_in_"):
        _check_inputs(operator, detector, int(detector.n_features_in_))
    N = _first_dim(operator)
    operator.outputs[0].type = Int64TensorType([N])
    for output in operator.outputs[1:]:
        output.type = _float_type(operator, [N])


def _detector_score(detector) -> str:
    """The score a fitted detector uses: ``anomaly_score_`` ("auto" resolved), else the older
    ``score`` parameter."""
    resolved = getattr(detector, "anomaly_score_", None)
    return resolved if resolved is not None else detector.score


def _detector_converter(scope, operator, container):
    """label, scores (and score_samples) of a fitted one-model AnomalyDetector; a row whose score
    is NaN or −inf gets label −1 and the EXTREME_SCORE floor (see the module docstring)."""
    detector = operator.raw_operator
    if not hasattr(detector, "model_"):
        raise ValueError("This AnomalyDetector instance is not fitted yet. Call 'fit' before converting it.")
    score = _detector_score(detector)
    if getattr(detector, "n_estimators_", 1) != 1:
        raise ValueError(f"npae.onnx converts an AnomalyDetector with one model; this one averages "
                         f"n_estimators_={detector.n_estimators_} models. Fit it with n_estimators=1 to export it.")
    if score not in ("reconstruction", "gaussian"):
        raise ValueError(f"npae.onnx converts an AnomalyDetector whose score is 'reconstruction' or 'gaussian'; "
                         f"got {score!r}, a sampled score no deterministic graph reproduces.")
    graph = _Graph(scope, operator, container)
    outputs = [o.full_name for o in operator.outputs]
    x = graph.standardize(getattr(detector, "scaler_", None), graph.input())
    named = outputs[2] if len(outputs) > 2 else None
    if score == "gaussian":
        raw = graph.gaussian_log_density(detector, x)
    else:
        raw = graph.score_samples(_fitted(detector.model_), x)
    # A graph cannot refuse a NaN row as npae does, and NaN < 0 is false: without this floor a
    # row with a missing value would be labelled an inlier. NaN goes to the floor first (Max's
    # NaN handling is the runtime's), then −inf with it. float32 cannot hold −1e300.
    floor = graph.const(max(EXTREME_SCORE, float(np.finfo(graph.dtype).min)), "extreme_score")
    known = graph.op("Where", [graph.op("IsNaN", [raw], "score_is_nan"), floor, raw], "score_known")
    score = graph.op("Max", [known, floor], "score_samples", named)
    shifted = graph.op("Sub", [score, graph.const(detector.offset_, "offset")], "shifted")
    decision = graph.op("Max", [shifted, floor], "scores", outputs[1])
    outlier = graph.op("Less", [decision, graph.const(0.0, "zero")], "outlier")
    graph.op("Where", [outlier, graph.const(-1, "minus_one", np.int64), graph.const(1, "one", np.int64)], "label",
             outputs[0])


def _register():
    for cls in MODELS:
        update_registered_converter(cls, f"Npae{cls.__name__}", _transform_shape, _transform_converter,
                                    options={"score_samples": [False, True]})
        update_registered_parser(cls, _model_parser)
    update_registered_converter(_Decoder, "NpaeDecoder", _decoder_shape, _decoder_converter,
                                parser=_named_output_parser("X_hat"))
    update_registered_converter(_ScoreSamples, "NpaeScoreSamples", _score_shape, _score_converter,
                                parser=_named_output_parser("score_samples"))
    update_registered_converter(AnomalyDetector, "NpaeAnomalyDetector", _detector_shape, _detector_converter,
                                options={"score_samples": [False, True]})
    update_registered_parser(AnomalyDetector, _detector_parser)


_register()


# --------------------------------------------------------------------------------------------
# public entry points


def _check_model(model, what: str):
    if not isinstance(model, BaseAutoencoder):
        raise TypeError(f"{what} converts npae models (npae.Autoencoder, ..., npae.VAE); got {type(model).__name__}.")
    model.parameters()  # raises NotFittedError for an unfitted model


def _tensor_type(dtype):
    if dtype not in _TENSOR_TYPES:
        raise ValueError(f"dtype must be one of {tuple(_TENSOR_TYPES)!r}; got {dtype!r}.")
    return _TENSOR_TYPES[dtype]


def to_onnx_decoder(model, *, dtype: str = "float32", target_opset=None):
    """The decoder of a fitted npae model as an ONNX graph: ``inverse_transform``.

    Parameters
    ----------
    model : fitted npae.Autoencoder, SparseAutoencoder, DenoisingAutoencoder,
            ContractiveAutoencoder or VAE
    dtype : {"float32", "float64"}, default="float32"
        The graph's float type.
    target_opset : int, optional
        Passed to ``skl2onnx.convert_sklearn`` (default: the newest skl2onnx has tested).

    Returns
    -------
    onnx.ModelProto
        Input "Z" of shape (N, K), output "X_hat" of shape (N, D), in data space.
    """
    _check_model(model, "to_onnx_decoder")
    tensor = _tensor_type(dtype)
    return convert_sklearn(_Decoder(model), initial_types=[("Z", tensor([None, int(_fitted(model).latent_dim)]))],
                           target_opset=target_opset)


def to_onnx_score_samples(model, *, dtype: str = "float32", target_opset=None):
    """``score_samples`` of a fitted autoencoder (or a Pipeline ending in one) as an ONNX graph.

    The score is minus the per-row objective, higher = more normal: the reconstruction loss, plus
    λ Σ_j |h_j| for a SparseAutoencoder with sparsity="l1" and λ ‖∂h/∂x‖²_F for a
    ContractiveAutoencoder (see the module docstring for the formulas).

    Parameters
    ----------
    model : fitted npae autoencoder, or sklearn.pipeline.Pipeline whose last step is one
        The VAE is refused (TypeError): its score_samples is a sampled ELBO.
    dtype : {"float32", "float64"}, default="float32"
    target_opset : int, optional

    Returns
    -------
    onnx.ModelProto
        Input "X" of shape (N, D), output "score_samples" of shape (N,).
    """
    steps = model.steps[:-1] if isinstance(model, Pipeline) else []
    final = model.steps[-1][1] if isinstance(model, Pipeline) else model
    _check_model(final, "to_onnx_score_samples")
    if isinstance(final, VAE):
        raise TypeError(_VAE_SCORE_REFUSAL)
    tensor = _tensor_type(dtype)
    wrapped = Pipeline([*steps, ("score_samples", _ScoreSamples(final))]) if steps else _ScoreSamples(final)
    n_features = int(getattr(model, "n_features_in_", final.n_features_in_))
    return convert_sklearn(wrapped, initial_types=[("X", tensor([None, n_features]))], target_opset=target_opset)
