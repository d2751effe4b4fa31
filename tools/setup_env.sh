#!/usr/bin/env bash
# Create .venv with the whole mae-bench stack. Idempotent: a second run on a ready venv only checks.
# mmcv 2.1.0 has no wheel for torch 2.14, so it is built from its sdist (with ops) once and cached
# outside the repository, keyed by mmcv, torch, Python version and CPU/CUDA flavour.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
VENV=${VENV:-.venv}
CONSTRAINTS=${MAE_BENCH_CONSTRAINTS:-$PWD/constraints.txt}
CACHE=${MAE_BENCH_CACHE:-$HOME/.cache/mae-bench}
MMCV_VERSION=2.1.0
STAMP="$VENV/.mae-bench-setup-$(sha256sum "$CONSTRAINTS" setup.py tools/setup_env.sh | sha256sum | cut -c1-12)"

if [ -f "$STAMP" ]; then
  # a checkout the ready venv has not built (another clone or worktree): build its region JPEG decoder in place
  if [ ! -f mae_bench/data/jpeg_region.build.json ]; then
    "$VENV/bin/python" setup.py -q build_ext --inplace
    "$VENV/bin/python" -c 'from mae_bench.data import jpeg_region as j; print("[setup] JPEG region decoder:", j.describe())'
  fi
  echo "[setup] $VENV is ready ($(basename "$STAMP"))"; exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q -c "$CONSTRAINTS")
echo "[setup] torch, torchvision and the pure-Python stack"
"${PIP[@]}" --upgrade pip wheel
"${PIP[@]}" torch torchvision timm pandas mmengine pycocotools tensorboard matplotlib tqdm \
  ftfy regex pytest pytest-timeout pytest-xdist safetensors huggingface_hub ninja submitit ruff

TORCH_V=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
PY_V=$("$VENV/bin/python" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')
FLAVOUR=cpu
if command -v nvcc >/dev/null && command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  FLAVOUR=cuda; export FORCE_CUDA=1
fi
WHEELS="$CACHE/mmcv-$MMCV_VERSION-torch$TORCH_V-$PY_V-$FLAVOUR"
if ! ls "$WHEELS"/mmcv-*.whl >/dev/null 2>&1; then
  echo "[setup] building mmcv $MMCV_VERSION with ops ($FLAVOUR) into $WHEELS (about 9 min on 2 cores, once)"
  BUILD=$(mktemp -d)
  # mmcv 2.1.0's setup.py imports pkg_resources (setuptools < 70); torch wants >= 77 afterwards.
  "$VENV/bin/python" -m pip install -q 'setuptools<70' 2>/dev/null
  "$VENV/bin/python" -m pip download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD"
  tar -xzf "$BUILD"/mmcv-*.tar.gz -C "$BUILD"
  SRC=$(ls -d "$BUILD"/mmcv-"$MMCV_VERSION")
  # torch >= 2.10 headers need C++20; mmcv 2.1.0 passes -std=c++14/17.
  sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$SRC/setup.py"
  mkdir -p "$WHEELS.tmp"
  (cd "$SRC" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    "$OLDPWD/$VENV/bin/python" -m pip wheel -q --no-build-isolation --no-deps . -w "$WHEELS.tmp")
  "$VENV/bin/python" -m pip install -q 'setuptools>=77,<81' 2>/dev/null  # <81 still has pkg_resources (mmengine's mmdet::/mmseg:: bases)
  rm -rf "$WHEELS" && mv "$WHEELS.tmp" "$WHEELS" && rm -rf "$BUILD"
fi
echo "[setup] mmcv (cached wheel), mmdet, mmsegmentation, mae-bench"
"${PIP[@]}" "$WHEELS"/mmcv-*.whl
"${PIP[@]}" mmdet mmsegmentation
"${PIP[@]}" --no-build-isolation -e .
"$VENV/bin/python" -c 'import mmcv.ops, mmdet.models, mmseg.models, timm, mae_bench; print("[setup] stack imports")'
# pip -q hides the build's output: say here whether the region JPEG decoder was built or the fallback chosen (and why)
"$VENV/bin/python" -c 'from mae_bench.data import jpeg_region as j; print("[setup] JPEG region decoder:", j.describe())'
touch "$STAMP"
