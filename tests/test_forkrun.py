"""mae_bench.forkrun: a script run in a process forked from the preloaded interpreter behaves as `python script`:
its argv, environment, working folder, streams, exit status, traceback, atexit handlers and a timeout's kill."""
import os
import subprocess
import sys
import time

import pytest

from mae_bench import forkrun

SCRIPT = """
import atexit, os, sys
atexit.register(lambda: print("atexit ran"))
print("argv", sys.argv[1:], "cwd", os.getcwd(), "var", os.environ.get("FORKRUN_VAR"), "main", __name__)
print("path0", sys.path[0] == os.path.dirname(os.path.abspath(__file__)))
print("to stderr", file=sys.stderr)
mode = sys.argv[1]
if mode == "raise":
    raise KeyError("broken")
if mode == "message":
    sys.exit("a message")
if mode == "sleep":
    import time; time.sleep(60)
sys.exit(int(mode))
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "tool.py"
    path.write_text(SCRIPT)
    return path


def both(script, mode: str, cwd) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    env = dict(os.environ, FORKRUN_VAR="set")
    fresh = subprocess.run([sys.executable, str(script), mode], capture_output=True, text=True, env=env, cwd=cwd)
    return forkrun.run(script, [mode], env, cwd), fresh


@pytest.mark.parametrize("mode", ["0", "3", "raise", "message"])
def test_a_forked_run_behaves_as_a_fresh_interpreter(script, tmp_path, mode):
    forked, fresh = both(script, mode, tmp_path)
    assert forked.returncode == fresh.returncode == {"0": 0, "3": 3}.get(mode, 1)
    assert forked.stdout == fresh.stdout
    assert f"argv ['{mode}'] cwd {tmp_path} var set main __main__" in forked.stdout and "path0 True" in forked.stdout
    assert forked.stdout.endswith("atexit ran\n")
    last = {"raise": "KeyError: 'broken'", "message": "a message"}.get(mode, "to stderr")
    assert forked.stderr.splitlines()[-1] == fresh.stderr.splitlines()[-1] == last
    if mode == "raise":
        assert "Traceback (most recent call last)" in forked.stderr and 'tool.py", line 9' in forked.stderr


def test_timeout_kills_the_run_and_merged_log(script, tmp_path):
    log = tmp_path / "run.log"
    log.write_bytes(b"")
    run = forkrun.ForkedRun(script, ["sleep"], dict(os.environ), tmp_path, log)
    t0 = time.time()
    with pytest.raises(subprocess.TimeoutExpired):
        run.wait(timeout=3)
    run.kill()
    assert run.returncode == -9 and time.time() - t0 < 30
    assert "argv ['sleep']" in log.read_text() and "to stderr" in log.read_text()  # stdout and stderr in one file
