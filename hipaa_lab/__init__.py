"""hipaa-lab: graded training in handling protected health information in medical images.

Notebooks use it as ``import hipaa_lab as hl``.
"""

from hipaa_lab import errors, phi
from hipaa_lab.errors import HipaaLabError
from hipaa_lab.phi import AnswerKey, Location, PHIEntry, SafeHarborCategory, get_element, iter_elements

__version__ = "0.1.0"

__all__ = [
    "AnswerKey",
    "HipaaLabError",
    "Location",
    "PHIEntry",
    "SafeHarborCategory",
    "errors",
    "get_element",
    "iter_elements",
    "phi",
]
