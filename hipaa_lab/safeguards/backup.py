"""Backup and restore drill: a contingency plan that has been tested, not just written.

The law: the contingency plan standard, 45 CFR 164.308(a)(7), asks for a data backup plan
(164.308(a)(7)(ii)(A): retrievable exact copies of ePHI) and a disaster recovery plan ((B):
restore any loss of data), both required, and testing and revision procedures ((D): test and
revise the plans periodically), addressable. Before equipment is moved, 164.310(d)(2)(iv) (data
backup and storage, addressable) asks for a retrievable exact copy too.

A backup here is a folder::

    BACKUP/manifest.json   every file's path, SHA-256 and size; instance counts by study and
                           series (from the DICOM headers); an HMAC-SHA256 over all of it
    BACKUP/files/...       the store's files, as they were

Why an HMAC and not a hash: a SHA-256 of the manifest written beside it is recomputed by whoever
edits the manifest (to hide a changed file, say); an HMAC cannot be without its key, which never
goes into the backup (a site keeps it in its key vault; the drill keeps it in memory). The
manifest's own SHA-256 (:attr:`Manifest.digest`) goes into the drill's report, so an auditor can
tell which manifest was tested.

:func:`restore` verifies every file against the manifest *before* restoring anything: a changed
byte, a missing or an extra file, or a manifest that fails its HMAC raises
:class:`~hipaa_lab.errors.BackupError` naming each bad file, and nothing is restored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

import pydicom
from pydicom.errors import InvalidDicomError

from hipaa_lab.errors import BackupError, DrillError, OutputNotEmptyError
from hipaa_lab.phi import write_atomic

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DRILL_MARKER",
    "DrillReport",
    "FileRecord",
    "Loss",
    "MANIFEST",
    "Manifest",
    "RestoreReport",
    "SeriesCount",
    "backup",
    "drill",
    "restore",
    "simulate_loss",
]

#: The manifest's file name inside a backup.
MANIFEST = "manifest.json"
#: The file that marks a folder as a drill's own: :func:`simulate_loss` acts only inside one.
DRILL_MARKER = ".hipaa-lab-drill"
_FILES = "files"
_KEY_BYTES = 32


@dataclass(frozen=True)
class FileRecord:
    """One file of a store: its SHA-256 (hex) and size in bytes."""

    sha256: str
    size: int


@dataclass(frozen=True, order=True)
class SeriesCount:
    """How many instances one series of one study holds (read from the DICOM headers)."""

    study_instance_uid: str
    series_instance_uid: str
    modality: str
    instances: int


@dataclass(frozen=True)
class Manifest:
    """What a backup holds, and the proof it is the backup that was made.

    Parameters
    ----------
    files
        Every file by path relative to the store (``/`` separators).
    counts
        Instances by study and series.
    digest
        SHA-256 (hex) of the manifest file as written: record it outside the backup.
    key
        The HMAC key (never written into the backup; needed by :func:`restore`).
    """

    files: dict[str, FileRecord]
    counts: tuple[SeriesCount, ...]
    digest: str = ""
    key: bytes = field(default=b"", repr=False)

    def body(self) -> bytes:
        """The manifest's content, canonical JSON: what the HMAC covers."""
        data = {
            "format": "hipaa-lab backup manifest 1",
            "files": {p: [r.sha256, r.size] for p, r in sorted(self.files.items())},
            "counts": [
                [c.study_instance_uid, c.series_instance_uid, c.modality, c.instances]
                for c in self.counts
            ],
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()

    def counts_frame(self) -> pd.DataFrame:
        """The counts as a table."""
        import pandas as pd

        return pd.DataFrame(
            [vars(c) for c in self.counts],
            columns=["study_instance_uid", "series_instance_uid", "modality", "instances"],
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(root: Path) -> dict[str, Path]:
    return {
        p.relative_to(root).as_posix(): p
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _counts(files: dict[str, Path]) -> tuple[SeriesCount, ...]:
    seen: Counter[tuple[str, str, str]] = Counter()
    for path in files.values():
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except (InvalidDicomError, ValueError, TypeError, KeyError, EOFError, OSError):
            continue  # not DICOM: backed up and verified, not counted
        study, series = str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", ""))
        seen[(study, series, str(ds.get("Modality", "")))] += 1
    return tuple(sorted(SeriesCount(*k, n) for k, n in seen.items()))


def _survey(root: Path) -> Manifest:
    files = _files(root)
    return Manifest(
        files={rel: FileRecord(_sha256(p), p.stat().st_size) for rel, p in files.items()},
        counts=_counts(files),
    )


def _empty_or_new(path: Path) -> None:
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise OutputNotEmptyError(path)


def _place(staging: Path, target: Path) -> None:
    if target.exists():
        target.rmdir()  # empty, checked before
    staging.rename(target)


def backup(
    store: str | os.PathLike[str], dest: str | os.PathLike[str], *, key: bytes | None = None
) -> Manifest:
    """Copy a study store into a new backup folder with a signed SHA-256 manifest.

    The data backup plan of 45 CFR 164.308(a)(7)(ii)(A): an exact, retrievable copy. The backup
    is made in a temporary folder beside ``dest`` and renamed into place when complete: a
    half-made backup is never mistaken for one.

    Parameters
    ----------
    store
        The folder of studies (DICOM files; any other file is copied and verified, not counted).
    dest
        The backup folder: new, or empty.
    key
        The HMAC key; a fresh random one when not given. Either way it is returned in the
        manifest, not written to the backup: keep it apart.

    Returns
    -------
    Manifest
        The manifest, with its digest and key.
    """
    source, target = Path(store), Path(dest)
    if not source.is_dir():
        raise NotADirectoryError(f"{source} is not a folder")
    _empty_or_new(target)
    key = key or secrets.token_bytes(_KEY_BYTES)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        for rel, path in _files(source).items():
            copy = staging / _FILES / rel
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
        surveyed = _survey(staging / _FILES) if (staging / _FILES).exists() else Manifest({}, ())
        body = surveyed.body()
        tag = hmac.new(key, body, hashlib.sha256).hexdigest()
        text = json.dumps({"manifest": json.loads(body), "hmac_sha256": tag}, indent=1).encode()
        write_atomic(staging / MANIFEST, text)
        _place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Manifest(surveyed.files, surveyed.counts, hashlib.sha256(text).hexdigest(), key)


def _read_manifest(root: Path, key: bytes) -> Manifest:
    from hipaa_lab.safeguards import _restore_check  # the answer: withheld while m05 is graded

    return _restore_check._read_manifest(root, key)


def _problems(manifest: Manifest, found: dict[str, FileRecord]) -> list[tuple[str, str]]:
    from hipaa_lab.safeguards import _restore_check

    return _restore_check._problems(manifest, found)


@dataclass(frozen=True)
class RestoreReport:
    """What :func:`restore` restored, each file verified against the manifest.

    Parameters
    ----------
    dest
        Where the files are now.
    files
        How many files.
    bytes
        Their total size.
    manifest_digest
        SHA-256 of the manifest the files were verified against.
    counts
        Instances by study and series, read again from the restored files.
    """

    dest: Path
    files: int
    bytes: int
    manifest_digest: str
    counts: tuple[SeriesCount, ...]


def restore(
    backup_dir: str | os.PathLike[str], dest: str | os.PathLike[str], *, key: bytes
) -> RestoreReport:
    """Verify a backup against its manifest, then restore it into a new folder.

    The disaster recovery plan of 45 CFR 164.308(a)(7)(ii)(B). Every file is checked first; then
    the files are copied into a temporary folder beside ``dest``, checked again there, and the
    folder renamed into place.

    Parameters
    ----------
    backup_dir
        A backup made by :func:`backup`.
    dest
        Where to restore: a new or empty folder.
    key
        The manifest's HMAC key (:attr:`Manifest.key`).

    Returns
    -------
    RestoreReport
        What was restored.

    Raises
    ------
    BackupError
        The manifest fails its HMAC, or files are changed, missing or extra (each named);
        nothing was restored.
    """
    root, target = Path(backup_dir), Path(dest)
    _empty_or_new(target)
    manifest = _read_manifest(root, key)
    stored = _files(root / _FILES) if (root / _FILES).is_dir() else {}
    found = {rel: FileRecord(_sha256(p), p.stat().st_size) for rel, p in stored.items()}
    problems = _problems(manifest, found)
    problems += [
        (p.relative_to(root / _FILES).as_posix(), "not a regular file (a link or device)")
        for p in (root / _FILES).rglob("*")
        if p.is_symlink() or not (p.is_file() or p.is_dir())
    ]
    if problems:
        raise BackupError(
            f"{root} does not match its manifest ({len(problems)} problem(s)); nothing was restored",
            problems,
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        for rel, path in stored.items():
            copy = staging / rel
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
        again = _survey(staging)
        problems = _problems(manifest, again.files)
        if problems:  # the backup changed while being copied
            raise BackupError(f"{root} changed during the restore; nothing was restored", problems)
        _place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return RestoreReport(
        dest=target,
        files=len(again.files),
        bytes=sum(r.size for r in again.files.values()),
        manifest_digest=manifest.digest,
        counts=again.counts,
    )


class Loss(str, Enum):
    """How :func:`simulate_loss` loses a store."""

    DELETE = "delete"  # the folder is gone (a failed disk, a deleted share)
    CORRUPT = "corrupt"  # every file's bytes scrambled in place (ransomware)


def _owned(path: Path) -> bool:
    return any((parent / DRILL_MARKER).is_file() for parent in path.parents)


def simulate_loss(
    store: str | os.PathLike[str], how: Loss | str = Loss.DELETE, *, force: bool = False
) -> None:
    """Lose a store, for a drill: delete it, or scramble every file in it.

    Only inside a folder a drill owns (one holding :data:`DRILL_MARKER`, as :func:`drill`'s work
    folder does), unless ``force`` says this folder may be destroyed.

    Raises
    ------
    DrillError
        The store is not inside a drill's folder and ``force`` is not given; nothing touched.
    """
    path = Path(store).resolve()
    if not force and not _owned(path):
        raise DrillError(
            f"refusing to lose {store}: it is not inside a drill's folder (one holding "
            f"{DRILL_MARKER}); pass force=True only for a folder you mean to destroy"
        )
    if Loss(how) is Loss.DELETE:
        shutil.rmtree(path)
        return
    for p in _files(path).values():
        data = bytearray(p.read_bytes())
        for i in range(0, len(data), 512):
            data[i] ^= 0xFF
        p.write_bytes(bytes(data))


@dataclass(frozen=True)
class DrillReport:
    """The record of one backup-and-restore drill (testing, 164.308(a)(7)(ii)(D)).

    Parameters
    ----------
    manifest_digest
        SHA-256 of the backup's manifest.
    original
        The store's manifest before the drill.
    restored
        The restore's report.
    files_equal
        Whether every restored file has the original's path, size and SHA-256.
    seconds
        Each step's duration: how long a real recovery would take, at this scale.
    """

    manifest_digest: str
    original: Manifest
    restored: RestoreReport
    files_equal: bool
    seconds: dict[str, float]

    @property
    def counts_equal(self) -> bool:
        """Whether every series has as many instances after the restore as before."""
        return self.original.counts == self.restored.counts

    @property
    def passed(self) -> bool:
        """Whether the drill got everything back."""
        return self.files_equal and self.counts_equal

    def table(self) -> pd.DataFrame:
        """Instances by study and series, before and after: the notebook's view."""
        import pandas as pd

        before = {
            (c.study_instance_uid, c.series_instance_uid, c.modality): c.instances
            for c in self.original.counts
        }
        after = {
            (c.study_instance_uid, c.series_instance_uid, c.modality): c.instances
            for c in self.restored.counts
        }
        rows = [
            {
                "study_instance_uid": k[0],
                "series_instance_uid": k[1],
                "modality": k[2],
                "before": before.get(k, 0),
                "after": after.get(k, 0),
                "equal": before.get(k, 0) == after.get(k, 0),
            }
            for k in sorted(before.keys() | after.keys())
        ]
        return pd.DataFrame(
            rows,
            columns=[
                "study_instance_uid",
                "series_instance_uid",
                "modality",
                "before",
                "after",
                "equal",
            ],
        )


def drill(
    store: str | os.PathLike[str], workdir: str | os.PathLike[str], *, how: Loss | str = Loss.DELETE
) -> DrillReport:
    """Run a backup-and-restore drill on a copy of ``store``: back up, lose, restore, compare.

    ``store`` itself is never changed: the drill copies it into ``workdir/live`` (marked as the
    drill's own), backs that up into ``workdir/backup``, loses ``live``, restores into
    ``workdir/restored`` and compares the restored files and instance counts with the original's.

    Parameters
    ----------
    store
        The study store to drill on.
    workdir
        The drill's folder: new, or empty.
    how
        How the live copy is lost.

    Returns
    -------
    DrillReport
        Whether everything came back, with the counts table and timings.
    """
    source, work = Path(store), Path(workdir)
    _empty_or_new(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / DRILL_MARKER).write_text("a hipaa-lab backup drill works here\n")
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    original = _survey(source)
    shutil.copytree(source, work / "live", symlinks=True)
    seconds["copy"] = time.perf_counter() - start

    start = time.perf_counter()
    manifest = backup(work / "live", work / "backup")
    seconds["backup"] = time.perf_counter() - start

    simulate_loss(work / "live", how)
    start = time.perf_counter()
    restored = restore(work / "backup", work / "restored", key=manifest.key)
    seconds["restore"] = time.perf_counter() - start
    again = _survey(work / "restored")
    return DrillReport(
        manifest_digest=manifest.digest,
        original=original,
        restored=restored,
        files_equal=again.files == original.files,
        seconds=seconds,
    )
