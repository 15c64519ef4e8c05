"""Moved to :mod:`hipaa_lab.deid.profile`; ``hipaa_lab.annex_e`` stays importable as that module."""

import sys

from hipaa_lab.deid import profile as _moved

sys.modules[__name__] = _moved
