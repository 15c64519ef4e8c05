"""The repository passes its own scanner (CONTRIBUTING.md: no real PHI, ever).

Every file ``git ls-files`` lists is scanned as ``hipaa-lab scan`` scans it: its path, folder by
folder, and its content (a DICOM file as a data set, a text file line by line). Synthetic
identifiers kept on purpose, such as the fake SSN a scanner test plants to be found, are allowed
one by one in ``tests/repository-scan-allow.toml``: a file's path, why it holds them, and each
finding as its rule and masked excerpt. Nothing else is allowed: another value in an allowed file
is a new finding (unless it masks the same: same shape, first and last letters, last two digits),
and an entry that no longer matches anything fails too, so the list cannot outlive what it
excuses. Only data generated from the standard (``hipaa_lab/data/``) may allow a whole rule.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from hipaa_lab.deid.scan import Finding, scan_file

ROOT = Path(__file__).resolve().parent.parent
ALLOW_LIST = Path(__file__).with_name("repository-scan-allow.toml")


def _tracked() -> list[str]:
    """The tracked files of the checkout this test is in (skips when it is not in one)."""
    try:
        top = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        if Path(top).resolve() != ROOT:
            raise subprocess.CalledProcessError(0, "git")
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        pytest.skip("not in a git checkout of hipaa-lab")
    return sorted(name for name in listed.decode().split("\0") if name)


def _key(finding: Finding) -> tuple[str, str, str]:
    return finding.file, finding.rule, finding.excerpt


def _allowed() -> tuple[set[tuple[str, str, str]], set[tuple[str, str]]]:
    """From the allow-list: ``(path, rule, excerpt)`` findings, and ``(path, rule)`` rules."""
    entries = tomllib.loads(ALLOW_LIST.read_text(encoding="utf-8")).get("file", [])
    findings: set[tuple[str, str, str]] = set()
    rules: set[tuple[str, str]] = set()
    for entry in entries:
        path = entry["path"]
        assert set(entry) in ({"path", "why", "findings"}, {"path", "why", "rules"}), entry
        assert entry["why"].strip(), f"{path}: say why it holds what it holds"
        findings |= {(path, rule, excerpt) for rule, excerpt in entry.get("findings", [])}
        rules |= {(path, rule) for rule in entry.get("rules", [])}
    return findings, rules


def test_every_tracked_file_passes_the_scanner():
    findings, rules = _allowed()
    found: list[Finding] = []
    for rel in _tracked():
        path = ROOT / rel
        if path.is_file():  # a tracked file deleted in the work tree holds nothing
            found += [f for f in scan_file(path, rel=rel) if f.severity == "high"]
    unexpected = [f for f in found if _key(f) not in findings and (f.file, f.rule) not in rules]
    assert not unexpected, (
        f"{len(unexpected)} finding(s) in tracked files: reword the text, fix a false positive "
        f"of the scanner, or allow a synthetic identifier in {ALLOW_LIST.name}:\n"
        + "\n".join(f.format() for f in unexpected)
        + "\n(as entries: "
        + " ".join(sorted({f"{f.file}: [{f.rule!r}, {f.excerpt!r}]" for f in unexpected}))
        + ")"
    )
    stale = sorted(findings - {_key(f) for f in found})
    stale += sorted(rules - {(f.file, f.rule) for f in found})
    assert not stale, f"allowed in {ALLOW_LIST.name} but no longer found (remove them): {stale}"


def test_the_allow_list_names_tracked_files_and_whole_rules_only_for_the_standards_data():
    tracked = set(_tracked())
    findings, rules = _allowed()
    paths = {f[0] for f in findings} | {r[0] for r in rules}
    assert paths <= tracked, sorted(paths - tracked)
    assert all(path.startswith("hipaa_lab/data/") for path, _ in rules), sorted(rules)
