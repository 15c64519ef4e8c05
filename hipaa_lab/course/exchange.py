"""Collecting submissions from nbgrader's exchange without trusting what a learner put there.

nbgrader's collect takes each learner's newest ``inbound/ID+MODULE+TIME+RANDOM`` folder and copies
it with ``shutil.copytree``, as the trainer. Two things a learner controls go wrong there when the
exchange is shared (JupyterHub, one account per learner), and are closed here:

* **Submitting as another learner.** Anyone can create ``inbound/VICTIM+...`` with a later time;
  nbgrader only logs a warning when the folder's owner is not the learner it names
  (``check_owner``), and the forged work replaces the victim's. :class:`SafeCollect` takes a
  folder only when its owner is the learner's own account (the Unix user named by the learner's
  id), or, for a learner without an account of their own (one person's course, where every
  submission is the trainer's own), the account collecting. Other folders are reported and left.
* **Links to the trainer's files.** A symbolic link submitted beside the notebook was copied as
  the file it points to (the course secret, a model answer, the gradebook) into ``submitted/``,
  then ``autograded/`` and the feedback. Here only regular files and folders are copied, each
  file opened without following links and checked again once open (a learner who swaps a file
  for a link between the walk and the copy gets nothing copied).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import pwd
import stat
from pathlib import Path
from typing import Any

from nbgrader.exchange.default.collect import ExchangeCollect

__all__ = ["SafeCollect", "owner_is_learner"]

_CHUNK = 1 << 20


def owner_is_learner(path: str | os.PathLike[str], learner: str) -> bool:
    """Whether ``path`` (not followed if a link) is owned by ``learner``'s own account, or, when
    no account has that name, by the account running this process."""
    try:
        owner = os.lstat(path).st_uid
    except OSError:
        return False
    try:
        return owner == pwd.getpwnam(learner).pw_uid
    except KeyError:
        return owner == os.geteuid()


class SafeCollect(ExchangeCollect):  # type: ignore[misc]  # nbgrader is untyped
    """nbgrader's collect, taking only folders the learner owns and copying only regular files
    (see the module docstring)."""

    def _path_to_record(self, path: str) -> dict[str, Any]:
        record: dict[str, Any] = super()._path_to_record(path)
        why = _refused(path, record["username"], 1000 * float(self.coursedir.max_dir_size))
        record["owned"] = why is None
        if why is not None:
            self.log.error("Skipping %s: %s", os.path.basename(path), why)
        return record

    def _sort_by_timestamp(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # newest first among the folders the learner owns; the others last, then dropped
        owned = [r for r in records if r.get("owned", True)]
        newest: list[dict[str, Any]] = super()._sort_by_timestamp(owned)
        return newest + [r for r in records if r not in owned]

    def init_src(self) -> None:
        super().init_src()
        records: list[dict[str, Any]] = getattr(self, "src_records", [])
        self.src_records = [r for r in records if r.get("owned", True)]

    def do_copy(self, src: str, dest: str, log: Any = None) -> None:
        """Copy ``src`` to ``dest``: regular files and folders only, never through a link (the
        submission's own folder included: ``os.fwalk`` opens each folder without following one
        and checks it is the folder it listed), honouring the course's ignore patterns and size
        limits as nbgrader's copy does. What passes the folder limit is left out and logged,
        never half-copied into an error that would stop the other learners' collection."""
        coursedir = self.coursedir
        most_file = 1000 * float(coursedir.max_file_size)
        left = 1000 * float(coursedir.max_dir_size)
        Path(dest).mkdir(parents=True, exist_ok=True)
        for folder, dirs, files, dir_fd in os.fwalk(src, follow_symlinks=False):
            dirs[:] = [d for d in dirs if not _ignored(d, coursedir.ignore)]
            target = Path(dest) / Path(folder).relative_to(src)
            target.mkdir(parents=True, exist_ok=True)
            for name in files:
                if _ignored(name, coursedir.ignore):
                    continue
                size = _copy_regular(name, target / name, min(most_file, left), dir_fd=dir_fd)
                if size is None:
                    self.log.warning("Not collecting %s: not a regular file, or too large", name)
                    continue
                left -= size


def _refused(path: str, learner: str, most: float) -> str | None:
    """Why the inbound entry ``path`` is not collected for ``learner``, or ``None``."""
    try:
        info = os.lstat(path)
    except OSError:
        return "it cannot be read"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a folder (a link, or a file)"
    if not owner_is_learner(path, learner):
        return f"it names learner {learner} but that learner's account does not own it"
    if _tree_size(path) > most:
        return f"it holds more than the course's limit of {most:.0f} bytes"
    return None


def _tree_size(path: str) -> int:
    """The bytes of the regular files under ``path``, links not followed."""
    total = 0
    for _folder, _dirs, files, dir_fd in os.fwalk(path, follow_symlinks=False):
        for name in files:
            with contextlib.suppress(OSError):
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if stat.S_ISREG(info.st_mode):
                    total += info.st_size
    return total


def _ignored(name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def _copy_regular(
    src: str | Path, dest: Path, most: float, *, dir_fd: int | None = None
) -> int | None:
    """Copy ``src`` (relative to ``dir_fd`` when given) to ``dest`` when it is a regular file
    of at most ``most`` bytes, opened without following a link; the bytes copied, or ``None`` when
    it is not copied.

    Only the size checked is copied: the learner owns the file and may grow it while it is read
    (append, or make it sparse and gigabytes long between the check and the copy, which writes
    every zero into the course's folder)."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None  # a link (ELOOP), gone, or unreadable
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > most:
            return None
        left = info.st_size
        with open(dest, "wb") as out:
            while left > 0 and (chunk := f.read(min(_CHUNK, left))):
                out.write(chunk)
                left -= len(chunk)
    return info.st_size - left
