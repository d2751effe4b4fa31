#!/usr/bin/env bash
# Install the mm stack on an offline GPU node from a wheelhouse built by tools/build_wheelhouse.sh:
#   bash tools/install_offline.sh WHEELHOUSE [VENV]   (default VENV .venv; PYTHON = the node's Python with torch)
# The venv sees the node's own packages (--system-site-packages), so its torch / torchvision / numpy are used
# and never replaced. Nothing is fetched (pip --no-index). mmcv 2.1.0's ops are built from the sdist against that
# torch: CUDA ops when nvcc and a GPU are present (FORCE_CUDA=1, a few minutes on 16 cores), else CPU ops, in
# which case backbones/torchvision_ops.py runs RoIAlign / NMS on CUDA tensors through torchvision.
# MMCV_WITH_CUDA=0 skips the CUDA build; MMCV_WHEEL=path installs an already built mmcv wheel instead, and
# MMCV_WHEEL=installed keeps the mmcv the environment already has.
set -euo pipefail
WH=$(cd "${1:?usage: tools/install_offline.sh WHEELHOUSE [VENV]}" && pwd)
VENV=${2:-.venv}
PY=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PY" -m venv --system-site-packages "$VENV"
VPY=$VENV/bin/python
PIP=("$VPY" -m pip install -q --no-index --no-deps)
"$VPY" -c 'import torch, torchvision as tv; print("[offline] torch", torch.__version__, tv.__version__, torch.version.cuda)'
if [ -z "${MMCV_WHEEL:-}" ]; then
  BUILD=$(mktemp -d)
  "${PIP[@]}" "$WH"/build/setuptools-*.whl "$WH"/wheel-*.whl
  tar -xzf "$WH"/mmcv-2.1.0.tar.gz -C "$BUILD"
  sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$BUILD/mmcv-2.1.0/setup.py"  # torch >= 2.10 headers need C++20
  if [ "${MMCV_WITH_CUDA:-1}" = 1 ] && command -v nvcc >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    export FORCE_CUDA=1
  fi
  echo "[offline] building mmcv 2.1.0 ops (FORCE_CUDA=${FORCE_CUDA:-0}, $(nproc) jobs)"
  (cd "$BUILD/mmcv-2.1.0" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    "$VPY" -m pip wheel -q --no-index --no-build-isolation --no-deps . -w "$BUILD/dist")
  MMCV_WHEEL=$(ls "$BUILD"/dist/mmcv-*.whl)
fi
[ "$MMCV_WHEEL" = installed ] && MMCV_WHEEL=
"${PIP[@]}" ${MMCV_WHEEL:+"$MMCV_WHEEL"} $(ls "$WH"/*.whl)
"$VPY" - <<'PY'
import mmcv.ops, mmdet.models, mmengine, mmseg.models, pycocotools.coco, timm  # noqa: F401
print("[offline] mmcv", mmcv.__version__, "ops CUDA:", mmcv.ops.get_compiling_cuda_version(),
      "| mmengine", mmengine.__version__, "| stack imports")
PY
# The fast pipeline's JPEG region decoder, built once per checkout against this node's compiler and libjpeg (the
# build records its fallback where they are missing; mae_bench/data/jpeg_region.py, docs/data_pipeline.md).
REPO=$(cd "$(dirname "$0")/.." && pwd)
ABS_VPY=$(cd "$(dirname "$VPY")" && pwd)/python
if [ ! -f "$REPO/mae_bench/data/jpeg_region.build.json" ]; then
  (cd "$REPO" && "$ABS_VPY" setup.py -q build_ext --inplace >/dev/null)
fi
(cd "$REPO" && "$ABS_VPY" -c 'from mae_bench.data import jpeg_region as j; print("[offline] JPEG region decoder:", j.describe())')
