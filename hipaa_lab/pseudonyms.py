"""Moved to :mod:`hipaa_lab.deid.pseudonyms`; ``hipaa_lab.pseudonyms`` stays importable as that module."""

import sys

from hipaa_lab.deid import pseudonyms as _moved

sys.modules[__name__] = _moved
