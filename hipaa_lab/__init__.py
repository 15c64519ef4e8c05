"""hipaa-lab: graded training in handling protected health information in medical images.

Notebooks use it as ``import hipaa_lab as hl``. The submodules that need the notebook stack
(``widgets``, ``course``, ``grading``) load on first use, so ``import hipaa_lab`` stays light.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from hipaa_lab import errors, phi
from hipaa_lab.errors import HipaaLabError
from hipaa_lab.phi import (
    AnswerKey,
    Location,
    PHIEntry,
    SafeHarborCategory,
    get_element,
    iter_elements,
    remove_element,
)

__version__ = "0.1.0"

_SUBMODULES = (
    "annex_e",
    "course",
    "datasets",
    "deid",
    "demo",
    "grading",
    "ledger",
    "phantoms",  # was reached through hipaa_lab.studies; now hipaa_lab.studies.phantoms
    "pixels",
    "pseudonyms",
    "records",
    "safeguards",
    "scan",
    "studies",
    "widgets",
)

__all__ = [
    "AnswerKey",
    "HipaaLabError",
    "Location",
    "PHIEntry",
    "SafeHarborCategory",
    "annex_e",
    "course",
    "datasets",
    "deid",
    "demo",
    "errors",
    "get_element",
    "grading",
    "iter_elements",
    "ledger",
    "phi",
    "pixels",
    "pseudonyms",
    "records",
    "remove_element",
    "safeguards",
    "scan",
    "studies",
    "widgets",
]


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"hipaa_lab.{name}")
    raise AttributeError(f"module 'hipaa_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
