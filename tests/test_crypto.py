"""Encryption at rest: the archive round-trips, refuses every damage without leaking plaintext,
and a lost laptop's disk gives its finder the studies only when it was not encrypted."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hipaa_lab.errors import ArchiveError, OutputNotEmptyError
from hipaa_lab.safeguards import crypto
from hipaa_lab.safeguards.crypto import (
    DEFAULT_COST,
    Failure,
    ScryptCost,
    decrypt_archive,
    encrypt_folder,
    lost_laptop,
    what_a_finder_reads,
)
from hipaa_lab.studies import make_study, write_tree

CHEAP = ScryptCost(n=2**10, r=8, p=1)
PASS = "correct horse battery staple"
CHUNK = 4096  # small chunks: a study spans many, so reordering and dropping can be tried


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    root = tmp_path_factory.mktemp("studies")
    key = write_tree(
        [make_study(m, seed=s, slices=2, rows=64, columns=64) for m, s in (("CT", 7), ("MR", 8))],
        root,
    )
    return root, key


@pytest.fixture(scope="module")
def archive(studies, tmp_path_factory):
    out = tmp_path_factory.mktemp("archive") / "studies.hlarch"
    return encrypt_folder(studies[0], out, PASS, cost=CHEAP, chunk_size=CHUNK)


def hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def chunks(data: bytes) -> list[tuple[int, int]]:
    """Each chunk's (start, end), its length prefix included."""
    at = len(crypto.MAGIC)
    length = int.from_bytes(data[at : at + 4], "big")
    at += 4 + length + 32 + 16
    spans = []
    while at < len(data):
        end = at + 4 + int.from_bytes(data[at : at + 4], "big")
        spans.append((at, end))
        at = end
    return spans


def test_round_trip_gives_back_every_file_byte_for_byte(studies, archive, tmp_path):
    out = decrypt_archive(archive, tmp_path / "restored", PASS)
    assert hashes(out) == hashes(studies[0])
    assert len(hashes(out)) == 4
    assert not [p for p in tmp_path.iterdir() if p.name != "restored"]


def test_the_archive_holds_no_plaintext_and_a_fresh_salt_each_time(studies, archive, tmp_path):
    data = archive.read_bytes()
    assert b"DICM" not in data
    assert not [e for e in studies[1].entries if len(e.value) >= 6 and e.value.encode() in data]
    again = encrypt_folder(
        studies[0], tmp_path / "again.hlarch", PASS, cost=CHEAP, chunk_size=CHUNK
    )
    assert again.read_bytes()[200:] != data[200:]


def damaged(archive: Path, tmp_path: Path, how: str) -> Path:
    data = bytearray(archive.read_bytes())
    spans = chunks(bytes(data))
    assert len(spans) >= 3
    if how == "chunk byte":
        data[spans[1][0] + 40] ^= 0x01
    elif how == "header byte":
        data[len(crypto.MAGIC) + 10] ^= 0x01
    elif how == "header rewritten":  # checksum recomputed: a forger's change of cost or salt
        at = len(crypto.MAGIC)
        length = int.from_bytes(data[at : at + 4], "big")
        raw = bytes(data[at + 4 : at + 4 + length]).replace(b'"r": 8', b'"r": 9')
        assert len(raw) == length
        data[at + 4 : at + 4 + length] = raw
        data[at + 4 + length : at + 4 + length + 32] = hashlib.sha256(raw).digest()
    elif how == "last chunk dropped":
        del data[spans[-1][0] :]
    elif how == "cut mid-chunk":
        del data[spans[-1][0] + 10 :]
    elif how == "chunks swapped":
        (a0, a1), (b0, b1) = spans[0], spans[1]
        data[a0:b1] = data[b0:b1] + data[a0:a1]
    elif how == "bytes appended":
        data += data[spans[0][0] : spans[0][1]]
    elif how == "magic":
        data[0] ^= 0xFF
    path = tmp_path / f"{how.replace(' ', '-')}.hlarch"
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("chunk byte", Failure.TAMPERED),
        ("header byte", Failure.HEADER_TAMPERED),
        ("header rewritten", Failure.WRONG_PASSPHRASE),  # indistinguishable, and refused
        ("last chunk dropped", Failure.TRUNCATED),
        ("cut mid-chunk", Failure.TRUNCATED),
        ("chunks swapped", Failure.TAMPERED),
        ("bytes appended", Failure.TAMPERED),
        ("magic", Failure.NOT_AN_ARCHIVE),
    ],
)
def test_damage_is_named_and_leaves_nothing(archive, tmp_path, how, reason):
    bad = damaged(archive, tmp_path, how)
    before = set(tmp_path.iterdir())
    with pytest.raises(ArchiveError) as raised:
        decrypt_archive(bad, tmp_path / "out", PASS)
    assert raised.value.reason is reason
    assert reason.value in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert set(tmp_path.iterdir()) == before  # no output folder, no temporary folder


def test_a_wrong_passphrase_is_named_and_leaves_nothing(archive, tmp_path):
    with pytest.raises(ArchiveError, match="wrong passphrase") as raised:
        decrypt_archive(archive, tmp_path / "out", PASS + "!")
    assert raised.value.reason is Failure.WRONG_PASSPHRASE
    assert list(tmp_path.iterdir()) == []


def test_decrypting_never_writes_into_a_folder_that_holds_files(archive, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(OutputNotEmptyError):
        decrypt_archive(archive, tmp_path / "out", PASS)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_the_default_cost_meets_owasp_minimum_and_the_header_records_the_cost(archive):
    # OWASP Password Storage Cheat Sheet: scrypt N=2**17 (128 MiB), r=8, p=1 at the least
    assert DEFAULT_COST.n >= 2**17 and DEFAULT_COST.r >= 8 and DEFAULT_COST.p >= 1
    assert DEFAULT_COST.memory_bytes >= 128 * 2**20
    assert b'"n": 1024' in archive.read_bytes()[:300]
    with pytest.raises(ValueError, match="power of 2"):
        ScryptCost(n=1000)


def test_the_finder_reads_the_plain_laptop_and_nothing_of_the_encrypted_one(studies, tmp_path):
    root, key = studies
    plain = what_a_finder_reads(lost_laptop(root, tmp_path / "plain.img"), key)
    assert len(plain.dicom) == 4
    names = set(plain.dicom["patient_name"])
    assert len(names) == 2 and all("^" in n for n in names)
    assert plain.exposed
    assert (plain.table()["category"] == "names").any()

    image = lost_laptop(root, tmp_path / "enc.img", PASS, cost=CHEAP)
    assert image.encrypted and image.files == 4
    sealed = what_a_finder_reads(image, key)
    assert len(sealed.dicom) == 0
    assert len(sealed.identifiers) > 20  # every searchable value was looked for...
    assert (sealed.identifiers["count"] == 0).all()  # ...and none found
    assert not sealed.exposed and sealed.table().empty
    assert sealed.entropy > 7.9 > plain.entropy
