"""Moved to :mod:`hipaa_lab.deid.pixels`; ``hipaa_lab.pixels`` stays importable as that module."""

import sys

from hipaa_lab.deid import pixels as _moved

sys.modules[__name__] = _moved
