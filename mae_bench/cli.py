"""``mae-bench`` console command: one entry for the tools/ scripts of a source checkout.

  mae-bench pretrain --config configs/pretrain/quick.py
  mae-bench transfer --task coco --ckpt PATH
  mae-bench check-data --task coco --data-root /datasets/coco
  mae-bench fetch zoo:mae-vit-b --cache /shared/ckpt
  mae-bench tables | synthetic | convert | benchmark | demo  [args]
"""
from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"
COMMANDS = {"pretrain": "pretrain.py", "transfer": "transfer.py", "check-data": "check_data.py",
            "tables": "make_tables.py", "synthetic": "make_synthetic.py", "convert": "convert_ckpt.py",
            "benchmark": "benchmark.py", "demo": "demo.py", "pretrain-dist": "pretrain.sh", "fetch": "fetch_ckpt.py"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__ + "\ncommands: " + ", ".join(COMMANDS), file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    script = TOOLS / COMMANDS[argv[0]]
    if not script.is_file():
        print(f"error: {script} not found; mae-bench's commands run from a source checkout (pip install -e .)",
              file=sys.stderr)
        return 2
    if script.suffix == ".sh":
        return subprocess.call(["bash", str(script), *argv[1:]])
    sys.argv = [str(script), *argv[1:]]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
