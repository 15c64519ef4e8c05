"""Moved to :mod:`hipaa_lab.studies.phantoms`; ``hipaa_lab.phantoms`` stays importable as that module."""

import sys

from hipaa_lab.studies import phantoms as _moved

sys.modules[__name__] = _moved
