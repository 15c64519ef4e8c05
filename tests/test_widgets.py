"""Images, header tables and the study browser render what a learner should see."""

import shutil

import matplotlib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from hipaa_lab.errors import CourseError
from hipaa_lab.phi import AnswerKey, Location, PHIEntry, SafeHarborCategory
from hipaa_lab.widgets import (
    StudyBrowser,
    display_pixels,
    header_table,
    safe_harbor_table,
    series_labels,
    show_image,
)

matplotlib.use("Agg")


@pytest.fixture
def ct():
    return pydicom.dcmread(get_testdata_file("CT_small.dcm"))


def test_display_pixels_are_windowed_into_unit_range(ct):
    pixels = display_pixels(ct)
    assert pixels.shape == (ct.Rows, ct.Columns)
    assert 0.0 <= pixels.min() < 0.1 and 0.9 < pixels.max() <= 1.0


def test_monochrome1_is_inverted(ct):
    normal = display_pixels(ct)
    ct.PhotometricInterpretation = "MONOCHROME1"
    assert np.allclose(display_pixels(ct), 1.0 - normal)


def test_show_image_boxes_phi_in_pixels(ct):
    entry = PHIEntry("x.dcm", Location.PIXELS, SafeHarborCategory.NAMES, "Doe", box=(2, 3, 20, 8))
    ax = show_image(ct, [entry])
    assert len(ax.images) == 1
    assert [p.get_bbox().bounds for p in ax.patches] == [(2, 3, 20, 8)]


def test_header_table_highlights_exactly_the_phi_rows(ct):
    entry = PHIEntry(
        "x.dcm", Location.HEADER, SafeHarborCategory.NAMES, str(ct.PatientName), path="PatientName"
    )
    styler = header_table(ct, [entry])
    frame = styler.data
    assert list(frame.loc[frame["PHI"] != "", "tag path"]) == ["PatientName"]
    html = styler.to_html()
    assert html.count("#ffd6d6") >= 1
    assert len(header_table(ct, [entry], phi_only=True).data) == 1
    assert frame.loc[frame["tag path"] == "PixelData", "value"].item().endswith("bytes>")


def test_study_browser_groups_series_and_skips_non_dicom(tmp_path):
    for name in ["CT_small.dcm", "MR_small.dcm"]:
        shutil.copy(get_testdata_file(name), tmp_path / name)
    (tmp_path / "notes.txt").write_text("not DICOM")
    browser = StudyBrowser(tmp_path)
    assert len(browser.series_picker.options) == 2
    labels = [label for label, _ in browser.series_picker.options]
    assert any(label.startswith("CT") for label in labels) and any(
        label.startswith("MR") for label in labels
    )
    assert browser.current_path().suffix == ".dcm"
    browser.view.value = "header"  # renders the header table without error
    browser.series_picker.value = browser.series_picker.options[1][1]
    assert browser.instance_slider.max == 1


@pytest.mark.parametrize("variable", ["NBGRADER_EXECUTION", "HIPAA_LAB_SANDBOX"])
def test_study_browser_draws_nothing_when_nobody_looks(tmp_path, monkeypatch, capsys, variable):
    """In Validate, autograde or the sandbox the browser says what it holds, without widgets."""
    shutil.copy(get_testdata_file("CT_small.dcm"), tmp_path / "ct.dcm")
    monkeypatch.setenv(variable, "validate")
    browser = StudyBrowser(tmp_path)
    assert browser.widget is None
    browser._ipython_display_()
    assert "1 series, 1 files" in capsys.readouterr().out


def test_safe_harbor_table_shows_every_definition_whole():
    """Module 1's table: each identifier's whole text, no row cut short with "..." or "…"."""
    from html.parser import HTMLParser

    styler = safe_harbor_table()
    html = styler.to_html()

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows: list[list[str]] = []
            self._in_body = self._in_cell = False

        def handle_starttag(self, tag, attrs):
            if tag == "tbody":
                self._in_body = True
            elif self._in_body and tag == "tr":
                self.rows.append([])
            elif self._in_body and tag in ("td", "th"):
                self._in_cell = True
                self.rows[-1].append("")

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self._in_cell = False

        def handle_data(self, data):
            if self._in_cell:
                self.rows[-1][-1] += data

    cells = Cells()
    cells.feed(html)
    shown = {row[0]: row[1] for row in cells.rows}
    assert len(shown) == 18
    for category in SafeHarborCategory:
        assert shown[category.paragraph] == category.description, category
        assert not shown[category.paragraph].endswith(("...", "…"))
    # the long ones are the reason for this table: a DataFrame's repr would have cut them at 50
    assert len(SafeHarborCategory.GEOGRAPHIC.description) > 400
    assert "20,000 or fewer people is changed to 000" in html


def _series_file(folder, name, *, patient, study, series, number=1, description="CT series 1"):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientID, ds.PatientName = patient, f"DOE^{patient}"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.StudyDate, ds.StudyDescription = "20240102", f"CT CHEST DOE {patient}"
    ds.SeriesNumber, ds.SeriesDescription = number, description
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / name)


def test_study_browser_labels_every_series_of_a_multi_study_tree_apart(tmp_path):
    """Three patients, studies alike ("CT series 1" each): every label differs, none shows PHI."""
    uid = "1.2.826.0.1.3680043.8.498.1"
    for p in (1, 2, 3):
        for s in (1, 2):
            for n in (1, 2):
                _series_file(
                    tmp_path,
                    f"p{p}/s{s}/IM{n}.dcm",
                    patient=f"MRN00{p}",
                    study=f"{uid}.{p}.{s}",
                    series=f"{uid}.{p}.{s}.1",
                )
    # one study with two series that share number and description: still told apart
    _series_file(tmp_path, "p1/s3/a.dcm", patient="MRN001", study=f"{uid}.1.3", series=f"{uid}.9.1")
    _series_file(tmp_path, "p1/s3/b.dcm", patient="MRN001", study=f"{uid}.1.3", series=f"{uid}.9.2")
    browser = StudyBrowser(tmp_path)
    labels = [label for label, _ in browser.series_picker.options]
    assert len(labels) == 8
    assert len(set(labels)) == len(labels), labels
    assert labels[0] == "CT series 1 · patient 1, study 1 (2 files)"
    assert "CT series 1 · patient 3, study 2 (2 files)" in labels
    for label in labels:
        assert label.startswith("CT series 1")
        assert not any(secret in label for secret in ("MRN", "DOE", "2024", "CHEST", uid))


def test_series_labels_leave_out_a_description_that_holds_phi(tmp_path):
    """With the answer key, a series description that is PHI stays out of the menu."""
    _series_file(
        tmp_path, "a.dcm", patient="P1", study="1.2.3", series="1.2.3.1", description="DOE JOHN"
    )
    entry = PHIEntry(
        "a.dcm", Location.HEADER, SafeHarborCategory.NAMES, "DOE JOHN", path="SeriesDescription"
    )
    browser = StudyBrowser(tmp_path, AnswerKey("test", 0, [entry]))
    assert [label for label, _ in browser.series_picker.options] == ["CT series 1 (1 file)"]
    plain = StudyBrowser(tmp_path)
    assert [label for label, _ in plain.series_picker.options] == [
        "CT series 1 · DOE JOHN (1 file)"
    ]


def test_series_labels_say_the_series_number_once():
    headers = {}
    for n, (modality, description) in enumerate([("MG", "MAMMO series 2"), ("CT", "Chest")]):
        ds = pydicom.Dataset()
        ds.PatientID, ds.StudyInstanceUID = "P1", f"2.25.{n}"
        ds.Modality, ds.SeriesNumber, ds.SeriesDescription = modality, 2, description
        headers[modality] = ds
    assert series_labels(headers, {"MG": 4, "CT": 1}) == {
        "MG": "MG · MAMMO series 2 (4 files)",
        "CT": "CT series 2 · Chest (1 file)",
    }


def test_series_labels_name_a_deidentified_patient_by_pseudonym():
    headers = {}
    for n, name in enumerate(["ANON-7F3A", "ANON-22C1"]):
        ds = pydicom.Dataset()
        ds.PatientID = ds.PatientName = name
        ds.PatientIdentityRemoved = "YES"
        ds.StudyInstanceUID, ds.Modality, ds.SeriesNumber = f"2.25.{n}", "MR", 3
        headers[name] = ds
    assert sorted(series_labels(headers).values()) == [
        "MR series 3 · patient ANON-22C1",
        "MR series 3 · patient ANON-7F3A",
    ]


@pytest.mark.parametrize(
    ("where", "closed"),
    [
        ("find_notebooks", CourseError("no notebooks folder")),  # the grading sandbox
        ("assignments", PermissionError(13, "Permission denied")),  # a learner on a hub
    ],
)
def test_the_pass_mark_shows_where_the_course_notebooks_cannot_be_listed(
    monkeypatch, where, closed
):
    """A learner's kernel on a hub (the notebooks closed to them) and the grading sandbox (hidden
    there) cannot list the course's modules; the pass-mark cell still shows the pass mark. It
    raised in every autograded notebook on the hub, seen in the formgrader's grading page."""
    import importlib

    from hipaa_lab.widgets import pass_mark

    build = importlib.import_module("hipaa_lab.course.build")

    def refuse(*_args):
        raise closed

    monkeypatch.setattr(build, where, refuse)
    mark = pass_mark("m01-phi-in-images")
    assert mark.threshold == 0.8
    assert "80% of the module's points" in str(mark)
