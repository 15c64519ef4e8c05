"""Encryption at rest of a study archive, and what a lost laptop gives away without it.

The law: encryption at rest is the addressable implementation specification 45 CFR
164.312(a)(2)(iv) ("Encryption and decryption"). PHI encrypted consistent with HHS guidance (NIST
SP 800-111 for data at rest) with an uncompromised key is not "unsecured PHI" (164.402), so its
loss is not a notifiable breach. The same laptop without it is a breach to assess and, most
likely, to notify.

The archive (:func:`encrypt_folder`, :func:`decrypt_archive`) is one file::

    MAGIC (8 bytes) | header length (4, big-endian) | header (JSON) | header SHA-256 (32)
    | key check (16: AES-GCM tag over the header) | chunk 0 | chunk 1 | ... | chunk n-1

    chunk i = ciphertext length (4, big-endian) | AES-256-GCM(key, nonce_i, plaintext_i, aad_i)
    nonce_i = base nonce XOR i (in its last 8 bytes)
    aad_i   = SHA-256(header) | i (8 bytes) | 1 if the last chunk else 0

The header names the format version, the key-derivation function and its cost, the salt, the
base nonce and the chunk size; it is bound into every chunk's associated data, so a changed cost,
salt or nonce is detected. The plaintext is a tar stream of the folder, cut into chunks (1 MiB by
default): a dropped last chunk (truncation), two chunks swapped, a flipped byte anywhere each fail
authentication, and each is reported as what it is (:class:`Failure`). The key comes from the
passphrase through scrypt (RFC 7914), with a fresh random salt per archive, so two archives of the
same folder share no key and no nonce.

Decryption verifies every chunk before a single file is written, then unpacks into a temporary
folder beside the destination and renames it into place: a failure leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import secrets
import shutil
import tarfile
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from hipaa_lab.errors import ArchiveError, OutputNotEmptyError
from hipaa_lab.phi import AnswerKey, write_atomic
from hipaa_lab.safeguards.media import carve

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEFAULT_COST",
    "FORMAT_VERSION",
    "Failure",
    "Findings",
    "LaptopImage",
    "MAGIC",
    "ScryptCost",
    "decrypt_archive",
    "encrypt_folder",
    "lost_laptop",
    "what_a_finder_reads",
]

#: The first bytes of every archive.
MAGIC = b"HLARCH\x00\x01"
#: The archive format this module writes (and the only one it reads).
FORMAT_VERSION = 1
_CHUNK = 1 << 20
_KEY_BYTES = 32  # AES-256
_NONCE_BYTES = 12
_TAG_BYTES = 16
_SALT_BYTES = 16
_HEADER_MAX = 4096
_LENGTH = 4


class Failure(str, Enum):
    """Why an archive could not be opened (:attr:`ArchiveError.reason`)."""

    NOT_AN_ARCHIVE = "not an archive"
    UNSUPPORTED = "unsupported format or cost"
    HEADER_TAMPERED = "header tampered"
    WRONG_PASSPHRASE = "wrong passphrase"  # noqa: S105  a reason, not a secret
    TRUNCATED = "truncated"
    TAMPERED = "tampered"


@dataclass(frozen=True)
class ScryptCost:
    """The cost of scrypt (RFC 7914): CPU/memory cost ``n`` (a power of 2), block size ``r``,
    parallelism ``p``. Memory is about ``128 * n * r`` bytes.

    Examples
    --------
    >>> DEFAULT_COST.memory_bytes // 2**20
    128
    """

    n: int = 2**17
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1):
            raise ValueError(f"scrypt n must be a power of 2 greater than 1, not {self.n}")
        if not (1 <= self.r <= 32 and 1 <= self.p <= 16 and self.n <= 2**22):
            raise ValueError(
                f"scrypt cost out of range: n={self.n} (at most 2**22), r={self.r} (1..32), "
                f"p={self.p} (1..16)"
            )

    @property
    def memory_bytes(self) -> int:
        """The memory one derivation needs."""
        return 128 * self.n * self.r


#: OWASP's Password Storage Cheat Sheet minimum for scrypt: n=2**17, r=8, p=1 (128 MiB).
#: Tests pass a cheaper cost; the cost used is recorded in each archive's header.
DEFAULT_COST = ScryptCost()


def _derive(passphrase: str, salt: bytes, cost: ScryptCost) -> bytes:
    kdf = Scrypt(salt=salt, length=_KEY_BYTES, n=cost.n, r=cost.r, p=cost.p)
    return kdf.derive(passphrase.encode("utf-8"))


def _nonce(base: bytes, index: int) -> bytes:
    counter = int.from_bytes(base[4:], "big") ^ index
    return base[:4] + counter.to_bytes(8, "big")


def _aad(header_hash: bytes, index: int, last: bool) -> bytes:
    return header_hash + index.to_bytes(8, "big") + (b"\x01" if last else b"\x00")


def _tar_folder(folder: Path) -> bytes:
    """The folder's files as a tar stream, sorted, with no owner names or ids."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not (path.is_file() or path.is_dir()):
                continue
            info = tar.gettarinfo(path, arcname=path.relative_to(folder).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isfile():
                with path.open("rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return buffer.getvalue()


def encrypt_folder(
    folder: str | os.PathLike[str],
    archive: str | os.PathLike[str],
    passphrase: str,
    *,
    cost: ScryptCost = DEFAULT_COST,
    chunk_size: int = _CHUNK,
) -> Path:
    """Encrypt every file under ``folder`` into one archive file, AES-256-GCM in chunks.

    Encryption at rest is the addressable specification 45 CFR 164.312(a)(2)(iv) ("Encryption
    and decryption"); PHI encrypted consistent with HHS guidance (NIST SP 800-111 for data at
    rest) with an uncompromised key is not "unsecured PHI" (164.402), so its loss is not a
    notifiable breach.

    Parameters
    ----------
    folder
        The folder of studies; symbolic links and special files are left out.
    archive
        The archive to write, atomically (a temporary file renamed into place): a reader sees
        the whole archive or the one it replaced.
    passphrase
        The secret; not empty. Keep it apart from the archive (an archive with its passphrase
        beside it is not secured).
    cost
        scrypt's cost, recorded in the header (:data:`DEFAULT_COST` unless testing).
    chunk_size
        Plaintext bytes per chunk.

    Returns
    -------
    Path
        The archive.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (tmp / "a").mkdir(), (tmp / "a" / "x.txt").write_text("hello")
    >>> out = encrypt_folder(tmp / "a", tmp / "a.hlarch", "pw", cost=ScryptCost(n=2**10))
    >>> (decrypt_archive(out, tmp / "b", "pw") / "x.txt").read_text()
    'hello'
    >>> import shutil; shutil.rmtree(tmp)
    """
    source = Path(folder)
    if not source.is_dir():
        raise NotADirectoryError(f"{source} is not a folder")
    if not passphrase:
        raise ValueError("an empty passphrase protects nothing; give one")
    if not 1 <= chunk_size <= 64 * _CHUNK:
        raise ValueError(f"chunk_size must be 1 byte to 64 MiB, not {chunk_size}")
    salt = secrets.token_bytes(_SALT_BYTES)
    base = secrets.token_bytes(_NONCE_BYTES)
    header = json.dumps(
        {
            "version": FORMAT_VERSION,
            "cipher": "AES-256-GCM",
            "kdf": "scrypt",
            "n": cost.n,
            "r": cost.r,
            "p": cost.p,
            "salt": salt.hex(),
            "nonce": base.hex(),
            "chunk_size": chunk_size,
        },
        sort_keys=True,
    ).encode()
    header_hash = hashlib.sha256(header).digest()
    aead = AESGCM(_derive(passphrase, salt, cost))
    plain = _tar_folder(source)
    out = io.BytesIO()
    out.write(MAGIC + len(header).to_bytes(_LENGTH, "big") + header + header_hash)
    out.write(aead.encrypt(_check_nonce(base), b"", header))
    starts = range(0, max(len(plain), 1), chunk_size)
    for index, start in enumerate(starts):
        last = index == len(starts) - 1
        sealed = aead.encrypt(
            _nonce(base, index),
            plain[start : start + chunk_size],
            _aad(header_hash, index, last),
        )
        out.write(len(sealed).to_bytes(_LENGTH, "big") + sealed)
    target = Path(archive)
    write_atomic(target, out.getvalue())
    return target


def _check_nonce(base: bytes) -> bytes:
    # the key check's nonce: the base nonce with its top bit flipped, never a chunk's (chunk
    # indices stay far below 2**63)
    return base[:4] + bytes([base[4] ^ 0x80]) + base[5:]


@dataclass(frozen=True)
class _Header:
    raw: bytes
    cost: ScryptCost
    salt: bytes
    nonce: bytes
    chunk_size: int


def _fail(reason: Failure, archive: Path, detail: str) -> ArchiveError:
    return ArchiveError(reason, f"{archive}: {reason.value}: {detail} (nothing was written)")


def _read_header(data: bytes, archive: Path) -> tuple[_Header, int]:
    if not data.startswith(MAGIC):
        raise _fail(Failure.NOT_AN_ARCHIVE, archive, "it does not start with the archive magic")
    at = len(MAGIC)
    length = int.from_bytes(data[at : at + _LENGTH], "big")
    at += _LENGTH
    if length > _HEADER_MAX or len(data) < at + length + 32 + _TAG_BYTES:
        raise _fail(Failure.TRUNCATED, archive, "the header is cut short or its length altered")
    raw = data[at : at + length]
    if hashlib.sha256(raw).digest() != data[at + length : at + length + 32]:
        raise _fail(Failure.HEADER_TAMPERED, archive, "the header does not match its checksum")
    try:
        fields = json.loads(raw)
        version = fields["version"]
        if version != FORMAT_VERSION or fields["kdf"] != "scrypt":
            raise _fail(
                Failure.UNSUPPORTED,
                archive,
                f"format version {version} with {fields['kdf']}; this reads version "
                f"{FORMAT_VERSION} with scrypt",
            )
        header = _Header(
            raw=raw,
            cost=ScryptCost(n=int(fields["n"]), r=int(fields["r"]), p=int(fields["p"])),
            salt=bytes.fromhex(fields["salt"]),
            nonce=bytes.fromhex(fields["nonce"]),
            chunk_size=int(fields["chunk_size"]),
        )
    except ArchiveError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise _fail(Failure.UNSUPPORTED, archive, f"a header field cannot be used ({exc})") from exc
    if len(header.nonce) != _NONCE_BYTES or not 1 <= header.chunk_size <= 64 * _CHUNK:
        raise _fail(Failure.UNSUPPORTED, archive, "the nonce or chunk size is out of range")
    return header, at + length + 32


def _open(data: bytes, archive: Path, passphrase: str) -> bytes:
    """Every chunk verified and decrypted: the tar stream, or an :class:`ArchiveError`."""
    header, at = _read_header(data, archive)
    aead = AESGCM(_derive(passphrase, header.salt, header.cost))
    try:
        aead.decrypt(_check_nonce(header.nonce), data[at : at + _TAG_BYTES], header.raw)
    except InvalidTag:
        raise _fail(
            Failure.WRONG_PASSPHRASE,
            archive,
            "the passphrase does not open this archive (or its header was altered and its "
            "checksum recomputed: the two cannot be told apart)",
        ) from None
    at += _TAG_BYTES
    header_hash = hashlib.sha256(header.raw).digest()
    limit = header.chunk_size + _TAG_BYTES
    parts: list[bytes] = []
    index = 0
    while True:
        if at + _LENGTH > len(data):
            what = "no chunk at all" if index == 0 else f"it ends after chunk {index - 1}"
            raise _fail(Failure.TRUNCATED, archive, f"{what}, which is not marked last")
        length = int.from_bytes(data[at : at + _LENGTH], "big")
        if not _TAG_BYTES <= length <= limit:
            raise _fail(Failure.TAMPERED, archive, f"chunk {index} has an impossible length")
        end = at + _LENGTH + length
        if end > len(data):
            raise _fail(Failure.TRUNCATED, archive, f"chunk {index} is cut short")
        sealed = data[at + _LENGTH : end]
        nonce = _nonce(header.nonce, index)
        last = end == len(data)
        try:
            parts.append(aead.decrypt(nonce, sealed, _aad(header_hash, index, last)))
        except InvalidTag:
            reason, detail = _diagnose(aead, nonce, sealed, _aad(header_hash, index, not last))
            raise _fail(reason, archive, detail.format(index=index)) from None
        if last:
            return b"".join(parts)
        at = end
        index += 1


def _diagnose(aead: AESGCM, nonce: bytes, sealed: bytes, flipped: bytes) -> tuple[Failure, str]:
    """Why chunk ``{index}`` failed: tried again with its last-chunk flag flipped, a chunk that
    opens shows the file's end moved (chunks dropped, or bytes added after the last)."""
    try:
        aead.decrypt(nonce, sealed, flipped)
    except InvalidTag:
        return Failure.TAMPERED, (
            "chunk {index} fails authentication: a byte was changed, or chunks were reordered "
            "or taken from another archive"
        )
    if flipped[-1] == 0:  # it opens as a chunk that had more after it
        return Failure.TRUNCATED, "the file ends after chunk {index}, not the last one written"
    return Failure.TAMPERED, "bytes were added after chunk {index}, the last one written"


def decrypt_archive(
    archive: str | os.PathLike[str], dest: str | os.PathLike[str], passphrase: str
) -> Path:
    """Decrypt an archive of :func:`encrypt_folder` into a new folder ``dest``.

    Every chunk is authenticated before anything is written; the files are then unpacked into
    a temporary folder beside ``dest`` and renamed into place. A wrong passphrase, a truncated or
    a tampered archive raises :class:`~hipaa_lab.errors.ArchiveError` (its ``reason`` a
    :class:`Failure`) and leaves no folder and no file behind.

    Parameters
    ----------
    archive
        The archive file.
    dest
        A folder that does not exist yet (or is empty): it is never written into otherwise.
    passphrase
        The archive's passphrase.

    Returns
    -------
    Path
        ``dest``, holding the files as they were encrypted.

    Raises
    ------
    ArchiveError
        The archive cannot be opened; the message and ``reason`` say why.
    OutputNotEmptyError
        ``dest`` holds files already.
    """
    source = Path(archive)
    target = Path(dest)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise OutputNotEmptyError(target)
    plain = _open(source.read_bytes(), source, passphrase)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as tar:
            tar.extractall(staging, filter="data")
        if target.exists():
            target.rmdir()  # empty, checked above
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


# --- the lost laptop -------------------------------------------------------------------------

_MIN_NEEDLE = 6  # shorter values ("F", "103Y") turn up by chance in any few megabytes


@dataclass(frozen=True)
class LaptopImage:
    """The raw disk of a laptop lost with studies on it.

    Parameters
    ----------
    path
        The image file: the bytes a finder can read off the disk with any tool.
    encrypted
        Whether the studies were stored encrypted (the whole disk is then the archive).
    files
        How many files of studies the disk holds.
    """

    path: Path
    encrypted: bool
    files: int


def lost_laptop(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    passphrase: str | None = None,
    *,
    cost: ScryptCost = DEFAULT_COST,
    disk_bytes: int = 0,
) -> LaptopImage:
    """Make the raw disk of a laptop holding the studies under ``folder``.

    Unencrypted, the disk holds the files as a filesystem lays them out: each file's bytes in one
    run, its name beside it (here: a tar stream, the simplest such layout). Encrypted (a
    ``passphrase`` given), it holds the :func:`encrypt_folder` archive: only the header and
    ciphertext. The rest of the disk, up to ``disk_bytes``, is unwritten (zeros) in both.

    Parameters
    ----------
    folder
        The studies.
    out
        The image file to write (atomically).
    passphrase
        The encryption passphrase, or ``None`` for a laptop without encryption at rest.
    cost
        scrypt's cost when encrypting.
    disk_bytes
        The disk's size: at least the data, rounded up to a whole MiB.

    Returns
    -------
    LaptopImage
        The image, for :func:`what_a_finder_reads`.
    """
    source = Path(folder)
    files = sum(1 for p in source.rglob("*") if p.is_file() and not p.is_symlink())
    if passphrase is None:
        data = _tar_folder(source)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            archive = encrypt_folder(source, Path(tmp) / "disk.hlarch", passphrase, cost=cost)
            data = archive.read_bytes()
    size = max(disk_bytes, -(-len(data) // _CHUNK) * _CHUNK)
    target = Path(out)
    write_atomic(target, data + bytes(size - len(data)))
    return LaptopImage(path=target, encrypted=passphrase is not None, files=files)


def _entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte: 8.0 for random bytes or ciphertext."""
    if not data:
        return 0.0
    total = len(data)
    return -sum(c / total * math.log2(c / total) for c in Counter(data).values())


@dataclass(frozen=True)
class Findings:
    """What someone who finds the laptop reads off its disk without the passphrase.

    Parameters
    ----------
    dicom
        One row per DICOM file carved from the disk: offset, SOP Instance UID, patient name,
        patient ID, study date, modality.
    identifiers
        One row per identifier looked for: its value, category, and how often and where first
        its bytes appear on the disk (``count`` 0 when nowhere).
    entropy
        Bits per byte over the disk's written part (zeros of the unwritten rest left out): near
        8.0 is ciphertext, DICOM files sit well below.
    """

    dicom: pd.DataFrame
    identifiers: pd.DataFrame
    entropy: float

    @property
    def exposed(self) -> bool:
        """Whether the finder read any study or identifier."""
        return bool(len(self.dicom)) or bool((self.identifiers["count"] > 0).any())

    def table(self) -> pd.DataFrame:
        """The identifiers found (count above 0), most frequent first: the notebook's view."""
        found = self.identifiers[self.identifiers["count"] > 0]
        return found.sort_values("count", ascending=False).reset_index(drop=True)


def _needles(value: str) -> set[bytes]:
    out = set()
    for encoding in ("utf-8", "latin-1"):
        try:
            out.add(value.encode(encoding))
        except UnicodeEncodeError:
            continue
    return out


def what_a_finder_reads(
    image: LaptopImage | str | os.PathLike[str],
    identifiers: AnswerKey | Iterable[str] = (),
) -> Findings:
    """Read a lost laptop's disk as its finder would: no passphrase, just the raw bytes.

    The finder carves DICOM files (:func:`~hipaa_lab.safeguards.media.carve`: the ``DICM`` magic
    after a 128-byte preamble) and searches the disk for each identifier's bytes (UTF-8 and
    Latin-1). Identifiers shorter than 6 bytes are not searched: a few megabytes of any bytes hold
    them by chance.

    Parameters
    ----------
    image
        The disk (:func:`lost_laptop`) or its path.
    identifiers
        What to look for: an answer key (its entries' values and categories) or plain strings.

    Returns
    -------
    Findings
        The DICOM files and identifiers found, and the disk's entropy.
    """
    import pandas as pd

    path = image.path if isinstance(image, LaptopImage) else Path(image)
    data = path.read_bytes()
    carved = carve(data)
    dicom = pd.DataFrame(
        [vars(c) for c in carved],
        columns=[
            "offset",
            "sop_instance_uid",
            "patient_name",
            "patient_id",
            "study_date",
            "modality",
        ],
    )
    if isinstance(identifiers, AnswerKey):
        wanted = {(e.value, e.category.value) for e in identifiers.entries}
    else:
        wanted = {(v, "") for v in identifiers}
    rows = []
    for value, category in sorted(wanted):
        needles = {n for n in _needles(value) if len(n) >= _MIN_NEEDLE}
        if not needles:
            continue
        count = sum(data.count(n) for n in needles)
        first = min((data.find(n) for n in needles if n in data), default=-1)
        rows.append({"value": value, "category": category, "count": count, "first_offset": first})
    table = pd.DataFrame(rows, columns=["value", "category", "count", "first_offset"])
    return Findings(dicom=dicom, identifiers=table, entropy=_entropy(data.rstrip(b"\x00")))
