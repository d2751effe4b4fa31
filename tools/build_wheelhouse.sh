#!/usr/bin/env bash
# Build the offline wheelhouse for a GPU node without network (docs/install.md "The GPU machine"):
#   bash tools/build_wheelhouse.sh OUT_DIR            # for the node: Python 3.12, manylinux x86_64
#   PYVER=3.11 bash tools/build_wheelhouse.sh OUT_DIR # for another Python (the tests build one for this machine)
# It holds the mmcv 2.1.0 sdist (its ops are built on the node against the node's own torch, by
# tools/install_offline.sh) and, as wheels for that Python, mmengine / mmdet / mmsegmentation, pycocotools and
# the dependencies the node lacks. The node already has torch, torchvision, timm, numpy, pandas, scipy,
# matplotlib, pyyaml, tqdm, packaging (its torch is never replaced). opencv-python-headless 4.10 (50 MB)
# stands in for mmengine's opencv-python (71 MB) to stay under 64 MiB; the installer uses --no-deps.
# Then carry OUT_DIR and run: bash tools/install_offline.sh OUT_DIR
set -euo pipefail
OUT=${1:?usage: tools/build_wheelhouse.sh OUT_DIR}
PYVER=${PYVER:-3.12}
PY=${PYTHON:-$(dirname "$0")/../.venv/bin/python}
[ -x "$PY" ] || PY=python3
LIMIT_MIB=${LIMIT_MIB:-64}
mkdir -p "$OUT"
WHEELS=(
  mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 pycocotools
  "opencv-python-headless==4.10.0.84" addict yapf platformdirs termcolor rich markdown-it-py mdurl pygments
  shapely six terminaltables prettytable wcwidth ftfy regex wheel
)
TAGS=(--python-version "$PYVER" --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux_2_24_x86_64 --platform manylinux_2_28_x86_64 --only-binary=:all:)
echo "[wheelhouse] wheels for Python $PYVER into $OUT"
"$PY" -m pip download -q --no-deps "${TAGS[@]}" -d "$OUT" "${WHEELS[@]}"
# mmcv 2.1.0's setup.py needs pkg_resources from setuptools < 70; mmengine's mmdet:: configs need < 81 later.
"$PY" -m pip download -q --no-deps "${TAGS[@]}" -d "$OUT/build" 'setuptools<70'
"$PY" -m pip download -q --no-deps "${TAGS[@]}" -d "$OUT" 'setuptools>=77,<81'
"$PY" -m pip download -q --no-deps --no-build-isolation --no-binary :all: -d "$OUT" mmcv==2.1.0  # metadata: needs torch
BYTES=$(du -sb "$OUT" | cut -f1)
echo "[wheelhouse] $(find "$OUT" -type f | wc -l) files, $((BYTES / 1048576)) MiB"
if [ "$BYTES" -gt $((LIMIT_MIB * 1048576)) ]; then
  echo "error: wheelhouse $OUT is $((BYTES / 1048576)) MiB, over the ${LIMIT_MIB} MiB that can be carried" >&2
  exit 1
fi
