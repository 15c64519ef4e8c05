"""What learners look at: images with their PHI boxed, headers with PHI highlighted, a study browser."""

from __future__ import annotations

import os
import textwrap
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from pandas.io.formats.style import Styler

from hipaa_lab.phi import AnswerKey, Layer, Location, PHIEntry, iter_elements

__all__ = [
    "StudyBrowser",
    "display_pixels",
    "header_table",
    "report_text",
    "show_image",
    "unattended",
]

_PHI_STYLE = "background-color: #ffd6d6; color: #7a0000; font-weight: bold"
# JupyterLab right-aligns table cells and lets long values widen the table past the output area,
# which pushed the value and PHI columns out of sight: align left and wrap long values.
_TABLE_STYLES = [
    {"selector": "th, td", "props": "text-align: left; vertical-align: top"},
    {"selector": "td.col0", "props": "min-width: 12em; overflow-wrap: anywhere"},
    {"selector": "td.col3", "props": "min-width: 16em; max-width: 30em; overflow-wrap: anywhere"},
]


def display_pixels(ds: Dataset, frame: int = 0) -> np.ndarray:
    """The pixels of ``ds`` as a person sees them: rescaled, windowed, MONOCHROME1 inverted.

    Returns a float array in [0, 1] (grayscale) or an RGB uint8 array.
    """
    from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut

    arr = ds.pixel_array
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        arr = arr[frame]
    if ds.get("SamplesPerPixel", 1) == 3:
        return arr
    arr = apply_modality_lut(arr, ds)
    if "WindowCenter" in ds or "VOILUTSequence" in ds:
        arr = apply_voi_lut(arr, ds)
    arr = arr.astype(np.float64)
    lo, hi = np.percentile(arr, [0.5, 99.5]) if arr.size else (0.0, 1.0)
    out = np.clip((arr - lo) / (hi - lo or 1.0), 0.0, 1.0)
    return 1.0 - out if ds.get("PhotometricInterpretation") == "MONOCHROME1" else out


def report_text(ds: Dataset, width: int = 80) -> str:
    """A structured report's content tree as indented text."""
    lines: list[str] = []

    def walk(items: Sequence[Dataset], depth: int) -> None:
        for item in items:
            name = (
                item.ConceptNameCodeSequence[0].CodeMeaning
                if "ConceptNameCodeSequence" in item
                else ""
            )
            value = (
                item.get("TextValue")
                or item.get("PersonName")
                or item.get("Date")
                or item.get("DateTime")
                or ""
            )
            if not value and "ConceptCodeSequence" in item:
                value = item.ConceptCodeSequence[0].CodeMeaning
            text = f"{name}: {value}" if value else str(name)
            lines.extend(
                textwrap.wrap(
                    text, width, initial_indent="  " * depth, subsequent_indent="  " * (depth + 1)
                )
            )
            walk(item.get("ContentSequence", []), depth + 1)

    title = (
        ds.ConceptNameCodeSequence[0].CodeMeaning if "ConceptNameCodeSequence" in ds else "Report"
    )
    lines.append(str(title))
    walk(ds.get("ContentSequence", []), 1)
    return "\n".join(lines)


def show_image(
    ds: Dataset,
    entries: Iterable[PHIEntry] = (),
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Show ``ds``'s image (or a report's text) with matplotlib, boxing PHI found in the pixels.

    Parameters
    ----------
    ds
        An image instance, or a structured report.
    entries
        Answer-key entries of this file; those in the pixels or an overlay are boxed in red.
    ax
        A matplotlib Axes to draw on; a new figure when None.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    ax.set_axis_off()
    ax.set_title(
        title
        if title is not None
        else str(ds.get("SeriesDescription", "") or ds.get("Modality", ""))
    )
    if "PixelData" not in ds:
        ax.text(
            0,
            1,
            report_text(ds, 70),
            va="top",
            ha="left",
            family="monospace",
            fontsize=8,
            transform=ax.transAxes,
        )
        return ax
    pixels = display_pixels(ds)
    ax.imshow(pixels, cmap=None if pixels.ndim == 3 else "gray", interpolation="nearest")
    for group in range(0x6000, 0x6020, 2):
        if (group, 0x3000) in ds:
            overlay = ds.overlay_array(group).astype(bool)
            if overlay.ndim == 3:
                overlay = overlay[0]
            rgba = np.zeros((*overlay.shape, 4))
            rgba[overlay] = (1.0, 0.85, 0.0, 1.0)
            ax.imshow(rgba, interpolation="nearest")
    for entry in entries:
        if entry.location in (Location.PIXELS, Location.OVERLAY) and entry.box:
            x, y, w, h = entry.box
            ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="red", linewidth=1.5))
    return ax


def _display_value(elem: DataElement) -> str:
    if elem.VR == "SQ":
        return f"<{len(elem.value or [])} item(s)>"
    if elem.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN") or elem.tag == 0x7FE00010:
        return f"<{len(elem.value or b'')} bytes>"
    text = str(elem.value)
    return text if len(text) <= 70 else text[:67] + "..."


def header_table(ds: Dataset, entries: Iterable[PHIEntry] = (), phi_only: bool = False) -> Styler:
    """``ds``'s header as a table, one row per element at any depth, with PHI rows highlighted.

    Parameters
    ----------
    ds
        The dataset.
    entries
        Answer-key entries of this file; header entries mark their rows as PHI.
    phi_only
        Show only the rows that hold PHI.

    Returns
    -------
    pandas.io.formats.style.Styler
        Displayed as a table in a notebook; ``.data`` is the plain DataFrame.
    """
    phi = {
        e.path: e.category.value
        + (" (DICOM profile, beyond Safe Harbor)" if e.layer is Layer.PROFILE else "")
        for e in entries
        if e.location is Location.HEADER
    }
    rows = []
    for path, elem in iter_elements(ds):
        rows.append(
            {
                "tag path": path,
                "tag": f"({elem.tag.group:04X},{elem.tag.element:04X})",
                "VR": elem.VR,
                "value": _display_value(elem),
                "PHI": phi.get(path, ""),
            }
        )
    frame = pd.DataFrame(rows, columns=["tag path", "tag", "VR", "value", "PHI"])
    if phi_only:
        frame = frame[frame["PHI"] != ""].reset_index(drop=True)
    return (
        frame.style.apply(lambda row: [_PHI_STYLE if row["PHI"] else "" for _ in row], axis=1)
        .hide(axis="index")
        .set_table_styles(_TABLE_STYLES)
    )


def unattended() -> bool:
    """Whether this notebook runs with nobody looking: nbgrader's Validate or autograde (which
    set ``NBGRADER_EXECUTION``), or the grading sandbox (``HIPAA_LAB_SANDBOX``).

    Interactive widgets are not drawn then: an Output widget that captures figures before it is
    shown is what kept nbgrader's executions waiting after the study browser's cell.
    """
    return bool(os.environ.get("NBGRADER_EXECUTION") or os.environ.get("HIPAA_LAB_SANDBOX"))


class StudyBrowser:
    """Browse the series and instances of a folder of DICOM files: image, header, PHI.

    Parameters
    ----------
    folder
        A folder of DICOM files (searched recursively).
    key
        The tree's answer key (optional): PHI is highlighted when given.

    Examples
    --------
    In a notebook, ``hl.widgets.StudyBrowser(folder, key)`` as a cell's last line shows it.
    """

    def __init__(self, folder: str | os.PathLike[str], key: AnswerKey | None = None) -> None:
        import ipywidgets as w

        self.folder = Path(folder)
        self.key = key
        self.series: dict[str, list[Path]] = defaultdict(list)
        labels: dict[str, str] = {}
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:  # noqa: S112 - not DICOM (a report, a key): the browser shows DICOM only
                continue
            uid = str(ds.get("SeriesInstanceUID", path.parent))
            self.series[uid].append(path)
            labels[uid] = (
                f"{ds.get('Modality', '?')} · {ds.get('SeriesDescription', '') or 'series'}"
            )
        for uid, paths in self.series.items():
            paths.sort(
                key=lambda p: (
                    int(pydicom.dcmread(p, stop_before_pixels=True).get("InstanceNumber", 0) or 0),
                    p,
                )
            )
            labels[uid] += f" ({len(paths)} file{'s' if len(paths) > 1 else ''})"
        self.widget: w.VBox | None = None
        if unattended():
            return
        options = [(labels[uid], uid) for uid in self.series]
        self.series_picker = w.Dropdown(
            options=options, description="Series", layout=w.Layout(width="480px")
        )
        self.instance_slider = w.IntSlider(
            min=1, max=1, value=1, description="Instance", continuous_update=False
        )
        self.view = w.ToggleButtons(options=["image", "header", "PHI only"], description="Show")
        self.output = w.Output()
        self._resetting = False
        self.series_picker.observe(self._series_changed, names="value")
        self.instance_slider.observe(self._render, names="value")
        self.view.observe(self._render, names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.series_picker, self.instance_slider]),
                self.view,
                self.output,
            ]
        )
        self._series_changed()

    def current_path(self) -> Path:
        return Path(self.series[self.series_picker.value][self.instance_slider.value - 1])

    def _series_changed(self, *_: object) -> None:
        # Resetting the slider fires its observer (once for the clamp, once for the value): draw once.
        self._resetting = True
        try:
            self.instance_slider.max = max(1, len(self.series.get(self.series_picker.value, [])))
            self.instance_slider.value = 1
        finally:
            self._resetting = False
        self._render()

    def _render(self, *_: object) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import display

        if not self.series or self._resetting:
            return
        path = self.current_path()
        ds = pydicom.dcmread(path)
        entries = self.key.for_file(path.relative_to(self.folder).as_posix()) if self.key else []
        self.output.clear_output(wait=True)
        with self.output:
            print(path.relative_to(self.folder).as_posix())
            if self.view.value == "image":
                _fig, ax = plt.subplots(figsize=(5, 5))
                show_image(ds, entries, ax=ax)
                plt.show()
            else:
                display(header_table(ds, entries, phi_only=self.view.value == "PHI only"))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if self.widget is None:
            files = sum(len(paths) for paths in self.series.values())
            print(
                f"study browser: {len(self.series)} series, {files} files (interactive in JupyterLab)"
            )
            return
        display(self.widget)
