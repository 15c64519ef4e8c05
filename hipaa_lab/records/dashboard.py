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
from typing import TYPE_CHECKING

from hipaa_lab.ledger import Ledger
from hipaa_lab.records.curricula import Curricula
from hipaa_lab.records.export import write_whole
from hipaa_lab.records.status import Standing, TrainingRecord, standings_over_time

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
    tally = Counter((r.department, r.module, r.status) for r in records)  # then sort the few
    counts: dict[tuple[str, str], Counter[Standing]] = {}
    for (department, module, status), n in sorted(tally.items(), key=lambda kv: kv[0][:2]):
        counts.setdefault((department, module), Counter())[status] = n
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


def _module_label(module: str) -> str:
    """A module id as a column heading: its number over its name, wrapped to fit a column.

    >>> print(_module_label("m06-when-something-goes-wrong"))
    m06
    when something
    goes wrong
    """
    import textwrap

    number, _, name = module.partition("-")
    return "\n".join([number, *textwrap.wrap(name.replace("-", " "), 15)]) if name else module


def _cell_detail(c: Counter[Standing]) -> str:
    """A heat map cell's lines under its share: current of all, and how many are overdue.

    >>> print(_cell_detail(Counter({Standing.CURRENT: 5, Standing.OVERDUE: 2, Standing.DUE_SOON: 1})))
    5/8 current
    2 overdue
    """
    late = c[Standing.OVERDUE]
    return f"{c[Standing.CURRENT]}/{c.total()} current" + (f"\n{late} overdue" if late else "")


def _completion_figure(records: Sequence[TrainingRecord], as_of: dt.date) -> Figure:
    """The completion heat map: a row per department, a column per module, each cell coloured
    by the share current and annotated with it, current of all, and how many are overdue."""
    import matplotlib
    import numpy as np
    from matplotlib.figure import Figure

    counts = completion_counts(records)
    departments = sorted({d for d, _ in counts})
    modules = sorted({m for _, m in counts})
    share = np.full((len(departments), len(modules)), np.nan)
    for (d, m), c in counts.items():
        share[departments.index(d), modules.index(m)] = 100.0 * c[Standing.CURRENT] / c.total()
    width = min(14.0, 2.8 + 1.2 * max(len(modules), 3))
    fig = Figure(figsize=(width, 1.9 + 0.62 * max(len(departments), 2)), layout="constrained")
    ax = fig.subplots()
    cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#eeeeee")
    image = ax.imshow(np.ma.masked_invalid(share), cmap=cmap, vmin=0, vmax=100, aspect="auto")
    for (d, m), c in counts.items():
        i, j = departments.index(d), modules.index(m)
        red, green, blue, _ = cmap(share[i, j] / 100.0)
        ink = "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"
        ax.text(j, i - 0.17, f"{share[i, j]:.0f}%", ha="center", va="center", color=ink,
                fontsize=10, fontweight="bold")  # fmt: skip
        ax.text(j, i + 0.2, _cell_detail(c), ha="center", va="center", color=ink, fontsize=7.5)
    ax.set_xticks(range(len(modules)), [_module_label(m) for m in modules], fontsize=8)
    ax.set_yticks(range(len(departments)), departments, fontsize=9)
    ax.tick_params(length=0)
    ax.set_xticks(np.arange(-0.5, len(modules)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(departments)), minor=True)
    ax.grid(which="minor", color="white", linewidth=2)
    ax.tick_params(which="minor", length=0)
    ax.spines[:].set_visible(False)
    ax.set_title(
        f"Training current by department and module, as of {as_of.isoformat()}\n"
        "each cell: the share current, how many of how many, how many overdue; "
        "grey: no one there takes it",
        fontsize=10,
    )
    fig.colorbar(image, ax=ax, label="% current", shrink=0.8, pad=0.01)
    return fig


def write_dashboard(
    records: Sequence[TrainingRecord],
    overdue: Sequence[tuple[dt.date, int]],
    out: str | os.PathLike[str],
    *,
    as_of: dt.date,
) -> list[Path]:
    """Draw :data:`COMPLETION_PNG` and :data:`OVERDUE_PNG` into ``out``.

    :data:`COMPLETION_PNG`: a heat map, a row per department and a column per module, each cell
    coloured by the share of those who must take the module who are current as of ``as_of``,
    and annotated with that share, how many of how many, and how many are overdue (a sensible
    width for any number of departments: about 1,250 pixels for 7 modules).
    :data:`OVERDUE_PNG`: ``overdue`` (from :func:`overdue_over_time`) as a line.

    Returns the files written.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    out = Path(out)
    fig = _completion_figure(records, as_of)
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
