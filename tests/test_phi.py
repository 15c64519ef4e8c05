"""Tag paths, answer keys and the Safe Harbor categories."""

import json

import pytest
from pydicom.dataset import Dataset

from hipaa_lab.phi import (
    AnswerKey,
    Location,
    PHIEntry,
    SafeHarborCategory,
    get_element,
    iter_elements,
    safe_harbor_table,
    write_atomic,
)


@pytest.fixture
def nested():
    ds = Dataset()
    ds.PatientName = "Doe^Jane"
    ds.Rows = 4
    inner = Dataset()
    inner.PatientID = "MRN7"
    outer = Dataset()
    outer.OtherPatientIDsSequence = [Dataset(), inner]
    ds.RequestAttributesSequence = [outer]
    block = ds.private_block(0x0009, "ACME 1.0", create=True)
    block.add_new(0x10, "LO", "Jane Doe")
    ds.add_new(0x00111001, "LO", "unknown public")
    return ds


def test_every_element_gets_a_path_that_leads_back_to_it(nested):
    paths = dict(iter_elements(nested))
    assert "RequestAttributesSequence[0].OtherPatientIDsSequence[1].PatientID" in paths
    assert '(0009,"ACME 1.0",10)' in paths
    assert "(0011,1001)" in paths
    for path, elem in paths.items():
        assert get_element(nested, path) is elem


@pytest.mark.parametrize(
    "path, error",
    [
        ("PatientAddress", KeyError),
        ('(0009,"OTHER",10)', KeyError),
        ("NotAKeyword", ValueError),
        ("PatientName..", ValueError),
        ("", ValueError),
    ],
)
def test_bad_paths_say_what_is_wrong(nested, path, error):
    with pytest.raises(error):
        get_element(nested, path)


def test_there_are_eighteen_categories_lettered_a_to_r():
    assert len(SafeHarborCategory) == 18
    assert SafeHarborCategory.NAMES.paragraph == "A"
    assert SafeHarborCategory.OTHER.paragraph == "R"
    assert list(safe_harbor_table().index) == list("ABCDEFGHIJKLMNOPQR")


def test_answer_key_round_trips(tmp_path):
    key = AnswerKey(
        "x",
        3,
        [
            PHIEntry(
                "a/b.dcm", Location.HEADER, SafeHarborCategory.NAMES, "Doe^Jane", path="PatientName"
            ),
            PHIEntry(
                "a/b.dcm",
                Location.PIXELS,
                SafeHarborCategory.MEDICAL_RECORD,
                "MRN7",
                box=(1, 2, 3, 4),
            ),
            PHIEntry("c.dcm", Location.FILENAME, SafeHarborCategory.NAMES, "Doe"),
        ],
    )
    key.save(tmp_path / "key.json")
    again = AnswerKey.load(tmp_path / "key.json")
    assert again == key
    assert [e.value for e in again.for_file("a/b.dcm")] == ["Doe^Jane", "MRN7"]
    assert again.files() == ["a/b.dcm", "c.dcm"]
    assert json.loads((tmp_path / "key.json").read_text())["entries"][1]["box"] == [1, 2, 3, 4]


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "key.json"
    target.write_text("old")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["key.json"]


def test_every_entry_has_its_layer_and_keeps_it_in_json():
    """The rule's identifiers, and what the DICOM profile removes beyond it (staff, institution,
    equipment): labelled apart in the answer key."""
    import warnings

    from hipaa_lab.phi import Layer, PHIEntry
    from hipaa_lab.studies import PHILevel, make_study

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        entries = [
            e
            for m in ("CT", "SR")
            for e in make_study(m, seed=3, level=PHILevel.NESTED, slices=1).entries
        ]
    layers = {(e.path.rsplit(".", 1)[-1] if e.path else e.location.value): e.layer for e in entries}
    assert layers["PatientName"] is Layer.RULE
    assert layers["ReferringPhysicianName"] is Layer.PROFILE
    assert layers["InstitutionName"] is Layer.PROFILE
    observer = [e for e in entries if e.path and e.path.endswith("PersonName")]
    assert {e.layer for e in observer} == {Layer.RULE, Layer.PROFILE}  # subject, and observer
    for entry in entries:
        assert PHIEntry.from_json(entry.to_json()) == entry
    assert Layer.PROFILE.label.startswith("DICOM profile")
