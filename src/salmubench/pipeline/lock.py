"""The run folder's lock: one ``salmubench run`` at a time per ``RUN_DIR`` (``RUN_DIR/.lock``).

Two runs on one folder would race (one deletes or replaces what the other's stage is reading). The
first run creates ``RUN_DIR/.lock`` atomically (``O_CREAT | O_EXCL``: exactly one creator wins) holding
its pid, hostname, start time and a random token; a second run refuses in one line (ConfigError naming
the holder's pid, host and start time). The lock is removed when the run ends, also on an exception or
Ctrl-C (``finally``), and only by its own holder (same token).

A lock left behind (the process was killed: SIGKILL, power loss) is **stale** and taken over when:

* its host is this host and its pid is not alive (``os.kill(pid, 0)`` raises ProcessLookupError), or
  the pid is alive but is another process than the one that took the lock (Linux: its start time in
  ``/proc/<pid>/stat`` differs from the one recorded: the pid was reused);
* its content cannot be read (a crash between creating and writing it) and the file is older than
  :data:`UNREADABLE_GRACE_S` (a younger one may be being written at this moment: held).

A lock from **another host** (a run folder on a shared filesystem) is always treated as held: its pid
cannot be checked from here, and a run of the paper preset may legitimately hold it for days, so no
age would be safe [our choice]. The message says so and names the file to delete once that run is gone.

A takeover renames the stale file away first and checks that what it renamed is still the stale lock
it judged (else it puts it back), so two runs that find the same stale lock do not both proceed.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path

from salmubench.errors import ConfigError

LOCK_NAME = ".lock"
UNREADABLE_GRACE_S = 60.0  # an unreadable lock younger than this may be being written: held


def _proc_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux ``/proc``), else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19] if ")" in stat else None  # field 22 of stat


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there: assume it is alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    except (OSError, OverflowError, ValueError):
        return False
    return True


def _parse(data: bytes) -> dict | None:
    """A lock record from the file's bytes; None when they are not one (empty, cut short, foreign)."""
    try:
        record = json.loads(data.decode("utf-8"))
        int(record["pid"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return record if isinstance(record, dict) else None


def _read(path: Path) -> dict | None:
    try:
        return _parse(path.read_bytes())
    except OSError:
        return None


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def holder_is_alive(record: dict) -> bool:
    """True when the process that wrote ``record`` may still hold the lock (module docstring)."""
    if record.get("host") != socket.gethostname():
        return True
    pid = int(record["pid"])
    if not _pid_alive(pid):
        return False
    recorded, now = record.get("proc_start"), _proc_start(pid)
    return recorded is None or now is None or recorded == now


def _refusal(path: Path, record: dict | None) -> ConfigError:
    if record is None:
        return ConfigError(f"run folder {path.parent} is being locked by another run at this moment "
                           f"({path} is not written yet); try again")
    foreign = record.get("host") != socket.gethostname()
    hint = (f"it is on host {record.get('host')!r}: delete {path} if that run is no longer running" if foreign
            else f"wait for it to finish, or stop it (kill {record['pid']})")
    return ConfigError(f"run folder {path.parent} is in use by another salmubench run (pid {record['pid']} on "
                       f"{record.get('host')}, since {record.get('started', '?')}); {hint}")


def _create(path: Path, record: dict) -> bool:
    """Create the lock file with ``record`` if it does not exist; False if it exists."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(record, f)
        f.flush()
        os.fsync(f.fileno())
    return True


def _take_over(path: Path, judged: bytes) -> None:
    """Move the stale lock (whose bytes were ``judged``) away; put back anything else found there."""
    aside = path.with_name(f"{path.name}.stale-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:  # another run took it over first
        return
    try:
        moved = aside.read_bytes()
    except OSError:
        moved = judged
    if moved == judged:
        aside.unlink(missing_ok=True)
        return
    with suppress(OSError):  # a fresh lock of another run was created in between: restore it
        os.link(aside, path)
    aside.unlink(missing_ok=True)


def acquire(folder: Path, attempts: int = 5) -> dict:
    """Take ``folder/.lock`` (creating the folder) or raise ConfigError naming its holder; returns the
    record written (its token identifies this holder to :func:`release`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    now = datetime.now(timezone.utc)
    record = {"pid": os.getpid(), "host": socket.gethostname(), "started": now.isoformat(timespec="seconds"),
              "started_unix": round(now.timestamp(), 3), "proc_start": _proc_start(os.getpid()),
              "token": secrets.token_hex(16)}
    for _ in range(attempts):
        if _create(path, record):
            return record
        try:
            judged = path.read_bytes()
        except FileNotFoundError:  # released between the two calls: try again
            continue
        holder = _parse(judged)
        if holder is None and _age(path) < UNREADABLE_GRACE_S:
            raise _refusal(path, None)
        if holder is not None and holder_is_alive(holder):
            raise _refusal(path, holder)
        _take_over(path, judged)
    raise ConfigError(f"run folder {folder}: could not take {path} after {attempts} attempts (other runs "
                      f"keep taking it); try again")


def release(folder: Path, record: dict) -> None:
    """Remove ``folder/.lock`` if it is still the one ``record`` describes (never another run's)."""
    path = folder / LOCK_NAME
    current = _read(path)
    if current is not None and current.get("token") == record["token"]:
        path.unlink(missing_ok=True)


@contextmanager
def run_folder_lock(folder: str | os.PathLike):
    """Hold ``folder``'s lock for the duration of the ``with`` block (released on any exit)."""
    folder = Path(folder)
    record = acquire(folder)
    try:
        yield record
    finally:
        release(folder, record)
