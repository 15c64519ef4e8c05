"""De-identification per DICOM PS3.15 Annex E (Table E.1-1, edition 2026d) and HIPAA Safe Harbor.

:class:`Deidentifier` cleans one dataset in place; :func:`deidentify_tree` runs a batch (the
``hipaa-lab deid`` command).  A batch writes into DST the outputs, ``deid-report.json`` and the
provenance log: ``provenance/part-N.jsonl``, one per process, one JSON line per output
(``{"output": name, "changes": [{"path", "action", "rule"}...]}``, tag paths and the tool's own
words, no values).  Every file gets its final name only whole: an output is written without a
name (``O_TMPFILE``; where that is not supported, under a hidden ``.*.tmp`` name) and linked to
its name once written, a log is written under a hidden ``.*.tmp`` name and renamed once the batch
has finished (a killed batch leaves its logs hidden, and no report).  How each element is decided:

* a row of Table E.1-1 (:mod:`hipaa_lab.deid.profile`), with the chosen options; combined actions
  (``X/Z``, ``Z/D`` ...) by the attribute's Type in the IOD (:data:`ATTRIBUTE_TYPES`);
* overlays (60xx) and curves (50xx) by their repeating-group rows; an overlay whose data would
  be removed, emptied or cleaned (Clean Graphics) loses its whole group, so no overlay is left
  that cannot be decoded;
* private elements: removed, except with Retain Safe Private the numeric ones in
  :data:`SAFE_PRIVATE` (their private creators stay);
* public elements outside the table, by VR, so that an attribute the table does not list cannot
  leak: PN removed, dates and times like the table's dates, UIDs replaced (registered UIDs such as
  SOP classes kept), text (LO, SH, ST, LT, UT, UC) cleaned of dates, numbers, contacts and the
  patient's names (codes kept), and removed in the Patient group (0010,xxxx); CS and AE kept unless
  they hold an identifier of this patient; elements unknown to the data dictionary removed (but
  sequences, whose items are cleaned, and UIDs, replaced);
* every sequence item at any depth, SR content items by Table E.3.4-1 where their concept is listed;
* PatientID and AccessionNumber become keyed pseudonyms; with Retain Longitudinal Temporal
  Information Modified Dates, dates move by a keyed per-patient shift.

The wing: :mod:`.profile` (Table E.1-1, its options and actions, shipped as data), :mod:`.engine`
(:class:`Deidentifier`, a facade over its private parts: ``_policy`` the table under the
options, ``_decisions`` each (tag, VR)'s action cached, ``_context`` the patient's identifiers
and the changes, ``_walk`` every element at every depth, ``_elements`` one action carried out,
``_values`` the new values, ``_raw`` values read and written as bytes, ``_marks`` the
de-identification marks, ``_tags`` the tags by name), :mod:`.text` (rules for free text),
:mod:`.pseudonyms` (keyed pseudonyms, UIDs, date shifts), :mod:`.pixels` (burned-in text: find,
blank, verify),
:mod:`.textcheck` (the one check for text left in pixels, shared with the scanner),
:mod:`.scan` (the residual-PHI scanner) and :mod:`.batch` (the runner and its files).
Every name below was importable from ``hipaa_lab.deid`` before the wing and still is.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names, typed (`x as x`: importable, not in __all__); loaded on first use
    from hipaa_lab.deid.batch import (
        BatchReport,
        FileResult,
        SkipReason,
        UIDOrigin,
        deidentify_file,
        deidentify_tree,
        needs_pixel_cleaning,
    )
    from hipaa_lab.deid.batch import (
        write_dicom as write_dicom,
    )
    from hipaa_lab.deid.engine import (
        ATTRIBUTE_TYPES,
        RESTRICTED_ZIP3,
        SAFE_PRIVATE,
        Change,
        Deidentifier,
    )
    from hipaa_lab.deid.engine import (
        IMPLEMENTATION_CLASS_UID as IMPLEMENTATION_CLASS_UID,
    )
    from hipaa_lab.deid.engine import (
        IMPLEMENTATION_VERSION as IMPLEMENTATION_VERSION,
    )
    from hipaa_lab.deid.text import (
        SAFE_WORDS as SAFE_WORDS,
    )
    from hipaa_lab.deid.text import (
        clean_descriptor as clean_descriptor,
    )
    from hipaa_lab.deid.text import (
        clean_text as clean_text,
    )

__all__ = [
    "ATTRIBUTE_TYPES",
    "BatchReport",
    "Change",
    "Deidentifier",
    "FileResult",
    "RESTRICTED_ZIP3",
    "SAFE_PRIVATE",
    "SkipReason",
    "UIDOrigin",
    "deidentify_file",
    "deidentify_tree",
    "needs_pixel_cleaning",
]

#: The modules whose public names (their ``__all__``) are importable from here, in the order they
#: are searched, each loaded on first use: ``hipaa_lab.deid.profile`` stays light (the command line
#: reads its options without pydicom's writer or the pixel stack).
_HOMES = ("text", "engine", "batch")


def __getattr__(name: str) -> Any:
    # a submodule not loaded yet (``from hipaa_lab.deid import pixels`` asks here first): the
    # import system loads it when this says no, without loading the modules searched below
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is None:
        for home in _HOMES:
            module = importlib.import_module(f"{__name__}.{home}")
            if name in module.__all__:
                return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
