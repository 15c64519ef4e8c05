"""Role curricula and the training policy: which modules each role takes, and by when.

The defaults ship as ``hipaa_lab/data/curricula.toml``, a file a compliance officer can read:
every role takes the core modules (PHI in images, who may see a study), those who export or
administer images the technical one too, and those who review activity the audit log's;
new hires within 30 days, a refresher 365 days after the last pass, retraining within 30 days of
a material change, a pass at 80%. The rule sets none of these numbers (the file says which
paragraphs it does set); they are the organisation's policy, so a site copies the file, edits it
and passes it with ``--curricula``.

Examples
--------
>>> c = load_curricula()
>>> c.modules_for("front_desk")
('m01-phi-in-images', 'm03-who-may-see-this-study', 'm07-sharing-images-safely')
>>> c.policy.new_hire_days, c.threshold("m01-phi-in-images")
(30, 0.8)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from hipaa_lab.errors import CurriculaError
from hipaa_lab.records.roster import Role

__all__ = ["Curricula", "Policy", "load_curricula"]


@dataclass(frozen=True)
class Policy:
    """The organisation's training policy, in days, and the default pass threshold (a share)."""

    new_hire_days: int = 30
    refresher_days: int = 365
    retraining_days: int = 30
    due_soon_days: int = 30
    pass_threshold: float = 0.80


@dataclass(frozen=True)
class Curricula:
    """Modules by role, module titles and thresholds, and the policy."""

    policy: Policy
    roles: dict[Role, tuple[str, ...]]
    titles: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)

    def modules_for(self, role: Role | str) -> tuple[str, ...]:
        """The modules ``role`` must complete."""
        return self.roles.get(Role(role), ())

    def threshold(self, module: str) -> float:
        """The share of a module's points that passes it."""
        return self.thresholds.get(module, self.policy.pass_threshold)

    def modules(self) -> list[str]:
        """Every module any role takes, sorted."""
        return sorted({m for ms in self.roles.values() for m in ms})


def _number(where: str, value: Any, *, share: bool = False) -> Any:
    ok = (
        isinstance(value, (int, float)) and 0 < value <= 1
        if share
        else isinstance(value, int) and not isinstance(value, bool) and value >= 0
    )
    if not ok:
        wanted = "a share between 0 and 1" if share else "a whole number of days, 0 or more"
        raise CurriculaError(f"{where} is {value!r}: expected {wanted}")
    return value


def load_curricula(
    path: str | os.PathLike[str] | None = None,
    *,
    known_modules: Iterable[str] | None = None,
    check_modules: bool = True,
) -> Curricula:
    """The curricula in ``path`` (TOML), or the shipped defaults.

    ``known_modules``: the course's modules; a curricula file naming another is refused (default:
    the modules of the course's notebooks, :func:`hipaa_lab.course.build.assignments`).
    ``check_modules=False`` takes the file's module names as they are, for a reader that only
    shows one module's numbers and cannot list the course's notebooks (a learner on a hub, where
    they are closed; the grading sandbox, where they are hidden).

    Raises
    ------
    CurriculaError
        For an unknown module or role, a role left out, or a bad number: the message names what was
        expected. Nothing is loaded.
    """
    if path is None:
        text = resources.files("hipaa_lab.data").joinpath("curricula.toml").read_text()
        where = "the default curricula"
    else:
        text, where = Path(path).read_text(), str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CurriculaError(f"{where} is not TOML: {exc}") from None
    if not check_modules:
        known_modules = {
            *data.get("modules", {}),
            *(m for ms in data.get("roles", {}).values() for m in ms),
        }
    elif known_modules is None:
        from hipaa_lab.course.build import assignments

        known_modules = assignments()
    known = set(known_modules)
    raw_policy = data.get("policy", {})
    unknown_keys = set(raw_policy) - set(Policy.__dataclass_fields__)
    if unknown_keys:
        raise CurriculaError(
            f"{where}: unknown [policy] keys {sorted(unknown_keys)}; "
            f"expected {', '.join(Policy.__dataclass_fields__)}"
        )
    policy = Policy(
        **{
            k: _number(f"{where}: policy.{k}", v, share=k == "pass_threshold")
            for k, v in raw_policy.items()
        }
    )
    roles: dict[Role, tuple[str, ...]] = {}
    raw_roles = data.get("roles", {})
    valid_roles = ", ".join(r.value for r in Role)
    for name, modules in raw_roles.items():
        try:
            role = Role(name)
        except ValueError:
            raise CurriculaError(
                f"{where}: unknown role {name!r}; the roles are {valid_roles}"
            ) from None
        bad = [m for m in modules if m not in known]
        if bad:
            raise CurriculaError(
                f"{where}: role {name} names unknown modules {bad}; "
                f"the course's modules are {', '.join(sorted(known))}"
            )
        roles[role] = tuple(modules)
    missing = [r.value for r in Role if r not in roles]
    if missing:
        raise CurriculaError(f"{where}: no modules listed for roles {', '.join(missing)}")
    titles, thresholds = {}, {}
    for module, spec in data.get("modules", {}).items():
        if module not in known:
            raise CurriculaError(
                f"{where}: unknown module {module!r}; "
                f"the course's modules are {', '.join(sorted(known))}"
            )
        titles[module] = str(spec.get("title", module))
        if "pass_threshold" in spec:
            thresholds[module] = _number(
                f"{where}: modules.{module}.pass_threshold", spec["pass_threshold"], share=True
            )
    return Curricula(policy, roles, titles, thresholds)
