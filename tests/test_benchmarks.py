"""The benchmarks run (a tiny corpus, no peers): they are scripts, timed by hand, never in the suite."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_deid.py"


@pytest.mark.timeout(120)
def test_bench_deid_prints_rates_and_ratios(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--n",
            "10",
            "--others",
            "1",
            "--no-peers",
            "--no-ocr-modalities",
            "--repeat",
            "1",
            "--corpus",
            str(tmp_path / "corpus"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for name in ("raw pydicom loop", "hipaa-lab 1 process", "hipaa-lab --jobs 2", "hipaa-lab CLI"):
        assert any(line.startswith(name) and "files/s" in line for line in out.splitlines()), (
            name,
            out,
        )
    assert "ratio hipaa-lab 1 process / raw pydicom loop" in out
    assert "ratio hipaa-lab --jobs 2 / hipaa-lab 1 process" in out
    assert "FAILED" not in out and "!!" not in out, out  # every contender wrote every output
    assert "load average" in out
    steps = [line for line in out.splitlines() if line.startswith("steps ")]
    assert [line.split()[1] for line in steps] == ["hipaa-lab", "raw"], out
    for step in ("read and checks", "engine rules", "encode", "staged file, write, link"):
        assert step in steps[0], out


@pytest.mark.timeout(300)
def test_bench_records_prints_its_timings_and_ratios(tmp_path):
    bench = BENCH.parent / "bench_records.py"
    r = subprocess.run(
        [
            sys.executable,
            str(bench),
            *("--n", "20", "--modules", "3", "--pdf-rows", "2", "--corpus", str(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "60 status rows" in r.stdout, r.stdout
    for line in (
        "ratio csv / pandas to_csv",
        "ratio plain hash pass / verify",
        "ratio xlsx / pandas to_excel",
        "ratio xapi / plain dicts json.dumps",
        "ratio pdf certificate / plain page",
        "ratio dashboard / pandas + matplotlib",
    ):
        assert line in r.stdout, r.stdout
    # each baseline does the same work: the same statements, the same overdue counts
    assert "the same bytes as the baseline's: yes" in r.stdout, r.stdout
    assert "the same counts as pandas': yes" in r.stdout, r.stdout
    assert "pdf certificates (2 of " in r.stdout, r.stdout


@pytest.mark.timeout(600)
def test_bench_parallel_autograde_prints_times_ratio_and_match(tmp_path):
    bench = BENCH.parent / "bench_parallel_autograde.py"
    r = subprocess.run(
        [
            sys.executable,
            str(bench),
            "--learners",
            "2",
            "--modules",
            "m01-phi-in-images",
            "--rounds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode == 2 and "no PostgreSQL server" in r.stderr:
        pytest.skip(r.stderr.strip())
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for line in ("round 1 nbgrader sequential", "round 1 hipaa-lab --jobs 2"):
        assert any(x.startswith(line) and "grades match" in x for x in out.splitlines()), out
    assert "ratio sequential / parallel, all rounds" in out
    assert "every cell's grade the same in every run: True" in out
    assert "load average at the start" in out and "load average at the end" in out


@pytest.mark.timeout(120)
def test_bench_access_prints_rates_ratios_and_no_wrong_decision():
    bench = BENCH.parent / "bench_access.py"
    r = subprocess.run(
        [sys.executable, str(bench), "--n", "400", "--facade", "200"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for name in (
        "plain casbin Enforcer (baseline)",
        "casbin SyncedEnforcer",
        "casbin FastEnforcer [0,1,2]",
        "hipaa-lab AccessPolicy.decide (table)",
        "hipaa-lab Pacs.read (whole facade)",
    ):
        assert any(line.startswith(name) and "/s" in line for line in out.splitlines()), (name, out)
    assert "ratio hipaa-lab AccessPolicy / plain casbin Enforcer" in out
    assert "!!" not in out, out  # every contender agreed with the plain enforcer
    assert "load average" in out


@pytest.mark.timeout(300)
def test_bench_audit_prints_verify_and_the_plain_hash_ratio(tmp_path):
    bench = BENCH.parent / "bench_audit.py"
    r = subprocess.run(
        [sys.executable, str(bench), "--n", "3000", "--repeat", "1", "--corpus", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "log: 3000 events" in out, out
    for line in ("verify (chain)", "verify + checkpoint", "plain SHA-256 pass (file)"):
        assert any(x.startswith(line) and "events/s" in x for x in out.splitlines()), out
    assert "ratio plain hash pass / verify " in out and "(aim >= 0.5x)" in out, out
    assert "load average at the start" in out and "load average at the end" in out
