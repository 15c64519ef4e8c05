"""What learners look at: images with their PHI boxed, headers with PHI highlighted, a study browser."""

from __future__ import annotations

import html
import os
import textwrap
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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

    from hipaa_lab.course.progress import PassMark

from hipaa_lab import phi
from hipaa_lab.phi import AnswerKey, Layer, Location, PHIEntry, iter_elements
from hipaa_lab.safeguards.audit._events import EventID as _EventID

__all__ = [
    "ACCESS_EVENTS",
    "AuditTable",
    "StudyBrowser",
    "accesses_per_hour",
    "display_pixels",
    "filter_events",
    "fit_table",
    "header_table",
    "pass_mark",
    "plot_accesses_per_hour",
    "report_text",
    "safe_harbor_table",
    "series_labels",
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


def safe_harbor_table() -> Styler:
    """The 18 Safe Harbor identifiers, each with its whole definition, as a table to display.

    :func:`hipaa_lab.phi.safe_harbor_table` is the data; a DataFrame shown in a notebook cuts
    every text longer than ``display.max_colwidth`` (50 characters) with "...", which left the
    geographic and date identifiers, the ones that matter most, unreadable. A Styler shows whole
    texts; the definitions wrap within the output area.

    Returns
    -------
    pandas.io.formats.style.Styler
        Displayed as a table in a notebook; ``.data`` is the plain DataFrame.
    """
    frame = phi.safe_harbor_table().reset_index()
    return (
        frame.style.hide(axis="index")
        .set_table_styles(
            [
                {"selector": "th, td", "props": "text-align: left; vertical-align: top"},
                {
                    "selector": "td.col1",
                    "props": "min-width: 20em; max-width: 48em; white-space: normal",
                },
            ]
        )
        .set_caption("45 CFR 164.514(b)(2)(i)(A)-(R): the identifiers Safe Harbor removes")
    )


def fit_table(frame: pd.DataFrame) -> Styler:
    """``frame`` as a table a reader sees whole, within the output area.

    A DataFrame shown in JupyterLab cuts every text past ``display.max_colwidth`` with "..."
    (module 3's reasons for a refusal were cut before the reason) and lets a wide table run past
    the output area (the audit tables' patient and reason columns were out of sight). This shows
    every text in full, lets texts and column names wrap (also after ``_``, ``^``, ``.`` and
    ``/``, so role names, person names and UIDs break there, not inside an ID) so the table fits,
    aligns left, leaves out the row index, shows times to the second and missing values blank.

    Returns
    -------
    pandas.io.formats.style.Styler
        Displayed as a table in a notebook; ``.data`` is ``frame``.

    Examples
    --------
    >>> html = fit_table(pd.DataFrame({"reason": ["x" * 80], "note": [None]})).to_html()
    >>> "x" * 80 in html and "None" not in html
    True
    """

    def cell(value: object) -> str:
        if isinstance(value, pd.Timestamp):
            return str(value.strftime("%Y-%m-%d %H:%M:%S"))
        return _breakable(str(value))

    return (
        frame.style.hide(axis="index")
        .format(cell, na_rep="")
        .format_index(lambda c: _breakable(str(c)), axis="columns")
        .set_table_styles(
            [
                # JupyterLab pads cells 0.5em a side: a quarter em leaves room for 13 columns
                {
                    "selector": "th, td",
                    "props": "text-align: left; vertical-align: top; padding: 0.3em 0.25em",
                },
                {"selector": "td", "props": "overflow-wrap: break-word; max-width: 28em"},
            ]
        )
    )


def _breakable(text: str) -> str:
    """``text`` escaped for HTML, with a line break allowed after each ``_``, ``^``, ``.`` and
    ``/`` (role and column names, DICOM person names and UIDs have no spaces to break at)."""
    escaped = html.escape(text)
    for mark in "_^./":
        escaped = escaped.replace(mark, mark + "<wbr>")
    return escaped


def pass_mark(module: str) -> PassMark:
    """``module``'s pass mark, shown in its notebook: the share of its points that passes it, from
    the course's curricula (:func:`hipaa_lab.course.progress.pass_mark_note`), the one source the
    feedback and the training records also read.

    Examples
    --------
    >>> print(pass_mark("m01-phi-in-images"))
    Pass mark for m01-phi-in-images: 80% of the module's points, that is 12 of 15.
    """
    from hipaa_lab.course.progress import pass_mark_note

    return pass_mark_note(module)


@dataclass
class _Series:
    """What the study browser knows of one series: its files and the header of its first."""

    first: Dataset
    files: list[tuple[int, Path]] = field(default_factory=list)
    description_is_phi: bool = False


def _study_order(ds: Dataset) -> tuple[str, str, str]:
    return (
        str(ds.get("StudyDate", "")),
        str(ds.get("StudyTime", "")),
        str(ds.get("StudyInstanceUID", "")),
    )


def series_labels(
    headers: Mapping[str, Dataset],
    counts: Mapping[str, int] | None = None,
    hidden: Iterable[str] = (),
) -> dict[str, str]:
    """A label per series that tells it from every other: no two labels are alike.

    A label is the modality, the series number and the series description (the number once,
    when the description says it); then, when the tree
    holds several patients, which patient ("patient 2"), and, when that patient has series alike
    in several studies, which of the patient's studies ("study 3", in date order). Ordinals, never
    a name, an ID, a date or a study description, any of which may be PHI that a menu must not
    show. A de-identified patient (``PatientIdentityRemoved`` "YES") is named by its pseudonym.
    Series still alike after that (one study, one number) are numbered "[1]", "[2]".

    Parameters
    ----------
    headers
        Series key (e.g. the SeriesInstanceUID) -> the header of one of its files.
    counts
        Series key -> its number of files, shown as "(8 files)".
    hidden
        Series keys whose description holds PHI (from an answer key): the description is left out.

    Returns
    -------
    dict
        Series key -> label, in the order patient, study, series number.

    Examples
    --------
    >>> from pydicom import Dataset
    >>> def series(patient, study, number):
    ...     ds = Dataset()
    ...     ds.PatientID, ds.StudyInstanceUID, ds.Modality = patient, study, "CT"
    ...     ds.SeriesNumber, ds.SeriesDescription = number, f"CT series {number}"
    ...     return ds
    >>> labels = series_labels({"a": series("P1", "1.1", 1), "b": series("P1", "1.2", 1), "c": series("P2", "2.1", 1)})
    >>> list(labels.values())
    ['CT series 1 · patient 1, study 1', 'CT series 1 · patient 1, study 2', 'CT series 1 · patient 2']
    """
    hidden_keys = set(hidden)

    def patient_of(ds: Dataset) -> str:
        return str(
            ds.get("PatientID", "") or ds.get("PatientName", "") or ds.get("StudyInstanceUID", "")
        )

    patients: dict[str, dict[str, Dataset]] = defaultdict(dict)
    for ds in headers.values():
        patients[patient_of(ds)].setdefault(str(ds.get("StudyInstanceUID", "")), ds)
    patient_names: dict[str, str] = {}
    study_numbers: dict[tuple[str, str], int] = {}
    # Patients in the order of their first study, studies of a patient by date: an order, no dates.
    ordered = sorted(patients.items(), key=lambda item: min(map(_study_order, item[1].values())))
    for p, (patient, studies) in enumerate(ordered, start=1):
        some = next(iter(studies.values()))
        pseudonym = str(some.get("PatientName", "") or "")
        deidentified = str(some.get("PatientIdentityRemoved", "")).upper() == "YES"
        patient_names[patient] = (
            f"patient {pseudonym}" if deidentified and pseudonym else f"patient {p}"
        )
        for s, (uid, _) in enumerate(
            sorted(studies.items(), key=lambda kv: _study_order(kv[1])), 1
        ):
            study_numbers[(patient, uid)] = s

    def sort_key(key: str) -> tuple[int, int, int, str]:
        ds = headers[key]
        patient = patient_of(ds)
        number = ds.get("SeriesNumber")
        return (
            [q for q, _ in ordered].index(patient),
            study_numbers[(patient, str(ds.get("StudyInstanceUID", "")))],
            int(number) if number not in (None, "") else 0,
            key,
        )

    base: dict[str, str] = {}
    for key in sorted(headers, key=sort_key):
        ds = headers[key]
        number = ds.get("SeriesNumber")
        label = f"{ds.get('Modality', '') or '?'} series" + (
            f" {number}" if number not in (None, "") else ""
        )
        description = str(ds.get("SeriesDescription", "") or "").strip()
        if description and key not in hidden_keys and description.lower() != label.lower():
            # "MAMMO series 1" says the number already: "MG · MAMMO series 1"
            says_number = number not in (None, "") and str(number) in description.split()
            label = (
                f"{ds.get('Modality', '') or '?'} · {description}"
                if says_number
                else f"{label} · {description}"
            )
        base[key] = label
    # The study is named only where a patient has series alike in two of their studies.
    alike: dict[tuple[str, str], int] = defaultdict(int)
    for key, label in base.items():
        alike[(patient_of(headers[key]), label)] += 1
    labels: dict[str, str] = {}
    for key, label in base.items():
        ds = headers[key]
        patient = patient_of(ds)
        where = [patient_names[patient]] if len(patients) > 1 else []
        if alike[(patient, label)] > 1 and len(patients[patient]) > 1:
            where.append(f"study {study_numbers[(patient, str(ds.get('StudyInstanceUID', '')))]}")
        labels[key] = label + (" · " + ", ".join(where) if where else "")
    # Series alike in all of that (two series of one study with one number): number them.
    seen = list(labels.values())
    taken = set(seen)
    for key, label in labels.items():
        if seen.count(label) > 1:
            n = 1
            while f"{label} [{n}]" in taken:
                n += 1
            labels[key] = f"{label} [{n}]"
            taken.add(labels[key])
    if counts is not None:
        for key in labels:
            n = counts[key]
            labels[key] += f" ({n} file{'s' if n != 1 else ''})"
    return labels


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
        found: dict[str, _Series] = {}
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except Exception:  # noqa: S112 - not DICOM (a report, a key): the browser shows DICOM only
                continue
            uid = str(ds.get("SeriesInstanceUID", path.parent))
            series = found.setdefault(uid, _Series(ds))
            series.files.append((int(ds.get("InstanceNumber", 0) or 0), path))
            if key is not None and any(
                e.location is Location.HEADER and e.path == "SeriesDescription"
                for e in key.for_file(path.relative_to(self.folder).as_posix())
            ):
                series.description_is_phi = True
        labels = series_labels(
            {uid: s.first for uid, s in found.items()},
            {uid: len(s.files) for uid, s in found.items()},
            hidden=[uid for uid, s in found.items() if s.description_is_phi],
        )
        #: series UID -> its files in instance order, in the order of the menu
        self.series: dict[str, list[Path]] = {
            uid: [path for _, path in sorted(found[uid].files)] for uid in labels
        }
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


# --------------------------------------------------------------------------- audit logs (module 4)

#: The DICOM EventIDs (their codes) that touch a patient's data: Instances Accessed, Export, Query.
ACCESS_EVENTS = tuple(
    e.code for e in (_EventID.INSTANCES_ACCESSED, _EventID.EXPORT, _EventID.QUERY)
)

#: The columns :class:`AuditTable` shows, in order.
_AUDIT_COLUMNS = (
    "line",
    "time",
    "user",
    "user_name",
    "role",
    "event_meaning",
    "event_type_meaning",
    "outcome",
    "patient_id",
    "patient_name",
    "purpose",
    "reason",
    "count",
)


def filter_events(
    frame: pd.DataFrame,
    *,
    user: str | None = None,
    role: str | None = None,
    patient: str | None = None,
    event: str | None = None,
    outcome: int | None = None,
) -> pd.DataFrame:
    """The rows of an audit table (:func:`hipaa_lab.safeguards.audit.to_frame`) that match every
    filter given; ``None`` or ``""`` leaves a filter out.

    ``user`` matches the user ID exactly or any part of the user's name (case ignored);
    ``patient`` the patient ID exactly or any part of the patient's name; ``role`` exactly;
    ``event`` an EventID's code or its meaning (``"Export"``), or an EventTypeCode's code or its
    meaning (``"Login"``); ``outcome`` the EventOutcomeIndicator (0 success, 4, 8, 12).

    Examples
    --------
    >>> import pandas as pd
    >>> from hipaa_lab.safeguards.audit import EventID, EventType
    >>> query, login = EventID.QUERY, EventType.LOGIN
    >>> t = pd.DataFrame({"user": ["U1", "U2"], "user_name": ["Ames^Jo", "Bell^Al"],
    ...     "role": ["billing", "radiologist"], "patient_id": ["P1", None],
    ...     "patient_name": ["Cole^Di", None], "event": [query.code, "other"],
    ...     "event_meaning": [query.meaning, "User Authentication"], "event_type": [None, login.code],
    ...     "event_type_meaning": [None, login.meaning], "outcome": [0, 4]})
    >>> list(filter_events(t, user="ames").user), list(filter_events(t, event="login").user)
    (['U1'], ['U2'])
    >>> len(filter_events(t, patient="P1", outcome=4))
    0
    """
    keep = pd.Series(True, index=frame.index)

    def text(column: str) -> pd.Series:
        return frame[column].astype("string").fillna("")

    if user:
        keep &= (text("user") == user) | text("user_name").str.contains(
            user, case=False, regex=False
        )
    if patient:
        keep &= (text("patient_id") == patient) | text("patient_name").str.contains(
            patient, case=False, regex=False
        )
    if role:
        keep &= text("role") == role
    if event:
        wanted = event.casefold()
        keep &= (
            (text("event") == event)
            | (text("event_meaning").str.casefold() == wanted)
            | (text("event_type") == event)
            | (text("event_type_meaning").str.casefold() == wanted)
        )
    if outcome is not None:
        keep &= frame["outcome"].astype("Int64") == int(outcome)
    return frame[keep.fillna(False).astype(bool)]


def accesses_per_hour(frame: pd.DataFrame, users: Sequence[str] | None = None) -> pd.DataFrame:
    """How many times each user touched patients' data (:data:`ACCESS_EVENTS`) in each hour:
    one row per user (the busiest first, or ``users`` in their order), one column per hour
    (UTC, from the log's first hour to its last), zeros where there was nothing.

    Examples
    --------
    >>> import pandas as pd
    >>> read, query, export = ACCESS_EVENTS[0], ACCESS_EVENTS[2], ACCESS_EVENTS[1]
    >>> at = [pd.Timestamp(2026, 3, 2, h, m, tz="UTC") for h, m in [(7, 10), (9, 5), (7, 0), (7, 20)]]
    >>> t = pd.DataFrame({"user": ["U1", "U1", "U2", "U2"],
    ...     "event": [read, query, "login", export], "time": at})
    >>> accesses_per_hour(t).to_numpy().tolist(), list(accesses_per_hour(t).columns)
    ([[1, 0, 1], [1, 0, 0]], ['07:00', '08:00', '09:00'])
    """
    access = frame[frame["event"].isin(ACCESS_EVENTS)]
    if access.empty:
        return pd.DataFrame()
    hours = pd.to_datetime(access["time"], utc=True).dt.floor("h")
    counts = pd.crosstab(access["user"], hours)
    every = pd.date_range(hours.min(), hours.max(), freq="h")
    counts = counts.reindex(columns=every, fill_value=0)
    order = (
        list(users)
        if users is not None
        else list(counts.sum(axis=1).sort_values(ascending=False, kind="stable").index)
    )
    counts = counts.reindex(order, fill_value=0)
    counts.columns = pd.Index([t.strftime("%H:%M") for t in every], name="hour")
    counts.index.name = "user"
    return counts


def plot_accesses_per_hour(
    frame: pd.DataFrame,
    users: Sequence[str] | None = None,
    *,
    top: int = 25,
    ax: Axes | None = None,
) -> Axes:
    """A heat map of :func:`accesses_per_hour`: the ``top`` busiest users (or ``users``), a row
    each, with their role; darker is more accesses in that hour."""
    import matplotlib.pyplot as plt

    counts = accesses_per_hour(frame, users)
    if users is None:
        counts = counts.head(top)
    if ax is None:
        _, ax = plt.subplots(figsize=(12, max(3.0, 0.3 * len(counts) + 1.5)))
    roles = frame.drop_duplicates("user").set_index("user")["role"] if "role" in frame else None
    image = ax.imshow(counts.to_numpy(), aspect="auto", cmap="Reds", interpolation="nearest")
    ax.set_xticks(range(len(counts.columns)), list(counts.columns), rotation=90)
    labels = [f"{u} ({roles.get(u, '?')})" if roles is not None else str(u) for u in counts.index]
    ax.set_yticks(range(len(counts.index)), labels)
    ax.set_xlabel("hour (UTC)")
    ax.set_title("Accesses to patients' data per user per hour (query, read, export)")
    ax.figure.colorbar(image, ax=ax, label="accesses")
    return ax


class AuditTable:
    """A filterable view of an audit table: by user, role, patient, event and outcome.

    The filtering is :func:`filter_events`; this draws the controls and shows the first
    ``rows`` matching rows. With nobody looking (:func:`unattended`) it shows nothing.

    Parameters
    ----------
    frame
        The table, as :func:`hipaa_lab.safeguards.audit.to_frame` makes it.
    rows
        How many matching rows to show at once.
    """

    def __init__(self, frame: pd.DataFrame, rows: int = 50) -> None:
        import ipywidgets as w

        self.frame = frame
        self.rows = rows
        any_ = [("(any)", "")]
        self.user = w.Text(description="user", placeholder="ID or part of a name")
        self.patient = w.Text(description="patient", placeholder="ID or part of a name")
        self.role = w.Dropdown(
            description="role",
            options=any_ + [(r, r) for r in sorted(frame["role"].dropna().unique())],
        )
        events = sorted(
            set(frame["event_meaning"].dropna()) | set(frame["event_type_meaning"].dropna())
        )
        self.event = w.Dropdown(description="event", options=any_ + [(e, e) for e in events])
        outcomes = [(str(o), int(o)) for o in sorted(frame["outcome"].dropna().unique())]
        # (any) is -1, not None: a Dropdown whose value is None shows no option at all
        self.outcome = w.Dropdown(description="outcome", options=[("(any)", -1), *outcomes])
        self.count = w.HTML()
        self.output = w.Output()
        for control in (self.user, self.patient, self.role, self.event, self.outcome):
            control.observe(self._render, names="value")
        self.widget = w.VBox(
            [
                w.HBox([self.user, self.patient]),
                w.HBox([self.role, self.event, self.outcome]),
                self.count,
                self.output,
            ]
        )
        self._render()

    def selection(self) -> pd.DataFrame:
        """The rows that match the controls' values now."""
        return filter_events(
            self.frame,
            user=self.user.value.strip(),
            role=self.role.value,
            patient=self.patient.value.strip(),
            event=self.event.value,
            outcome=None if self.outcome.value == -1 else self.outcome.value,
        )

    def _render(self, *_: object) -> None:
        from IPython.display import display

        chosen = self.selection()
        self.count.value = f"{len(chosen)} of {len(self.frame)} events match"
        self.output.clear_output(wait=True)
        if unattended():
            return
        columns = [c for c in _AUDIT_COLUMNS if c in chosen.columns]
        with self.output:
            display(fit_table(chosen[columns].head(self.rows)))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if unattended():
            print(f"(an audit table of {len(self.frame)} events: open the notebook to filter it)")
            return
        display(self.widget)
