"""The exercises' rules: while a learner's function runs for a grade, the package's own answers
to that exercise are out of its reach.

One registry for every module (:data:`RULES`): for each exercise's function, by the name the
notebook gives it, the package's answers to it. Module 1's ``find_phi`` may not call the scanner
or the de-identifier; module 4's ``find_tampered`` the chain checks; module 5's
``verify_restore`` and ``carve_dicom`` the backup module's verification and the carvers; module
6's ``plan_notices`` and ``which_exclusion`` the breach planner and the exclusions' key; module
7's ``decide`` and ``link_valid`` the request desk's answers.

**Sealed autograding: withheld.** Each rule names the modules whose files hold its answers
(:attr:`Refusal.withheld`). When an assignment is graded
(:class:`~hipaa_lab.course.sealed.SealedExecute`), the grade cells' names that are keys of :data:`RULES` give the assignment's modules
(:func:`withheld_modules`); the sandbox binds :mod:`hipaa_lab.course.withheld` over each of
their files and over their compiled copies in ``__pycache__``
(:func:`~hipaa_lab.course.sandbox.bwrap_command`). Inside, the answers are then neither in
memory nor on disk: a reloaded module, a helper captured before the call, a switch turned off
or a module's source ``exec``'d from disk finds only names that raise
:class:`~hipaa_lab.errors.GradingError`. The answers were split into modules of their own for
this, so that what the notebooks' setup cells need (the audit trail that writes module 4's log,
the breach facts and plans, the request cards) stays importable:

==================  ===================================================================
exercise            withheld while its assignment is graded
==================  ===================================================================
``find_phi``        :mod:`hipaa_lab.deid.scan` (the scanner and its patterns) and
                    :mod:`hipaa_lab.deid.engine` (the de-identifier's ``Deidentifier``)
``find_tampered``   :mod:`hipaa_lab._chaincheck` (``check_chain`` and its parser, which
                    every ledger's ``verify`` runs) and :mod:`hipaa_lab._linechain` (the
                    fast check of a log file)
``verify_restore``  :mod:`hipaa_lab.safeguards._restore_check` (a restore's check against
                    its manifest, which ``backup.restore`` and ``backup.drill`` run)
``carve_dicom``     :mod:`hipaa_lab.safeguards._carving` (``media.carve`` and
                    ``dicom_offsets``, which ``crypto.what_a_finder_reads`` runs)
``plan_notices``    :mod:`hipaa_lab.safeguards._breach_plan` (``breach.plan``'s reasoning)
                    and :mod:`hipaa_lab.course._breach_key` (the cards' answers)
``which_exclusion`` as ``plan_notices`` (the key holds the exclusions' answer too)
``decide``          :mod:`hipaa_lab.safeguards._desk` (``sharing.decide_request``,
                    ``make_link`` and ``verify_link``)
``link_valid``      as ``decide``
==================  ===================================================================

**A learner's own kernel: a reminder.** :func:`own_work`, around each call of a learner's
function (:func:`call_learner`, the checks' ``try_`` helpers, and the sandbox's harness),
replaces an answer's helpers as well as the answer for the call's duration, so that an answer
imported by name before the call (``from hipaa_lab.ledger import check_chain`` at the top of a
cell) still refuses. The learner's code runs in the same process as the package there, so a
reloaded module, the helpers captured too, or a switch turned off (``sharing._REFUSING``) gets
the package's answer: it stops a learner who calls an answer by mistake. The grade rests only on
the sealed run, where those answers are withheld.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from hipaa_lab.errors import GradingError

if TYPE_CHECKING:
    from hipaa_lab.course.sandbox import SandboxFunction

__all__ = ["RULES", "Refusal", "call_learner", "own_work", "withheld_modules"]


class Refusal(NamedTuple):
    """What refuses while one exercise's function runs, and what it says.

    ``targets`` are ``(module, attribute)`` pairs, the attribute a name in the module or
    ``Class.method``; each is replaced, for the call's duration, by a function that raises
    :class:`~hipaa_lab.errors.GradingError` with ``message``. ``switch``, when set, names a
    module's own context manager that makes its answers refuse (``module:function``, called with
    the exercise's name). ``withheld`` are the modules whose files hold the exercise's answers:
    sealed autograding makes them unreadable in the sandbox (see the module).
    """

    targets: tuple[tuple[str, str], ...]
    message: str
    switch: str | None = None
    withheld: tuple[str, ...] = ()


_LEDGER, _AUDIT = "hipaa_lab.ledger", "hipaa_lab.safeguards.audit"
_BACKUP, _MEDIA, _CRYPTO = (
    "hipaa_lab.safeguards.backup",
    "hipaa_lab.safeguards.media",
    "hipaa_lab.safeguards.crypto",
)
_BREACH, _CHECKS_BREACH = "hipaa_lab.safeguards.breach", "hipaa_lab.course.checks_breach"
_CHAINCHECK, _LINECHAIN = "hipaa_lab._chaincheck", "hipaa_lab._linechain"
_RESTORE_CHECK, _CARVER = "hipaa_lab.safeguards._restore_check", "hipaa_lab.safeguards._carving"
_BREACH_PLAN, _BREACH_KEY = "hipaa_lab.safeguards._breach_plan", "hipaa_lab.course._breach_key"
_SCAN, _ENGINE = "hipaa_lab.deid.scan", "hipaa_lab.deid.engine"

_FIND_PHI = Refusal(
    (
        (_SCAN, "scan_dataset"),
        (_SCAN, "find_patterns"),
        (_ENGINE, "Deidentifier.deidentify"),  # hl.deid.Deidentifier: this class
    ),
    "find_phi must find PHI itself: it may not call hl.scan or hl.deid",
    withheld=(_SCAN, _ENGINE),
)
_CHAIN = Refusal(
    (
        (_LEDGER, "check_chain"),
        (_CHAINCHECK, "check_chain"),
        # its helper too: a check_chain imported by name before the call (``from ... import``)
        # escapes the replaced attribute, not the helper it calls through the module
        (_CHAINCHECK, "_index_and_prev"),
        (_LEDGER, "FileLedger.verify"),
        (_LEDGER, "Ledger.verify"),
        (_AUDIT, "AuditTrail.verify"),
    ),
    "find_tampered must check the links itself (hashlib.sha256 of each line): it may not call "
    "the ledger's or the audit trail's verify",
    withheld=(_CHAINCHECK, _LINECHAIN),
)
_RESTORE = Refusal(
    (
        (_BACKUP, "restore"),
        (_BACKUP, "drill"),
        (_BACKUP, "_problems"),
        (_BACKUP, "_read_manifest"),
        (_RESTORE_CHECK, "_problems"),
    ),
    "verify_restore must compare the files with the manifest itself (hashlib.sha256 of each "
    "file's bytes): it may not call the backup module's restore or drill",
    withheld=(_RESTORE_CHECK,),
)
_CARVING = Refusal(
    (
        (_MEDIA, "carve"),
        (_MEDIA, "dicom_offsets"),
        (_CARVER, "carve"),
        (_CARVER, "dicom_offsets"),
        (_CRYPTO, "carve"),
        (_CRYPTO, "what_a_finder_reads"),
    ),
    "carve_dicom must search the bytes itself (bytes.find and pydicom.dcmread): it may not "
    "call the package's carve, dicom_offsets or what_a_finder_reads",
    withheld=(_CARVER,),
)
_PLANNER = Refusal(
    (
        (_BREACH, "plan"),
        (_BREACH_PLAN, "plan"),
        (_BREACH_PLAN, "_counts"),  # plan's first helper, whatever the card: as _index_and_prev
        (_BREACH_PLAN, "_notices"),
        (_BREACH_PLAN, "_delay"),
        (_CHECKS_BREACH, "expected_notices"),
        (_CHECKS_BREACH, "_exclusion_of"),
        (_BREACH_KEY, "expected_notices"),
        (_BREACH_KEY, "_exclusion_of"),
    ),
    "work it out yourself: hl.safeguards.breach.plan (and this module's answer helpers) may not "
    "be called while your function is graded",
    withheld=(_BREACH_PLAN, _BREACH_KEY),
)
#: The request desk checks one process-wide switch inside its answers (any caller, however it
#: imported them), rather than having them replaced.
_DESK = Refusal(
    (),
    "",
    switch="hipaa_lab.safeguards.sharing:refusing",
    withheld=("hipaa_lab.safeguards._desk",),
)

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


def withheld_modules(names: Iterable[str]) -> tuple[str, ...]:
    """The modules that hold the answers of the exercises among ``names`` (the names a graded
    assignment's grade cells use), sorted; names without a rule add none.

    >>> withheld_modules(["decide", "hl", "link_valid"])
    ('hipaa_lab.safeguards._desk',)
    """
    return tuple(sorted({m for name in names if name in RULES for m in RULES[name].withheld}))


def _withheld(module: str) -> bool:
    """Whether ``module`` is withheld here (the sandbox bound :mod:`~hipaa_lab.course.withheld`
    over it): nothing in it to replace."""
    return getattr(importlib.import_module(module), "__withheld__", False) is True


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

    targets = [
        _owner_and_name(module, attribute)
        for module, attribute in rule.targets
        if not _withheld(module)
    ]
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
