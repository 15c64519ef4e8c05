"""Every file of every dataset in the catalogue passes dciodvfy (dicom3tools) with no error.

The generator promises valid DICOM; this holds it to that promise over the datasets learners and
benchmarks actually get, file by file. Warnings are counted and printed, not failed on
(test_studies.py names the ones a study may carry, each with its reason).
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hipaa_lab.studies.catalogue import STUDIES_DIR, build, catalogue

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed"
    ),
]


def _verify(path: Path) -> tuple[Path, list[str], list[str]]:
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=120)
    lines = (out.stderr + out.stdout).splitlines()
    return path, [ln for ln in lines if "Error" in ln], [ln for ln in lines if "Warning" in ln]


@pytest.mark.parametrize("name", sorted(catalogue()))
def test_every_file_of_the_dataset_has_no_dciodvfy_error(name, tmp_path):
    build(name, tmp_path / name, progress=False)
    files = sorted(p for p in (tmp_path / name / STUDIES_DIR).rglob("*") if p.is_file())
    assert files
    errors, warnings = [], Counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        for path, errs, warns in pool.map(_verify, files):
            errors += [f"{path.relative_to(tmp_path)}: {e}" for e in errs]
            warnings.update(w.split(" - ", 2)[-1] for w in warns)
    print(f"{name}: {len(files)} files, {sum(warnings.values())} warnings")
    for text, count in warnings.most_common():
        print(f"  {count:5d}  {text}")
    assert not errors, "\n".join(errors[:50])
