"""The manager's dashboard as plots (PNG): completion by department and module, and overdue over
time.

:func:`overdue_over_time` counts overdue records as of each day of a range, as
:func:`~hipaa_lab.records.status.training_status` would as of that day (status is derived, never
stored, so the past is recomputed from the ledger as it was known then), from one read of the
ledger for all the days (:func:`~hipaa_lab.records.status.standings_over_time`).
:func:`write_dashboard` draws both plots.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from hipaa_lab.ledger import Ledger
from hipaa_lab.records.curricula import Curricula
from hipaa_lab.records.export import write_whole
from hipaa_lab.records.status import Standing, TrainingRecord, standings_over_time

__all__ = [
    "COMPLETION_PNG",
    "OVERDUE_PNG",
    "completion_counts",
    "overdue_over_time",
    "write_dashboard",
]

COMPLETION_PNG = "completion-by-department.png"  #: the file name of the completion plot
OVERDUE_PNG = "overdue-over-time.png"  #: the file name of the overdue plot
#: A colour per standing: green current, amber due soon, red overdue, grey never trained.
_COLOURS = {
    Standing.CURRENT: "#2e7d32",
    Standing.DUE_SOON: "#f9a825",
    Standing.OVERDUE: "#c62828",
    Standing.NEVER_TRAINED: "#9e9e9e",
}


def completion_counts(
    records: Sequence[TrainingRecord],
) -> dict[tuple[str, str], Counter[Standing]]:
    """How many records of each department and module stand where, sorted by department."""
    counts: dict[tuple[str, str], Counter[Standing]] = {}
    for r in sorted(records, key=lambda r: (r.department, r.module)):
        counts.setdefault((r.department, r.module), Counter())[r.status] += 1
    return counts


def overdue_over_time(
    ledger: Ledger, curricula: Curricula, days: Sequence[dt.date]
) -> list[tuple[dt.date, int]]:
    """The number of overdue records as of each of ``days``: on each, the overdue records of
    :func:`~hipaa_lab.records.status.training_status` as of that day, all from one read of the
    ledger."""
    return [
        (day, counts[Standing.OVERDUE])
        for day, counts in standings_over_time(ledger, curricula, days)
    ]


def write_dashboard(
    records: Sequence[TrainingRecord],
    overdue: Sequence[tuple[dt.date, int]],
    out: str | os.PathLike[str],
    *,
    as_of: dt.date,
) -> list[Path]:
    """Draw :data:`COMPLETION_PNG` (a stacked bar per department and module, by standing, as of
    ``as_of``) and :data:`OVERDUE_PNG` (``overdue``, from :func:`overdue_over_time`) into ``out``.

    Returns the files written.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    out = Path(out)
    counts = completion_counts(records)
    labels = [f"{d}\n{m}" for d, m in counts]
    fig = Figure(figsize=(max(7.0, 1.3 * len(labels) + 2), 5.2), layout="constrained")
    ax = fig.subplots()
    bottom = [0] * len(labels)
    for standing in Standing:
        heights = [c[standing] for c in counts.values()]
        ax.bar(
            range(len(labels)),
            heights,
            bottom=bottom,
            color=_COLOURS[standing],
            label=standing.value,
            edgecolor="white",
            linewidth=0.5,
        )
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_xticks(range(len(labels)), labels, fontsize=8, rotation=30, ha="right")
    ax.set_ylabel("employees")
    ax.set_title(f"Training status by department and module, as of {as_of.isoformat()}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    completion = out / COMPLETION_PNG
    write_whole(completion, lambda tmp: fig.savefig(tmp, format="png", dpi=110))

    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    ax = fig.subplots()
    days = [d for d, _ in overdue]
    xs = [(d - days[0]).days for d in days] if days else []
    counts_ = [n for _, n in overdue]
    ax.plot(xs, counts_, color=_COLOURS[Standing.OVERDUE], marker="o", ms=3)
    ax.fill_between(xs, counts_, color=_COLOURS[Standing.OVERDUE], alpha=0.15)
    step = max(1, len(days) // 8)
    ax.set_xticks(xs[::step], [d.isoformat() for d in days[::step]], fontsize=8, rotation=30)
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("overdue (employee, module)")
    span = f"{days[0].isoformat()} to {days[-1].isoformat()}" if days else "no days"
    ax.set_title(f"Overdue training over time, {span}")
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    overdue_png = out / OVERDUE_PNG
    write_whole(overdue_png, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    return [completion, overdue_png]
