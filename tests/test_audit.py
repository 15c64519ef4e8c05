"""The audit trail: tamper detection, DICOM audit XML (PS3.15 A.5.1), tables, and the CLI."""

import base64
import datetime as dt
import json
import multiprocessing
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from hipaa_lab.errors import AuditLogError, LedgerError
from hipaa_lab.ledger import Checkpoint, FileLedger, Receipt
from hipaa_lab.safeguards.audit import (
    Action,
    AuditEvent,
    AuditSink,
    AuditTrail,
    EventID,
    EventType,
    Outcome,
    from_frame,
    read_csv,
    to_frame,
    to_xml,
    write_csv,
    write_xml,
    xml_message,
)

T0 = dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC)
STUDY = "2.25.1234567890123456789"
PATIENT = "HL-PAT-A"


def _event(kind, minutes, **kw):
    base = {
        "user": "U0042",
        "user_name": "Rivera^Sam",
        "role": "radiologist",
    }
    base.update(kw)
    time = T0 + dt.timedelta(minutes=minutes)
    if kind == "login":
        return AuditEvent(
            EventID.USER_AUTHENTICATION,
            Action.EXECUTE,
            Outcome.SUCCESS,
            time,
            event_type=EventType.LOGIN,
            **base,
        )
    if kind == "logout":
        return AuditEvent(
            EventID.USER_AUTHENTICATION,
            Action.EXECUTE,
            Outcome.SUCCESS,
            time,
            event_type=EventType.LOGOUT,
            **base,
        )
    if kind == "failed-login":
        return AuditEvent(
            EventID.USER_AUTHENTICATION,
            Action.EXECUTE,
            Outcome.MINOR_FAILURE,
            time,
            event_type=EventType.LOGIN,
            reason="wrong password",
            **base,
        )
    patient = {"patient_id": PATIENT, "patient_name": "Okafor^Ada"}
    if kind == "query":
        return AuditEvent(
            EventID.QUERY,
            Action.EXECUTE,
            Outcome.SUCCESS,
            time,
            purpose="treatment",
            query={"PatientID": PATIENT, "QueryRetrieveLevel": "STUDY"},
            **patient,
            **base,
        )
    if kind == "access":
        return AuditEvent(
            EventID.INSTANCES_ACCESSED,
            Action.READ,
            Outcome.SUCCESS,
            time,
            study_uid=STUDY,
            purpose="treatment",
            count=120,
            **patient,
            **base,
        )
    if kind == "denied":
        return AuditEvent(
            EventID.INSTANCES_ACCESSED,
            Action.READ,
            Outcome.MINOR_FAILURE,
            time,
            study_uid=STUDY,
            purpose="treatment",
            reason="not on the patient's care team",
            **patient,
            **base,
        )
    if kind == "export":
        return AuditEvent(
            EventID.EXPORT,
            Action.READ,
            Outcome.SUCCESS,
            time,
            study_uid=STUDY,
            purpose="research",
            reason="IRB-2026-101",
            count=120,
            **patient,
            **base,
        )
    if kind in ("glass-start", "glass-stop"):
        return AuditEvent(
            EventID.SECURITY_ALERT,
            Action.EXECUTE,
            Outcome.SUCCESS,
            time,
            event_type=EventType.EMERGENCY_OVERRIDE_STARTED
            if kind == "glass-start"
            else EventType.EMERGENCY_OVERRIDE_STOPPED,
            study_uid=STUDY,
            purpose="treatment",
            reason="emergency: trauma",
            **patient,
            **base,
        )
    raise AssertionError(kind)


KINDS = [
    "failed-login",
    "login",
    "query",
    "access",
    "denied",
    "glass-start",
    "access",
    "glass-stop",
    "export",
    "logout",
]


def _events(n=20):
    return [_event(KINDS[i % len(KINDS)], i) for i in range(n)]


@pytest.fixture
def trail(tmp_path):
    t = AuditTrail(tmp_path / "audit.jsonl")
    t.record_many(_events(20))
    return t


def _lines(trail):
    return trail.path.read_bytes().split(b"\n")[:-1]


def _write(trail, lines, end=b"\n"):
    trail.path.write_bytes(b"\n".join(lines) + end)


# --------------------------------------------------------------------------- the trail


def test_the_trail_is_a_sink_and_reads_back_what_it_recorded(tmp_path):
    sink: AuditSink = AuditTrail(tmp_path / "a.jsonl")
    events = _events(12)
    for e in events:
        sink.record(e)
    trail = AuditTrail(tmp_path / "a.jsonl")
    assert list(trail.events()) == events
    assert len(trail) == 12 and trail.verify().ok
    assert (tmp_path / "a.jsonl").stat().st_mode & 0o777 == 0o600
    # one canonical ledger entry per line, its time the event's
    first = json.loads(_lines(trail)[0])
    assert first["kind"] == "dicom-audit" and first["index"] == 0
    assert first["time"] == T0.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert first["body"] == events[0].to_body()


def test_an_intact_log_verifies_with_and_without_a_checkpoint(trail):
    saved = trail.checkpoint()
    trail.record(_event("logout", 99))
    assert trail.verify().ok
    assert trail.verify(saved).ok
    assert trail.verify(trail.checkpoint()).ok


def _edit(lines):
    lines[6] = lines[6].replace(b'"count":120', b'"count":12')
    return 7


def _delete(lines):
    del lines[6]
    return 7


def _insert(lines):
    lines.insert(6, lines[5])
    return 7


def _reorder(lines):
    lines[6], lines[7] = lines[7], lines[6]
    return 7


def _edit_link(lines):
    at = lines[6].index(b'"prev":"') + 8
    lines[6] = lines[6][:at] + b"f" * 64 + lines[6][at + 64 :]
    return 7


@pytest.mark.parametrize(
    "change", [_edit, _delete, _insert, _reorder, _edit_link], ids=lambda f: f.__name__[1:]
)
def test_a_changed_line_is_named(trail, change):
    lines = _lines(trail)
    bad = change(lines)
    _write(trail, lines)
    v = trail.verify()
    assert not v.ok
    assert v.first_bad == bad - 1, v
    assert f"line {bad}" in v.reason, v.reason


def test_a_broken_json_line_is_reported_with_its_number(trail):
    lines = _lines(trail)
    lines[4] = lines[4][:40] + b"{{" + lines[4][40:]
    _write(trail, lines)
    v = trail.verify()
    assert not v.ok and v.first_bad == 4 and "line 5" in v.reason, v
    with pytest.raises(AuditLogError) as err:
        list(trail.events())
    assert err.value.line == 5 and "line 5" in str(err.value)


def test_a_half_written_last_line_is_reported_and_not_extended(trail):
    lines = _lines(trail)
    lines[-1] = lines[-1][:50]
    _write(trail, lines, end=b"")
    v = trail.verify()
    assert not v.ok and v.first_bad == 19 and "line 20" in v.reason, v
    before = trail.path.read_bytes()
    with pytest.raises(LedgerError, match="incomplete"):
        trail.record(_event("logout", 99))
    assert trail.path.read_bytes() == before  # nothing was appended


def test_a_whole_last_line_without_its_line_end_is_reported(trail):
    _write(trail, _lines(trail), end=b"")
    v = trail.verify()
    assert not v.ok and "line 20 is incomplete" in v.reason


def test_an_edited_last_line_needs_a_checkpoint(trail):
    saved = trail.checkpoint()
    lines = _lines(trail)
    lines[-1] = lines[-1].replace(b'"U0042"', b'"U0043"')
    _write(trail, lines)
    assert trail.verify().ok  # the documented limit: nothing follows the last line
    v = trail.verify(saved)
    assert not v.ok and "rewritten" in v.reason


def test_a_cut_off_tail_is_caught_by_a_checkpoint(trail):
    saved = trail.checkpoint()
    _write(trail, _lines(trail)[:15])
    assert trail.verify().ok  # the chain alone cannot tell
    v = trail.verify(saved)
    assert not v.ok and v.first_bad == 15 and "cut off" in v.reason
    assert "line 16 to line 20" in v.reason


def test_a_recomputed_chain_is_caught_by_a_checkpoint(trail, tmp_path):
    saved = trail.checkpoint()
    events = list(trail.events())
    events[3] = _event("access", 3, user="U0099")  # someone else's access, hidden
    forged = FileLedger(tmp_path / "forged.jsonl", key_file=tmp_path / "other.key")
    forged.append_many(
        [("dicom-audit", e.to_body()) for e in events],
        times=[e.to_body()["time"] for e in events],
    )
    trail.path.write_bytes((tmp_path / "forged.jsonl").read_bytes())
    assert trail.verify().ok  # a consistent chain
    v = trail.verify(saved)
    assert not v.ok and "rewritten" in v.reason
    # nor can the forger's own checkpoint pass for the log's
    assert "another ledger" in trail.verify(forged.checkpoint()).reason


def test_a_receipt_proves_one_line_and_a_forged_one_fails(trail, tmp_path):
    saved = trail.checkpoint()
    receipt = trail.receipt(4, saved)
    key = trail.public_key()
    assert receipt.verify(key)
    assert Receipt.from_json(receipt.to_json()).verify(key)
    assert json.loads(receipt.entry)["index"] == 3
    edited = receipt.entry.replace(b'"U0042"', b'"U0043"')
    assert not Receipt(edited, 3, receipt.proof, saved).verify(key)
    assert not Receipt(receipt.entry, 4, receipt.proof, saved).verify(key)
    proof = (bytes(32), *receipt.proof[1:])
    assert not Receipt(receipt.entry, 3, proof, saved).verify(key)
    bigger = Checkpoint(saved.size + 1, saved.root, saved.time, saved.key_id, saved.signature)
    assert not Receipt(receipt.entry, 3, receipt.proof, bigger).verify(key)
    other = FileLedger(tmp_path / "x.jsonl", key_file=tmp_path / "x.key")
    assert not receipt.verify(other.public_key())


def _append_from_process(args):
    path, who = args
    trail = AuditTrail(path)
    for i in range(40):
        trail.record(_event("access", i, user=f"U{who:04d}"))


def test_processes_appending_at_once_lose_nothing(tmp_path):
    path = tmp_path / "audit.jsonl"
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_append_from_process, [(path, w) for w in range(4)])
    trail = AuditTrail(path)
    assert trail.verify().ok
    assert sorted(e.user for e in trail.events()) == sorted(
        f"U{w:04d}" for w in range(4) for _ in range(40)
    )


# --------------------------------------------------------------------------- DICOM audit XML


def _coded(el, code, scheme, meaning):
    assert el is not None
    assert el.attrib == {"csd-code": code, "codeSystemName": scheme, "originalText": meaning}


def _objects(msg):
    return msg.findall("ParticipantObjectIdentification")


def _check_common(msg, event, *, action, outcome, event_id, meaning, pacs_role):
    assert msg.tag == "AuditMessage"
    children = [c.tag for c in msg]
    assert children[:4] == [
        "EventIdentification",
        "ActiveParticipant",
        "ActiveParticipant",
        "AuditSourceIdentification",
    ]
    assert set(children[4:]) <= {"ParticipantObjectIdentification"}
    ident = msg.find("EventIdentification")
    assert ident.attrib == {
        "EventActionCode": action,
        "EventDateTime": event.to_body()["time"],
        "EventOutcomeIndicator": outcome,
    }
    assert ident[0].tag == "EventID"
    _coded(ident.find("EventID"), event_id, "DCM", meaning)
    user, pacs = msg.findall("ActiveParticipant")
    assert user.attrib == {
        "UserID": event.user,
        "UserName": event.user_name,
        "UserIsRequestor": "true",
    }
    _coded(user.find("RoleIDCode"), event.role, "99HIPAALAB", event.role.replace("_", " "))
    assert pacs.attrib == {"UserID": "HIPAA-LAB-PACS", "UserIsRequestor": "false"}
    _coded(pacs.find("RoleIDCode"), *pacs_role)
    assert msg.find("AuditSourceIdentification").attrib == {"AuditSourceID": "HIPAA-LAB-PACS"}
    return ident


def _check_study_and_patient(msg, count=None):
    study, patient = [
        o for o in _objects(msg) if o.get("ParticipantObjectTypeCodeRole") in ("3", "1")
    ]
    assert study.attrib == {
        "ParticipantObjectID": STUDY,
        "ParticipantObjectTypeCode": "2",
        "ParticipantObjectTypeCodeRole": "3",
    }
    assert study[0].tag == "ParticipantObjectIDTypeCode"
    _coded(study[0], "110180", "DCM", "Study Instance UID")
    if count is None:
        assert len(study) == 1
    else:
        detail = study.find("ParticipantObjectDetail")
        assert detail.get("type") == "NumberOfInstances"
        assert base64.b64decode(detail.get("value")) == str(count).encode()
    assert patient.attrib == {
        "ParticipantObjectID": PATIENT,
        "ParticipantObjectTypeCode": "1",
        "ParticipantObjectTypeCodeRole": "1",
    }
    assert [c.tag for c in patient] == ["ParticipantObjectIDTypeCode", "ParticipantObjectName"]
    _coded(patient[0], "2", "RFC-3881", "Patient Number")
    assert patient[1].text == "Okafor^Ada"


APPLICATION = ("110150", "DCM", "Application")


def test_xml_instances_accessed():
    e = _event("access", 1)
    msg = ET.fromstring(xml_message(e))  # noqa: S314  our own output
    ident = _check_common(
        msg,
        e,
        action="R",
        outcome="0",
        event_id="110103",
        meaning="DICOM Instances Accessed",
        pacs_role=APPLICATION,
    )
    assert [c.tag for c in ident] == ["EventID", "PurposeOfUse"]
    _coded(ident.find("PurposeOfUse"), "TREAT", "2.16.840.1.113883.5.8", "treatment")
    assert len(_objects(msg)) == 2
    _check_study_and_patient(msg, count=120)


def test_xml_a_refused_access_is_a_failure_with_its_reason():
    e = _event("denied", 1)
    msg = to_xml(e)
    ident = _check_common(
        msg,
        e,
        action="R",
        outcome="4",
        event_id="110103",
        meaning="DICOM Instances Accessed",
        pacs_role=APPLICATION,
    )
    assert [c.tag for c in ident] == ["EventID", "EventOutcomeDescription", "PurposeOfUse"]
    assert ident.find("EventOutcomeDescription").text == "not on the patient's care team"
    _check_study_and_patient(msg)


def test_xml_export():
    e = _event("export", 1)
    msg = to_xml(e)
    ident = _check_common(
        msg,
        e,
        action="R",
        outcome="0",
        event_id="110106",
        meaning="Export",
        pacs_role=("110153", "DCM", "Source Role ID"),
    )
    _coded(ident.find("PurposeOfUse"), "HRESCH", "2.16.840.1.113883.5.8", "healthcare research")
    assert ident.find("EventOutcomeDescription").text == "IRB-2026-101"
    _check_study_and_patient(msg, count=120)


def test_xml_query():
    e = _event("query", 1)
    msg = to_xml(e)
    _check_common(
        msg,
        e,
        action="E",
        outcome="0",
        event_id="110112",
        meaning="Query",
        pacs_role=APPLICATION,
    )
    query, patient = _objects(msg)
    assert query.attrib == {
        "ParticipantObjectID": "1.2.840.10008.5.1.4.1.2.2.1",
        "ParticipantObjectTypeCode": "2",
        "ParticipantObjectTypeCodeRole": "24",
    }
    assert [c.tag for c in query] == ["ParticipantObjectIDTypeCode", "ParticipantObjectQuery"]
    _coded(query[0], "110181", "DCM", "SOP Class UID")
    assert json.loads(base64.b64decode(query[1].text)) == e.query
    assert patient.get("ParticipantObjectTypeCode") == "1"


@pytest.mark.parametrize(
    ("kind", "code", "meaning", "outcome"),
    [
        ("login", "110122", "Login", "0"),
        ("logout", "110123", "Logout", "0"),
        ("failed-login", "110122", "Login", "4"),
    ],
)
def test_xml_user_authentication(kind, code, meaning, outcome):
    e = _event(kind, 1)
    msg = to_xml(e)
    ident = _check_common(
        msg,
        e,
        action="E",
        outcome=outcome,
        event_id="110114",
        meaning="User Authentication",
        pacs_role=APPLICATION,
    )
    assert ident[1].tag == "EventTypeCode"
    _coded(ident[1], code, "DCM", meaning)
    assert not _objects(msg)


@pytest.mark.parametrize(
    ("kind", "code", "meaning"),
    [
        ("glass-start", "110127", "Emergency Override Started"),
        ("glass-stop", "110138", "Emergency Override Stopped"),
    ],
)
def test_xml_break_glass_is_a_security_alert(kind, code, meaning):
    e = _event(kind, 1)
    msg = to_xml(e)
    ident = _check_common(
        msg,
        e,
        action="E",
        outcome="0",
        event_id="110113",
        meaning="Security Alert",
        pacs_role=APPLICATION,
    )
    assert [c.tag for c in ident] == [
        "EventID",
        "EventTypeCode",
        "EventOutcomeDescription",
        "PurposeOfUse",
    ]
    _coded(ident[1], code, "DCM", meaning)
    assert ident[2].text == "emergency: trauma"
    _check_study_and_patient(msg)


def test_write_xml_one_message_per_event_and_replaces_whole(trail, tmp_path):
    out = tmp_path / "out" / "audit-messages"
    assert write_xml(trail.events(), out) == 20
    files = sorted(out.iterdir())
    assert [f.name for f in files[:2]] == [f"line-{n:07d}.xml" for n in (1, 2)]
    assert len(files) == 20
    third = ET.parse(files[2]).getroot()  # noqa: S314  our own output
    assert third.find("EventIdentification/EventID").get("csd-code") == "110112"
    assert write_xml(list(trail.events())[:5], out) == 5
    assert len(list(out.iterdir())) == 5
    assert [p.name for p in out.parent.iterdir()] == ["audit-messages"]  # no temporary left


# --------------------------------------------------------------------------- tables


def test_dataframe_round_trip(trail):
    events = list(trail.events())
    frame = to_frame(events)
    assert len(frame) == 20 and list(frame["line"]) == list(range(1, 21))
    assert frame.loc[2, "query.PatientID"] == PATIENT
    assert frame.loc[0, "event_meaning"] == "User Authentication"
    assert str(frame["time"].dt.tz) == "UTC"
    assert from_frame(frame) == events


def test_csv_round_trip_and_formula_cells_neutralised(tmp_path):
    events = [
        *_events(10),
        _event("access", 50, user_name="=HYPERLINK(1)", user="+U1"),
        _event("query", 51, user_name="@SUM(A1)"),
    ]
    path = tmp_path / "audit.csv"
    assert write_csv(events, path) == 12
    raw = path.read_text()
    assert "'=HYPERLINK(1)" in raw and "'+U1" in raw and "'@SUM(A1)" in raw
    assert ",=HYPERLINK" not in raw
    frame = read_csv(path)
    assert from_frame(frame) == events
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# --------------------------------------------------------------------------- the command


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "hipaa_lab.cli", "audit", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_cli_generate_verify_tamper_export(tmp_path):
    log = tmp_path / "day.jsonl"
    r = _cli(
        "generate",
        "--out",
        log,
        "--seed",
        "4",
        "--staff",
        "50",
        "--patients",
        "70",
        "--key-out",
        tmp_path / "key.json",
        "--checkpoint-out",
        tmp_path / "cp.json",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    key = json.loads((tmp_path / "key.json").read_text())
    context = json.loads((tmp_path / "day.context.json").read_text())
    assert key["planted"] and context["staff"] and "planted" not in json.dumps(context)
    assert (tmp_path / "day.jsonl.signing-key").stat().st_mode & 0o777 == 0o600
    r = _cli("verify", log, "--checkpoint", tmp_path / "cp.json", cwd=tmp_path)
    assert r.returncode == 0 and "intact" in r.stdout, r.stdout + r.stderr

    r = _cli("export", log, "--format", "csv", "--out", tmp_path / "exp", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(read_csv(tmp_path / "exp" / "audit.csv")) == key["events"]
    r = _cli("export", log, "--format", "xml", "--out", tmp_path / "exp", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "exp" / "audit-messages").iterdir())) == key["events"]

    # the same seed makes the same log
    again = tmp_path / "again.jsonl"
    assert (
        _cli(
            "generate",
            "--out",
            again,
            "--seed",
            "4",
            "--staff",
            "50",
            "--patients",
            "70",
            cwd=tmp_path,
        ).returncode
        == 0
    )
    assert again.read_bytes() == log.read_bytes()

    lines = log.read_bytes().split(b"\n")
    lines[9] = lines[9].replace(b'"source":"HIPAA-LAB-PACS"', b'"source":"HIPAA-LAB-PACZ"')
    log.write_bytes(b"\n".join(lines))
    r = _cli("verify", log, cwd=tmp_path)
    assert r.returncode == 1 and "line 10" in r.stdout, r.stdout + r.stderr
    r = _cli("export", log, "--format", "csv", "--out", tmp_path / "exp2", cwd=tmp_path)
    assert r.returncode == 1 and "line 10" in r.stderr and not (tmp_path / "exp2").exists()

    log.write_bytes(b"\n".join(lines[:40]) + b"\n")  # back to an intact chain, tail cut off
    assert _cli("verify", log, cwd=tmp_path).returncode == 1  # line 10 still edited
    clean = again.read_bytes().split(b"\n")
    log.write_bytes(b"\n".join(clean[:40]) + b"\n")
    assert _cli("verify", log, cwd=tmp_path).returncode == 0
    r = _cli("verify", log, "--checkpoint", tmp_path / "cp.json", cwd=tmp_path)
    assert r.returncode == 1 and "cut off" in r.stdout and "line 41" in r.stdout


def test_cli_bad_input(tmp_path):
    r = _cli("verify", tmp_path / "missing.jsonl", cwd=tmp_path)
    assert r.returncode == 2 and "no audit log" in r.stderr
    log = tmp_path / "a.jsonl"
    AuditTrail(log).record_many(_events(5))
    (tmp_path / "cp.json").write_text("{not a checkpoint")
    r = _cli("verify", log, "--checkpoint", tmp_path / "cp.json", cwd=tmp_path)
    assert r.returncode == 2 and "checkpoint" in r.stderr
    r = _cli("generate", "--out", log, cwd=tmp_path)
    assert r.returncode == 2 and "exists" in r.stderr
    r = _cli("generate", "--out", tmp_path / "b.jsonl", "--staff", "5", cwd=tmp_path)
    assert r.returncode == 2 and "at least 40 staff" in r.stderr
    log.write_bytes(log.read_bytes() + b'{"broken json\n')
    r = _cli("verify", log, cwd=tmp_path)
    assert r.returncode == 1 and "line 6" in r.stdout
    r = _cli(
        "export", log, "--format", "xml", "--out", tmp_path / "x", "--unverified", cwd=tmp_path
    )
    assert r.returncode == 1 and "line 6" in r.stderr


def test_the_pacs_audits_every_request_once_into_the_tamper_evident_log(tmp_path):
    """The two halves together: the simulated PACS's sink is the audit trail on disk. Every
    request (allowed, refused, under break-glass) and every login is one line of the log, in
    order, with the study and patient named; the log verifies, and an edited refusal is caught."""
    from hipaa_lab.errors import AccessDenied
    from hipaa_lab.safeguards.access import Pacs

    trail = AuditTrail(tmp_path / "pacs-audit.jsonl")
    pacs = Pacs.synthetic(trail, patients=4)
    radiologist, desk = pacs.login("U101"), pacs.login("U401")
    found = pacs.query(radiologist, "treatment")
    ct = next(s for s in found if s.modality == "CT")
    pacs.read(radiologist, ct.study_uid, "treatment")
    with pytest.raises(AccessDenied):
        pacs.read(desk, ct.study_uid, "treatment")
    mr = next(s for s in pacs.query(desk, "operations") if s.modality == "MR")
    technologist = pacs.login("U201")
    pacs.start_break_glass(technologist, "trauma bay 2: unresponsive patient, prior MR needed")
    pacs.read(technologist, mr.study_uid, "treatment")
    pacs.stop_break_glass(technologist)

    events = list(trail.events())
    assert len(events) == len(pacs.decisions) + 3 + 2  # each decision once, 3 logins, 2 alerts
    refused = [e for e in events if e.outcome is not Outcome.SUCCESS]
    assert [(e.user, e.event, e.study_uid) for e in refused] == [
        ("U401", EventID.INSTANCES_ACCESSED, ct.study_uid)
    ]
    assert refused[0].patient_id == ct.patient_id and refused[0].reason
    glass = [e for e in events if e.event is EventID.SECURITY_ALERT]
    assert [e.event_type for e in glass] == [
        EventType.EMERGENCY_OVERRIDE_STARTED,
        EventType.EMERGENCY_OVERRIDE_STOPPED,
    ]
    under = next(e for e in events if e.user == "U201" and e.study_uid == mr.study_uid)
    assert "trauma bay 2" in (under.reason or "")
    saved = trail.checkpoint()
    assert trail.verify(saved).ok

    lines = trail.path.read_bytes().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if b'"outcome":4' in line)
    lines[at] = lines[at].replace(b'"outcome":4', b'"outcome":0')  # the refusal made a success
    trail.path.write_bytes(b"".join(lines))
    result = trail.verify(saved)
    assert not result.ok and result.first_bad == at
    assert result.reason.startswith(f"line {at + 1} was changed")
