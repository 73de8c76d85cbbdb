#!/usr/bin/env bash
# Installs the pinned CUDA 13.0 compiler from PyPI into .ci/nvcc (about 100 MB), the
# nvcc that produced the committed kernels/ptx/*.ptx. It emits PTX ISA 9.0, which a
# CUDA 13.0 driver loads; newer wheels emit ISA 9.1+, which that driver refuses.
# Prints the nvcc path; use it as NVCC=... for cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.ci/nvcc
nvcc=$dest/nvidia/cu13/bin/nvcc
if [ ! -x "$nvcc" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --target "$dest" \
        nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-cuda-runtime==13.0.88 \
        nvidia-cuda-cccl==13.0.85 nvidia-nvvm==13.0.88 >&2
fi
echo "$PWD/$nvcc"
