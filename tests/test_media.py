"""Media disposal: a deleted USB stick shows no files yet gives back every study by carving; a
cleared one gives back nothing. Real FAT images, made with mtools."""

from __future__ import annotations

import shutil

import pytest

from hipaa_lab.errors import MtoolsUnavailableError
from hipaa_lab.safeguards import media
from hipaa_lab.safeguards.media import Disposal, carve, listing, make_usb_image
from hipaa_lab.studies import make_study, write_tree


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    if shutil.which("mformat") is None:
        pytest.fail("mtools is not installed: scripts/install-system-packages.sh installs it")
    root = tmp_path_factory.mktemp("stick")
    made = [make_study(m, seed=s, slices=2, rows=64, columns=64) for m, s in (("CT", 7), ("MR", 8))]
    key = write_tree(made, root)
    uids = {str(i.dataset.SOPInstanceUID) for s in made for i in s.instances}
    names = {str(s.instances[0].dataset.PatientName) for s in made}
    return root, key, uids, names


@pytest.fixture(scope="module")
def images(studies, tmp_path_factory):
    out = tmp_path_factory.mktemp("images")
    return {d: make_usb_image(studies[0], out / f"{d.value}.img", d) for d in Disposal}


def test_a_deleted_stick_lists_no_files_yet_carving_recovers_every_instance(studies, images):
    _, _, uids, names = studies
    image = images[Disposal.DELETED]
    assert set(image.written) == uids and len(uids) == 4
    assert listing(image.path) == []  # the filesystem says: empty
    carved = carve(image.path)
    assert {c.sop_instance_uid for c in carved} == uids
    assert {c.patient_name for c in carved} == names  # synthetic PHI, read back off a "blank" stick


def test_a_cleared_stick_gives_back_nothing(studies, images):
    _, key, uids, _ = studies
    image = images[Disposal.CLEARED]
    assert set(image.written) == uids
    assert listing(image.path) == []
    assert carve(image.path) == []
    data = image.path.read_bytes()
    assert b"DICM" not in data
    ids = {
        e.value for e in key.entries if e.path in ("PatientID", "PatientName", "AccessionNumber")
    }
    assert ids and not [v for v in ids if v.encode() in data]


def test_the_stick_is_a_real_fat_filesystem(tmp_path, images):
    image = images[Disposal.DELETED].path
    assert image.stat().st_size == 4 * 2**20
    assert image.read_bytes()[54:62] in (b"FAT12   ", b"FAT16   ")  # the boot sector says so
    media._run("mcopy", "-i", str(image), str(__file__), "::/again.py")  # a writable volume
    assert listing(image) == ["::/again.py"]


def test_carving_skips_a_stray_magic_and_finds_a_file_anywhere(studies):
    root, _, _, _ = studies
    one = next(p for p in sorted(root.rglob("*")) if p.is_file()).read_bytes()
    blob = bytes(1000) + bytes(128) + b"DICMnot a dataset" + bytes(333) + one + bytes(50)
    carved = carve(blob)
    assert [c.offset for c in carved] == [1000 + 128 + 17 + 333]


def test_a_missing_mtools_is_named_with_how_to_install(monkeypatch, tmp_path, studies):
    monkeypatch.setattr(media.shutil, "which", lambda name: None)
    with pytest.raises(MtoolsUnavailableError, match="apt-get install mtools"):
        make_usb_image(studies[0], tmp_path / "x.img", Disposal.DELETED)
    assert not (tmp_path / "x.img").exists()
