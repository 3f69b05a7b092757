"""What ``output/<env>/`` must contain, written atomically, and the check that it does (CI's ``--check``).

The writer and the checker share one definition of an environment's output (the rendered files, nothing else besides
the git-ignored ``packaged/`` folder), so a file the generator no longer makes is reported as stale and removed.
Writing renders every environment in memory first; each environment's folder is then swapped in with renames, so a
failure leaves the previous output untouched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

KEEP = {"packaged"}  # deploy artefacts, git-ignored, survive a regeneration


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


def write(env_dir: Path, files: dict[str, str]) -> None:
    """Replace ``env_dir`` with exactly ``files`` (keeping ``packaged/``), or leave it as it was."""
    env_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=env_dir.parent, prefix=f".{env_dir.name}.new-"))
    try:
        for name, text in files.items():
            (tmp / name).write_bytes(text.encode())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if not env_dir.exists():
        os.rename(tmp, env_dir)
        return
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
    for keep in KEEP:
        if (old / keep).exists():
            os.rename(old / keep, env_dir / keep)
    shutil.rmtree(trash, ignore_errors=True)
