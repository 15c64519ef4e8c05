"""Training records at the scale of a health system: status, each export and a full verify.

    python benchmarks/bench_records.py [--n 100000] [--modules 7] [--corpus DIR]
                                       [--xlsx-rows N] [--pdf-rows N]

A ledger of ``--n`` employees, each of whom passed each of ``--modules`` modules (a roster entry,
then a graded and a passed entry per module: 1 + 2 x modules entries an employee), built once in
``--corpus`` (default ``benchmarks/.records-corpus/``, gitignored) and reused. Then, each against a
baseline measured in the same run on the same data (status as of one fixed day):

* ``records status``: :func:`hipaa_lab.records.training_status` over every employee and module
  (aim: the 700,000 rows of 100,000 x 7 in under 10 s);
* the CSV export of those rows (:func:`hipaa_lab.records.export.write_csv`, what
  ``hipaa-lab records export --format csv`` writes) against ``pandas.DataFrame.to_csv`` of the
  same rows, the CSV's 15 columns, to a file (aim: within 2x);
* ``Ledger.verify`` (the whole chain) against a plain SHA-256 pass over the same entries' bytes
  (aim: at least 0.5x).

The other formats of ``hipaa-lab records export`` (:data:`~hipaa_lab.records.export.EXPORT_FORMATS`),
for which the issue sets no aim (their ratio lines say so), each timed once:

* **xlsx**: :func:`~hipaa_lab.records.export.write_xlsx` of the first ``--xlsx-rows`` rows
  (default all; openpyxl takes minutes for 700,000) against pandas ``to_excel`` (openpyxl,
  ``index=False``) of the same rows of the same frame, into the same three sheets in one
  ``ExcelWriter`` (the records, the overdue ones, counts by department, module and standing), so
  both write the same cells.
* **xapi**: :func:`~hipaa_lab.records.export.write_xapi` against the same statements built as
  plain dict literals in one loop (uuid5 ids included) and written with one ``json.dumps``; the
  run checks that both files hold the same bytes but for the line breaks between statements.
  Chosen over pandas ``to_json(orient="records")``, which writes flat rows (no nesting, no ids:
  not the same output), and over ``json.dump`` to the file, which streams
  through the standard library's pure-Python encoder and would flatter the export several times.
  The ratio is the cost of the export's code over the floor of building and encoding that JSON.
* **pdf**: :func:`~hipaa_lab.records.certificate.write_certificates` of the first ``--pdf-rows``
  passes (default 50: 700,000 certificates are out of reach), per certificate, against a plain
  fpdf2 one-page document of the same text per page (the two pages' text of each certificate, the
  receipt's JSON included, in the DejaVu Sans TrueType font a name outside Latin-1 needs; no
  frame, no attachment, no receipt to compute; one page rendered untimed first, so fpdf2's font
  code is loaded for both). Printed too: the checkpoint (once), the ledger read that makes the
  receipts (once per export), an inclusion proof (10 timed), and the projected total for every
  pass: checkpoint + one read + the sample's time a certificate x passes.
* **dashboard**: :func:`~hipaa_lab.records.dashboard.overdue_over_time` over the
  ``DASHBOARD_WEEKS`` + 1 weekly days of ``write_export`` plus
  :func:`~hipaa_lab.records.dashboard.write_dashboard`, against the same overdue counts made by
  pandas (the ledger read once, a groupby of the passes up to each day against the policy's
  days; only the rules this corpus exercises: no waiver, retraining, assignment or termination,
  which it asserts; ``overdue_over_time`` reads the ledger once too, for all the days, and
  applies every rule) and the same two plots drawn by matplotlib (the heat map of % current by
  department and module from a pandas pivot, each cell annotated, at the same size; a line), at
  the same dpi. The run checks that the counts are the same.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _modules(m: int) -> list[str]:
    return [f"m{i:02d}-module-{i}" for i in range(1, m + 1)]


def build(path: Path, n: int, m: int) -> None:
    """The corpus ledger: n employees, each with a graded and a passed entry per module."""
    from hipaa_lab import records
    from hipaa_lab.ledger import Ledger

    roles = list(records.Role)
    with Ledger(path) as ledger:
        employees = [
            records.Employee(
                f"E{i:07d}",
                f"Employee {i}",
                f"e{i}@example.org",
                roles[i % len(roles)],
                f"Department {i % 40}",
                dt.date(2020, 1, 1) + dt.timedelta(days=i % 1500),
                records.EmploymentStatus.ACTIVE,
            )
            for i in range(n)
        ]
        records.import_roster(ledger, employees, source="bench")
        batch: list[tuple[str, dict[str, object]]] = []
        for i, e in enumerate(employees):
            for k, module in enumerate(_modules(m)):
                day = dt.date(2025, 1, 1) + dt.timedelta(days=(i + 31 * k) % 700)
                base = {"at": f"{day.isoformat()}T09:00:00+00:00", "employee_id": e.employee_id,
                        "module": module, "version": "v1"}  # fmt: skip
                score = {"max_score": 10.0, "score": 8.0 + (i + k) % 3}
                batch.append(("training.graded", {**base, **score}))
                batch.append(("training.passed", {**base, **score, "threshold": 0.8}))
            if len(batch) >= 50_000:
                ledger.append_many(batch)
                batch = []
        if batch:
            ledger.append_many(batch)


def timed(fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def _line(label: str, ratio: float, note: str) -> str:
    """A ``ratio ...`` line, aligned as the others."""
    return f"ratio {label:<34}{ratio:10.2f}x  ({note})"


def _frame(pd, rows):  # type: ignore[no-untyped-def]
    """The status rows as a DataFrame with the CSV's columns, in its order, typed as the
    records hold them (the baseline of the CSV and XLSX exports)."""
    from hipaa_lab.records import export

    columns = {
        "employee_id": [r.employee_id for r in rows],
        "name": [r.name for r in rows],
        "email": [r.email for r in rows],
        "department": [r.department for r in rows],
        "role": [r.role for r in rows],
        "module": [r.module for r in rows],
        "module_version": [r.module_version for r in rows],
        "status": [r.status.value for r in rows],
        "score": [r.score for r in rows],
        "passed_date": [r.passed_on for r in rows],
        "due_date": [r.due_on for r in rows],
        "attested": [r.attested for r in rows],
        "waived": [r.waived for r in rows],
        "ledger_entry": pd.array([r.entry_index for r in rows], dtype="Int64"),
        "ledger_hash": [r.entry_hash for r in rows],
    }
    assert tuple(columns) == export.EXPORT_COLUMNS
    return pd.DataFrame(columns)


def _xlsx(pd, rows, frame, limit: int | None) -> str:  # type: ignore[no-untyped-def]
    """``write_xlsx`` against pandas ``to_excel`` (openpyxl) of the same rows, the same three
    sheets: the records, the overdue ones, the counts by department, module and standing."""
    from hipaa_lab.records import export

    k = len(rows) if limit is None else max(0, min(limit, len(rows)))
    sample, part = rows[:k], frame.iloc[:k]
    folder = Path(tempfile.mkdtemp(prefix="bench-records-xlsx-"))

    def baseline() -> None:
        overdue = part[part["status"] == "overdue"]
        summary = part.groupby(["department", "module", "status"]).size().unstack(fill_value=0)
        with pd.ExcelWriter(folder / "pandas.xlsx", engine="openpyxl") as writer:
            part.to_excel(writer, sheet_name="Records", index=False)
            overdue.to_excel(writer, sheet_name="Overdue", index=False)
            summary.to_excel(writer, sheet_name="By department")

    try:
        t_ours, _ = timed(lambda: export.write_xlsx(sample, folder / "ours.xlsx"))
        t_pandas, _ = timed(baseline)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\nxlsx export ({k} of {len(rows)} rows)")
    print(f"xlsx export                 {t_ours:7.2f} s")
    print(f"pandas to_excel (baseline)  {t_pandas:7.2f} s   (openpyxl, the same three sheets)")
    return _line("xlsx / pandas to_excel", t_ours / t_pandas, f"no aim set; {k} rows timed")


def _xapi(rows, curricula) -> str:  # type: ignore[no-untyped-def]
    """``write_xapi`` against the same statements built as plain dict literals in one loop and
    written with one ``json.dumps``."""
    import json
    import uuid

    from hipaa_lab.records import export

    titles = curricula.titles
    base, verbs = export.XAPI_BASE, export.XAPI_VERBS
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, base)
    activity_type = export._activity("", "")["definition"]["type"]  # ADL module, a constant
    folder = Path(tempfile.mkdtemp(prefix="bench-records-xapi-"))

    def baseline() -> tuple[int, int]:
        out = []
        for r in rows:
            if r.score is None:
                continue
            passed = r.passed_on is not None
            day = r.passed_on if passed else r.graded_on
            assert day is not None and r.email  # the corpus: every graded record dated, emailed
            extensions: dict[str, object] = {
                f"{base}/ext/module-version": r.module_version,
                f"{base}/ext/department": r.department,
            }
            if passed and r.entry_hash:
                extensions[f"{base}/ext/ledger-entry-hash"] = r.entry_hash
                extensions[f"{base}/ext/ledger-entry-index"] = r.entry_index
            for verb in ("completed", "passed" if passed else "failed"):
                key = f"{r.employee_id}|{r.module}|{r.module_version}|{day}|{r.entry_hash}|{verb}"
                out.append(
                    {
                        "id": str(uuid.uuid5(namespace, key)),
                        "actor": {
                            "objectType": "Agent",
                            "mbox": f"mailto:{r.email}",
                            "name": r.name,
                        },
                        "verb": {"id": verbs[verb], "display": {"en-US": verb}},
                        "object": {
                            "objectType": "Activity",
                            "id": f"{base}/activities/module/{r.module}",
                            "definition": {
                                "name": {"en-US": titles.get(r.module, r.module)},
                                "type": activity_type,
                            },
                        },
                        "result": {
                            "score": {
                                "scaled": round(r.score / 100.0, 4),
                                "raw": r.score,
                                "min": 0,
                                "max": 100,
                            },
                            "success": passed,
                            "completion": True,
                        },
                        "context": {"platform": "hipaa-lab", "extensions": extensions},
                        "timestamp": f"{day.isoformat()}T00:00:00Z",
                        "version": "1.0.3",
                    }
                )
        path = folder / "plain.json"
        path.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
        return len(out), path.stat().st_size

    try:
        t_ours, path = timed(lambda: export.write_xapi(rows, folder / "ours.json", titles=titles))
        size = path.stat().st_size
        t_plain, (statements, plain_size) = timed(baseline)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    # the same statements: ours puts a line break where json.dumps puts a space between them,
    # and three more around the list
    same = "yes" if size == plain_size + 3 or (statements == 0 and size == 3) else "NO"
    print(f"\nxapi export ({statements} statements; the same bytes as the baseline's: {same})")
    print(f"xapi export                 {t_ours:7.2f} s")
    print(f"plain dicts + json.dumps    {t_plain:7.2f} s   (baseline: the same statements)")
    return _line("xapi / plain dicts json.dumps", t_ours / t_plain, "no aim set")


def _certificate_text(r, receipt, title: str) -> str:  # type: ignore[no-untyped-def]
    """The text a certificate prints, its two pages', as plain lines."""
    import json

    cp = receipt.checkpoint
    return "\n".join(
        [
            "CERTIFICATE OF TRAINING",
            "HIPAA Privacy, Security and Breach Notification Rules",
            "Workforce training, 45 CFR 164.530(b) and 164.308(a)(5)",
            "This certifies that",
            r.name,
            f"employee {r.employee_id}  ·  {r.department}  ·  {r.role}",
            "has completed and passed the training module",
            title,
            f"{r.module}  ·  version {r.module_version[:16]}",
            f"on {r.passed_on.day} {r.passed_on:%B %Y} with a score of {r.score:g}%.",
            f"Issued {cp.time[:10]} from the organisation's tamper-evident training ledger",
            "Tamper-evident record",
            f"Ledger entry {r.entry_index}  (SHA-256 {r.entry_hash})",
            f"Module version {r.module_version}",
            f"Signed checkpoint {cp.size} entries, Merkle root {cp.root.hex()}, signed {cp.time}",
            "Check it: hipaa-lab records verify-receipt THIS.pdf --public-key ledger.pub",
            "Inclusion receipt",
            json.dumps(json.loads(receipt.to_json()), indent=2),
        ]
    )


def _pdf(ledger, rows, curricula, limit: int) -> str:  # type: ignore[no-untyped-def]
    """``write_certificates`` of the first ``limit`` passes against a plain fpdf2 page of the
    same text each, per certificate and per page; the total for every pass projected."""
    import matplotlib
    from fpdf import FPDF

    from hipaa_lab.records import certificate

    passes = [r for r in rows if r.passed_on is not None and r.entry_index is not None]
    sample = passes[: max(1, limit)]
    if not sample:
        return _line("pdf certificate / plain page", float("nan"), "no passes to certify")
    k = len(sample)
    titles = curricula.titles
    folder = Path(tempfile.mkdtemp(prefix="bench-records-pdf-"))
    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    try:
        t_checkpoint, cp = timed(ledger.checkpoint)
        # the part of write_certificates done once whatever the number of passes: the ledger
        # read and its leaves hashed (receipts of no entry)
        t_read, _ = timed(lambda: ledger.receipts([], cp))
        few = [r.entry_index for r in sample[:10]]
        t_few, _ = timed(lambda: ledger.receipts(few, cp))
        t_ours, written = timed(
            lambda: certificate.write_certificates(
                sample, ledger, cp, folder / "ours", titles=titles
            )
        )
        assert len(written) == k, (len(written), k)
        texts = [
            _certificate_text(r, certificate.read_receipt(p), titles.get(r.module, r.module))
            for r, p in zip(sample, written, strict=True)
        ]
        (folder / "plain").mkdir()

        def baseline(texts: list[str]) -> int:
            pages = 0
            for i, text in enumerate(texts):
                pdf = FPDF(format="A4")
                pdf.set_auto_page_break(auto=False)
                pdf.add_font("Sans", "", ttf)
                pdf.add_page()
                pdf.set_font("Sans", size=7)
                pdf.multi_cell(0, 3.2, text)
                (folder / "plain" / f"{i}.pdf").write_bytes(bytes(pdf.output()))
                pages += pdf.pages_count
            return pages

        baseline(texts[:1])  # a first page, untimed: fpdf2's font code loaded, as for ours
        t_plain, pages = timed(lambda: baseline(texts))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    per_cert, per_page = t_ours / k, t_plain / pages
    per_proof = (t_few - t_read) / len(few)
    projected = t_checkpoint + t_read + (t_ours - t_read) / k * len(passes)
    print(f"\npdf certificates ({k} of {len(passes)} passes timed)")
    print(f"checkpoint (once)           {t_checkpoint:7.2f} s")
    print(f"ledger read for receipts    {t_read:7.2f} s   (once per export: the leaves hashed)")
    print(f"write_certificates          {t_ours:7.2f} s   {1000 * per_cert:8.1f} ms a certificate")
    print(f"  of it, an inclusion proof           {1000 * per_proof:8.1f} ms   ({len(few)} timed)")
    print(f"plain fpdf2 page (baseline) {t_plain:7.2f} s   {1000 * per_page:8.1f} ms a page")
    print(
        f"projected, all {len(passes)} passes  {projected:9.0f} s   (checkpoint, one ledger read, "
        "then the sample's time a certificate)"
    )
    return _line(
        "pdf certificate / plain page",
        per_cert / per_page,
        f"no aim set; {k} timed, all {len(passes)} projected at {projected:.0f} s",
    )


def _dashboard(pd, ledger, rows, curricula, as_of: dt.date) -> str:  # type: ignore[no-untyped-def]
    """``overdue_over_time`` + ``write_dashboard`` against the same counts by pandas (the ledger
    read once, a groupby a day) and the same two plots drawn from them by matplotlib."""
    import numpy as np
    from matplotlib.figure import Figure

    from hipaa_lab.records import Standing, dashboard, export
    from hipaa_lab.records.events import RecordKind

    days = [as_of - dt.timedelta(weeks=w) for w in range(export.DASHBOARD_WEEKS, -1, -1)]
    folder = Path(tempfile.mkdtemp(prefix="bench-records-dashboard-"))
    policy = curricula.policy
    on_roster = {RecordKind.EMPLOYEE_ADDED.value, RecordKind.EMPLOYEE_CHANGED.value}
    unsupported = {
        k.value
        for k in (
            RecordKind.EMPLOYEE_REMOVED,
            RecordKind.ASSIGNED,
            RecordKind.FAILED,
            RecordKind.WAIVED,
            RecordKind.RETRAINING_REQUIRED,
        )
    }

    def counts() -> list[tuple[dt.date, int]]:
        # the rules this corpus needs: no waiver, retraining, assignment or termination in it
        employees: dict[str, tuple[str, str]] = {}
        passed: list[tuple[str, str, str]] = []
        for _i, _time, kind, body, _digest in ledger.bodies():
            if kind == RecordKind.PASSED.value:
                passed.append((body["employee_id"], body["module"], body["at"][:10]))
            elif kind in on_roster:
                e = body["employee"]
                employees[e["employee_id"]] = (e["hire_date"], e["role"])
            else:
                assert kind not in unsupported, kind
        grid = pd.DataFrame(
            [
                (employee_id, hire, module)
                for employee_id, (hire, role) in employees.items()
                for module in curricula.modules_for(role)
            ],
            columns=["employee_id", "hire", "module"],
        )
        first_due = pd.to_datetime(grid["hire"]) + pd.Timedelta(days=policy.new_hire_days)
        facts = pd.DataFrame(passed, columns=["employee_id", "module", "day"])
        facts["day"] = pd.to_datetime(facts["day"])
        out = []
        for day in days:
            when = pd.Timestamp(day)
            last = facts[facts["day"] <= when].groupby(["employee_id", "module"])["day"].max()
            on = grid.join(last, on=["employee_id", "module"])["day"]
            due = (on + pd.Timedelta(days=policy.refresher_days)).fillna(first_due)
            out.append((day, int(np.sum(when > due))))
        return out

    def plots(overdue: list[tuple[dt.date, int]]) -> None:
        # the same heat map: % current by department and module (a pandas pivot), each cell
        # annotated with the share, current of all and overdue, at the same size
        frame = pd.DataFrame(
            {
                "department": [r.department for r in rows],
                "module": [r.module for r in rows],
                "current": [r.status is Standing.CURRENT for r in rows],
                "overdue": [r.status is Standing.OVERDUE for r in rows],
            }
        )
        table = frame.groupby(["department", "module"]).agg(
            current=("current", "sum"), overdue=("overdue", "sum"), total=("current", "size")
        )
        share = (100 * table["current"] / table["total"]).unstack()
        width = min(14.0, 2.8 + 1.2 * max(share.shape[1], 3))
        fig = Figure(figsize=(width, 1.9 + 0.62 * max(share.shape[0], 2)), layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(share.to_numpy(), cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
        for (d, m), row in table.iterrows():
            i, j = share.index.get_loc(d), share.columns.get_loc(m)
            ax.text(j, i - 0.17, f"{share.iat[i, j]:.0f}%", ha="center", fontweight="bold")
            text = f"{row['current']}/{row['total']} current\n{row['overdue']} overdue"
            ax.text(j, i + 0.2, text, ha="center", fontsize=7.5)
        ax.set_xticks(range(share.shape[1]), share.columns, fontsize=8)
        ax.set_yticks(range(share.shape[0]), share.index, fontsize=9)
        fig.colorbar(image, ax=ax, label="% current")
        fig.savefig(folder / "completion.png", format="png", dpi=110)
        fig = Figure(figsize=(8.0, 4.2), layout="constrained")
        ax = fig.subplots()
        xs, ys = [(d - days[0]).days for d, _ in overdue], [n for _, n in overdue]
        ax.plot(xs, ys, marker="o", ms=3)
        ax.fill_between(xs, ys, alpha=0.15)
        fig.savefig(folder / "overdue.png", format="png", dpi=110)

    try:
        t_over, overdue = timed(lambda: dashboard.overdue_over_time(ledger, curricula, days))
        t_draw, _ = timed(
            lambda: dashboard.write_dashboard(rows, overdue, folder / "ours", as_of=as_of)
        )
        t_counts, theirs = timed(counts)
        t_plots, _ = timed(lambda: plots(theirs))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    same = "yes" if theirs == overdue else "NO"
    ours, base = t_over + t_draw, t_counts + t_plots
    print(f"\ndashboard ({len(days)} days of overdue counts; the same counts as pandas': {same})")
    print(f"dashboard                   {ours:7.2f} s")
    print(f"  of it, overdue_over_time  {t_over:7.2f} s   (the ledger read once for all days)")
    print(f"  of it, write_dashboard    {t_draw:7.2f} s")
    print(f"pandas + matplotlib (base)  {base:7.2f} s")
    print(
        f"  of it, counts by groupby  {t_counts:7.2f} s   (the ledger read once, a groupby a day)"
    )
    print(f"  of it, the two plots      {t_plots:7.2f} s")
    return _line("dashboard / pandas + matplotlib", ours / base, "no aim set")


def main(argv: list[str] | None = None) -> None:
    import pandas as pd

    from hipaa_lab import records
    from hipaa_lab.ledger import Ledger
    from hipaa_lab.records import export

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="employees (default 100,000)")
    parser.add_argument("--modules", type=int, default=7, help="modules each (default 7)")
    parser.add_argument("--corpus", type=Path, default=HERE / ".records-corpus")
    parser.add_argument(
        "--xlsx-rows",
        type=int,
        default=None,
        help="status rows the XLSX export times (default all)",
    )
    parser.add_argument(
        "--pdf-rows", type=int, default=50, help="passes the PDF certificates time (default 50)"
    )
    args = parser.parse_args(argv)

    args.corpus.mkdir(parents=True, exist_ok=True)
    db = args.corpus / f"records-{args.n}x{args.modules}.db"
    if not db.exists():
        start = time.perf_counter()
        build(db.with_suffix(".part"), args.n, args.modules)
        for suffix in ("", ".signing-key"):
            part = Path(str(db.with_suffix(".part")) + suffix)
            if part.exists():
                os.replace(part, str(db) + suffix)
        print(f"built {db.name} in {time.perf_counter() - start:.0f} s")
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} at start")
    curricula = records.Curricula(
        records.Policy(), {role: tuple(_modules(args.modules)) for role in records.Role}
    )
    as_of = dt.date(2026, 6, 1)
    with Ledger(db) as ledger:
        entries = len(ledger)
        t_status, rows = timed(lambda: records.training_status(ledger, curricula, as_of))
        print(f"\n{entries} ledger entries; {len(rows)} status rows")
        print(f"status                      {t_status:7.2f} s   (aim: under 10 s for 700,000 rows)")

        folder = Path(tempfile.mkdtemp(prefix="bench-records-"))

        def ours() -> int:  # what `hipaa-lab records export --format csv` writes
            return export.write_csv(rows, folder / "ours.csv").stat().st_size

        frame = _frame(pd, rows)
        t_csv, _ = timed(ours, 2)
        t_pandas, _ = timed(lambda: frame.to_csv(folder / "pandas.csv", index=False), 2)
        shutil.rmtree(folder, ignore_errors=True)
        print(f"csv export                  {t_csv:7.2f} s")
        print(f"pandas to_csv (baseline)    {t_pandas:7.2f} s")

        t_verify, result = timed(ledger.verify, 2)
        assert result.ok, result.reason

        def plain_pass() -> int:  # read the same entries from the same database, hash each
            return sum(len(hashlib.sha256(d.encode()).digest()) for _i, d, _h in ledger._rows())

        t_hash, _ = timed(plain_pass, 2)
        data = [d.encode() for _i, d, _h in ledger._rows()]
        t_memory, _ = timed(lambda: [hashlib.sha256(d).digest() for d in data], 2)
        print(f"verify (whole chain)        {t_verify:7.2f} s")
        print(
            f"plain SHA-256 pass          {t_hash:7.2f} s   (baseline: the same rows read and hashed)"
        )
        print(f"  of it, hashing alone      {t_memory:7.2f} s   (the entries already in memory)")

        ratios = [
            _xlsx(pd, rows, frame, args.xlsx_rows),
            _xapi(rows, curricula),
            _pdf(ledger, rows, curricula, args.pdf_rows),
            _dashboard(pd, ledger, rows, curricula, as_of),
        ]
    print()
    print(f"ratio status rows per second            {len(rows) / t_status:10.0f}")
    print(f"ratio csv / pandas to_csv               {t_csv / t_pandas:10.2f}x  (aim <= 2x)")
    print(f"ratio plain hash pass / verify          {t_hash / t_verify:10.2f}x  (aim >= 0.5x)")
    for line in ratios:
        print(line)
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} at end")


if __name__ == "__main__":
    sys.exit(main())
