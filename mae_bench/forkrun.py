"""Run tool scripts (``tools/*.py``) in processes forked from one interpreter that has already imported the heavy
libraries.

Each run is its own process: the script executes as ``__main__`` with its own argv, environment, working folder,
stdout and stderr, and its exit status is the process's, as with ``python tools/x.py ...``. What it saves is the
3-5 s that every fresh interpreter spends importing torch, torchvision, timm and mmengine before it does anything:
the demo starts some 35 tool runs and the tests some 200. The preloaded server is multiprocessing's ``forkserver``
(one per calling process, started on first use); it imports only third-party libraries, none of the project's
modules, so each run imports the project afresh and reads its environment as a fresh interpreter would.

Only what an interpreter fixes at start-up is shared: the hash seed, and the threads of the libraries' pools, which
are sized here from ``OMP_NUM_THREADS`` when a run sets it.
"""
from __future__ import annotations

import atexit
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

PRELOAD = ("numpy", "PIL.Image", "torch", "torchvision", "timm", "pandas", "mmengine.config", "mmengine.runner",
           "mmcv.transforms", "pycocotools.coco")


def _server():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def _exit_code(e: SystemExit) -> int:
    if e.code is None or isinstance(e.code, int):
        return e.code or 0
    print(e.code, file=sys.stderr)  # sys.exit("message"): the interpreter prints it and exits 1
    return 1


def _child(script: str, argv: list[str], env: dict, cwd: str, out: str, err: str | None) -> None:
    """In the forked process: become ``python script *argv`` and exit with its status."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    out_fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    err_fd = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_APPEND) if err else out_fd
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False)
    if env.get("OMP_NUM_THREADS", "").isdigit() and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(env["OMP_NUM_THREADS"]))
    here = str(Path(script).resolve().parent)
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [here, *extra, *(p for p in sys.path[1:] if p not in extra)]
    sys.argv = [script, *argv]
    code = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        code = _exit_code(e)
    except BaseException:  # noqa: B036 - the interpreter's own behaviour: traceback on stderr, status 1
        traceback.print_exc()
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


class ForkedRun:
    """One started tool run: ``poll()``, ``wait(timeout)``, ``kill()`` and ``returncode``, as a ``Popen``."""

    def __init__(self, script, args, env: dict, cwd, out: Path, err: Path | None = None):
        self.args = [sys.executable, str(script), *map(str, args)]
        self.process = _server().Process(target=_child, args=(str(script), [str(a) for a in args], dict(env),
                                                               str(cwd), str(out), str(err) if err else None))
        self.process.start()

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def poll(self) -> int | None:
        return self.process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.process.exitcode

    def kill(self) -> None:
        self.process.kill()
        self.process.join()


def _temp_file(suffix: str) -> Path:
    fd, path = tempfile.mkstemp(prefix="forkrun_", suffix=suffix)
    os.close(fd)
    return Path(path)


def run(script, args, env: dict, cwd, timeout: float | None = None) -> subprocess.CompletedProcess:
    """``subprocess.run([python, script, *args], capture_output=True, text=True, ...)`` in a forked process; the
    captured streams pass through temporary files."""
    out, err = (_temp_file(suffix) for suffix in (".out", ".err"))
    run_ = ForkedRun(script, args, env, cwd, out, err)
    try:
        code = run_.wait(timeout)
    except subprocess.TimeoutExpired:
        run_.kill()
        raise
    finally:
        texts = [f.read_text(errors="backslashreplace") for f in (out, err)]
        for f in (out, err):
            f.unlink(missing_ok=True)
    return subprocess.CompletedProcess(run_.args, code, *texts)
