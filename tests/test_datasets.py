"""Tests of hipaa_lab.studies.catalogue (was hipaa_lab.datasets) and the `hipaa-lab datasets` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from hipaa_lab.errors import OutputNotEmptyError, UnknownDatasetError
from hipaa_lab.phi import AnswerKey, Location
from hipaa_lab.studies import Modality, PHILevel, catalogue


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hipaa_lab.cli", *args], capture_output=True, text=True, cwd=cwd
    )


def test_catalogue_is_sorted_and_holds_the_named_datasets():
    cat = catalogue.catalogue()
    assert list(cat) == sorted(cat)
    assert {"m01-sample", "benchmark-ct", "mixed-small"} <= set(cat)
    m01 = cat["m01-sample"]
    assert (
        set(m01.modalities) == set(Modality)
        and m01.level is PHILevel.EVERYWHERE
        and 2 <= m01.patients <= 3
    )
    bench = cat["benchmark-ct"]
    assert bench.modalities == (Modality.CT,) and bench.rows == bench.columns == 512
    assert bench.patients * bench.slices >= 200
    mixed = cat["mixed-small"]
    assert mixed.studies_per_patient > 1


def test_build_writes_studies_and_a_key_outside_them(tmp_path):
    out = tmp_path / "m01"
    key = catalogue.build("m01-sample", out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["answer-key.json", "studies"]
    files = sorted(
        p.relative_to(out / "studies").as_posix() for p in (out / "studies").rglob("*.dcm")
    )
    assert files == key.files()
    assert AnswerKey.load(out / "answer-key.json").entries == key.entries
    mods = {
        pydicom.dcmread(out / "studies" / f, stop_before_pixels=True).SOPClassUID for f in files
    }
    assert len(mods) == 8
    assert {e.location for e in key.entries} == set(Location)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no leftover temp folder


def test_build_is_deterministic(tmp_path):
    a = catalogue.build("mixed-small", tmp_path / "a", progress=False)
    b = catalogue.build("mixed-small", tmp_path / "b", progress=False)
    assert a.entries == b.entries
    for f in a.files():
        assert (tmp_path / "a/studies" / f).read_bytes() == (
            tmp_path / "b/studies" / f
        ).read_bytes()
    patients = {
        pydicom.dcmread(tmp_path / "a/studies" / f, stop_before_pixels=True).PatientID
        for f in a.files()
    }
    assert len(patients) == catalogue.catalogue()["mixed-small"].patients


def test_build_into_an_existing_empty_folder(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    catalogue.build("m01-sample", out, progress=False)
    assert (out / "answer-key.json").is_file()


def test_unknown_name_lists_the_catalogue(tmp_path):
    with pytest.raises(UnknownDatasetError) as err:
        catalogue.build("m99-nope", tmp_path / "x", progress=False)
    assert err.value.known == sorted(catalogue.catalogue())
    assert "m01-sample" in str(err.value)
    assert isinstance(err.value, LookupError)
    assert not (tmp_path / "x").exists()


def test_non_empty_output_is_left_untouched(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    keep = out / "notes.txt"
    keep.write_text("mine")
    before = keep.stat().st_mtime_ns
    with pytest.raises(OutputNotEmptyError):
        catalogue.build("m01-sample", out, progress=False)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert keep.read_text() == "mine" and keep.stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]


def test_interrupted_build_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = pydicom.Dataset.save_as

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 20:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pydicom.Dataset, "save_as", flaky)
    with pytest.raises(KeyboardInterrupt):
        catalogue.build("m01-sample", tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_load_builds_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HIPAA_LAB_CACHE", str(tmp_path))
    studies, key = catalogue.load("m01-sample")
    assert studies.is_dir() and studies.name == "studies" and studies.parent.parent == tmp_path
    assert studies.parent.name.startswith("m01-sample-")
    stamp = (studies.parent / "answer-key.json").stat().st_mtime_ns
    again, key2 = catalogue.load("m01-sample")
    assert again == studies and key2.entries == key.entries
    assert (studies.parent / "answer-key.json").stat().st_mtime_ns == stamp  # not rebuilt


def test_bad_catalogue_file_names_the_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "x"\ndescription = "d"\nseed = 1\npatients = 1\nmodalities = ["PET"]\nlevel = 3\n'
    )
    with pytest.raises(ValueError, match="modalities"):
        catalogue.DatasetSpec.from_toml(bad)
    bad.write_text(
        'name = "x"\ndescription = "d"\nseed = 1\npatients = 1\nmodalities = ["CT"]\nlevel = 3\ncolour = 1\n'
    )
    with pytest.raises(ValueError, match="colour"):
        catalogue.DatasetSpec.from_toml(bad)


# ------------------------------------------------------------------------------- command line


def test_cli_list_prints_one_dataset_a_line_name_first():
    res = _cli("datasets", "list")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == sorted(catalogue.catalogue())
    assert all(len(line.split("\t")) == 2 and line.split("\t")[1] for line in lines)


def test_cli_build_and_its_errors(tmp_path):
    out = tmp_path / "m01"
    res = _cli("datasets", "build", "m01-sample", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert (out / "answer-key.json").is_file() and "m01-sample" in res.stdout
    res = _cli("datasets", "build", "m01-sample", "--out", str(out))
    assert res.returncode == 1 and "not empty" in res.stderr
    res = _cli("datasets", "build", "nope", "--out", str(tmp_path / "n"))
    assert res.returncode == 1 and "m01-sample" in res.stderr and not (tmp_path / "n").exists()
    res = _cli("datasets", "build")
    assert res.returncode == 2


def test_cli_build_defaults_to_a_folder_named_after_the_dataset(tmp_path):
    res = _cli("datasets", "build", "m01-sample", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "m01-sample" / "studies").is_dir()
