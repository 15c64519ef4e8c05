"""The audit log's views in hipaa_lab.widgets: the filter, the accesses per hour, the table widget."""

import matplotlib
import pandas as pd
import pytest

from hipaa_lab.safeguards.audit import EventID, EventType, Outcome, to_frame
from hipaa_lab.safeguards.workday import generate
from hipaa_lab.widgets import (
    ACCESS_EVENTS,
    AuditTable,
    accesses_per_hour,
    filter_events,
    fit_table,
    plot_accesses_per_hour,
)

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def frame():
    return to_frame(generate(3, staff=45, patients=60).events)


def test_no_filter_keeps_every_row(frame):
    assert filter_events(frame).equals(frame)
    assert filter_events(frame, user="", role="", patient="", event="").equals(frame)


def test_each_filter_keeps_exactly_the_matching_rows(frame):
    row = frame[frame.patient_id.notna()].iloc[0]
    cases = {
        "role": (dict(role="researcher"), frame.role == "researcher"),
        "user id": (dict(user=row.user), frame.user == row.user),
        "user name": (
            dict(user=row.user_name.split("^")[0].upper()),
            frame.user_name.str.contains(row.user_name.split("^")[0], case=False, regex=False),
        ),
        "patient id": (dict(patient=row.patient_id), frame.patient_id == row.patient_id),
        "event code": (dict(event=EventID.EXPORT.code), frame.event == EventID.EXPORT.code),
        "event meaning": (dict(event="export"), frame.event == EventID.EXPORT.code),
        "event type": (
            dict(event=EventType.EMERGENCY_OVERRIDE_STARTED.meaning),
            frame.event_type == EventType.EMERGENCY_OVERRIDE_STARTED.code,
        ),
        "outcome": (
            dict(outcome=Outcome.MINOR_FAILURE.value),
            frame.outcome == Outcome.MINOR_FAILURE.value,
        ),
    }
    for name, (filters, expected) in cases.items():
        got = filter_events(frame, **filters)
        assert list(got.line) == list(frame[expected.fillna(False).astype(bool)].line), name
        assert 0 < len(got) < len(frame), name


def test_filters_combine(frame):
    got = filter_events(frame, role="researcher", event="Export")
    assert len(got) and set(got.role) == {"researcher"} and set(got.event) == {EventID.EXPORT.code}
    assert len(got) < len(filter_events(frame, event="Export")) + 1
    assert filter_events(frame, role="billing", event="Export").empty


def test_accesses_per_hour_counts_every_access_once(frame):
    counts = accesses_per_hour(frame)
    access = frame[frame.event.isin(ACCESS_EVENTS)]
    assert counts.to_numpy().sum() == len(access)
    assert counts.sum(axis=1).to_dict() == access.user.value_counts().to_dict()
    assert list(counts.sum(axis=1)) == sorted(counts.sum(axis=1), reverse=True)
    hours = pd.to_datetime(access.time, utc=True).dt.floor("h")
    assert len(counts.columns) == int((hours.max() - hours.min()).total_seconds() // 3600) + 1


def test_accesses_per_hour_keeps_the_users_asked_for_in_order(frame):
    users = ["nobody", frame.user.iloc[0]]
    counts = accesses_per_hour(frame, users)
    assert list(counts.index) == users and counts.loc["nobody"].sum() == 0


def test_the_plot_shows_the_busiest_users(frame):
    ax = plot_accesses_per_hour(frame, top=7)
    assert len(ax.get_yticklabels()) == 7
    busiest = accesses_per_hour(frame).index[0]
    assert ax.get_yticklabels()[0].get_text().startswith(busiest)


def test_the_table_widget_filters_with_its_controls(frame, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("HIPAA_LAB_SANDBOX", raising=False)
    table = AuditTable(frame)
    assert table.count.value == f"{len(frame)} of {len(frame)} events match"
    table.role.value = "researcher"
    table.event.value = "Export"
    expected = filter_events(frame, role="researcher", event="Export")
    assert table.selection().equals(expected)
    assert table.count.value == f"{len(expected)} of {len(frame)} events match"
    table.user.value = "  " + expected.user.iloc[0] + " "
    assert set(table.selection().user) == {expected.user.iloc[0]}
    table.user.value, table.role.value, table.event.value = "", "", ""
    assert table.outcome.label == "(any)" and table.selection().equals(frame)
    table.outcome.value = 4
    assert table.selection().equals(filter_events(frame, outcome=4))


def test_the_table_widget_draws_nothing_when_nobody_looks(frame, monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    AuditTable(frame)._ipython_display_()
    assert "open the notebook to filter it" in capsys.readouterr().out


def test_fit_table_shows_every_text_whole_and_wraps_within_the_output_area(frame):
    """A DataFrame cut module 3's reasons with "..." and ran past the output area; the table
    shows each text in full, no index, times to the second, blanks for missing values,
    escaped, with line breaks allowed after underscores, carets and dots."""
    long = (
        "U0101 (radiologist) may not read study 2.25.1 for treatment: " + "no rule allows it " * 4
    )
    data = pd.DataFrame(
        {
            "time": frame.time.head(2).to_numpy(),
            "reason": [long, "<b>bold</b>"],
            "patient_id": [None, "P1"],
        }
    )
    html = fit_table(data).to_html()
    assert long.replace(".", ".<wbr>") in html and "..." not in html
    assert "&lt;b&gt;bold" in html and "<b>bold" not in html
    assert frame.time.iloc[0].strftime("%Y-%m-%d %H:%M:%S") in html and "+00:00" not in html
    assert "None" not in html and "nan" not in html
    assert "patient_<wbr>id" in html and "overflow-wrap: break-word" in html
    assert ">0<" not in html  # no row index
