"""Module 5's checks: the damaged backups and raw images they make, the reference answers earning
full credit, partial and hard-coded answers falling short, and the package refusing to do the work."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import warnings

import pydicom
import pytest

import hipaa_lab as hl
from hipaa_lab.course import checks_safeguards as cs
from hipaa_lab.course import sandbox
from hipaa_lab.errors import BackupError, GradingError
from hipaa_lab.safeguards import backup, crypto, media

SEED = 11


def verify_restore(manifest, files):
    """The notebook's reference solution."""
    listed = {path: sha for path, (sha, size) in manifest["manifest"]["files"].items()}
    changed = [
        path
        for path, text in files.items()
        if path in listed and hashlib.sha256(base64.b64decode(text)).hexdigest() != listed[path]
    ]
    return {
        "changed": sorted(changed),
        "missing": sorted(set(listed) - set(files)),
        "extra": sorted(set(files) - set(listed)),
    }


def carve_dicom(image):
    """The notebook's reference solution."""
    data = base64.b64decode(image)
    found = []
    at = data.find(b"DICM", 128)
    while at != -1:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(io.BytesIO(data[at - 128 :]), stop_before_pixels=True)
            if ds.get("SOPInstanceUID"):
                found.append(at - 128)
        except Exception:  # noqa: S110 - a stray DICM
            pass
        at = data.find(b"DICM", at + 1)
    return found


def every_dicm(image):
    data = base64.b64decode(image)
    found, at = [], data.find(b"DICM", 128)
    while at != -1:
        found.append(at - 128)
        at = data.find(b"DICM", at + 1)
    return found


# --------------------------------------------------------------------------- the inputs


@pytest.mark.parametrize("damages", [(), ("flip",), ("truncate", "renamed"), cs.DAMAGES[:3]])
def test_a_damaged_backup_agrees_with_the_backup_modules_own_restore(damages, tmp_path):
    manifest, files, answer = cs.damaged_backup(SEED, damages)
    where = tmp_path / "backup"
    for rel, text in files.items():
        (where / "files" / rel).parent.mkdir(parents=True, exist_ok=True)
        (where / "files" / rel).write_bytes(base64.b64decode(text))
    key = b"k" * 32  # the backup's own key is not given: sign its manifest's body again
    body = json.dumps(manifest["manifest"], sort_keys=True, separators=(",", ":")).encode()
    signed = {**manifest, "hmac_sha256": hmac.new(key, body, hashlib.sha256).hexdigest()}
    (where / backup.MANIFEST).write_text(json.dumps(signed))
    if not damages:
        backup.restore(where, tmp_path / "restored", key=key)
        assert answer == {"changed": [], "missing": [], "extra": []}
        return
    with pytest.raises(BackupError) as caught:
        backup.restore(where, tmp_path / "restored", key=key)
    said = {
        kind: sorted(p for p, why in caught.value.problems if kind in why)
        for kind in cs.PROBLEM_KINDS
    }
    assert said == answer
    assert sum(len(v) for v in answer.values()) == len(damages) + damages.count("renamed")


def test_a_raw_image_holds_its_files_where_the_package_carves_them():
    image, offsets = cs.raw_image(SEED)
    data = base64.b64decode(image)
    assert [c.offset for c in media.carve(data)] == offsets
    assert len(offsets) >= 2 and data.count(b"DICM") > len(offsets)  # look-alikes too
    assert cs.raw_image(SEED) == (image, offsets)  # deterministic by seed


# --------------------------------------------------------------------------- the reference


@pytest.mark.parametrize("seed", range(3))
def test_the_reference_solutions_earn_full_credit(seed):
    assert cs.check_verify_restore(verify_restore, seed=seed).fraction == 1.0
    assert cs.check_carve_dicom(carve_dicom, seed=seed).fraction == 1.0


def test_grade_cells_reach_the_checks_through_hl_grading():
    assert hl.grading.check_verify_restore is cs.check_verify_restore
    assert hl.grading.check_carve_dicom is cs.check_carve_dicom
    assert hl.grading.damaged_backup is cs.damaged_backup and hl.grading.raw_image is cs.raw_image


# --------------------------------------------------------------------------- exercise 1


def test_names_only_earns_part_and_says_to_compare_hashes():
    def names_only(manifest, files):
        listed = set(manifest["manifest"]["files"])
        return {"missing": sorted(listed - set(files)), "extra": sorted(set(files) - listed)}

    credit = cs.check_verify_restore(names_only, seed=SEED)
    assert 0 < credit.fraction < 1
    assert "compare SHA-256" in credit.message


def test_the_visible_answer_falls_short():
    _, _, visible = cs.damaged_backup(7)
    with pytest.raises(GradingError, match="a backup that had none"):
        cs.check_verify_restore(lambda manifest, files: visible, seed=SEED)


@pytest.mark.parametrize("returned", [None, {"lost": []}])
def test_an_answer_of_the_wrong_shape_is_refused(returned):
    with pytest.raises(GradingError, match="verify_restore"):
        cs.check_verify_restore(lambda manifest, files: returned, seed=SEED)


def test_verify_restore_not_written_says_so():
    def verify_restore(manifest, files):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not written yet"):
        cs.check_verify_restore(verify_restore, seed=SEED)


def test_the_backup_modules_verification_refuses_while_verify_restore_runs(tmp_path):
    def by_restore(manifest, files):
        backup.restore(tmp_path, tmp_path / "out", key=b"k")

    with pytest.raises(GradingError, match="compare the files with the manifest itself"):
        cs.check_verify_restore(by_restore, seed=SEED)
    with cs.own_work("carve_dicom"):
        assert backup.restore.__name__ == "restore"
    assert backup.restore.__name__ == "restore" and backup._problems.__name__ == "_problems"


# --------------------------------------------------------------------------- exercise 2


def test_every_dicm_earns_part_for_its_look_alikes():
    credit = cs.check_carve_dicom(every_dicm, seed=SEED)
    assert 0 < credit.fraction < 1
    assert "a DICM is not yet a file" in credit.message


def test_offsets_of_dicm_itself_are_named_as_such():
    def at_magic(image):
        return [o + 128 for o in carve_dicom(image)]

    with pytest.raises(GradingError, match="128 bytes earlier"):
        cs.check_carve_dicom(at_magic, seed=SEED)


def test_the_visible_offsets_fall_short():
    _, visible = cs.raw_image(7)
    try:
        fraction = cs.check_carve_dicom(lambda image: visible, seed=SEED).fraction
    except GradingError:
        fraction = 0.0
    assert fraction < 1


@pytest.mark.parametrize("returned", ["0", [0.0], {"offsets": [0]}])
def test_carve_answers_that_are_not_offsets_are_refused(returned):
    with pytest.raises(GradingError, match="carve_dicom must return"):
        cs.check_carve_dicom(lambda image: returned, seed=SEED)


def test_the_package_carvers_refuse_while_carve_dicom_runs():
    def by_package(image):
        return [c.offset for c in media.carve(base64.b64decode(image))]

    with pytest.raises(GradingError, match="search the bytes itself"):
        cs.check_carve_dicom(by_package, seed=SEED)
    assert media.carve.__name__ == "carve" and crypto.carve is media.carve
    with cs.own_work("verify_restore"):
        assert media.carve.__name__ == "carve"


def test_practice_runs_draw_fresh_inputs_and_say_so():
    _, visible = cs.raw_image(7)
    with pytest.raises(GradingError, match="practice images"):
        cs.check_carve_dicom(lambda image: [], seed=None)
    assert visible


@pytest.mark.slow
@pytest.mark.skipif(sandbox.available() is not None, reason="bubblewrap is not installed")
def test_in_the_sandbox_the_package_refuses_too():
    source = (
        "import base64\n"
        "from hipaa_lab.safeguards import media\n"
        "def carve_dicom(image):\n"
        "    return [c.offset for c in media.carve(base64.b64decode(image))]\n"
        "def other(image):\n"
        "    return carve_dicom(image)\n"
    )
    image, offsets = cs.raw_image(SEED)
    with sandbox.Sandbox([(0, source)]) as box:
        with pytest.raises(GradingError, match="search the bytes itself"):
            sandbox.SandboxFunction(box, "carve_dicom")(image)
        assert sandbox.SandboxFunction(box, "other")(image) == offsets  # carve_dicom's rule alone
