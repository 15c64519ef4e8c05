"""Backup and restore: a restore gives back the store exactly; every kind of damage to a backup
is caught before anything is restored; a drill never touches the store it drills on."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from hipaa_lab.errors import BackupError, DrillError, OutputNotEmptyError
from hipaa_lab.safeguards.backup import (
    DRILL_MARKER,
    MANIFEST,
    Loss,
    backup,
    drill,
    restore,
    simulate_loss,
)
from hipaa_lab.studies import make_study, write_tree


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    write_tree(
        [make_study(m, seed=s, slices=2, rows=64, columns=64) for m, s in (("CT", 3), ("MR", 4))],
        root,
    )
    (root / "README.txt").write_text("not DICOM: backed up, not counted\n")
    return root


def hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


@pytest.fixture
def made(store, tmp_path):
    return tmp_path / "backup", backup(store, tmp_path / "backup")


def test_restore_equals_the_original_by_manifest_and_counts(store, made, tmp_path):
    where, manifest = made
    assert len(manifest.files) == 5
    assert sorted(c.modality for c in manifest.counts) == ["CT", "MR"]
    assert all(c.instances == 2 for c in manifest.counts)
    assert MANIFEST in [p.name for p in where.iterdir()]
    assert manifest.key.hex() not in (where / MANIFEST).read_text()  # the key stays apart
    report = restore(where, tmp_path / "restored", key=manifest.key)
    assert hashes(tmp_path / "restored") == hashes(store)
    assert report.counts == manifest.counts and report.files == 5
    assert report.manifest_digest == manifest.digest
    assert manifest.digest == hashlib.sha256((where / MANIFEST).read_bytes()).hexdigest()


def damage(where: Path, how: str) -> str:
    files = sorted(p for p in (where / "files").rglob("*.dcm"))
    victim = files[0]
    rel = victim.relative_to(where / "files").as_posix()
    if how == "changed byte":
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x01
        victim.write_bytes(bytes(data))
    elif how == "missing file":
        victim.unlink()
    elif how == "extra file":
        shutil.copy(victim, victim.with_name("EXTRA.dcm"))
        rel = victim.with_name("EXTRA.dcm").relative_to(where / "files").as_posix()
    elif how == "manifest hash edited":
        manifest = json.loads((where / MANIFEST).read_text())
        manifest["manifest"]["files"][rel][0] = "0" * 64
        (where / MANIFEST).write_text(json.dumps(manifest))
        rel = MANIFEST
    elif how == "file and manifest both edited":  # the forger's way: only the HMAC catches it
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0x01
        victim.write_bytes(bytes(data))
        manifest = json.loads((where / MANIFEST).read_text())
        manifest["manifest"]["files"][rel][0] = hashlib.sha256(bytes(data)).hexdigest()
        (where / MANIFEST).write_text(json.dumps(manifest))
        rel = MANIFEST
    elif how == "symlink planted":
        (where / "files" / "link.dcm").symlink_to(victim)
        rel = "link.dcm"
    elif how == "manifest deleted":
        (where / MANIFEST).unlink()
        rel = MANIFEST
    return rel


@pytest.mark.parametrize(
    ("how", "what"),
    [
        ("changed byte", "SHA-256 differs"),
        ("missing file", "missing"),
        ("extra file", "extra"),
        ("manifest hash edited", "HMAC"),
        ("file and manifest both edited", "HMAC"),
        ("manifest deleted", "missing"),
        ("symlink planted", "not a regular file"),
    ],
)
def test_a_damaged_backup_is_named_and_nothing_restored(made, tmp_path, how, what):
    where, manifest = made
    bad = damage(where, how)
    with pytest.raises(BackupError, match="nothing was restored") as raised:
        restore(where, tmp_path / "restored", key=manifest.key)
    assert [p for p, _ in raised.value.problems] == [bad]
    assert what in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup"]  # no folder, no temp


def test_the_wrong_key_is_refused(made, tmp_path):
    where, _ = made
    with pytest.raises(BackupError, match="HMAC"):
        restore(where, tmp_path / "restored", key=b"another key")


def test_neither_backup_nor_restore_writes_into_a_folder_that_holds_files(store, made, tmp_path):
    where, manifest = made
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    with pytest.raises(OutputNotEmptyError):
        backup(store, tmp_path / "full")
    with pytest.raises(OutputNotEmptyError):
        restore(where, tmp_path / "full", key=manifest.key)
    assert [p.name for p in (tmp_path / "full").iterdir()] == ["x"]


def test_simulate_loss_refuses_a_folder_outside_a_drill(store, tmp_path):
    before = hashes(store)
    with pytest.raises(DrillError, match="refusing"):
        simulate_loss(store)
    assert hashes(store) == before
    owned = tmp_path / "drill"
    owned.mkdir()
    (owned / DRILL_MARKER).write_text("")
    shutil.copytree(store, owned / "live")
    simulate_loss(owned / "live", Loss.CORRUPT)
    assert hashes(owned / "live").keys() == before.keys()
    assert not set(hashes(owned / "live").values()) & set(before.values())
    simulate_loss(owned / "live")
    assert not (owned / "live").exists()


@pytest.mark.parametrize("how", list(Loss))
def test_the_drill_gets_everything_back_and_leaves_the_store_alone(store, tmp_path, how):
    before = hashes(store)
    report = drill(store, tmp_path / "work", how=how)
    assert report.passed and report.files_equal and report.counts_equal
    table = report.table()
    assert len(table) == 2 and table["equal"].all() and (table["after"] == 2).all()
    assert hashes(store) == before
    assert hashes(tmp_path / "work" / "restored") == before
    assert set(report.seconds) == {"copy", "backup", "restore"}
