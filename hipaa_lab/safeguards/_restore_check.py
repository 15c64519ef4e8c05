"""A restore's check against its backup's manifest: :func:`hipaa_lab.safeguards.backup.restore`
and :func:`~hipaa_lab.safeguards.backup.drill` run it.

Module 5's answer (``verify_restore``): kept apart from :mod:`hipaa_lab.safeguards.backup`, which
makes the backups a notebook uses, so that sealed autograding can withhold this module while
module 5 is graded (:data:`hipaa_lab.course.rules.RULES`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

from hipaa_lab.errors import BackupError
from hipaa_lab.safeguards.backup import MANIFEST, FileRecord, Manifest, SeriesCount

__all__: list[str] = []


def _read_manifest(root: Path, key: bytes) -> Manifest:
    path = root / MANIFEST
    try:
        text = path.read_bytes()
        outer = json.loads(text)
        inner = outer["manifest"]
        files = {p: FileRecord(str(h), int(s)) for p, (h, s) in inner["files"].items()}
        counts = tuple(
            SeriesCount(str(a), str(b), str(c), int(n)) for a, b, c, n in inner["counts"]
        )
        tag = str(outer["hmac_sha256"])
    except FileNotFoundError:
        raise BackupError(
            f"{root} has no manifest; nothing was restored", [(MANIFEST, "missing")]
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(
            f"{root}: the manifest cannot be read; nothing was restored",
            [(MANIFEST, f"unreadable ({exc})")],
        ) from exc
    manifest = Manifest(files, counts, hashlib.sha256(text).hexdigest(), key)
    expected = hmac.new(key, manifest.body(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, tag):
        raise BackupError(
            f"{root}: the manifest fails its HMAC (edited, or another key); nothing was restored",
            [(MANIFEST, "HMAC mismatch")],
        )
    return manifest


def _problems(manifest: Manifest, found: dict[str, FileRecord]) -> list[tuple[str, str]]:
    problems = [(p, "missing from the backup") for p in manifest.files if p not in found]
    problems += [(p, "not in the manifest (extra)") for p in found if p not in manifest.files]
    for p, want in manifest.files.items():
        got = found.get(p)
        if got is not None and got != want:
            what = "size" if got.size != want.size else "SHA-256"
            problems.append((p, f"changed ({what} differs from the manifest)"))
    return problems
