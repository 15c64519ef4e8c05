"""Training records at the scale of a health system: status, the CSV export and a full verify.

    python benchmarks/bench_records.py [--n 100000] [--modules 7] [--corpus DIR]

A ledger of ``--n`` employees, each of whom passed each of ``--modules`` modules (a roster entry,
then a graded and a passed entry per module: 1 + 2 x modules entries an employee), built once in
``--corpus`` (default ``benchmarks/.records-corpus/``, gitignored) and reused. Then, each against a
baseline measured in the same run on the same data:

* ``records status``: :func:`hipaa_lab.records.training_status` over every employee and module
  (aim: the 700,000 rows of 100,000 x 7 in under 10 s);
* the CSV export of those rows (:func:`hipaa_lab.records.export.write_csv`, what
  ``hipaa-lab records export --format csv`` writes) against ``pandas.DataFrame.to_csv`` of the
  same rows to a file (aim: within 2x);
* ``Ledger.verify`` (the whole chain) against a plain SHA-256 pass over the same entries' bytes
  (aim: at least 0.5x).
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


def main(argv: list[str] | None = None) -> None:
    import pandas as pd

    from hipaa_lab import records
    from hipaa_lab.ledger import Ledger
    from hipaa_lab.records import export

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="employees (default 100,000)")
    parser.add_argument("--modules", type=int, default=7, help="modules each (default 7)")
    parser.add_argument("--corpus", type=Path, default=HERE / ".records-corpus")
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
    with Ledger(db) as ledger:
        entries = len(ledger)
        t_status, rows = timed(
            lambda: records.training_status(ledger, curricula, dt.date(2026, 6, 1))
        )
        print(f"\n{entries} ledger entries; {len(rows)} status rows")
        print(f"status                      {t_status:7.2f} s   (aim: under 10 s for 700,000 rows)")

        folder = Path(tempfile.mkdtemp(prefix="bench-records-"))

        def ours() -> int:  # what `hipaa-lab records export --format csv` writes
            return export.write_csv(rows, folder / "ours.csv").stat().st_size

        frame = pd.DataFrame(
            {
                "employee_id": [r.employee_id for r in rows],
                "name": [r.name for r in rows],
                "department": [r.department for r in rows],
                "role": [r.role for r in rows],
                "module": [r.module for r in rows],
                "status": [r.status.value for r in rows],
                "score": [r.score for r in rows],
                "passed_on": [r.passed_on for r in rows],
                "due_on": [r.due_on for r in rows],
            }
        )
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
    print()
    print(f"ratio status rows per second            {len(rows) / t_status:10.0f}")
    print(f"ratio csv / pandas to_csv               {t_csv / t_pandas:10.2f}x  (aim <= 2x)")
    print(f"ratio plain hash pass / verify          {t_hash / t_verify:10.2f}x  (aim >= 0.5x)")
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} {load[1]:.2f} at end")


if __name__ == "__main__":
    sys.exit(main())
