#!/usr/bin/env python3
"""A PyTorch workload for `gpu-virt-bench exec`: a bf16 GEMM loop, causal SDPA with the
flash-attention backend, and a small transformer decode step replayed from a CUDA
graph (and run eagerly, for the launches a graph saves).

Each result is checked against a float32 reference before it is timed, and every
figure is printed on stdout as one JSON line that `exec` reads:

    {"gvb": "gemm_bf16_tflops", "value": 512.3, "unit": "TFLOPS", "better": "higher"}

Progress and checks go to stderr. Needs only torch and a CUDA GPU:

    gpu-virt-bench exec --name pytorch --configs native,hami-50 -- \\
        python3 examples/pytorch_workload.py --quick
"""

import argparse
import json
import math
import sys

import torch
import torch.nn.functional as F


def emit(name, value, unit, better):
    """One figure, in the form `exec` reads."""
    print(json.dumps({"gvb": name, "value": value, "unit": unit, "better": better}), flush=True)


def note(text):
    print(text, file=sys.stderr, flush=True)


def fail(text):
    note(f"error: {text}")
    sys.exit(1)


def relative_error(got, want):
    got, want = got.double(), want.double()
    return ((got - want).norm() / want.norm()).item()


def check(what, got, want, tolerance):
    error = relative_error(got, want)
    if not math.isfinite(error) or error > tolerance:
        fail(f"{what} is incorrect: relative error {error:.3g} against the float32 reference (tolerance {tolerance})")
    note(f"{what}: relative error {error:.2e} against the float32 reference, ok")


def timed_ms(fn, iters, warmup):
    """Mean milliseconds per call of `fn` over `iters` calls, by CUDA events, after
    `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / iters


def gemm(n, iters):
    """C = A @ B in bf16 (float32 accumulate), n x n x n."""
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    c = a @ b
    check(f"gemm bf16 {n}x{n}x{n}", c.float(), a.float() @ b.float(), 1e-2)
    out = torch.empty_like(c)
    ms = timed_ms(lambda: torch.matmul(a, b, out=out), iters, warmup=5)
    emit("gemm_bf16_tflops", 2 * n**3 / (ms * 1e-3) / 1e12, "TFLOPS", "higher")
    emit("gemm_bf16_ms", ms, "ms", "lower")


def flash_only():
    """A context in which SDPA may take the flash-attention kernel only, so a layer
    that hides it fails here instead of falling back to a slower kernel unseen."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel

        return sdpa_kernel(SDPBackend.FLASH_ATTENTION)
    except ImportError:
        return torch.backends.cuda.sdp_kernel(enable_flash=True, enable_math=False, enable_mem_efficient=False)


def reference_attention(q, k, v):
    """Causal attention in float32, written out."""
    q, k, v = q.float(), k.float(), v.float()
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    s = q.shape[-2]
    mask = torch.ones(s, s, device=q.device, dtype=torch.bool).tril()
    return scores.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v


def attention(batch, heads, seq, dim, iters):
    """Causal SDPA forward, flash backend, bf16, (batch, heads, seq, dim)."""
    q, k, v = (torch.randn(batch, heads, seq, dim, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    with flash_only():
        try:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        except RuntimeError as e:
            fail(f"SDPA has no flash-attention kernel for this GPU or build ({e})")
        # The reference on two heads of the first batch: the full score matrix in
        # float32 is large.
        check(
            f"sdpa flash {batch}x{heads}x{seq}x{dim} causal",
            o[:1, :2],
            reference_attention(q[:1, :2], k[:1, :2], v[:1, :2]),
            2e-2,
        )
        ms = timed_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), iters, warmup=3)
    # Two matmuls of 2 * seq^2 * dim FLOP per head, half of them masked away.
    flop = 4 * batch * heads * seq * seq * dim / 2
    emit("sdpa_flash_tflops", flop / (ms * 1e-3) / 1e12, "TFLOPS", "higher")
    emit("sdpa_flash_ms", ms, "ms", "lower")


def rms_norm(x):
    return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-6).to(x.dtype)


class Decoder:
    """`layers` pre-norm transformer layers decoding one token for each of `batch`
    sequences against a fixed KV cache of `context` tokens."""

    def __init__(self, layers, hidden, heads, batch, context):
        self.heads, self.dim = heads, hidden // heads

        def weight(rows, cols):
            return torch.randn(rows, cols, device="cuda", dtype=torch.bfloat16) / math.sqrt(rows)

        self.layers = [
            {
                "qkv": weight(hidden, 3 * hidden),
                "out": weight(hidden, hidden),
                "up": weight(hidden, 4 * hidden),
                "down": weight(4 * hidden, hidden),
                "k": torch.randn(batch, heads, context, self.dim, device="cuda", dtype=torch.bfloat16),
                "v": torch.randn(batch, heads, context, self.dim, device="cuda", dtype=torch.bfloat16),
            }
            for _ in range(layers)
        ]

    def step(self, x, dtype=torch.bfloat16):
        """One decode step of hidden states `x` (batch, hidden), computed in `dtype`."""
        batch = x.shape[0]
        x = x.to(dtype)
        for layer in self.layers:
            w = {name: t.to(dtype) for name, t in layer.items()}
            # The new token's key and value are projected as a real step projects
            # them, but the cache stays fixed, so every replay does the same work.
            q, _, _ = (rms_norm(x) @ w["qkv"]).view(batch, 3, self.heads, 1, self.dim).unbind(1)
            o = F.scaled_dot_product_attention(q, w["k"], w["v"])
            x = x + o.reshape(batch, -1) @ w["out"]
            x = x + F.silu(rms_norm(x) @ w["up"]) @ w["down"]
        return x


def decode(layers, hidden, heads, batch, context, iters):
    """The decode step eagerly and replayed from a CUDA graph, checked against each
    other and against float32."""
    model = Decoder(layers, hidden, heads, batch, context)
    static_x = torch.randn(batch, hidden, device="cuda", dtype=torch.bfloat16)
    eager = model.step(static_x)
    check(
        f"decode step ({layers} layers, hidden {hidden}, batch {batch}, context {context})",
        eager.float(),
        model.step(static_x, torch.float32),
        3e-2,
    )
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            model.step(static_x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_out = model.step(static_x)
    graph.replay()
    torch.cuda.synchronize()
    check("decode step from the CUDA graph", static_out.float(), eager.float(), 1e-2)
    eager_ms = timed_ms(lambda: model.step(static_x), iters, warmup=5)
    graph_ms = timed_ms(graph.replay, iters, warmup=5)
    emit("decode_eager_ms", eager_ms, "ms", "lower")
    emit("decode_graph_ms", graph_ms, "ms", "lower")
    emit("decode_graph_tokens_per_s", batch / (graph_ms * 1e-3), "tokens/s", "higher")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller shapes and fewer iterations, for a first look")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        fail("no CUDA device visible to torch")
    # The float32 references must be float32, not TF32.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    note(f"torch {torch.__version__} on {torch.cuda.get_device_name()}{' (quick)' if args.quick else ''}")
    if args.quick:
        gemm(n=4096, iters=50)
        attention(batch=2, heads=16, seq=2048, dim=128, iters=20)
        decode(layers=2, hidden=2048, heads=16, batch=8, context=1024, iters=100)
    else:
        gemm(n=8192, iters=100)
        attention(batch=4, heads=32, seq=4096, dim=128, iters=50)
        decode(layers=4, hidden=4096, heads=32, batch=8, context=2048, iters=500)


if __name__ == "__main__":
    main()
