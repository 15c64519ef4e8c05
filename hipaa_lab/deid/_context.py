"""What the engine knows of the patient of one data set while cleaning it, and the record of what
it changed: the patient's identifiers and name tokens (collected from the whole data set first,
so that text anywhere can be cleaned of them), the keyed date shift, and the changes."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import cast

from pydicom.datadict import (  # type: ignore[attr-defined]  # DicomDictionary: not in __all__
    DicomDictionary,
    dictionary_VR,
)
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from hipaa_lab.deid._decisions import Decisions
from hipaa_lab.deid._raw import raw_strings, text_encoding
from hipaa_lab.deid._tags import (
    CONTENT_DATE,
    ISSUER_OF_PATIENT_ID,
    PATIENT_AGE,
    PATIENT_BIRTH_DATE,
    PATIENT_ID,
    SOP_CLASS_UID,
    STUDY_DATE,
)
from hipaa_lab.deid._values import age_over_89
from hipaa_lab.deid.profile import Action
from hipaa_lab.deid.pseudonyms import Pseudonymizer
from hipaa_lab.deid.text import _DIGIT, _TOKEN, _WORD, _date_formats

__all__ = ["Change", "ContextReader", "PatientContext"]

_NAME_PARTS = re.compile(r"[\^=\s,.]+")
_MAX_COLLECT_DEPTH = 32  # deeper sequences are not searched for identifiers (cleaned all the same)


@dataclass(frozen=True)
class Change:
    """One element changed: where (tag path), what (action), and why (rule). No values."""

    path: str
    action: Action
    rule: str

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "action": str(self.action), "rule": self.rule}


@dataclass
class PatientContext:
    """The patient of one data set, as cleaning it needs: its SOP class, the keyed date shift,
    the identifiers and name tokens found in it, whether the patient is over 89, and the changes."""

    sop_class: str
    shift: int
    identities: set[str]
    tokens: set[str]
    birth_over_89: bool
    changes: list[Change] = field(default_factory=list)
    encoding: str | None = "latin-1"  # codec of the data set being cleaned (see text_encoding)

    def log(self, path: str, action: Action, rule: str) -> None:
        self.changes.append(Change(path, action, rule))

    def holds_identifier(self, text: str) -> bool:
        """Whether lower-case ``text`` holds one of the patient's identifiers or tokens."""
        long = self.__dict__.get("_long")
        if long is None:  # the identities are complete once the context is made: listed once
            long = self.__dict__["_long"] = tuple(v for v in self.identities if len(v) >= 4)
        words = _TOKEN.findall(text)
        return (
            any(v in text for v in long)
            or not self.tokens.isdisjoint(words)
            or not self.tokens.isdisjoint(_WORD.findall(text))  # ``OB_GENERAL`` holds ``ob``
        )


def _text(ds: Dataset, tag: int, encoding: str | None) -> str:
    """``str(ds.get(tag) or "")``, from the raw bytes when they are plain."""
    raw = cast("DataElement | RawDataElement | None", ds.get_item(tag))  # pydicom: as read
    if raw is None:
        return ""
    values: list[str] | None = None
    if raw.is_raw and isinstance(raw.value, bytes) and not raw.value[:1].isspace():
        vr = raw.VR or (dictionary_VR(tag) if tag in DicomDictionary else "UN")
        values = raw_strings(raw, vr, encoding) if vr != "UN" else None
    if values is None or len(values) > 1:
        return str(ds[tag].value or "")
    return values[0] if values else ""


class ContextReader:
    """Reads a data set's :class:`PatientContext` before it is cleaned.

    Parameters
    ----------
    decisions
        What is done to each element: an element that is kept as it is holds nothing to collect.
    pseudo
        The keyed date shift of the patient.
    """

    def __init__(self, decisions: Decisions, pseudo: Pseudonymizer) -> None:
        self.decisions = decisions
        self.pseudo = pseudo

    def read(self, ds: Dataset) -> PatientContext:
        """The context of ``ds``: its identifiers from every level, its patient's shift and age."""
        identities: set[str] = set()
        tokens: set[str] = set()
        self._collect(ds, identities, tokens, 0)
        encoding = text_encoding(ds, "latin-1")
        pid = _text(ds, PATIENT_ID, encoding)
        issuer = _text(ds, ISSUER_OF_PATIENT_ID, encoding)
        over = age_over_89(_text(ds, PATIENT_AGE, encoding))
        birth = _text(ds, PATIENT_BIRTH_DATE, encoding)[:4]
        study = (_text(ds, STUDY_DATE, encoding) or _text(ds, CONTENT_DATE, encoding))[:4]
        if (
            birth.isdigit()
            and (int(study) if study.isdigit() else dt.date.today().year) - int(birth) > 89
        ):
            over = True
        shift = self.pseudo.date_shift(pid, issuer)
        return PatientContext(_text(ds, SOP_CLASS_UID, encoding), shift, identities, tokens, over)

    def _collect(
        self,
        ds: Dataset,
        identities: set[str],
        tokens: set[str],
        depth: int,
        encoding: str | None = "latin-1",
    ) -> None:
        encoding = text_encoding(ds, encoding)
        plans = self.decisions.collect_plans
        for key, raw in list(ds._dict.items()):
            tag = int(key)  # a plain int: BaseTag compares in Python on every dict lookup
            vr = plans.get((tag, raw.VR))
            if vr is None:
                vr = self.decisions.collect_plan(tag, raw.VR)
            if not vr:
                continue
            if vr == "SQ":
                if depth < _MAX_COLLECT_DEPTH:
                    try:
                        for item in ds[key].value or ():
                            self._collect(item, identities, tokens, depth + 1, encoding)
                    except Exception:  # noqa: S110  an unreadable sequence: the walk removes it
                        pass
                continue
            value = raw_strings(raw, vr, encoding)
            if value is None:
                try:
                    value = ds[key].value
                except Exception:  # noqa: S112  an unreadable value: the walk removes it
                    continue
            for v in (
                value
                if isinstance(value, (list, tuple, Sequence))
                or type(value).__name__ == "MultiValue"
                else [value]
            ):
                text = str(v).strip() if v is not None else ""
                if text:
                    _add(text, vr, identities, tokens)


def _add(text: str, vr: str, identities: set[str], tokens: set[str]) -> None:
    """One value's identifiers (``identities``) and the words of names and numbers (``tokens``)."""
    if vr in ("DA", "DT"):
        identities |= _date_formats(text[:8])
        return
    identities.add(text.lower())
    if vr == "PN":
        parts = [p for p in _NAME_PARTS.split(text) if p]
        identities.add(" ".join(parts).lower())
        # every part of a name, even one that is also a protocol word ("Dixon"):
        # a descriptor loses a word before a text keeps a name
        # (a one-character given name is common in Chinese and Japanese); and each word of a
        # part as free text splits it: "Paul-Heinz" is "Paul" and "Heinz" there, "O'Brien" is
        # "O" and "Brien" (a hyphenated given name once survived in a report's text)
        words = [w for p in parts for w in _TOKEN.findall(p)]
        tokens |= {p.lower() for p in parts + words if len(p) >= 2 or not p.isascii()}
    elif _DIGIT.search(text):
        tokens |= {t.lower() for t in _TOKEN.findall(text) if len(t) >= 3 and _DIGIT.search(t)}
