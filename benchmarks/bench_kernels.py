"""Each compiled or fused kernel against its own bound: bytes moved ÷ the bandwidth of a stream copy.

    python benchmarks/bench_kernels.py              # prints the table (run.py --suite issue23 includes it)

For every kernel a training step calls on its hot path (the numba loops on NumPy, PyTorch's fused
calls on the torch backend) at the sizes of the benchmarked AE (``harness.MODELS["ae"]``, batch 128
and 512): the best time of many calls, the bytes the kernel must move at least (each input read
once, each output written once, as counted in the table), and the *bound* = those bytes ÷ the
bandwidth of a stream copy (STREAM's scale a = s·b in NumPy, one thread, 2 words per element of the
kernel's element count, so it sits in the same cache level), timed in blocks alternating with the kernel;
for PyTorch's kernels the copy is PyTorch's own (``torch.mul(b, s, out=a)``) on the same threads.
fraction = bound ÷ measured time (1 = the kernel streams as fast as a copy). For the numba loops
the table also lists the packed (SIMD) instructions of the generated machine code
(``npae.kernels._compiled.packed_instructions``): a loop that did not vectorise shows none.
"""

from __future__ import annotations

import argparse
import sys
import time

import harness as H
import numpy as np
import roofline as R

from npae.kernels import _compiled
from npae.kernels import layers as KL
from npae.kernels import losses as KLoss
from npae.kernels import noise as KN
from npae.kernels import optimizers as KO
from npae.kernels import penalties as KP
from npae.kernels import sampling as KS


def _calls_for(fn, min_time: float) -> int:
    fn()
    t0 = time.perf_counter()
    fn()
    return max(1, int(min_time / max(time.perf_counter() - t0, 1e-7)))


def best_seconds(fns: dict, min_time: float = 0.05, rounds: int = 9) -> dict:
    """{name: best over ``rounds`` of the mean time of a block of calls lasting ≥ ``min_time``}.

    The callables alternate block by block, so a kernel and its copy see the same machine.
    """
    calls = {name: _calls_for(fn, min_time) for name, fn in fns.items()}
    best = dict.fromkeys(fns, float("inf"))
    for r in range(rounds):
        for name, fn in (list(fns.items()) if r % 2 == 0 else list(fns.items())[::-1]):
            t0 = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            best[name] = min(best[name], (time.perf_counter() - t0) / calls[name])
    return best


def copier(n: int):
    """a = s·b on n float32 elements (STREAM's "scale"): a stream copy moving 2·n·4 bytes.

    NumPy's vectorised multiply rather than ``np.copyto``: the latter goes through the C library's
    memmove, whose speed jumps erratically with size and alignment (non-temporal stores)."""
    b = np.random.default_rng(0).random(n, dtype=np.float32)
    a = np.empty_like(b)
    s = np.float32(1.5)
    return lambda: np.multiply(b, s, out=a)


def torch_copier(n: int):
    """The same stream copy in PyTorch (``torch.mul(b, s, out=a)``), on PyTorch's threads as its kernels."""
    import torch

    b = torch.rand(n)
    a = torch.empty_like(b)
    return lambda: torch.mul(b, 1.5, out=a)


def _packed(compiled) -> str:
    report = _compiled.packed_instructions(compiled)
    keys = set()
    for r in report.values():
        keys.update(k for k in r["packed"] if k.endswith(("ymm", "zmm")) or "sqrt" in k or "div" in k)
    names = sorted({k for k in keys if not k.startswith(("vxor", "vand"))})
    return ", ".join(names[:8]) + (" …" if len(names) > 8 else "") if names else "none (scalar loop)"


def kernel_cases(batch: int) -> list:
    """[(name, callable, bytes moved, elements, packed-instruction note)] at the AE's sizes."""
    rng = np.random.default_rng(0)
    f = np.float32
    cases = []
    n_params = R.n_parameters("ae")
    theta, g, m, v = (rng.standard_normal(n_params, dtype=f) for _ in range(4))
    m *= 0.01
    v = np.abs(v) * 1e-4
    scalars = tuple(f(x) for x in (0.9, 0.1, 0.999, 0.001, 1e-3, 1e-8, 0.0))
    if KO._adam_compiled is not None:
        KO._adam_compiled(theta, g, m, v, *scalars)
        cases.append(("Adam update, numba (NumPy backend), all AE parameters",
                      lambda: KO._adam_compiled(theta, g, m, v, *scalars), 7 * 4 * n_params, n_params,
                      _packed(KO._adam_compiled)))
    hidden = H.HIDDEN[0]
    z = rng.standard_normal((batch, hidden), dtype=f)
    gz = rng.standard_normal((batch, hidden), dtype=f)
    out = np.empty_like(z)
    if KL._relu_backward_compiled is not None:
        KL._relu_backward_compiled(z, gz, out)
        cases.append((f"ReLU backward, numba, {batch}×{hidden}", lambda: KL._relu_backward_compiled(z, gz, out),
                      3 * 4 * z.size, z.size, _packed(KL._relu_backward_compiled)))
    x = rng.random((batch, 784), dtype=f)
    eps = rng.standard_normal((batch, 784), dtype=f)
    x_tilde = np.empty_like(x)
    inside = np.empty(x.shape, dtype=bool)
    if KN._gaussian_clip_compiled is not None:
        args = (x, eps, f(H.NOISE_LEVEL), f(0.0), f(1.0), x_tilde, inside)
        KN._gaussian_clip_compiled(*args)
        cases.append((f"Gaussian noise + clip, numba, {batch}×784", lambda: KN._gaussian_clip_compiled(*args),
                      (3 * 4 + 1) * x.size, x.size, _packed(KN._gaussian_clip_compiled)))
    logits = eps * 4.0
    terms, grad = np.empty_like(x), np.empty_like(x)
    if KLoss._bce_terms_compiled is not None:
        KLoss._bce_terms_compiled(x, logits, terms, grad)
        cases.append((f"BCE terms + gradient, numba, {batch}×784",
                      lambda: KLoss._bce_terms_compiled(x, logits, terms, grad), 4 * 4 * x.size, x.size,
                      _packed(KLoss._bce_terms_compiled)))
    cases.extend(_gram_cases(rng))
    like = np.zeros(1, dtype=f)
    sampler_rng = np.random.default_rng(1)
    KS.standard_normal(sampler_rng, (2, 2), like=like)  # compiles the pass before its code is read
    pass_kind = "numba, in place" if KS._box_muller_compiled is not None else "NumPy log/cos/sin"
    cases.append((f"Normal sampler (PCG64 uniforms + Box–Muller, {pass_kind}), {batch}×784",
                  lambda: KS.standard_normal(sampler_rng, (batch, 784), like=like), 3 * 4 * x.size, x.size,
                  _packed(KS._box_muller_compiled) if KS._box_muller_compiled is not None else
                  "array kernel: uniforms drawn (4 B/element), transposed, normals written"))
    cases.append((f"… of which the uniforms alone (`rng.random`, PCG64, the reference's draw), {batch}×784",
                  lambda: sampler_rng.random((x.size // 2, 2), dtype=f), 4 * x.size, x.size,
                  "NumPy's generator: compute-bound, the floor of any sampler that keeps the reference's draws"))
    try:
        import torch
    except ImportError:
        return cases
    tt, tg, tm, tv = (torch.from_numpy(a.copy()) for a in (theta, g, m, v))
    step = torch.full((), 10.0)

    def fused():
        torch._fused_adam_([tt], [tg], [tm], [tv], [], [step], lr=1e-3, beta1=0.9, beta2=0.999, weight_decay=0.0,
                           eps=1e-8, amsgrad=False, maximize=False)

    cases.append(("Adam update, `torch._fused_adam_` (torch backend), all AE parameters", fused,
                  7 * 4 * n_params, n_params, "PyTorch's own (vectorised ATen kernel)"))
    tz, tgz = torch.from_numpy(z), torch.from_numpy(gz)
    cases.append((f"ReLU backward, `threshold_backward` (torch backend), {batch}×{hidden}",
                  lambda: torch.ops.aten.threshold_backward(tgz, tz, 0), 3 * 4 * z.size, z.size, "PyTorch's own"))
    tx, ty = torch.from_numpy(x), torch.from_numpy(eps * 4.0)
    from npae.kernels import torch_backend as KT

    cases.append((f"BCE value + gradient (torch backend kernel), {batch}×784",
                  lambda: KT.bce_with_logits_and_grad(tx, ty), 3 * 4 * x.size, x.size,
                  "CPU float32: npae's numba pass on the tensors' memory"))
    return cases


def _gram_cases(rng) -> list:
    """The contractive penalty's two compiled passes on one CPU row chunk of bench_contractive.py's
    784-256-64 encoder (16 rows: ``npae.penalties.gram.GRAM_CACHE_ELEMENTS``), float32."""
    if KP._gram_factors_compiled is None:
        return []
    f = np.float32
    rows, h_dim, k_dim = 16, 256, 64
    W_last_T = rng.standard_normal((k_dim, h_dim), dtype=f)
    s1, s2 = rng.random((rows, h_dim), dtype=f), rng.random((rows, k_dim), dtype=f)
    R, B, C = (np.empty((rows, k_dim, h_dim), dtype=f) for _ in range(3))
    C[...] = rng.standard_normal(C.shape, dtype=f)
    ds1, dW = np.empty((rows, h_dim), dtype=f), np.zeros((k_dim, h_dim), dtype=f)
    n, small = rows * k_dim * h_dim, 4 * (k_dim * h_dim + rows * (h_dim + k_dim))
    KP._gram_factors_compiled(W_last_T, s1, s2, R, B)
    KP._gram_backward_compiled(C, W_last_T, s1, s2, ds1, dW)
    where = f"contractive 784-256-64, one {rows}-row chunk"
    return [(f"Gram form: R and B (numba), {where}", lambda: KP._gram_factors_compiled(W_last_T, s1, s2, R, B),
             2 * 4 * n + small, n, _packed(KP._gram_factors_compiled)),
            (f"Gram form: ds1 and dW2 from C (numba), {where}",
             lambda: KP._gram_backward_compiled(C, W_last_T, s1, s2, ds1, dW), 4 * n + small + 4 * k_dim * h_dim, n,
             _packed(KP._gram_backward_compiled))]


def kernel_bounds(batch_sizes=(128, 512), log=None) -> list:
    """Rows {name, ms, bytes, gbs, copy_gbs, bound_ms, fraction, packed} for every case and batch."""
    rows, seen = [], set()
    for bs in batch_sizes:
        for name, fn, nbytes, n, packed in kernel_cases(bs):
            if name in seen:  # the parameter-sized kernels do not depend on the batch
                continue
            seen.add(name)
            best = best_seconds({"kernel": fn, "copy": (torch_copier if "torch" in name else copier)(n)})
            t = best["kernel"]
            copy = 2 * 4 * n / best["copy"] / 1e9
            bound = nbytes / (copy * 1e9)
            rows.append({"name": name, "ms": 1e3 * t, "bytes": nbytes, "gbs": nbytes / t / 1e9, "copy_gbs": copy,
                         "bound_ms": 1e3 * bound, "fraction": bound / t, "packed": packed})
            if log:
                log(f"kernel {name}: {1e3 * t:.3f} ms, {rows[-1]['fraction']:.0%} of its copy bound")
    return rows


def kernel_lines(rows) -> list:
    lines = ["## Each compiled or fused kernel against its bound", "",
             "Bound = the bytes the kernel must move (every input read once, every output written once) ÷ the "
             "bandwidth of a stream copy (STREAM scale, a = s·b) of the same element count (same cache level), "
             "in NumPy on one thread for the numba loops, in PyTorch on its threads for PyTorch's kernels, "
             "timed alternately with the kernel; fraction = bound ÷ best measured time (`benchmarks/bench_kernels.py`). "
             "Packed = the SIMD arithmetic in the numba loop's machine code (`_compiled.packed_instructions`).",
             "",
             "| kernel | best ms | MB moved | GB/s | copy GB/s | bound ms | **fraction of bound** | packed instructions |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['ms']:.3f} | {r['bytes'] / 1e6:.2f} | {r['gbs']:.1f} | {r['copy_gbs']:.1f} | "
                     f"{r['bound_ms']:.3f} | **{r['fraction']:.0%}** | {r['packed']} |")
    lines.append("")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    H.add_common_arguments(parser)
    cfg = parser.parse_args(argv)
    H.limit_threads(cfg.threads)
    info = H.machine_info()
    rows = kernel_bounds(log=H.logger("bench_kernels.py"))
    print("\n".join(["# Kernels against their bounds", "",
                     *H.machine_lines(info, H.command_line("bench_kernels.py", argv or sys.argv[1:])), "",
                     *kernel_lines(rows)]))
    return 0


if __name__ == "__main__":
    H.reexec_without_openblas_env()
    sys.exit(main())
