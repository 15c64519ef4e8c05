"""DICOM over TLS through a network tap (hipaa_lab.safeguards.transmission), all on 127.0.0.1."""

import contextlib
import datetime as dt
import ipaddress
import socket
import threading
import time

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec

from hipaa_lab.errors import (
    CertificateRejectedError,
    HipaaLabError,
    PortInUseError,
    TransmissionError,
)
from hipaa_lab.phi import Location, SafeHarborCategory
from hipaa_lab.safeguards import transmission
from hipaa_lab.safeguards.transmission import (
    Demonstration,
    Relay,
    StorageServer,
    ThrowawayCA,
    demonstrate,
    send_study,
    sniff,
)
from hipaa_lab.studies import make_study

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def study():
    return make_study("CT", seed=7, slices=2, rows=64, columns=64)


@pytest.fixture(scope="module")
def ca():
    return ThrowawayCA.create()


@pytest.fixture(autouse=True)
def no_threads_left():
    """Every server, relay and association thread a test starts has ended when it returns."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    while (left := set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"threads left running: {sorted(t.name for t in left)}"


def _needles(study):
    """Every planted header value as bytes, plus the patient's name components and ID."""
    ds = study.instances[0].dataset
    values = {e.value for e in study.entries if e.location is Location.HEADER and e.value}
    values |= {part for part in str(ds.PatientName).split("^") if part}
    values.add(str(ds.PatientID))
    values.add(str(ds.PatientBirthDate))
    needles = set()
    for value in values:
        needles.add(value.encode("utf-8"))
        with contextlib.suppress(UnicodeEncodeError):
            needles.add(value.encode("latin-1"))
    return needles


def _check_intact(study, received):
    sent = {str(i.dataset.SOPInstanceUID): i.dataset for i in study.instances}
    got = {str(ds.SOPInstanceUID): ds for ds in received}
    assert got.keys() == sent.keys()
    for uid, ds in sent.items():
        assert got[uid].PixelData == ds.PixelData
        assert str(got[uid].PatientName) == str(ds.PatientName)
        assert got[uid].PatientID == ds.PatientID


def test_plain_transfer_puts_the_patients_identifiers_on_the_wire(study):
    demo = demonstrate(study, tls=False)
    ds = study.instances[0].dataset
    assert isinstance(demo, Demonstration)
    assert demo.sent == demo.received == demo.intact == len(study.instances)
    assert str(ds.PatientName).encode("utf-8") in demo.capture
    assert str(ds.PatientID).encode("ascii") in demo.capture
    found = {hit.value: hit for hit in demo.hits}
    assert {str(ds.PatientName), ds.PatientID, ds.PatientBirthDate} <= found.keys()
    name = found[str(ds.PatientName)]
    assert name.category is SafeHarborCategory.NAMES
    assert demo.capture[name.offsets[0] :].startswith(str(ds.PatientName).encode("utf-8"))
    assert found[ds.PatientID].category is SafeHarborCategory.MEDICAL_RECORD
    assert ds.PatientID in found[ds.PatientID].text
    assert {"names", "medical_record", "dates"} <= set(demo.categories_on_wire)
    assert demo.transfer.tls_version is None
    table = demo.table()
    assert len(table) == len(demo.hits) and "what the sniffer reads" in table.columns
    assert "PatientName" in demo._repr_html_() and "in the clear" in repr(demo)


def test_tls_transfer_carries_no_identifier_yet_everything_arrives(study, ca):
    server_context = ca.server_context(require_client_cert=True)
    with StorageServer(ssl_context=server_context) as server, Relay(server.address) as relay:
        result = send_study(study, *relay.address, tls=ca.client_context())
        received = server.received
    capture = relay.captured
    assert relay.connections == 1 and len(capture) > sum(
        len(i.dataset.PixelData) for i in study.instances
    )
    for needle in _needles(study):
        assert needle not in capture, f"{needle!r} travelled in the clear"
    assert sniff(capture, study.entries, [i.dataset for i in study.instances]) == []
    assert result.sent == len(study.instances) and not result.failed
    assert result.tls_version in {"TLSv1.2", "TLSv1.3"}
    _check_intact(study, received)


def test_plain_transfer_arrives_intact_too(study):
    with StorageServer() as server, Relay(server.address) as relay:
        result = send_study(study.instances, *relay.address)
        received = server.received
    assert result.sop_instance_uids == [str(i.dataset.SOPInstanceUID) for i in study.instances]
    _check_intact(study, received)
    assert str(study.instances[0].dataset.PatientID).encode() in relay.captured


def test_demonstrate_with_tls_finds_nothing(study):
    demo = demonstrate(study, tls=True)
    assert demo.hits == [] and demo.intact == len(study.instances)
    assert "none of the" in demo.summary()
    assert demo.table().empty


def test_a_client_trusting_another_ca_is_refused_and_nothing_is_sent(study, ca):
    impostor = ThrowawayCA.create("someone else's CA")
    with StorageServer(ssl_context=ca.server_context()) as server, Relay(server.address) as relay:
        with pytest.raises(CertificateRejectedError, match="certificate verify failed") as info:
            send_study(study, *relay.address, tls=impostor.client_context())
        received = server.received
    assert isinstance(info.value, TransmissionError | ConnectionError | HipaaLabError)
    assert "Nothing was sent" in str(info.value)
    assert received == []
    for needle in _needles(study):
        assert needle not in relay.captured


def test_the_server_refuses_a_client_without_a_certificate(study, ca):
    with StorageServer(ssl_context=ca.server_context(require_client_cert=True)) as server:
        with pytest.raises(CertificateRejectedError, match="client certificate"):
            send_study(study, *server.address, tls=ca.client_context(present_certificate=False))
        assert server.received == []


def test_a_client_that_never_shakes_hands_cannot_stop_the_server(study, ca, monkeypatch):
    monkeypatch.setattr(transmission, "HANDSHAKE_TIMEOUT", 0.3)
    with StorageServer(ssl_context=ca.server_context()) as server:
        with socket.create_connection(server.address, timeout=5):  # connects, says nothing
            result = send_study(study, *server.address, tls=ca.client_context())
        assert result.sent == len(server.received) == len(study.instances)


def test_a_port_in_use_is_named_with_what_to_do():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} .*already in use.*port=0") as info:
            StorageServer(port=port).start()
        assert isinstance(info.value, OSError) and info.value.errno is not None
        with pytest.raises(PortInUseError, match=f"port {port}.*the relay"):
            Relay(("127.0.0.1", 1), port=port).start()


def test_nothing_listening_is_a_clear_transmission_error(study):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(TransmissionError, match="nothing was sent"):
            send_study(study, "127.0.0.1", port)


def test_only_loopback():
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        Relay(("pacs.example.org", 104))
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        send_study([], "pacs.example.org", 104)


def test_the_server_certificate_chains_to_the_ca_names_localhost_and_expires_within_a_day(ca):
    server = ca.server.certificate
    assert server.issuer == ca.certificate.subject
    server.verify_directly_issued_by(ca.certificate)
    with pytest.raises((ValueError, InvalidSignature)):  # same name, another key
        server.verify_directly_issued_by(ThrowawayCA.create().certificate)
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    now = dt.datetime.now(dt.UTC)
    for cert in (server, ca.certificate, ca.client.certificate):
        assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
        assert cert.not_valid_after_utc - now <= dt.timedelta(days=1, minutes=1)
    assert ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(ca.server.key, ec.EllipticCurvePrivateKey)
    assert b"PRIVATE KEY" not in ca.pem and "PRIVATE" not in repr(ca)


def test_contexts_require_tls_1_2_and_verification(ca):
    import ssl

    server = ca.server_context(require_client_cert=True)
    client = ca.client_context()
    assert server.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert client.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert client.check_hostname and client.verify_mode is ssl.CERT_REQUIRED
    assert server.verify_mode is ssl.CERT_REQUIRED
    assert ca_count(client) == 1


def ca_count(context):
    return len(context.get_ca_certs())


def test_no_key_file_is_left_behind(ca, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ca.server_context()
    ca.client_context()
    assert list(tmp_path.iterdir()) == []
