"""Atomic writes: a reader (or a crash) never sees a half-written file or folder.

Files are written beside their place and renamed into it. Folders (bundles, downloaded models,
saved captures) are built in a staging folder beside their place (:func:`new_staging_dir`) and
swapped in (:func:`replace_dir`): on Linux in one atomic exchange, so a folder is at the target
at every moment; elsewhere with two renames, a kill between which :func:`recover_dir` undoes.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

#: What a folder swap keeps beside ``TARGET`` while it works: ``.TARGET.staging-PID-*`` (the new
#: folder being built) and ``.TARGET.old-PID`` (the previous one, between two renames).
STAGING, OLD = "staging", "old"
#: Tests set this to take the two-rename path where the exchange is available.
NO_EXCHANGE_ENV = "EDGECAM_TEST_NO_EXCHANGE"


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place.

    The rename is atomic on POSIX and Windows, so ``path`` holds either the old or the new
    content, never a partial one. On any error the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, _mode_for(path))
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0o666 minus the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def new_staging_dir(target: str | os.PathLike) -> Path:
    """A new empty folder beside ``target`` (same file system, so the swap is a rename), with
    an ordinary folder's permissions (``mkdtemp`` makes it private)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.{STAGING}-{os.getpid()}-", dir=target.parent)
    )
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)
    return staging


def replace_dir(
    staging: str | os.PathLike,
    target: str | os.PathLike,
    step: Callable[[str], None] | None = None,
) -> None:
    """Put the folder ``staging`` at ``target``, replacing what is there, and remove the old one.

    ``step(name)`` is called at ``"swap"`` and, on the two-rename path, ``"between-renames"``
    (test hooks that hold the process there to kill it).
    """
    staging, target = Path(staging), Path(target)
    if step:
        step("swap")
    if not target.exists():
        staging.rename(target)
    elif _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # it holds the previous folder now
    else:
        old = target.with_name(f".{target.name}.{OLD}-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        if step:
            step("between-renames")
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)


def recover_dir(target: str | os.PathLike) -> list[str]:
    """Undo what swaps killed before they ended left beside ``target``: a previous folder moved
    aside while nothing is at ``target`` is put back; staging and old folders of processes that
    are gone are removed. Returns one line per thing done, for the caller to show."""
    target = Path(target)
    done: list[str] = []
    if not target.parent.is_dir():
        return done
    for kind in (OLD, STAGING):
        for path in sorted(target.parent.glob(f".{target.name}.{kind}-*")):
            pid = path.name[len(f".{target.name}.{kind}-") :].split("-")[0]
            if not pid.isdigit() or int(pid) == os.getpid() or _pid_alive(int(pid)):
                continue
            if kind == OLD and not target.exists():
                path.rename(target)
                done.append(f"restored {target}, which an interrupted write had moved aside")
            else:
                shutil.rmtree(path, ignore_errors=True)
                done.append(f"removed {path.name}, left beside {target} by an interrupted write")
    return done


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or a number no process can have
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where the
    system cannot."""
    if sys.platform != "linux" or os.environ.get(NO_EXCHANGE_ENV):
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0
