"""Images, header tables and the study browser render what a learner should see."""

import shutil

import matplotlib
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from hipaa_lab.phi import Location, PHIEntry, SafeHarborCategory
from hipaa_lab.widgets import StudyBrowser, display_pixels, header_table, show_image

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
