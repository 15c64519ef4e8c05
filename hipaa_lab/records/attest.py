"""What a learner acknowledged at the end of a module, and which content they acknowledged it on.

Each module ends with its policy (a locked markdown cell tagged ``hipaa-lab-policy``) and a
code cell tagged ``hipaa-lab-acknowledgement`` in which the learner types their name::

    acknowledged_by = "Avery Quinlan"

The acknowledgement is read from the notebook the learner submitted, as text (the cell is parsed,
never run): one top-level assignment of a non-empty string, nothing else. A notebook that changes
the variable's value by code, leaves it empty or drops the cell has not acknowledged anything.

**Versions.** A module's version is the SHA-256 of what learners cannot change in its notebooks:
every locked cell (its type, nbgrader id and source), notebook by notebook in name order. The
release and a submission fetched from it give the same version, so a submission is recorded with
the version the learner actually worked on, even after the module was released again; a
submission whose locked cells were edited gives a version no release had.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ACKNOWLEDGEMENT_TAG",
    "ACKNOWLEDGEMENT_VARIABLE",
    "POLICY_TAG",
    "Acknowledgement",
    "content_version",
    "read_acknowledgement",
]

POLICY_TAG = "hipaa-lab-policy"
ACKNOWLEDGEMENT_TAG = "hipaa-lab-acknowledgement"
ACKNOWLEDGEMENT_VARIABLE = "acknowledged_by"
_MAX_NAME = 200


@dataclass(frozen=True)
class Acknowledgement:
    """A learner's acknowledgement of a module's policy: the statement (its SHA-256, hex) and the
    name they typed under it."""

    statement: str
    signed: str


def _cells(notebook: Path) -> list[Mapping[str, Any]]:
    """The cells of ``notebook``; none for a file that is not a notebook."""
    try:
        nb = json.loads(notebook.read_bytes())
    except (OSError, ValueError):
        return []
    cells = nb.get("cells") if isinstance(nb, dict) else None
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def _source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _tags(cell: Mapping[str, Any]) -> list[str]:
    metadata = cell.get("metadata")
    tags = metadata.get("tags") if isinstance(metadata, dict) else None
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def _nbgrader(cell: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = cell.get("metadata")
    found = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return found if isinstance(found, dict) else {}


def _notebooks(folder: Path) -> Iterable[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file() and not p.name.startswith("."))


def content_version(folder: Path) -> str:
    """The version (SHA-256, 16 hex digits) of a module's notebooks in ``folder``: a release, or
    a learner's submission of it (see the module docstring)."""
    digest = hashlib.sha256()
    for notebook in _notebooks(folder):
        digest.update(notebook.name.encode() + b"\0")
        for cell in _cells(notebook):
            nbgrader = _nbgrader(cell)
            if not nbgrader.get("locked"):
                continue
            for part in (str(cell.get("cell_type")), str(nbgrader.get("grade_id")), _source(cell)):
                digest.update(part.encode() + b"\0")
    return digest.hexdigest()[:16]


def _typed_name(source: str) -> str | None:
    """The string ``source`` assigns to ``acknowledged_by``, when that is all it does."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    if len(tree.body) != 1:
        return None
    node = tree.body[0]
    if not (
        isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id == ACKNOWLEDGEMENT_VARIABLE
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ):
        return None
    name = " ".join(node.value.value.split())
    return name[:_MAX_NAME] if name else None


def read_acknowledgement(folder: Path) -> Acknowledgement | None:
    """The acknowledgement in the notebooks of a submission ``folder``, or ``None`` when the
    learner did not give one (see the module docstring)."""
    for notebook in _notebooks(folder):
        cells = _cells(notebook)
        policy = [c for c in cells if POLICY_TAG in _tags(c) and _nbgrader(c).get("locked")]
        answer = [c for c in cells if ACKNOWLEDGEMENT_TAG in _tags(c)]
        if len(policy) != 1 or len(answer) != 1 or answer[0].get("cell_type") != "code":
            continue
        name = _typed_name(_source(answer[0]))
        if name is not None:
            statement = hashlib.sha256(_source(policy[0]).encode()).hexdigest()
            return Acknowledgement(statement, name)
    return None
