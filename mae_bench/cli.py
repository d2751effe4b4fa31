"""``mae-bench`` console command, and the pieces every tools/ script shares (error reporting, flag spellings).

  mae-bench pretrain --config configs/pretrain/quick.py
  mae-bench transfer --task coco --ckpt PATH
  mae-bench check-data --task coco --data-root /datasets/coco
  mae-bench fetch zoo:mae-vit-b --cache /shared/ckpt
  mae-bench tables | synthetic | convert | benchmark | demo  [args]

The scripts run from the source checkout's tools/ or, after ``pip install .``, from the package's copy
(mae_bench.resources); config paths such as configs/pretrain/quick.py are found in either from any folder.
"""
from __future__ import annotations

import argparse
import functools
import os
import runpy
import subprocess
import sys
from typing import Callable

from .errors import MaeBenchError
from .resources import tool_file

COMMANDS = {"pretrain": "pretrain.py", "transfer": "transfer.py", "check-data": "check_data.py",
            "tables": "make_tables.py", "synthetic": "make_synthetic.py", "convert": "convert_ckpt.py",
            "benchmark": "benchmark.py", "demo": "demo.py", "pretrain-dist": "pretrain.sh", "fetch": "fetch_ckpt.py"}
INTERRUPTED = "interrupted (SIGINT): stopped; the files of the last finished epoch are kept"


def reports_errors(*errors: type[BaseException], interrupt: bool = False) -> Callable:
    """Decorator of a tool's ``main(argv) -> int``: an error of ``errors`` (default: the project's own,
    ``MaeBenchError``) becomes one line ``error: <message>`` on stderr and exit status 2; anything else keeps its
    traceback. ``interrupt=True`` (the long runs) turns Ctrl-C into one line and the shell's status for it, 130.

    One place for the tail every tool ended with, so the message and the status are the same in all of them."""
    caught = errors or (MaeBenchError,)

    def wrap(main: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(main)
        def guarded(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except KeyboardInterrupt:
                if not interrupt:
                    raise
                print(INTERRUPTED, file=sys.stderr)
                return 130
            except caught as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
        return guarded
    return wrap


class _EitherSpellingSwitch(argparse.BooleanOptionalAction):
    """``--flag`` / ``--no-flag`` typed in either spelling: BooleanOptionalAction tells the two apart by comparing
    the option string typed with its own list, which holds the tool's spelling only, so an alias is translated
    back to that spelling first."""

    spellings: dict[str, str] = {}

    def __call__(self, parser, namespace, values, option_string=None):
        super().__call__(parser, namespace, values, self.spellings.get(option_string, option_string))


def accept_both_spellings(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Let every ``--long_flag`` of ``parser`` also be typed ``--long-flag`` and the other way round.

    Each tool spells its flags one way in --help and in its messages (pretrain.py the official MAE way,
    ``--batch_size``; transfer.py the mmdet / mmseg way, ``--data-root``); the other spelling is an alias that
    parses to the same argument, so commands written either way keep working. The aliases are registered with
    the parser's option table only, not as option strings of the argument: --help and error messages show the
    tool's own spelling once."""
    table = parser._option_string_actions  # argparse's map of option string -> action, read by parse_args
    for option, action in list(table.items()):
        if not option.startswith("--"):
            continue
        body = option[2:]
        for alias in ("--" + body.replace("_", "-"), "--" + body.replace("-", "_")):
            if alias in table:
                continue
            table[alias] = action
            if type(action) is argparse.BooleanOptionalAction:
                action.__class__ = _EitherSpellingSwitch
            if isinstance(action, _EitherSpellingSwitch):
                action.spellings = {**action.spellings, alias: option}
    parser._get_option_tuples = _one_match_per_flag(parser._get_option_tuples)
    return parser


def _one_match_per_flag(find: Callable) -> Callable:
    """argparse's prefix matching (``--norm`` for ``--norm_pix_loss``) with one match per argument: the two
    spellings of a flag are not an ambiguity. Registered first, the tool's own spelling is the one kept."""
    def matches(option_string: str) -> list:
        seen, kept = set(), []
        for match in find(option_string):  # (action, option string, ...) tuples
            if id(match[0]) not in seen:
                seen.add(id(match[0]))
                kept.append(match)
        return kept
    return matches


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__ + "\ncommands: " + ", ".join(COMMANDS), file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    script = tool_file(COMMANDS[argv[0]])
    if not script.is_file():
        print(f"error: {script} not found: this mae-bench was installed without its tools/ (pip install . ships "
              f"them inside the package; pip install -e . uses the checkout's)", file=sys.stderr)
        return 2
    if script.suffix == ".sh":  # the shell script starts this interpreter (an installed copy has no .venv beside it)
        env = {**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)}
        return subprocess.call(["bash", str(script), *argv[1:]], env=env)
    sys.argv = [str(script), *argv[1:]]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
