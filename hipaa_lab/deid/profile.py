"""DICOM PS3.15 Annex E: Table E.1-1, its options, and how an action is resolved.

The table ships with hipaa-lab as package data, ``hipaa_lab/data/ps3.15-table-e1-1.json``:
Table E.1-1 of the **2026d** edition of the standard with every option column, and Table E.3.4-1
(content items of structured reports).  ``scripts/generate_annex_e.py`` wrote it from an openly
licensed extraction of NEMA's DocBook XML (its header names the source, edition and licence).
It is checked (schema and edition), parsed once and cached.

Actions (PS3.15 E.1.1, :class:`Action`): ``D`` a dummy value fitting the VR, ``Z`` zero length
(or a dummy), ``X`` remove, ``K`` keep (sequences are cleaned recursively), ``C`` clean, ``U`` a new
UID, and the combined ``X/Z``, ``X/D``, ``Z/D``, ``X/Z/D``, ``X/Z/U*`` resolved by the attribute's
Type in the IOD (see :func:`resolve_by_type`).
"""

from __future__ import annotations

import enum
import functools
import importlib.resources
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hipaa_lab.errors import TableError

__all__ = [
    "Action",
    "EDITION",
    "Option",
    "Profile",
    "Rule",
    "Table",
    "TableError",
    "actions_table",
    "load_table",
    "resolve",
    "resolve_by_type",
]

#: The edition of PS3.15 the table comes from.
EDITION = "2026d"
_DATA_FILE = "data/ps3.15-table-e1-1.json"


class Profile(str, enum.Enum):
    """``basic``: the Basic Application Level Confidentiality Profile; ``safe-harbor``: Basic
    plus HIPAA Safe Harbor, 45 CFR 164.514(b)(2) (years of dates, ages capped at 90, 3-digit ZIP)."""

    BASIC = "basic"
    SAFE_HARBOR = "safe-harbor"


class Action(enum.StrEnum):
    """What is done to an element: the action codes of PS3.15 E.1.1, which are Table E.1-1's
    values, then hipaa-lab's own for the rules beyond the table.  A member is its code
    (``Action.REMOVE == "X"``), as the table's data file and the provenance log write it.

    Examples
    --------
    >>> Action("X/Z/D").choices
    (<Action.REMOVE: 'X'>, <Action.ZERO: 'Z'>, <Action.DUMMY: 'D'>)
    >>> Action.REMOVE.in_table, Action.YEAR.in_table
    (True, False)
    """

    DUMMY = "D"
    ZERO = "Z"
    REMOVE = "X"
    KEEP = "K"
    CLEAN = "C"
    NEW_UID = "U"
    REMOVE_OR_ZERO = "X/Z"
    REMOVE_OR_DUMMY = "X/D"
    ZERO_OR_DUMMY = "Z/D"
    REMOVE_ZERO_OR_DUMMY = "X/Z/D"
    REMOVE_ZERO_OR_UID = "X/Z/U*"  # reference sequences: U replaces every UID in them
    # hipaa-lab's own
    SAFE_PRIVATE = "P"  # Retain Safe Private: kept when listed as safe and numeric, else removed
    YEAR = "Y"  # Safe Harbor: the year of a date only
    ZIP3 = "ZIP"  # Safe Harbor: the first three digits of a ZIP code
    CHECK_IDENTIFIER = "I"  # removed when it holds an identifier of this patient, else kept
    CLEAN_TEXT = "T"  # free text cleaned of dates, numbers, contacts and the patient's names

    @property
    def choices(self) -> tuple[Action, ...]:
        """The single actions a combined action chooses among by Type (itself when single)."""
        return _CHOICES[self]

    @property
    def in_table(self) -> bool:
        """Whether Table E.1-1 uses this action (else it is one of hipaa-lab's own)."""
        return self in _TABLE_ACTIONS


_CHOICES = {a: tuple(Action(p) for p in a.value.rstrip("*").split("/")) for a in Action}
_TABLE_ACTIONS = frozenset(
    {
        Action.DUMMY,
        Action.ZERO,
        Action.REMOVE,
        Action.KEEP,
        Action.CLEAN,
        Action.NEW_UID,
        Action.REMOVE_OR_ZERO,
        Action.REMOVE_OR_DUMMY,
        Action.ZERO_OR_DUMMY,
        Action.REMOVE_ZERO_OR_DUMMY,
        Action.REMOVE_ZERO_OR_UID,
    }
)


class Option(str, enum.Enum):
    """The options of PS3.15 E.3; values are the command-line names."""

    RETAIN_SAFE_PRIVATE = "retain-safe-private"
    RETAIN_UIDS = "retain-uids"
    RETAIN_DEVICE_IDENTITY = "retain-device-identity"
    RETAIN_INSTITUTION_IDENTITY = "retain-institution-identity"
    RETAIN_PATIENT_CHARACTERISTICS = "retain-patient-characteristics"
    RETAIN_LONG_FULL_DATES = "retain-long-full-dates"
    RETAIN_LONG_MODIFIED_DATES = "retain-long-modified-dates"
    CLEAN_DESCRIPTORS = "clean-descriptors"
    CLEAN_STRUCTURED_CONTENT = "clean-structured-content"
    CLEAN_GRAPHICS = "clean-graphics"
    CLEAN_PIXEL_DATA = "clean-pixel-data"

    @property
    def code(self) -> tuple[str, str]:
        """The CID 7050 code value and meaning (scheme DCM)."""
        return _CODES[self]

    @property
    def table_key(self) -> str | None:
        """The option's column in the table (``None`` for Clean Pixel Data, which has none)."""
        return _TABLE_KEYS.get(self)


_CODES = {
    Option.CLEAN_PIXEL_DATA: ("113101", "Clean Pixel Data Option"),
    Option.CLEAN_GRAPHICS: ("113103", "Clean Graphics Option"),
    Option.CLEAN_STRUCTURED_CONTENT: ("113104", "Clean Structured Content Option"),
    Option.CLEAN_DESCRIPTORS: ("113105", "Clean Descriptors Option"),
    Option.RETAIN_LONG_FULL_DATES: (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    Option.RETAIN_LONG_MODIFIED_DATES: (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    Option.RETAIN_PATIENT_CHARACTERISTICS: ("113108", "Retain Patient Characteristics Option"),
    Option.RETAIN_DEVICE_IDENTITY: ("113109", "Retain Device Identity Option"),
    Option.RETAIN_UIDS: ("113110", "Retain UIDs Option"),
    Option.RETAIN_SAFE_PRIVATE: ("113111", "Retain Safe Private Option"),
    Option.RETAIN_INSTITUTION_IDENTITY: ("113112", "Retain Institution Identity Option"),
}
BASIC_CODE = ("113100", "Basic Application Confidentiality Profile")

_TABLE_KEYS = {
    Option.RETAIN_SAFE_PRIVATE: "retain_safe_private",
    Option.RETAIN_UIDS: "retain_uids",
    Option.RETAIN_DEVICE_IDENTITY: "retain_device_identity",
    Option.RETAIN_INSTITUTION_IDENTITY: "retain_institution_identity",
    Option.RETAIN_PATIENT_CHARACTERISTICS: "retain_patient_characteristics",
    Option.RETAIN_LONG_FULL_DATES: "retain_longitudinal_full_dates",
    Option.RETAIN_LONG_MODIFIED_DATES: "retain_longitudinal_modified_dates",
    Option.CLEAN_DESCRIPTORS: "clean_descriptors",
    Option.CLEAN_STRUCTURED_CONTENT: "clean_structured_content",
    Option.CLEAN_GRAPHICS: "clean_graphics",
}
#: Precedence when two chosen options name different actions for one row: the more protective wins.
_PRECEDENCE = {Action.CLEAN: 2, Action.KEEP: 1}
#: What the table's option columns may name.
_OPTION_ACTIONS = frozenset({Action.CLEAN, Action.KEEP})


def _parse_options(options: Iterable[str | Option]) -> frozenset[Option]:
    out: set[Option] = set()
    for opt in options:
        try:
            out.add(Option(opt))
        except ValueError:
            raise ValueError(
                f"unknown option {opt!r}; choose from {', '.join(o.value for o in Option)}"
            ) from None
    if {Option.RETAIN_LONG_FULL_DATES, Option.RETAIN_LONG_MODIFIED_DATES} <= out:
        raise ValueError(
            "choose at most one of retain-long-full-dates and retain-long-modified-dates"
        )
    return frozenset(out)


@dataclass(frozen=True)
class Rule:
    """One row of Table E.1-1 (or of Table E.3.4-1, for a content item).

    ``tag`` is 8 hex digits, a repeating-group pattern (``"60xx3000"``, ``"50xxxxxx"``) or
    ``"PRIVATE"``; for a content item it is ``"code^scheme"``.
    """

    tag: str
    name: str
    basic: Action
    options: dict[str, Action] = field(default_factory=dict, hash=False, compare=False)
    in_std_iod: bool = True
    retired: bool = False

    def label(self) -> str:
        return f"E.1-1 {self.tag} {self.name}"


def resolve(rule: Rule, options: Iterable[str | Option] = ()) -> Action:
    """The action of ``rule`` under ``options``: the basic action unless a chosen option names one.

    When two chosen options name different actions, ``C`` (clean) wins over ``K`` (keep).

    Examples
    --------
    >>> table = load_table()
    >>> from pydicom.datadict import tag_for_keyword
    >>> study_description = table.by_tag[tag_for_keyword("StudyDescription")]
    >>> resolve(study_description)
    <Action.REMOVE: 'X'>
    >>> resolve(study_description, ["clean-descriptors"])
    <Action.CLEAN: 'C'>
    """
    chosen = None
    for opt in _parse_options(options):
        action = rule.options.get(opt.table_key) if opt.table_key else None
        if action and (chosen is None or _PRECEDENCE[action] > _PRECEDENCE[chosen]):
            chosen = action
    return chosen or rule.basic


def resolve_by_type(action: Action | str, attribute_type: int | None) -> Action:
    """One of D, Z, X, U from a combined action and the attribute's Type in the IOD.

    Type 1 needs a value (``D``), Type 2 may be empty (``Z``), Type 3 may go (``X``).  When the
    Type is not known: ``X`` where the action allows it, else ``Z``, else ``D``.  ``X/Z/U*`` (the
    reference sequences) resolves to ``U`` whenever it is Type 1 or 2 in the IOD: the sequence
    stays and every UID in it is replaced.

    Examples
    --------
    >>> [str(resolve_by_type("X/Z/D", t)) for t in (1, 2, 3)]
    ['D', 'Z', 'X']
    >>> resolve_by_type(Action.ZERO_OR_DUMMY, None)
    <Action.ZERO: 'Z'>
    """
    choices = Action(action).choices
    if len(choices) == 1:
        return choices[0]
    for preferred in _BY_TYPE.get(attribute_type, _TYPE_UNKNOWN):
        if preferred in choices:
            return preferred
    return choices[0]


#: The single action a combined one becomes, by the attribute's Type: the first it allows.
_TYPE_UNKNOWN: tuple[Action, ...] = (Action.REMOVE, Action.ZERO, Action.DUMMY)
_BY_TYPE: dict[int | None, tuple[Action, ...]] = {
    1: (Action.DUMMY, Action.NEW_UID, Action.ZERO, *_TYPE_UNKNOWN),
    2: (Action.ZERO, Action.NEW_UID, Action.DUMMY, *_TYPE_UNKNOWN),
}


@dataclass
class Table:
    """Table E.1-1 of one edition, by tag, with Table E.3.4-1 by concept code."""

    edition: str
    rules: list[Rule]
    by_tag: dict[int, Rule]
    overlay: dict[int, Rule]  # element number in a 60xx group -> rule
    curve: Rule
    private: Rule
    content_items: dict[tuple[str, str], Rule]

    def actions(self, options: Iterable[str | Option] = ()) -> dict[int, Action]:
        """Every tag of the table with its action under ``options`` (resolved once per batch)."""
        return {tag: resolve(rule, options) for tag, rule in self.by_tag.items()}


def _data_path() -> Path:
    path = Path(str(importlib.resources.files("hipaa_lab").joinpath(_DATA_FILE)))
    if not path.is_file():
        raise TableError(
            f"hipaa-lab's PS3.15 Annex E table {path} is missing; reinstall hipaa-lab "
            "(or run scripts/generate_annex_e.py in a source checkout)"
        )
    return path


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise TableError(f"the Annex E table {_DATA_FILE} does not have the expected form: {what}")


@functools.lru_cache(maxsize=1)
def load_table() -> Table:
    """Table E.1-1 (edition :data:`EDITION`), parsed once and cached.

    Raises
    ------
    TableError
        When the data file is missing, of another edition, or not of the expected schema.
    """
    path = _data_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TableError(f"cannot read the Annex E table {path}: {exc}") from None
    _check(isinstance(data, dict) and isinstance(data.get("rules"), list), "no list of rules")
    edition = str(data.get("source", {}).get("edition", ""))
    _check(edition == EDITION, f"edition {edition!r}, expected {EDITION!r}")
    keys = set(_TABLE_KEYS.values())
    _check(set(data.get("option_keys", [])) == keys, f"option columns {data.get('option_keys')}")
    rules: list[Rule] = []
    by_tag: dict[int, Rule] = {}
    overlay: dict[int, Rule] = {}
    curve: Rule | None = None
    private: Rule | None = None
    for row in data["rules"]:
        _check(
            isinstance(row, dict) and {"tag", "name", "basic", "options"} <= row.keys(),
            f"row {row!r}",
        )
        _check(row["basic"] in _TABLE_ACTIONS, f"action {row['basic']!r} of {row['tag']}")
        _check(
            set(row["options"]) <= keys and set(row["options"].values()) <= _OPTION_ACTIONS,
            f"options {row['options']!r} of {row['tag']}",
        )
        tag = str(row["tag"]).upper()
        rule = Rule(
            tag,
            row["name"],
            Action(row["basic"]),
            {column: Action(a) for column, a in row["options"].items()},
            bool(row.get("in_std_iod", True)),
            bool(row.get("retired", False)),
        )
        rules.append(rule)
        if tag == "PRIVATE":
            private = rule
        elif tag == "50XXXXXX":
            curve = rule
        elif tag.startswith("60XX"):
            overlay[int(tag[4:], 16)] = rule
        else:
            _check(len(tag) == 8, f"tag {tag!r}")
            by_tag[int(tag, 16)] = rule
    _check(len(rules) >= 600, f"{len(rules)} rows")
    if curve is None or private is None or 0x3000 not in overlay:
        raise TableError(
            f"the Annex E table {_DATA_FILE} does not have the expected form: repeating-group rows"
        )
    items: dict[tuple[str, str], Rule] = {}
    for row in data.get("content_items", []):
        rule = Rule(
            f"{row['code']}^{row['scheme']}",
            row["meaning"],
            Action(row["basic"]),
            {column: Action(a) for column, a in row["options"].items()},
        )
        items[(row["code"], row["scheme"])] = rule
    return Table(edition, rules, by_tag, overlay, curve, private, items)


_ACTION_WORDS = {
    Action.DUMMY: "D: replace with a dummy",
    Action.ZERO: "Z: empty or dummy",
    Action.REMOVE: "X: remove",
    Action.KEEP: "K: keep",
    Action.CLEAN: "C: clean",
    Action.NEW_UID: "U: new UID",
}


def _describe(action: Action) -> str:
    if action in _ACTION_WORDS:
        return _ACTION_WORDS[action]
    return f"{action}: by the attribute's Type in the IOD"


def actions_table(
    keywords: list[str], options: Iterable[str | Option] = ()
) -> Any:  # a pandas.DataFrame (pandas ships no type information)
    """What the Basic Profile, and each option, does to some attributes: a table for people.

    Parameters
    ----------
    keywords
        DICOM keywords, e.g. ``["PatientName", "StudyDate"]``.
    options
        Options whose columns to show (default: every option that changes one of the rows).

    Returns
    -------
    pandas.DataFrame
        One row per attribute: its tag, the Basic Profile's action, then the action under each
        option where it differs ("" where the option leaves the basic action).
    """
    import pandas as pd
    from pydicom.datadict import tag_for_keyword

    table = load_table()
    rules = []
    for keyword in keywords:
        tag = tag_for_keyword(keyword)
        if tag is None or tag not in table.by_tag:
            raise ValueError(f"{keyword!r} is not a row of Table E.1-1 ({table.edition})")
        rules.append((keyword, table.by_tag[tag]))
    shown = (
        list(_parse_options(options))
        if options
        else [
            o for o in Option if any(o.table_key and r.options.get(o.table_key) for _, r in rules)
        ]
    )
    rows = []
    for keyword, rule in rules:
        row = {
            "attribute": keyword,
            "tag": f"({rule.tag[:4]},{rule.tag[4:]})",
            "basic profile": _describe(rule.basic),
        }
        for opt in shown:
            action = rule.options.get(opt.table_key) if opt.table_key else None
            row[opt.value] = _describe(action) if action else ""
        rows.append(row)
    return pd.DataFrame(rows).set_index("attribute")
