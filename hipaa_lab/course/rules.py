"""The exercises' rules: while a learner's function runs for a grade, the package's own answers
to that exercise refuse.

One registry for every module (:data:`RULES`), applied by :func:`own_work` around each call of a
learner's function, in a learner's kernel (:func:`call_learner`, the checks' ``try_`` helpers) and
in the sandbox's harness (:mod:`hipaa_lab.course.harness`). Module 1's ``find_phi`` may not call
the scanner or the de-identifier; module 4's ``find_tampered`` the chain checks; module 5's
``verify_restore`` and ``carve_dicom`` the backup module's verification and the carvers; module
6's ``plan_notices`` and ``which_exclusion`` the breach planner; module 7's ``decide`` and
``link_valid`` the request desk's answers.

Each rule replaces an answer's helpers as well as the answer, so that an answer imported by name
before the call (``from hipaa_lab.ledger import check_chain`` at the top of a cell) still
refuses. A reminder of each exercise's rule, not a seal: the learner's code runs in the same
process as the package, so a reloaded module, the helpers captured too, or a switch turned off
(``sharing._REFUSING``) gets the package's answer on the fresh inputs, and the grade rests on
it (the red team's sealed run earned full marks on ``decide`` with the switch off). The rules
stop a learner who calls an answer by mistake, not one set on cheating; a seal needs the answers
out of the sandbox's reach.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from hipaa_lab.errors import GradingError

if TYPE_CHECKING:
    from hipaa_lab.course.sandbox import SandboxFunction

__all__ = ["RULES", "Refusal", "call_learner", "own_work"]


class Refusal(NamedTuple):
    """What refuses while one exercise's function runs, and what it says.

    ``targets`` are ``(module, attribute)`` pairs, the attribute a name in the module or
    ``Class.method``; each is replaced, for the call's duration, by a function that raises
    :class:`~hipaa_lab.errors.GradingError` with ``message``. ``switch``, when set, names a
    module's own context manager that makes its answers refuse (``module:function``, called with
    the exercise's name).
    """

    targets: tuple[tuple[str, str], ...]
    message: str
    switch: str | None = None


_LEDGER, _AUDIT = "hipaa_lab.ledger", "hipaa_lab.safeguards.audit"
_BACKUP, _MEDIA, _CRYPTO = (
    "hipaa_lab.safeguards.backup",
    "hipaa_lab.safeguards.media",
    "hipaa_lab.safeguards.crypto",
)
_BREACH, _CHECKS_BREACH = "hipaa_lab.safeguards.breach", "hipaa_lab.course.checks_breach"

_FIND_PHI = Refusal(
    (
        ("hipaa_lab.deid.scan", "scan_dataset"),
        ("hipaa_lab.deid.scan", "find_patterns"),
        ("hipaa_lab.deid", "Deidentifier.deidentify"),
    ),
    "find_phi must find PHI itself: it may not call hl.scan or hl.deid",
)
_CHAIN = Refusal(
    (
        (_LEDGER, "check_chain"),
        # its helper too: a check_chain imported by name before the call (``from ... import``)
        # escapes the replaced attribute, not the helper it calls through the module
        (_LEDGER, "_index_and_prev"),
        (_LEDGER, "FileLedger.verify"),
        (_LEDGER, "Ledger.verify"),
        (_AUDIT, "AuditTrail.verify"),
    ),
    "find_tampered must check the links itself (hashlib.sha256 of each line): it may not call "
    "the ledger's or the audit trail's verify",
)
_RESTORE = Refusal(
    (
        (_BACKUP, "restore"),
        (_BACKUP, "drill"),
        (_BACKUP, "_problems"),
        (_BACKUP, "_read_manifest"),
    ),
    "verify_restore must compare the files with the manifest itself (hashlib.sha256 of each "
    "file's bytes): it may not call the backup module's restore or drill",
)
_CARVING = Refusal(
    (
        (_MEDIA, "carve"),
        (_MEDIA, "dicom_offsets"),
        (_CRYPTO, "carve"),
        (_CRYPTO, "what_a_finder_reads"),
    ),
    "carve_dicom must search the bytes itself (bytes.find and pydicom.dcmread): it may not "
    "call the package's carve, dicom_offsets or what_a_finder_reads",
)
_PLANNER = Refusal(
    (
        (_BREACH, "plan"),
        (_BREACH, "_counts"),  # plan's first helper, whatever the card: as _index_and_prev above
        (_BREACH, "_notices"),
        (_BREACH, "_delay"),
        (_CHECKS_BREACH, "expected_notices"),
        (_CHECKS_BREACH, "_exclusion_of"),
    ),
    "work it out yourself: hl.safeguards.breach.plan (and this module's answer helpers) may not "
    "be called while your function is graded",
)
#: The request desk checks one process-wide switch inside its answers (any caller, however it
#: imported them), rather than having them replaced.
_DESK = Refusal((), "", switch="hipaa_lab.safeguards.sharing:refusing")

#: Each exercise's function, by the name the notebook gives it, and what refuses while it runs.
RULES: dict[str, Refusal] = {
    "find_phi": _FIND_PHI,
    "find_tampered": _CHAIN,
    "verify_restore": _RESTORE,
    "carve_dicom": _CARVING,
    "plan_notices": _PLANNER,
    "which_exclusion": _PLANNER,
    "decide": _DESK,
    "link_valid": _DESK,
}


def _owner_and_name(module: str, attribute: str) -> tuple[object, str]:
    owner: object = importlib.import_module(module)
    *path, name = attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, name


@contextlib.contextmanager
def _refusing(rule: Refusal, name: str) -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> NoReturn:
        raise GradingError(rule.message)

    targets = [_owner_and_name(module, attribute) for module, attribute in rule.targets]
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr in targets]
    with contextlib.ExitStack() as stack:
        if rule.switch is not None:
            module, function = rule.switch.split(":")
            stack.enter_context(getattr(importlib.import_module(module), function)(name))
        for owner, attr in targets:
            setattr(owner, attr, refuse)
        try:
            yield
        finally:
            for owner, attr, value in saved:
                setattr(owner, attr, value)


def own_work(name: str) -> contextlib.AbstractContextManager[None]:
    """The exercise's rule (:data:`RULES`) while the learner's function ``name`` runs; nothing
    for a name without one."""
    rule = RULES.get(name)
    return _refusing(rule, name) if rule is not None else contextlib.nullcontext()


def call_learner(
    function: Callable[..., Any] | SandboxFunction, name: str, *args: Any, on: str = "input"
) -> Any:
    """Run the learner's function ``name`` on ``args``: in the sandbox (plain data back), or
    here on copies under the exercise's rule.

    Raises
    ------
    GradingError
        When it is not written yet, or raised (the message names what it raised, on a fresh
        ``on``): one sentence for the learner, no traceback.
    """
    from hipaa_lab.course.sandbox import SandboxFunction

    if isinstance(function, SandboxFunction):
        return function(*args)
    try:
        with own_work(name):
            return function(*copy.deepcopy(args))
    except NotImplementedError:
        raise GradingError(
            f"{name} is not written yet: replace `raise NotImplementedError()`"
        ) from None
    except GradingError:
        raise
    except Exception as exc:
        raise GradingError(f"{name} raised {type(exc).__name__}: {exc} on a fresh {on}") from exc
