"""The owner of an output folder (docs/faults.md): one live run per ``--output_dir`` / ``--work-dir``.

A run claims its folder by creating ``.owner`` there (a JSON line: pid, host, the process's start time, when, the
command, the Slurm job), atomically, before it writes anything; a second run into the folder while the first lives
is refused naming that pid and host. An owner file whose process is gone (same host, no such pid, or the pid now
belongs to a younger process) is stale: the new run takes the folder over and says so; so does a requeue of the
same Slurm job (the same ``SLURM_JOB_ID``) on any host. Another owner on another host cannot be checked from here
and is refused; the message says how to free the folder. At the claim, temporary files (``.<name>.tmp<pid>``,
``checkpoints.temp_name``) that processes killed mid-save left behind are removed.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

log = logging.getLogger("mae_bench.outdir")
OWNER_FILE = ".owner"
TEMP_FILE = re.compile(r"^\..+\.tmp(\d+)(-[0-9a-f]+)?$")


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of process ``pid`` from /proc/<pid>/stat; None when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], fields[19]


def _start_time(pid: int) -> str | None:
    stat = _stat(pid)
    return stat[1] if stat else None


def alive(pid: int, start: str | None = None) -> bool:
    """Whether process ``pid`` of this host runs (not a zombie; with ``start``, the process that started then)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    stat = _stat(pid)
    if stat is None:
        return True
    return stat[0] != "Z" and (start is None or stat[1] == start)


@dataclass
class Owner:
    path: Path
    pid: int

    def release(self) -> None:
        """Remove the owner file if it is still this process's."""
        with contextlib.suppress(OSError, ValueError):
            if json.loads(self.path.read_text()).get("pid") == self.pid:
                self.path.unlink()


def _describe(info: dict) -> str:
    return f"pid {info.get('pid')} on host {info.get('host')} (started {info.get('started', '?')})"


def claim(folder: str | Path, flag: str = "--output_dir") -> Owner:
    """Make this process the owner of ``folder`` (created if needed); a ``ConfigError`` naming the live owner."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path, pid, host = folder / OWNER_FILE, os.getpid(), socket.gethostname()
    job = os.environ.get("SLURM_JOB_ID")
    me = dict(pid=pid, host=host, start=_start_time(pid), started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
              command=" ".join(sys.argv), slurm_job=job)
    tmp, text = folder / f".{OWNER_FILE}.tmp{pid}-{uuid.uuid4().hex[:8]}", json.dumps(me) + "\n"
    tmp.write_text(text)
    try:
        for _ in range(3):
            try:
                os.link(tmp, path)  # fails if the file exists: one owner at a time
                break
            except FileExistsError:
                pass
            try:
                info = json.loads(path.read_text())
            except FileNotFoundError:
                continue  # released meanwhile: try again
            except (OSError, ValueError):
                info = {}
            dead = info.get("host") == host and isinstance(info.get("pid"), int) and info["pid"] != pid and not alive(
                info["pid"], info.get("start"))
            requeued = job is not None and info.get("slurm_job") == job and info.get("pid") != pid
            if dead or requeued:
                why = "which no longer runs" if dead else f"an earlier start of this Slurm job {job}"
                log.warning("%s %s: taking over from %s, %s", flag, folder, _describe(info), why)
                os.replace(tmp, path)
                tmp.write_text(text)  # for the next try, should another taker replace it meanwhile
                if json.loads(path.read_text()).get("pid") == pid:  # another taker may have replaced it since
                    break
                continue
            if info.get("pid") == pid and info.get("host") == host:
                break  # this process already owns it
            raise ConfigError(f"{flag} {folder} is in use by another run: {_describe(info)}, "
                              f"`{info.get('command', '?')}`. Wait for it to finish or pick another folder; if that "
                              f"run is gone (e.g. its node died), remove {path}")
        else:
            raise ConfigError(f"{flag} {folder}: could not claim {path}; several runs are starting into it at once")
    finally:
        tmp.unlink(missing_ok=True)
    remove_stale_temp_files(folder)
    return Owner(path, pid)


def remove_stale_temp_files(folder: str | Path) -> list[Path]:
    """Remove the temporary files of ``folder`` whose writer (named by the pid in the name) no longer runs here."""
    removed = []
    for p in Path(folder).iterdir():
        m = TEMP_FILE.match(p.name)
        if m and p.is_file() and not alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                size = p.stat().st_size
                p.unlink()
                removed.append(p)
                log.warning("removed %s (%.1f MB), left by process %s that was stopped while saving", p,
                            size / 1e6, m.group(1))
    return removed


@contextlib.contextmanager
def owned(folder: str | Path, flag: str = "--output_dir", main: bool = True):
    """Own ``folder`` for the block (on the main process only, ``main``)."""
    owner = claim(folder, flag) if main else None
    try:
        yield owner
    finally:
        if owner is not None:
            owner.release()
