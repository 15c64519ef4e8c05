"""Moved to :mod:`hipaa_lab.studies.catalogue`; ``hipaa_lab.datasets`` stays importable as that module.

Released notebooks call ``hl.datasets.load(NAME)``: this name must keep working.
"""

import sys

from hipaa_lab.studies import catalogue as _moved

sys.modules[__name__] = _moved
