"""Transmission security: DICOM over TLS, and what a network tap reads without it.

The Security Rule's transmission security standard, 45 CFR 164.312(e)(1), asks for "technical
security measures to guard against unauthorized access to electronic protected health information
that is being transmitted over an electronic communications network". Its two addressable
specifications are integrity controls, 164.312(e)(2)(i), and encryption, 164.312(e)(2)(ii).
DICOM's answer is the TLS secure transport connection profile (PS3.15 B.1, and BCP 195 for the
TLS versions and ciphers): the same association, the same C-STORE, inside TLS.

Everything here is real and runs on the loopback interface (127.0.0.1) only:

- :class:`ThrowawayCA`: a certificate authority made at run time (``cryptography``), valid for a
  day, its key kept in memory and never written; it issues a server certificate for
  ``localhost`` / ``127.0.0.1`` and a client certificate (mutual TLS), and builds the
  :class:`ssl.SSLContext` of each side (TLS 1.2 or later, the peer verified against this CA only);
- :class:`StorageServer`: a pynetdicom Storage SCP on a free port that keeps what it receives;
- :class:`Relay`: a TCP man in the middle, the "network tap": it forwards bytes both ways and
  records every one (:attr:`Relay.captured`);
- :func:`send_study`: a C-STORE SCU that sends a study's instances, with or without TLS;
- :func:`sniff`: searches a capture for the planted identifiers of a study's answer key, as a
  sniffer on the hospital network would, with offsets and a hex/ASCII excerpt;
- :func:`demonstrate`: the whole lesson in one call, SCU -> relay -> SCP, and a
  :class:`Demonstration` a notebook displays.

Examples
--------
>>> from hipaa_lab.studies import make_study
>>> study = make_study("CT", seed=7, slices=2, rows=64, columns=64)
>>> plain = demonstrate(study, tls=False)
>>> plain.intact, plain.sent, "names" in plain.categories_on_wire
(2, 2, True)
>>> encrypted = demonstrate(study, tls=True)
>>> encrypted.intact, encrypted.hits
(2, [])
"""

from __future__ import annotations

import datetime as dt
import errno
import html
import ipaddress
import logging
import os
import secrets
import selectors
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydicom.charset import convert_encodings
from pydicom.dataset import Dataset
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.dsutils import encode

from hipaa_lab.errors import CertificateRejectedError, PortInUseError, TransmissionError
from hipaa_lab.phi import Location, PHIEntry, SafeHarborCategory

if TYPE_CHECKING:
    import pandas as pd
    from pynetdicom.association import Association
    from pynetdicom.events import Event
    from pynetdicom.transport import ThreadedAssociationServer

    from hipaa_lab.studies.model import Instance, Study

__all__ = [
    "Demonstration",
    "IssuedCertificate",
    "Relay",
    "StorageServer",
    "ThrowawayCA",
    "TransferResult",
    "WireHit",
    "demonstrate",
    "send_study",
    "sniff",
]

#: The only interface anything here listens on or connects to.
LOOPBACK = "127.0.0.1"
#: The name the server certificate is issued to and the client checks.
SERVER_NAME = "localhost"
#: Seconds any socket here waits before giving up, so nothing can hang.
TIMEOUT = 10.0
#: Seconds the storage server waits for a client's TLS handshake: pynetdicom shakes hands in its
#: one accepting thread, so a client that connects and says nothing would stop it for good.
HANDSHAKE_TIMEOUT = 5.0
#: How long certificates of a :class:`ThrowawayCA` are valid.
VALIDITY = dt.timedelta(days=1)
#: Bytes shown on either side of an identifier found on the wire.
EXCERPT = 24
#: A name component shorter than this is not searched alone (``Dr``, ``C``...).
MIN_COMPONENT = 3

_STATUS_SUCCESS = 0x0000


# --- certificates ----------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class IssuedCertificate:
    """A certificate and its private key, held in memory.

    Parameters
    ----------
    certificate
        The X.509 certificate, signed by the issuing :class:`ThrowawayCA`.
    key
        Its private key (never written anywhere but for the moment :mod:`ssl` reads it).
    """

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        """The certificate in PEM (public, safe to show)."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def __repr__(self) -> str:
        subject = self.certificate.subject.rfc4514_string()
        return f"IssuedCertificate({subject}, expires {self.certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"

    def load_into(self, context: ssl.SSLContext) -> None:
        """Give ``context`` this certificate and key.

        :mod:`ssl` reads keys only from files: the key is written encrypted with a one-time
        password into a private temporary folder (mode 700, file mode 600) and deleted as soon
        as it is read.
        """
        password = secrets.token_bytes(32)
        key_pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password),
        )
        with tempfile.TemporaryDirectory(prefix="hipaa-lab-tls-") as folder:
            cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
            for path, data in ((cert_file, self.pem), (key_file, key_pem)):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
            context.load_cert_chain(cert_file, key_file, password=password)


class ThrowawayCA:
    """A certificate authority made for one lesson: in memory, valid for a day, then useless.

    Use :meth:`create`; it issues :attr:`server` (``localhost``, ``127.0.0.1``) and
    :attr:`client` (for mutual TLS) at once. The CA's key stays in this object and is never
    written: nothing a learner saves or shares holds it.

    Examples
    --------
    >>> ca = ThrowawayCA.create()
    >>> ca.server.certificate.issuer == ca.certificate.subject
    True
    >>> ca.server_context().minimum_version >= ssl.TLSVersion.TLSv1_2
    True
    """

    def __init__(
        self,
        certificate: x509.Certificate,
        key: ec.EllipticCurvePrivateKey,
        server: IssuedCertificate,
        client: IssuedCertificate,
    ) -> None:
        self.certificate = certificate
        self._key = key
        self.server = server
        self.client = client

    def __repr__(self) -> str:
        return (
            f"ThrowawayCA({self.certificate.subject.rfc4514_string()}, "
            f"expires {self.certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC)"
        )

    @classmethod
    def create(
        cls, name: str = "hipaa-lab throwaway CA", *, valid_for: dt.timedelta = VALIDITY
    ) -> ThrowawayCA:
        """Make a CA and its server and client certificates.

        Parameters
        ----------
        name
            The CA's common name.
        valid_for
            How long the three certificates are valid (a day by default).

        Returns
        -------
        ThrowawayCA
        """
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + valid_for)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        server = _issue(certificate, key, SERVER_NAME, valid_for, server=True)
        client = _issue(certificate, key, "hipaa-lab modality", valid_for, server=False)
        return cls(certificate, key, server, client)

    @property
    def pem(self) -> bytes:
        """The CA's certificate in PEM: what a client trusts."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def server_context(self, *, require_client_cert: bool = True) -> ssl.SSLContext:
        """The storage server's TLS settings.

        Parameters
        ----------
        require_client_cert
            Mutual TLS (PS3.15 B.1): refuse a client without a certificate of this CA.

        Returns
        -------
        ssl.SSLContext
            TLS 1.2 or later, :attr:`server`'s certificate and key.
        """
        context = _ServerContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.server.load_into(context)
        if require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=self.pem.decode("ascii"))
        return context

    def client_context(self, *, present_certificate: bool = True) -> ssl.SSLContext:
        """A sender's TLS settings: trust this CA alone and check the server's name.

        Parameters
        ----------
        present_certificate
            Present :attr:`client`'s certificate (mutual TLS).

        Returns
        -------
        ssl.SSLContext
            TLS 1.2 or later, hostname checked, verified against this CA only.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname, CERT_REQUIRED
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_verify_locations(cadata=self.pem.decode("ascii"))
        if present_certificate:
            self.client.load_into(context)
        return context


class _ServerContext(ssl.SSLContext):
    """A server context whose handshake gives up after :data:`HANDSHAKE_TIMEOUT` seconds."""

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        previous = sock.gettimeout()
        sock.settimeout(HANDSHAKE_TIMEOUT)
        wrapped = super().wrap_socket(
            sock,
            server_side=server_side,
            do_handshake_on_connect=do_handshake_on_connect,
            suppress_ragged_eofs=suppress_ragged_eofs,
            server_hostname=server_hostname,
            session=session,
        )
        wrapped.settimeout(previous)
        return wrapped


def _issue(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    common_name: str,
    valid_for: dt.timedelta,
    *,
    server: bool,
) -> IssuedCertificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address(LOOPBACK))]
            ),
            critical=False,
        )
    return IssuedCertificate(builder.sign(ca_key, hashes.SHA256()), key)


# --- the storage server ----------------------------------------------------------------------


def _port_in_use(exc: OSError) -> bool:
    return exc.errno == errno.EADDRINUSE


class StorageServer:
    """A real DICOM Storage SCP (pynetdicom) on 127.0.0.1 that keeps what it receives.

    Parameters
    ----------
    port
        The port to listen on; 0 (the default) takes a free one (see :attr:`port`).
    ssl_context
        TLS settings (:meth:`ThrowawayCA.server_context`); ``None`` listens in the clear.
    ae_title
        The server's application entity title.

    Raises
    ------
    PortInUseError
        ``port`` is taken by another program.

    Examples
    --------
    >>> with StorageServer() as server:
    ...     server.port > 0, server.received
    (True, [])
    """

    def __init__(
        self,
        *,
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        ae_title: str = "HIPAA_LAB_SCP",
    ) -> None:
        self._requested_port = port
        self._ssl_context = ssl_context
        self._received: list[Dataset] = []
        self._lock = threading.Lock()
        self._ae = AE(ae_title=ae_title)
        self._ae.supported_contexts = AllStoragePresentationContexts
        for timeout in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
            setattr(self._ae, timeout, TIMEOUT)
        self._server: ThreadedAssociationServer | None = None
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"port {self.port}" if self._server else "stopped"
        tls = "TLS" if self._ssl_context else "plain"
        return f"StorageServer({LOOPBACK}, {state}, {tls}, {len(self.received)} received)"

    def _on_store(self, event: Event) -> int:
        dataset = event.dataset
        dataset.file_meta = event.file_meta
        with self._lock:
            self._received.append(dataset)
        return _STATUS_SUCCESS

    def start(self) -> None:
        """Start listening (a background thread)."""
        if self._server is not None:
            return
        before = set(threading.enumerate())
        try:
            self._server = self._ae.start_server(
                (LOOPBACK, self._requested_port),
                block=False,
                ssl_context=self._ssl_context,
                evt_handlers=[(evt.EVT_C_STORE, self._on_store)],
            )
        except OSError as exc:
            if _port_in_use(exc):
                raise PortInUseError(self._requested_port, "the storage server") from exc
            raise
        self._threads = list(set(threading.enumerate()) - before)  # pynetdicom's acceptor

    def close(self) -> None:
        """Stop listening, end every association and wait for their threads."""
        if self._server is None:
            return
        server, self._server = self._server, None
        associations = list(self._ae.active_associations)
        self._ae.shutdown()
        server.server_close()
        for thread in self._threads:
            thread.join(TIMEOUT)
        self._threads = []
        _join(associations)

    @property
    def port(self) -> int:
        """The port the server listens on (0 when it is not running)."""
        return int(self._server.server_address[1]) if self._server else 0

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` of the server."""
        return (LOOPBACK, self.port)

    @property
    def received(self) -> list[Dataset]:
        """The datasets received so far, in order of arrival (a copy of the list)."""
        with self._lock:
            return list(self._received)


def _join(associations: Iterable[Association]) -> None:
    """Wait for associations' threads (each has its own, and one for its DUL), which end
    shortly after the association is released or aborted."""
    for assoc in associations:
        for thread in (assoc, assoc.dul):
            if thread.ident is not None and thread is not threading.current_thread():
                thread.join(TIMEOUT)


# --- the relay -------------------------------------------------------------------------------


class Relay:
    """A TCP man in the middle on 127.0.0.1: forwards bytes both ways and records every one.

    This is what a "network tap" (a sniffer on a switch's mirror port, a compromised router) sees
    of a transfer: it cannot change TLS, but it reads whatever is sent in the clear.

    Parameters
    ----------
    target
        ``(host, port)`` to forward to; only 127.0.0.1 is accepted.
    port
        The port to listen on; 0 (the default) takes a free one.

    Raises
    ------
    PortInUseError
        ``port`` is taken by another program.
    ValueError
        ``target`` is not on 127.0.0.1.

    Examples
    --------
    >>> with StorageServer() as server, Relay(server.address) as relay:
    ...     relay.port != server.port, relay.captured
    (True, b'')
    """

    def __init__(self, target: tuple[str, int], *, port: int = 0) -> None:
        host, target_port = target
        if host not in (LOOPBACK, SERVER_NAME):
            raise ValueError(f"the relay forwards to 127.0.0.1 only, not to {host!r}")
        self.target = (LOOPBACK, int(target_port))
        self._requested_port = port
        self._chunks: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self.connections = 0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Relay({LOOPBACK}:{self.port} -> {self.target[0]}:{self.target[1]}, "
            f"{self.connections} connection(s), {len(self.captured)} bytes captured)"
        )

    def start(self) -> None:
        """Start listening and forwarding (background threads)."""
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.bind((LOOPBACK, self._requested_port))
        except OSError as exc:
            listener.close()
            if _port_in_use(exc):
                raise PortInUseError(self._requested_port, "the relay") from exc
            raise
        listener.listen()
        listener.settimeout(0.1)
        self._listener = listener
        self._stop.clear()
        accept = threading.Thread(target=self._accept, name="hipaa-lab relay", daemon=True)
        self._threads.append(accept)
        accept.start()

    def close(self) -> None:
        """Stop forwarding, close every socket and wait for the threads."""
        if self._listener is None:
            return
        self._stop.set()
        for thread in self._threads:
            thread.join(TIMEOUT)
        self._threads = []
        self._listener.close()
        self._listener = None

    @property
    def port(self) -> int:
        """The port the relay listens on (0 when it is not running)."""
        return int(self._listener.getsockname()[1]) if self._listener else 0

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` to send to instead of the server."""
        return (LOOPBACK, self.port)

    @property
    def captured(self) -> bytes:
        """Every byte the relay saw, both directions, in order of arrival."""
        with self._lock:
            return b"".join(data for _, data in self._chunks)

    @property
    def chunks(self) -> list[tuple[str, bytes]]:
        """What was seen, read by read: ``("to server" | "to client", bytes)``."""
        with self._lock:
            return list(self._chunks)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            pump = threading.Thread(
                target=self._pump, args=(client,), name="hipaa-lab relay pump", daemon=True
            )
            self._threads.append(pump)
            pump.start()

    def _pump(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.target, timeout=TIMEOUT)
        except OSError:
            client.close()
            return
        peers = {client: (server, "to server"), server: (client, "to client")}
        with client, server, selectors.DefaultSelector() as selector:
            for sock in peers:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.1):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    other, direction = peers[source]
                    try:
                        data = source.recv(65536)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        return  # one side closed: the tap closes both
                    with self._lock:
                        self._chunks.append((direction, data))
                    try:
                        other.settimeout(TIMEOUT)
                        other.sendall(data)
                        other.setblocking(False)
                    except OSError:
                        return


# --- the sender ------------------------------------------------------------------------------


@dataclass
class TransferResult:
    """What :func:`send_study` sent.

    Attributes
    ----------
    sent
        Instances the server accepted (status Success).
    failed
        SOP Instance UIDs of instances the server did not accept, with their status.
    sop_instance_uids
        The SOP Instance UIDs sent, in order.
    tls_version, cipher
        What TLS negotiated (``None`` for a plain transfer).
    """

    sent: int
    failed: list[tuple[str, int]]
    sop_instance_uids: list[str]
    tls_version: str | None = None
    cipher: str | None = None


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _pynetdicom_errors() -> Iterator[_Collect]:
    """The errors pynetdicom logs (and does not raise) while this runs: why TLS failed."""
    collect = _Collect()
    logger = logging.getLogger("pynetdicom")
    logger.addHandler(collect)
    try:
        yield collect
    finally:
        logger.removeHandler(collect)


def _dataset(item: Instance | Dataset) -> Dataset:
    return item if isinstance(item, Dataset) else item.dataset


def send_study(
    instances: Iterable[Instance | Dataset] | Study,
    host: str,
    port: int,
    *,
    tls: ssl.SSLContext | None = None,
    server_hostname: str = SERVER_NAME,
    ae_title: str = "HIPAA_LAB_SCU",
) -> TransferResult:
    """Send instances with C-STORE, in one association, optionally inside TLS.

    Parameters
    ----------
    instances
        A :class:`~hipaa_lab.studies.Study`, its instances, or datasets.
    host, port
        Where to send (127.0.0.1: a :class:`StorageServer` or a :class:`Relay` before it).
    tls
        The sender's TLS settings (:meth:`ThrowawayCA.client_context`); ``None`` sends in the
        clear.
    server_hostname
        The name the server's certificate must carry (with ``tls``).
    ae_title
        The sender's application entity title.

    Returns
    -------
    TransferResult

    Raises
    ------
    CertificateRejectedError
        TLS did not complete (the server's certificate is not trusted, has another name, or the
        server refused ours): nothing was sent.
    TransmissionError
        No association (nothing listens, the server refused) or it broke off.
    """
    if host not in (LOOPBACK, SERVER_NAME):
        raise ValueError(f"send_study sends to 127.0.0.1 only, not to {host!r}")
    items = instances.instances if hasattr(instances, "instances") else instances
    datasets = [_dataset(item) for item in items]
    if not datasets:
        raise ValueError("send_study was given no instances: nothing to send")
    ae = AE(ae_title=ae_title)
    for timeout in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
        setattr(ae, timeout, TIMEOUT)
    for sop_class, syntax in sorted(
        {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets}
    ):
        ae.add_requested_context(sop_class, syntax)
    tls_args = (tls, server_hostname) if tls is not None else None
    where = f"{host}:{port}"
    with _pynetdicom_errors() as logged:
        assoc = ae.associate(LOOPBACK, port, ae_title="HIPAA_LAB_SCP", tls_args=tls_args)
        if not assoc.is_established:
            _join([assoc])
            reasons = [m for m in logged.messages if "Error" in m or "failed" in m]
            tls_reason = next((m for m in logged.messages if "SSL" in m or "certificate" in m), "")
            if tls is not None and tls_reason:
                raise CertificateRejectedError(where, tls_reason.split("Error: ")[-1])
            why = "refused" if assoc.is_rejected else "could not be opened"
            detail = f" ({reasons[-1]})" if reasons else ""
            raise TransmissionError(
                f"the association with {where} {why}{detail}; nothing was sent. "
                "Is the server running on that port?"
            )
        result = TransferResult(0, [], [])
        sock = getattr(assoc.dul.socket, "socket", None)
        if isinstance(sock, ssl.SSLSocket):
            result.tls_version = sock.version()
            cipher = sock.cipher()
            result.cipher = cipher[0] if cipher else None
        try:
            for ds in datasets:
                uid = str(ds.SOPInstanceUID)
                result.sop_instance_uids.append(uid)
                status = assoc.send_c_store(ds)
                code = int(getattr(status, "Status", -1))
                if code == _STATUS_SUCCESS:
                    result.sent += 1
                else:
                    result.failed.append((uid, code))
                if assoc.is_aborted or assoc.is_released:
                    break
        finally:
            if assoc.is_established:
                assoc.release()
            _join([assoc])
        if assoc.is_aborted and result.sent < len(datasets):
            if tls is not None and any("SSL" in m or "certificate" in m for m in logged.messages):
                raise CertificateRejectedError(
                    where, "the server refused this client's certificate"
                )
            raise TransmissionError(
                f"the association with {where} was aborted after {result.sent} of "
                f"{len(datasets)} instances"
            )
    return result


# --- what the tap reads ----------------------------------------------------------------------


@dataclass(frozen=True)
class WireHit:
    """A planted identifier read off the wire.

    Attributes
    ----------
    category
        Its Safe Harbor category.
    path
        Where it was planted (the first tag path of the answer key with this value).
    value
        The value as planted.
    found
        What was found: the value or, for a name, one of its components.
    offsets
        Every offset in the capture where ``found`` sits.
    hex, text
        The bytes around the first offset, as hex and as printable ASCII (``.`` for the rest).
    """

    category: SafeHarborCategory
    path: str | None
    value: str
    found: str
    offsets: tuple[int, ...]
    hex: str
    text: str


def _encodings(datasets: Iterable[Dataset]) -> list[str]:
    found: list[str] = []
    for ds in datasets:
        for codec in convert_encodings(ds.get("SpecificCharacterSet", "ISO_IR 6")):
            if codec not in found:
                found.append(codec)
    return found + [c for c in ("utf_8", "latin_1") if c not in found]


def _forms(entry: PHIEntry) -> list[str]:
    """The value, and for a name each component long enough to mean something."""
    forms = [entry.value]
    if entry.category is SafeHarborCategory.NAMES:
        for part in entry.value.replace("=", "^").split("^"):
            if len(part) >= MIN_COMPONENT and part not in forms:
                forms.append(part)
    return forms


def _excerpt(capture: bytes, offset: int, length: int) -> tuple[str, str]:
    window = capture[max(0, offset - EXCERPT) : offset + length + EXCERPT]
    text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in window)
    return window.hex(" "), text


def sniff(
    capture: bytes, entries: Iterable[PHIEntry], datasets: Iterable[Dataset] = ()
) -> list[WireHit]:
    """Search a capture for planted identifiers, as a sniffer on the network would.

    Only header identifiers travel as text; those in pixels, overlays and file names are not
    searched (a file name is not sent, burned-in text is pixels).

    Parameters
    ----------
    capture
        The bytes a :class:`Relay` recorded.
    entries
        The study's answer key (``study.entries``).
    datasets
        The datasets sent: their Specific Character Set says how names were encoded (UTF-8 and
        Latin-1 are always tried).

    Returns
    -------
    list[WireHit]
        One per distinct (category, value) found, in the answer key's order.

    Examples
    --------
    >>> from hipaa_lab.phi import Location, PHIEntry, SafeHarborCategory
    >>> entry = PHIEntry("f", Location.HEADER, SafeHarborCategory.NAMES, "Doe^Jane", "PatientName")
    >>> [hit.found for hit in sniff(b"..PN..Doe^Jane ..", [entry])]
    ['Doe^Jane']
    >>> sniff(b"\\x17\\x03\\x03 ciphertext", [entry])
    []
    """
    codecs = _encodings(datasets)
    hits: list[WireHit] = []
    seen: set[tuple[SafeHarborCategory, str]] = set()
    for entry in entries:
        key = (entry.category, entry.value)
        if entry.location is not Location.HEADER or not entry.value or key in seen:
            continue
        seen.add(key)
        for form in _forms(entry):
            offsets: list[int] = []
            for codec in codecs:
                try:
                    needle = form.encode(codec)
                except (UnicodeEncodeError, LookupError):
                    continue
                start = capture.find(needle)
                while start != -1:
                    if start not in offsets:
                        offsets.append(start)
                    start = capture.find(needle, start + 1)
                if offsets:
                    hexed, text = _excerpt(capture, offsets[0], len(needle))
                    hits.append(
                        WireHit(
                            entry.category,
                            entry.path,
                            entry.value,
                            form,
                            tuple(sorted(offsets)),
                            hexed,
                            text,
                        )
                    )
                    break
            if offsets:
                break
    return hits


def _encoded(ds: Dataset) -> bytes:
    """The dataset as it travels (Explicit VR Little Endian, no file meta): to compare."""
    return encode(ds, is_implicit_vr=False, is_little_endian=True) or b""


def _intact(sent: Sequence[Dataset], received: Sequence[Dataset]) -> int:
    """How many sent instances arrived byte for byte (by SOP Instance UID)."""
    by_uid = {str(ds.SOPInstanceUID): ds for ds in received}
    count = 0
    for ds in sent:
        other = by_uid.get(str(ds.SOPInstanceUID))
        if other is not None and _encoded(other) == _encoded(ds):
            count += 1
    return count


# --- the lesson ------------------------------------------------------------------------------


@dataclass
class Demonstration:
    """One transfer through the tap, and what the tap read.

    Attributes
    ----------
    tls
        Whether the transfer ran inside TLS.
    capture
        Every byte the relay saw.
    hits
        The planted identifiers found in the capture (:func:`sniff`).
    sent, received, intact
        Instances sent, received by the server, and received identical to what was sent.
    transfer
        The sender's :class:`TransferResult`.
    """

    tls: bool
    capture: bytes
    hits: list[WireHit]
    sent: int
    received: int
    intact: int
    transfer: TransferResult
    searched: int = field(default=0)

    @property
    def categories_on_wire(self) -> list[str]:
        """The Safe Harbor categories of the identifiers found, by value (``"names"``...)."""
        return sorted({hit.category.value for hit in self.hits})

    def summary(self) -> str:
        """One paragraph a learner reads."""
        how = (
            f"inside TLS ({self.transfer.tls_version}, {self.transfer.cipher})"
            if self.tls
            else "in the clear"
        )
        lead = (
            f"Sent {self.sent} instance(s) {how} through a network tap; the server received "
            f"{self.received}, {self.intact} identical to what was sent. The tap recorded "
            f"{len(self.capture):,} bytes"
        )
        if not self.hits:
            return f"{lead} and read none of the {self.searched} planted identifiers searched."
        return (
            f"{lead} and read {len(self.hits)} of the {self.searched} planted identifiers "
            f"searched ({', '.join(self.categories_on_wire)})."
        )

    def __repr__(self) -> str:
        lines = [self.summary()]
        for hit in self.hits[:10]:
            lines.append(
                f"  {hit.category.value:<15} {hit.found!r} at byte {hit.offsets[0]}: {hit.text}"
            )
        if len(self.hits) > 10:
            lines.append(f"  ... and {len(self.hits) - 10} more (see .table())")
        return "\n".join(lines)

    def table(self) -> pd.DataFrame:
        """The identifiers read off the wire: category, where planted, what, where, excerpt."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "category": hit.category.value,
                    "planted in": hit.path,
                    "found": hit.found,
                    "times on the wire": len(hit.offsets),
                    "first offset": hit.offsets[0],
                    "what the sniffer reads": hit.text,
                }
                for hit in self.hits
            ],
            columns=[
                "category",
                "planted in",
                "found",
                "times on the wire",
                "first offset",
                "what the sniffer reads",
            ],
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(str(cell))}</td>"
                for cell in (hit.category.value, hit.path, hit.found, len(hit.offsets))
            )
            + f"<td><code>{html.escape(hit.text)}</code></td></tr>"
            for hit in self.hits
        )
        table = (
            "<table><tr><th>category</th><th>planted in</th><th>found</th>"
            "<th>times on the wire</th><th>what the sniffer reads</th></tr>"
            f"{rows}</table>"
            if self.hits
            else ""
        )
        return f"<p>{html.escape(self.summary())}</p>{table}"


def demonstrate(study: Study, *, tls: bool, mutual: bool = True) -> Demonstration:
    """Send a study to a storage server through a network tap, and show what the tap read.

    Parameters
    ----------
    study
        A synthetic study (:func:`hipaa_lab.studies.make_study`); its answer key is searched.
    tls
        Send inside TLS (a :class:`ThrowawayCA` made for this call) or in the clear.
    mutual
        With ``tls``: the server also requires the sender's certificate (mutual TLS).

    Returns
    -------
    Demonstration
    """
    server_context = client_context = None
    if tls:
        ca = ThrowawayCA.create()
        server_context = ca.server_context(require_client_cert=mutual)
        client_context = ca.client_context(present_certificate=mutual)
    datasets = [inst.dataset for inst in study.instances]
    with (
        StorageServer(ssl_context=server_context) as server,
        Relay(server.address) as relay,
    ):
        transfer = send_study(datasets, *relay.address, tls=client_context)
        received = server.received
    capture = relay.captured
    searched = len(
        {(e.category, e.value) for e in study.entries if e.location is Location.HEADER and e.value}
    )
    return Demonstration(
        tls=tls,
        capture=capture,
        hits=sniff(capture, study.entries, datasets),
        sent=transfer.sent,
        received=len(received),
        intact=_intact(datasets, received),
        transfer=transfer,
        searched=searched,
    )
