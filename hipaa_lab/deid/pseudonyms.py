"""Keyed pseudonyms: UIDs, patient IDs, accession numbers and date shifts from one secret key.

Every value is an HMAC-SHA256 of the original under the key, with a label per kind, so the same
key gives the same pseudonyms in every run and batch, and without the key nobody can recompute
them from a guessed original (an unsalted hash of an MRN is reversible by trying all MRNs).

The key file holds 32 random bytes as hex; :func:`load_key` creates it with mode 600 when missing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import secrets
from pathlib import Path

__all__ = ["DEFAULT_KEY_FILE", "Pseudonymizer", "load_key"]

#: Where ``hipaa-lab deid`` keeps its key when ``--key-file`` is not given.
DEFAULT_KEY_FILE = Path("~/.config/hipaa-lab/deid.key")


def load_key(path: str | os.PathLike[str], *, create: bool = True) -> bytes:
    """The key in ``path``; a new random key is written there (mode 600) when it does not exist.

    Raises
    ------
    ValueError
        When the file does not hold at least 16 bytes as hex.
    FileNotFoundError
        When it does not exist and ``create`` is false.
    """
    path = Path(path).expanduser()
    if not path.exists() and create:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32) + "\n")
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ValueError(
            f"key file {path} must hold at least 16 bytes as hex (it holds {len(text)} characters)"
        )
    return key


class Pseudonymizer:
    """Pseudonyms under one key.

    Examples
    --------
    >>> p = Pseudonymizer(bytes(32))
    >>> p.uid("1.2.3") == Pseudonymizer(bytes(32)).uid("1.2.3")
    True
    >>> p.uid("1.2.3").startswith("2.25.")
    True
    >>> p.patient_id("MRN0001")[:2]
    'HL'
    >>> -365 <= p.date_shift("MRN0001") <= -1
    True
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a pseudonym key needs at least 16 bytes")
        self._key = key
        self._uids: dict[str, str] = {}
        self._keyed = hmac.new(
            key, digestmod=hashlib.sha256
        )  # copied per value: the key is set up once

    def _mac(self, kind: str, value: str) -> bytes:
        mac = self._keyed.copy()
        mac.update(kind.encode() + b"\0" + value.encode("utf-8", "surrogateescape"))
        return mac.digest()

    def uid(self, original: str) -> str:
        """A 2.25 UID (at most 44 characters) for ``original``; the same for the same UID."""
        original = original.strip("\0 ")
        new = self._uids.get(original)
        if new is None:
            new = "2.25." + str(int.from_bytes(self._mac("uid", original)[:16], "big"))
            self._uids[original] = new
        return new

    def content_uid(self, digest: str) -> str:
        """A 2.25 UID for an input known by ``digest`` (a hash of its bytes, or of its UID and its
        bytes): for a data set that has no SOP Instance UID, or shares one with another input of
        different content. The same under one key for the same content, run after run.

        >>> p = Pseudonymizer(bytes(32))
        >>> p.content_uid("ab12") == p.content_uid("ab12") != p.content_uid("ab13")
        True
        >>> p.content_uid("ab12") != p.uid("ab12")
        True
        """
        return "2.25." + str(int.from_bytes(self._mac("content-uid", digest)[:16], "big"))

    def _code(self, kind: str, value: str, n: int) -> str:
        return base64.b32encode(self._mac(kind, value)).decode()[:n]

    def patient_id(self, original: str, issuer: str = "") -> str:
        """``HL`` and 10 base-32 characters: a pseudonymous Patient ID."""
        return "HL" + self._code("patient", f"{original.strip()}\0{issuer.strip()}", 10)

    def accession(self, original: str) -> str:
        """``HA`` and 10 base-32 characters (fits SH): a pseudonymous Accession Number."""
        return "HA" + self._code("accession", original.strip(), 10)

    def date_shift(self, patient_id: str, issuer: str = "") -> int:
        """Days (-365 to -1) to add to every date of one patient, so intervals stay the same."""
        mac = self._mac("dateshift", f"{patient_id.strip()}\0{issuer.strip()}")
        return -1 - int.from_bytes(mac[:4], "big") % 365

    def digest(self, value: str) -> str:
        """A short keyed hash of a value, for logs that must not hold the value."""
        return self._mac("log", value).hex()[:16]

    @staticmethod
    def shift_date(value: str, days: int) -> str | None:
        """A DA value (``YYYYMMDD``) moved by ``days``; ``None`` when it is not a date."""
        value = value.strip()
        try:
            day = dt.date(int(value[:4]), int(value[4:6]), int(value[6:8]))
        except (ValueError, IndexError):
            return None
        if len(value) != 8 or not value.isdigit():
            return None
        return (day + dt.timedelta(days=days)).strftime("%Y%m%d")
