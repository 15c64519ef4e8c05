"""The access policy of the simulated PACS: PyCasbin with a model file and a policy file.

The rules are plain text a learner can read and edit: ``hipaa_lab/data/access/policy.csv`` (one
rule a line, ``p, ROLE, ACTION, PURPOSE, CONDITION``, with comments saying why) under the model
``hipaa_lab/data/access/model.conf`` (deny by default: a request is allowed only when a rule
allows it). PyCasbin (the PyPI package ``pycasbin``, 2.x) decides every request.

Loading checks every line first and refuses a file with a line casbin would misread or that names
an unknown role, action, purpose or condition (:class:`~hipaa_lab.errors.PolicyError`, naming each
bad line), since casbin itself skips such lines silently.

Speed: casbin's enforcer evaluates the matcher against every rule of the policy: some 7,000 to
11,000 decisions a second for the shipped policy on one loaded core. A decision depends only on the
request's role, action, purpose and facts, of which there are a few thousand combinations, so
:class:`AccessPolicy` keeps each decision casbin made in a table and answers a repeated request
from it; the table is dropped whenever the policy is loaded again. ``benchmarks/bench_access.py``
measures both (the table: 240,000 to 340,000 decisions a second, 23x to 50x casbin's enforcer).

Examples
--------
>>> policy = AccessPolicy.default()
>>> verdict = policy.decide("radiologist", "read", "treatment", frozenset({"worklist"}))
>>> verdict.allowed, verdict.rule.condition
(True, 'worklist')
>>> policy.decide("front_desk", "read", "treatment", frozenset({"care_team"})).allowed
False
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import casbin
from casbin.model import Model
from casbin.persist.adapter import Adapter, load_policy_line

from hipaa_lab.errors import PolicyError

__all__ = [
    "AccessPolicy",
    "Condition",
    "Operation",
    "Purpose",
    "Role",
    "Rule",
    "Verdict",
    "default_model_path",
    "default_policy_path",
    "holds",
]


class Role(str, enum.Enum):
    """A role in the PACS (the roster's roles, but for ``manager``, which has no PACS role)."""

    RADIOLOGIST = "radiologist"
    TECHNOLOGIST = "technologist"
    REFERRING_PHYSICIAN = "referring_physician"
    FRONT_DESK = "front_desk"
    BILLING = "billing"
    PACS_ADMIN = "pacs_admin"
    RESEARCHER = "researcher"


class Purpose(str, enum.Enum):
    """The purpose of use stated with a request (45 CFR 164.501 defines each)."""

    TREATMENT = "treatment"
    PAYMENT = "payment"
    OPERATIONS = "operations"
    RESEARCH = "research"


class Operation(str, enum.Enum):
    """What a request does: search the archive, open a study's images, or copy a study out."""

    QUERY = "query"
    READ = "read"
    EXPORT = "export"


class Condition(str, enum.Enum):
    """A fact between a user and a study that a rule may require (the PACS works each out)."""

    CARE_TEAM = "care_team"  #: the user is on the patient's care team
    WORKLIST = "worklist"  #: the study's modality is one the user's department reads or acquires
    APPROVED = "approved"  #: a research approval (IRB or privacy board waiver) is on file
    DEIDENTIFIED = "deidentified"  #: the export asks for de-identified copies
    BREAK_GLASS = "break_glass"  #: the user's emergency access is on


#: The condition of a rule that needs no fact.
ANY = "any"

_FIELDS = ("role", "act", "purpose", "condition")
_REQUEST = ("role", "act", "purpose", "facts")


def default_model_path() -> Path:
    """The shipped model file, ``hipaa_lab/data/access/model.conf``."""
    return Path(str(resources.files("hipaa_lab.data").joinpath("access/model.conf")))


def default_policy_path() -> Path:
    """The shipped policy file, ``hipaa_lab/data/access/policy.csv``."""
    return Path(str(resources.files("hipaa_lab.data").joinpath("access/policy.csv")))


def holds(facts: frozenset[str], condition: str) -> bool:
    """Whether a rule's ``condition`` (``any``, or facts joined by ``&``) holds for ``facts``.

    The model's matcher calls it as ``holds(r.facts, p.condition)``.

    >>> holds(frozenset({"approved"}), "approved & deidentified")
    False
    >>> holds(frozenset({"approved", "deidentified"}), "approved & deidentified")
    True
    """
    if condition == ANY:
        return True
    return all(part.strip() in facts for part in condition.split("&"))


@dataclass(frozen=True)
class Rule:
    """One rule of a policy file and where it is."""

    source: str
    line: int
    role: str
    operation: str
    purpose: str
    condition: str

    def fields(self) -> tuple[str, str, str, str]:
        return (self.role, self.operation, self.purpose, self.condition)

    def __str__(self) -> str:
        return f"{self.source} line {self.line}: p, {', '.join(self.fields())}"


@dataclass(frozen=True)
class Verdict:
    """What the policy says about one request: allowed or not, and the rule that allowed it."""

    allowed: bool
    rule: Rule | None


def _choices(enum_cls: type[enum.Enum]) -> str:
    return ", ".join(str(m.value) for m in enum_cls)


def _check_condition(condition: str) -> str | None:
    if condition == ANY:
        return None
    parts = [p.strip() for p in condition.split("&")]
    known = {c.value for c in Condition}
    for part in parts:
        if part == ANY:
            return f"'any' stands alone; it cannot be joined with other facts in {condition!r}"
        if part not in known:
            return f"unknown condition {part!r}; choose 'any' or facts joined by &: {_choices(Condition)}"
    if len(set(parts)) != len(parts):
        return f"condition {condition!r} names a fact twice"
    return None


def _check_rule(tokens: list[str]) -> str | None:
    """What is wrong with one rule line's tokens, or None."""
    if tokens[0] != "p":
        return f"unknown rule type {tokens[0]!r}; each rule starts with 'p'"
    if len(tokens) != 5:
        return f"expected 5 fields (p, ROLE, ACTION, PURPOSE, CONDITION), found {len(tokens)}"
    _, role, act, purpose, condition = tokens
    checks = ((role, Role, "role"), (act, Operation, "action"), (purpose, Purpose, "purpose"))
    for value, enum_cls, what in checks:
        if value not in {m.value for m in enum_cls}:
            return f"unknown {what} {value!r}; choose one of: {_choices(enum_cls)}"
    return _check_condition(condition)


def parse_rules(text: str, source: str) -> list[Rule]:
    """The rules of a policy text, every line checked.

    Raises
    ------
    PolicyError
        Naming every bad line (1-based) and what is wrong with it.
    """
    rules: list[Rule] = []
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "#" in line:
            problems.append(
                f"{source}, line {number}: a comment must have a line of its own "
                "(casbin would read it as part of the rule)"
            )
            continue
        if any(c in line for c in "[]()"):
            problems.append(
                f"{source}, line {number}: brackets are not allowed in a rule: {line!r}"
            )
            continue
        tokens = [t.strip() for t in line.split(",")]
        what = _check_rule(tokens)
        if what:
            problems.append(f"{source}, line {number}: {what}: {line!r}")
            continue
        rules.append(Rule(source, number, *tokens[1:]))
    if problems:
        raise PolicyError(
            f"the access policy has {len(problems)} bad line(s); nothing of it is used, and every "
            "request is refused until it is fixed:\n  " + "\n  ".join(problems)
        )
    return rules


def _load_model(text: str, source: str) -> Model:
    model = Model()
    try:
        model.load_model_from_text(text)
    except Exception as exc:  # casbin raises plain RuntimeError/KeyError on a bad model
        raise PolicyError(f"{source}: casbin cannot read this model: {exc}") from exc
    for sec, key, want in (("r", "r", _REQUEST), ("p", "p", _FIELDS)):
        if sec not in model.keys() or key not in model[sec]:
            raise PolicyError(f"{source}: the model has no [{_SECTION[sec]}] with '{key} = ...'")
        found = tuple(t.removeprefix(f"{key}_") for t in model[sec][key].tokens)
        if found != want:
            raise PolicyError(
                f"{source}, line {_line_of(text, key + ' =')}: expected '{key} = {', '.join(want)}', found "
                f"'{key} = {', '.join(found)}' (the PACS sends requests of this shape)"
            )
    for sec in ("e", "m"):
        if sec not in model.keys():
            raise PolicyError(f"{source}: the model has no [{_SECTION[sec]}] section")
    return model


def _line_of(text: str, start: str) -> int:
    """The number of the first line of ``text`` that starts with ``start`` (0: none does)."""
    lines = enumerate(text.splitlines(), start=1)
    return next((n for n, line in lines if line.strip().startswith(start)), 0)


_SECTION = {
    "r": "request_definition",
    "p": "policy_definition",
    "e": "policy_effect",
    "m": "matchers",
}


class _TextAdapter(Adapter):  # type: ignore[misc]  # casbin is untyped
    """Feeds checked policy lines to casbin's own line reader."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def load_policy(self, model: Model) -> None:
        for line in self._lines:
            load_policy_line(line, model)


class AccessPolicy:
    """A casbin enforcer over a model and a policy, with a table of the decisions it made.

    Parameters
    ----------
    policy_text, model_text
        The policy (CSV lines) and the model (casbin's INI-like text).
    policy_source, model_source
        The names errors and rules give the texts (a file name).

    Raises
    ------
    PolicyError
        For a model casbin cannot read or of another shape than the PACS's requests, or a policy
        with a bad line (each named by its number).
    """

    def __init__(
        self,
        policy_text: str,
        model_text: str | None = None,
        *,
        policy_source: str = "policy.csv",
        model_source: str = "model.conf",
    ) -> None:
        if model_text is None:
            model_text = default_model_path().read_text(encoding="utf-8")
        self.policy_source = policy_source
        self.model_source = model_source
        self._paths: tuple[Path, Path] | None = None
        self._load(policy_text, model_text)

    @classmethod
    def from_files(
        cls,
        policy: str | os.PathLike[str] | None = None,
        model: str | os.PathLike[str] | None = None,
    ) -> AccessPolicy:
        """The policy of two files (default: the shipped ones); :meth:`reload` reads them again."""
        policy_path = Path(policy) if policy is not None else default_policy_path()
        model_path = Path(model) if model is not None else default_model_path()
        self = cls.__new__(cls)
        self.policy_source = policy_path.name
        self.model_source = model_path.name
        self._paths = (policy_path, model_path)
        self.reload()
        return self

    @classmethod
    def default(cls) -> AccessPolicy:
        """The shipped policy under the shipped model."""
        return cls.from_files()

    def reload(self) -> None:
        """Read the policy's files again; every decision kept from before is dropped.

        Raises
        ------
        PolicyError
            When a file cannot be read or is malformed; the policy then allows nothing.
        """
        if self._paths is None:
            raise PolicyError("this policy was given as text, not files: make a new one instead")
        policy_path, model_path = self._paths
        self._rules: list[Rule] = []
        self._enforcer: Any = None
        self._table: dict[tuple[str, str, str, frozenset[str]], Verdict] = {}
        texts = []
        for path in (policy_path, model_path):
            try:
                texts.append(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                raise PolicyError(f"cannot read {path}: {exc}") from exc
        self._load(texts[0], texts[1])

    def _load(self, policy_text: str, model_text: str) -> None:
        # fail closed: until both texts are read and checked, this policy allows nothing
        self._rules = []
        self._enforcer = None
        self._table = {}
        model = _load_model(model_text, self.model_source)
        rules = parse_rules(policy_text, self.policy_source)
        lines = ["p, " + ", ".join(r.fields()) for r in rules]
        enforcer = casbin.Enforcer(model, _TextAdapter(lines))
        enforcer.add_function("holds", holds)
        every_fact = frozenset(c.value for c in Condition)
        trials = {r.fields()[:3] for r in rules} or {("radiologist", "read", "treatment")}
        try:  # a matcher casbin cannot evaluate fails here, not at a learner's first request
            for role, act, purpose in sorted(trials):
                enforcer.enforce_ex(role, act, purpose, every_fact)
        except Exception as exc:
            raise PolicyError(
                f"{self.model_source}, line {_line_of(model_text, 'm =')}: casbin cannot evaluate "
                f"the matcher: {type(exc).__name__}: {exc}"
            ) from exc
        loaded = [tuple(p) for p in enforcer.get_policy()]
        if len(loaded) != len(rules):  # casbin read the checked lines otherwise than we did
            raise PolicyError(
                f"{self.policy_source}: casbin read {len(loaded)} rules where {len(rules)} were checked"
            )
        self._by_fields: dict[tuple[str, ...], Rule] = {}
        for rule in rules:
            self._by_fields.setdefault(rule.fields(), rule)
        self._rules = rules
        self._enforcer = enforcer

    @property
    def rules(self) -> list[Rule]:
        """The rules, in the order of the file."""
        return list(self._rules)

    def decide(
        self,
        role: str | Role,
        operation: str | Operation,
        purpose: str | Purpose,
        facts: Iterable[str | Condition] = frozenset(),
    ) -> Verdict:
        """Whether casbin allows the request, and by which rule (the first that allows it).

        A request the table has seen is answered from it; casbin decides every other one.

        Raises
        ------
        PolicyError
            When the policy could not be loaded: nothing is allowed.
        """
        key = (
            role.value if isinstance(role, Role) else role,
            operation.value if isinstance(operation, Operation) else operation,
            purpose.value if isinstance(purpose, Purpose) else purpose,
            facts
            if isinstance(facts, frozenset)
            else frozenset(f.value if isinstance(f, Condition) else f for f in facts),
        )
        verdict = self._table.get(key)
        if verdict is not None:
            return verdict
        if self._enforcer is None:
            raise PolicyError(f"{self.policy_source} is not loaded: nothing is allowed")
        try:
            allowed, explain = self._enforcer.enforce_ex(*key)
        except Exception as exc:  # a matcher that fails on some requests only: refuse them
            raise PolicyError(
                f"{self.model_source}: casbin cannot evaluate the matcher for {key[:3]}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        rule = self._by_fields.get(tuple(explain)) if allowed else None
        verdict = Verdict(bool(allowed), rule)
        if len(self._table) < 100_000:  # a few thousand keys exist; the cap guards odd callers
            self._table[key] = verdict
        return verdict

    def allows_some(
        self, role: str | Role, operation: str | Operation, purpose: str | Purpose
    ) -> bool:
        """Whether any rule allows ``role`` to do ``operation`` for ``purpose`` under some condition."""
        fields = (
            str(Role(role).value),
            str(Operation(operation).value),
            str(Purpose(purpose).value),
        )
        return any(r.fields()[:3] == fields for r in self._rules)
