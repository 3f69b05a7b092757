"""What ``output/<env>/`` must contain, written atomically, and the check that it does (CI's ``check``).

The writer and the checker share one definition of an environment's output (the rendered files, nothing else besides
the git-ignored ``packaged/`` folder), so a file the generator no longer makes is reported as stale and removed.
Writing renders every environment in memory first; each environment's folder is then swapped in, so a failure
leaves the previous output untouched.

The swap is one ``renameat2(RENAME_EXCHANGE)`` on Linux (the kernel exchanges the two names atomically: at every
instant ``output/<env>`` is the complete old or the complete new folder); elsewhere, or on a file system without it,
two renames, with ``output/<env>`` briefly absent. A run killed part way (SIGKILL, power loss: no ``finally`` runs)
leaves a ``.<env>.new-*`` or ``.<env>.old-*`` folder next to it; the next write removes those, after moving a
``packaged/`` it finds there back into ``output/<env>`` if that has none, and ``check`` reports them. ``check``
never changes anything.

``output/<env>`` must be a plain folder: a symbolic link (or a file) there is refused, never followed, because the
swap would otherwise move the link's target's ``packaged/`` into the new folder.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

KEEP = {"packaged"}  # deploy artefacts, git-ignored, survive a regeneration


class OutputError(Exception):
    """``output/`` or ``output/<env>`` is not something we may replace: printed without a traceback, exit code 2."""

    def __init__(self, path: Path, message: str):
        self.path = _display(path)
        self.message = message
        super().__init__(self.render())

    def render(self) -> str:
        return f"{self.path}: {self.message}"


def _display(path: Path) -> str:
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def refuse_unsafe(env_dir: Path) -> None:
    """Raise :class:`OutputError` unless ``env_dir`` is absent or a plain folder, and its parent a folder."""
    parent = env_dir.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(parent, f"is not a folder; generate.py writes the templates there: move it away "
                                  f"(mv {_display(parent)} {_display(parent)}.moved) and run again")
    try:
        mode = os.lstat(env_dir).st_mode
    except FileNotFoundError:
        return
    shown = _display(env_dir)
    if stat.S_ISLNK(mode):
        raise OutputError(env_dir, f"is a symbolic link to {os.readlink(env_dir)}, not a plain folder; generate.py "
                                   f"replaces {shown} whole and does not write through a link: remove the link "
                                   f"(rm {shown}; its target stays) and run again")
    if not stat.S_ISDIR(mode):
        raise OutputError(env_dir, f"is not a folder; generate.py writes this environment's templates there: move "
                                   f"it away (mv {shown} {shown}.moved) and run again")


def leftovers(env_dir: Path) -> list[Path]:
    """``.<env>.new-*`` and ``.<env>.old-*`` next to ``env_dir``: what an interrupted write left behind."""
    prefixes = (f".{env_dir.name}.new-", f".{env_dir.name}.old-")
    try:
        return sorted(p for p in env_dir.parent.iterdir() if p.name.startswith(prefixes))
    except (FileNotFoundError, NotADirectoryError):
        return []


def stale(env_dir: Path, files: dict[str, str]) -> list[str]:
    """Names that differ between ``env_dir`` and the fresh render: changed, missing or extra."""
    out = []
    for name, text in sorted(files.items()):
        path = env_dir / name
        if not path.is_file() or path.read_bytes() != text.encode():
            out.append(name)
    if env_dir.is_dir():
        out += sorted(p.name for p in env_dir.iterdir() if p.name not in files and p.name not in KEEP)
    return out


def write(env_dir: Path, files: dict[str, str]) -> list[str]:
    """Replace ``env_dir`` with exactly ``files`` (keeping ``packaged/``), or leave it as it was.

    Returns the names of the leftovers of an interrupted earlier write that it removed.
    """
    refuse_unsafe(env_dir)
    found = leftovers(env_dir)
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=env_dir.parent, prefix=f".{env_dir.name}.new-"))
    try:
        for name, text in files.items():
            (tmp / name).write_bytes(text.encode())
        exchanged = os.path.lexists(env_dir) and _exchange(tmp, env_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if exchanged:
        _carry(tmp, env_dir)  # tmp now holds the previous output
        _remove(tmp)
    elif not os.path.lexists(env_dir):
        os.rename(tmp, env_dir)
    else:
        trash = Path(tempfile.mkdtemp(dir=env_dir.parent, prefix=f".{env_dir.name}.old-"))
        old = trash / env_dir.name
        os.rename(env_dir, old)  # from here until the next rename, env_dir is absent: two renames, no copying
        try:
            os.rename(tmp, env_dir)
        except BaseException:
            os.rename(old, env_dir)
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(trash, ignore_errors=True)
            raise
        _carry(old, env_dir)
        _remove(trash)
    for leftover in found:
        for candidate in (leftover, leftover / env_dir.name):  # .new-* holds an output, .old-* holds <env>/
            _carry(candidate, env_dir)
        _remove(leftover)
    return [p.name for p in found]


def _plain_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _carry(old: Path, env_dir: Path) -> None:
    """Move ``old``'s kept folders into ``env_dir`` where it has none; never through a symbolic link ``old``.

    A kept entry that is itself a link is moved as the link (rename does not follow it)."""
    if not _plain_dir(old):
        return
    for keep in KEEP:
        if os.path.lexists(old / keep) and not os.path.lexists(env_dir / keep):
            os.rename(old / keep, env_dir / keep)


def _remove(path: Path) -> None:
    if _plain_dir(path):
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# Linux renameat2(2): AT_FDCWD and RENAME_EXCHANGE from <fcntl.h> and <linux/fs.h>. glibc exports it since 2.28.
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
_UNSUPPORTED = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` in one step; False where the system cannot (then nothing changed)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        return False
    raise OSError(err, os.strerror(err), str(b))
