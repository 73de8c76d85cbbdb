#!/usr/bin/env python3
"""PyTorch's own kernels at the shapes of LLM-001 and LLM-008, as the reference the
Hopper kernels are set against in the same run: flash SDPA forward (the flash backend
only, so a fallback cannot hide) at B4 H16 S4096, head dim 64 and 128, causal and
not, and a bf16 matmul (cuBLAS) at 8192^3. Each is checked against a float32
computation first, then timed with CUDA events; prints one line per figure.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from pytorch_workload import check, fail, flash_only, timed_ms  # noqa: E402


def reference_attention(q, k, v, causal):
    q, k, v = q.float(), k.float(), v.float()
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        s = q.shape[-2]
        mask = torch.ones(s, s, device=q.device, dtype=torch.bool).tril()
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1) @ v


def sdpa(batch, heads, seq, dim, causal):
    q, k, v = (torch.randn(batch, heads, seq, dim, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    with flash_only():
        o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        check(f"sdpa d{dim} causal={causal}", o[:1, :2], reference_attention(q[:1, :2], k[:1, :2], v[:1, :2], causal), 2e-2)
        ms = timed_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal), iters=20, warmup=3)
    flop = 4 * batch * heads * seq * seq * dim * (0.5 if causal else 1.0)
    print(f"torch flash SDPA B{batch} H{heads} S{seq} D{dim} causal={causal}: {flop / (ms * 1e-3) / 1e12:.1f} TFLOPS ({ms:.3f} ms)")


def matmul(n):
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    check(f"matmul {n}", (a[:256] @ b.T).float(), a[:256].float() @ b.float().T, 1e-2)
    out = torch.empty(n, n, device="cuda", dtype=torch.bfloat16)
    ms = timed_ms(lambda: torch.matmul(a, b.T, out=out), iters=50, warmup=5)
    print(f"torch bf16 matmul {n}^3 (A B^T, bf16 out): {2 * n**3 / (ms * 1e-3) / 1e12:.1f} TFLOPS ({ms:.3f} ms)")


def main():
    if not torch.cuda.is_available():
        fail("no CUDA device visible to torch")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}")
    for dim in (128, 64):
        for causal in (False, True):
            sdpa(4, 16, 4096, dim, causal)
    matmul(8192)


if __name__ == "__main__":
    main()
