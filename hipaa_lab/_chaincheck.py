"""The hash chain's check: :func:`hipaa_lab.ledger.check_chain` and the ledgers' ``verify``
run it.

Module 4's answer (``find_tampered``): kept apart from :mod:`hipaa_lab.ledger`, which writes the
audit trail a notebook reads, so that sealed autograding can withhold this module (and
:mod:`hipaa_lab._linechain`, the fast check of a file) while module 4 is graded
(:data:`hipaa_lab.course.rules.RULES`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from hipaa_lab.ledger import GENESIS, LEAF_PREFIX, Verification, _entry_name

__all__ = ["check_chain"]


def _index_and_prev(data: bytes) -> tuple[int | None, str | None]:
    """An entry's ``index`` and ``prev``, read from its canonical JSON without parsing it.

    In canonical form the keys are sorted (``body``, ``index``, ``kind``, ``prev``, ``time``) and
    a quote inside a string is escaped, so the last ``"index":`` and ``"prev":"`` are the entry's
    own, whatever its body holds. A damaged entry gives ``None``.
    """
    at = data.rfind(b'"prev":"')
    link = data[at + 8 : at + 72] if at >= 0 and data[at + 72 : at + 73] == b'"' else None
    at = data.rfind(b'"index":')
    end = data.find(b",", at)
    digits = data[at + 8 : end] if at >= 0 and end > at else b""
    return (int(digits) if digits.isdigit() else None), (
        link.decode("ascii", "replace") if link is not None else None
    )


def check_chain(
    rows: Iterable[tuple[int, bytes, str | None]],
    leaves: list[bytes] | None = None,
    *,
    name: Callable[[int], str] = _entry_name,
) -> Verification:
    """:func:`hipaa_lab.ledger.check_chain` (see there)."""
    prev, size = GENESIS, 0
    sha256 = hashlib.sha256
    for expected, (idx, raw, stored) in enumerate(rows):
        size = expected + 1
        if idx != expected:
            what = "missing" if idx > expected else "out of order"
            return Verification(False, size, expected, f"{name(expected)} is {what}")
        index, link = _index_and_prev(raw)
        if index is None or link is None:
            return Verification(False, size, idx, f"{name(idx)} is damaged: not an entry")
        if index != idx:
            return Verification(
                False,
                size,
                idx,
                f"{name(idx)} says it is entry {index}: moved",
            )
        if link != prev:
            return Verification(
                False,
                size,
                idx,
                f"{name(idx)} does not follow {name(idx - 1)}: one of them was changed, "
                "or entries between them were removed or inserted",
            )
        prev = sha256(raw).hexdigest()
        if stored is not None and prev != stored:
            return Verification(False, size, idx, f"{name(idx)} was changed after it was written")
        if leaves is not None:
            leaves.append(sha256(LEAF_PREFIX + raw).digest())
    return Verification(True, size)
