"""Moved to :mod:`hipaa_lab.deid.scan`; ``hipaa_lab.scan`` stays importable as that module."""

import sys

from hipaa_lab.deid import scan as _moved

sys.modules[__name__] = _moved
