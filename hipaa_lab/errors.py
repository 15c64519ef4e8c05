"""The exception tree of hipaa-lab.

Every error the package raises on purpose derives from :class:`HipaaLabError`, and also from
the built-in exception a caller would expect, so ``except FileExistsError`` keeps working::

    HipaaLabError
    ├── UsageError              (ValueError)    a command-line argument that cannot be used (exit status 2)
    ├── AnswerKeyError          (ValueError)    a file that is not an answer key
    ├── UnknownDatasetError     (LookupError)   a dataset name not in the catalogue
    ├── RosterError             (ValueError)    a staff roster with bad rows (each named by line)
    ├── LedgerError             (RuntimeError)  a ledger database that cannot be reached or opened
    │   └── LedgerChangedError                  the ledger grew after the caller read it
    ├── PostgresError           (RuntimeError)  a local PostgreSQL server that cannot be made or started
    ├── CurriculaError          (ValueError)    a curricula file naming an unknown module or role
    ├── OutputNotEmptyError     (FileExistsError) refusing to write into a folder that holds files
    ├── CourseError             (RuntimeError)  an nbgrader step failed
    │   └── StaleCourseError                    a course directory from an older build
    ├── HubError                (RuntimeError)  the class's JupyterHub cannot be set up or started
    ├── AccessDenied            (PermissionError) the simulated PACS refused a request (it is audited)
    ├── PolicyError             (ValueError)    an access policy or model file that cannot be used
    ├── AuditLogError           (ValueError)    an audit log that cannot be read (a broken line, by number)
    ├── BreachInputError        (ValueError)    incident facts a breach plan cannot be made from
    ├── GradingError            (AssertionError) a learner's answer fell short (shown in notebooks)
    ├── OCRUnavailableError     (RuntimeError)  Tesseract is not installed: burned-in text cannot be checked
    ├── TableError              (RuntimeError)  the Annex E table is missing or not the expected edition
    ├── ArchiveError            (ValueError)    an encrypted archive that cannot be opened: wrong passphrase, truncated, tampered
    ├── BackupError             (ValueError)    a backup that fails its manifest (the bad files named); nothing restored
    ├── DrillError              (PermissionError) a drill asked to destroy a folder it does not own
    ├── MtoolsUnavailableError  (RuntimeError)  mtools is not installed: no FAT disk image can be made
    ├── PortInUseError          (OSError)       a port given explicitly is taken by another program
    └── TransmissionError       (ConnectionError) a DICOM transfer failed; nothing was sent
        └── CertificateRejectedError            TLS refused the peer's certificate (or it ours)
"""

from __future__ import annotations

import errno

__all__ = [
    "AccessDenied",
    "AnswerKeyError",
    "ArchiveError",
    "AuditLogError",
    "BackupError",
    "BreachInputError",
    "CertificateRejectedError",
    "CourseError",
    "CurriculaError",
    "DrillError",
    "GradingError",
    "HipaaLabError",
    "HubError",
    "LedgerChangedError",
    "LedgerError",
    "MtoolsUnavailableError",
    "OCRUnavailableError",
    "OutputNotEmptyError",
    "PolicyError",
    "PortInUseError",
    "PostgresError",
    "RosterError",
    "StaleCourseError",
    "TableError",
    "TransmissionError",
    "UnknownDatasetError",
    "UsageError",
]


class HipaaLabError(Exception):
    """Root of every error hipaa-lab raises on purpose."""


class UsageError(HipaaLabError, ValueError):
    """A command-line argument that cannot be used (a DST inside SRC, a DST that is a file...);
    ``hipaa-lab`` exits with status 2."""


class AnswerKeyError(HipaaLabError, ValueError):
    """A file that is not an answer key (not JSON, or without its dataset, seed and entries)."""


class UnknownDatasetError(HipaaLabError, LookupError):
    """A dataset name that is not in the catalogue."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(
            f"no dataset named {name!r}; the catalogue has: {', '.join(known)} "
            "(see `hipaa-lab datasets list`)"
        )

    def __str__(self) -> str:  # LookupError would otherwise quote the message
        return str(self.args[0])


class CurriculaError(HipaaLabError, ValueError):
    """A curricula file that names an unknown module or role, leaves a role out, or has a bad
    number; nothing of it is used."""


class LedgerError(HipaaLabError, RuntimeError):
    """A ledger database that cannot be reached or opened; nothing was changed."""


class LedgerChangedError(LedgerError):
    """Another writer appended to the ledger after the caller read it; nothing was written."""

    def __init__(self, expected: int, found: int) -> None:
        self.expected = expected
        self.found = found
        super().__init__(
            f"the ledger holds {found} entries, not the {expected} read before: another writer "
            "appended meanwhile (nothing was written; read again)"
        )


class PostgresError(HipaaLabError, RuntimeError):
    """A local PostgreSQL server (:mod:`hipaa_lab.postgres`) that cannot be made or started:
    no server binaries, initdb failing, a port in use; the message says which."""


class RosterError(HipaaLabError, ValueError):
    """A staff roster with bad rows: every problem, each with its line number (the header is
    line 1). Nothing of such a roster is imported."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        self.problems = sorted(problems)
        lines = "\n".join(f"  line {line}: {what}" for line, what in self.problems)
        super().__init__(
            f"the roster has {len(self.problems)} problem(s); nothing was imported:\n{lines}"
        )


class OutputNotEmptyError(HipaaLabError, FileExistsError):
    """An output folder that already holds files: nothing is overwritten."""

    def __init__(self, path: object) -> None:
        self.path = path
        super().__init__(
            f"output folder {path} is not empty; choose a new folder or empty this one "
            "(nothing in it was changed)"
        )


class CourseError(HipaaLabError, RuntimeError):
    """An nbgrader step (generate, release, autograde, feedback) failed."""


class HubError(HipaaLabError, RuntimeError):
    """The class's JupyterHub (:mod:`hipaa_lab.course.hub`) cannot be set up or started: not root,
    a port in use, an account name taken, a hub already running; what this run made is undone."""


class StaleCourseError(CourseError):
    """A course directory made by an older build of hipaa-lab."""


class GradingError(HipaaLabError, AssertionError):
    """A learner's answer fell short; the message says what to fix."""


class OCRUnavailableError(HipaaLabError, RuntimeError):
    """Tesseract (Debian's ``tesseract-ocr``) or pytesseract is not installed."""

    def __init__(self) -> None:
        super().__init__(
            "OCR unavailable (install tesseract-ocr): `apt-get install tesseract-ocr "
            "tesseract-ocr-eng` and `pip install pytesseract`"
        )


class TableError(HipaaLabError, RuntimeError):
    """The Annex E table could not be found or is not the expected one."""


class AccessDenied(HipaaLabError, PermissionError):
    """The simulated PACS (:mod:`hipaa_lab.safeguards.access`) refused a request: the policy did
    not allow it, the user is unknown, logged off or terminated. The refusal is audited too."""


class PolicyError(HipaaLabError, ValueError):
    """An access-control model or policy file that cannot be used (a malformed line, an unknown
    role or purpose), named with its line; a PACS built on it refuses every request."""


class AuditLogError(HipaaLabError, ValueError):
    """An audit log that cannot be read: a line that is not JSON or not an audit entry, named by
    its 1-based line number. Nothing after it is read silently."""

    def __init__(self, path: object, line: int, what: str) -> None:
        self.path = path
        self.line = line
        super().__init__(f"{path}, line {line}: {what}")


class ArchiveError(HipaaLabError, ValueError):
    """An encrypted study archive (:mod:`hipaa_lab.safeguards.crypto`) that cannot be opened: not
    an archive, an unsupported version, a wrong passphrase, a truncated or tampered file. Its
    :attr:`reason` says which; no plaintext of it was written."""

    def __init__(self, reason: object, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class BackupError(HipaaLabError, ValueError):
    """A backup (:mod:`hipaa_lab.safeguards.backup`) that does not match its manifest: a changed,
    missing or extra file, or a manifest that is not the one recorded. :attr:`problems` names each
    file; nothing was restored."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        self.problems = sorted(problems or [])
        lines = "".join(f"\n  {path}: {what}" for path, what in self.problems)
        super().__init__(message + lines)


class DrillError(HipaaLabError, PermissionError):
    """A drill step asked to delete or damage a folder outside the drill's own working folder;
    nothing was touched."""


class MtoolsUnavailableError(HipaaLabError, RuntimeError):
    """mtools (Debian's ``mtools``: ``mformat``, ``mcopy``, ``mdel``, ``mdir``) is not installed."""

    def __init__(self, command: str) -> None:
        super().__init__(
            f"{command} not found: the media-disposal lab builds FAT disk images with mtools; "
            "install it with `apt-get install mtools` (or scripts/install-system-packages.sh)"
        )


class BreachInputError(HipaaLabError, ValueError):
    """Incident facts a breach notification plan (:mod:`hipaa_lab.safeguards.breach`) cannot be
    made from: a count below 1, an unknown State or jurisdiction, a date in the future or before
    the discovery, a compromised key without encryption; the message says which."""


class PortInUseError(HipaaLabError, OSError):
    """A port given explicitly (to a storage server, a relay) is taken by another program."""

    def __init__(self, port: int, what: str) -> None:
        self.port = port
        super().__init__(
            f"port {port} on 127.0.0.1 is already in use, so {what} cannot listen there; "
            "stop the program using it, choose another port, or pass port=0 to take a free one"
        )
        self.errno = errno.EADDRINUSE


class TransmissionError(HipaaLabError, ConnectionError):
    """A DICOM transfer (:mod:`hipaa_lab.safeguards.transmission`) failed: no association, or
    it broke off; the message says where and how many instances went."""


class CertificateRejectedError(TransmissionError):
    """TLS did not complete: the server's certificate does not chain to a CA the sender trusts,
    carries another name, has expired, or the server refused the sender's certificate. The
    handshake failed before any DICOM data: nothing was sent, in the clear or otherwise."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        if "alert" in reason.lower():  # the server refused this sender's certificate
            hint = (
                "The server requires a client certificate issued by the authority it trusts "
                "(mutual TLS): present one"
            )
        else:
            hint = (
                "The sender trusts only the certificate authority it was given: check that the "
                "server's certificate was issued by it and names the host you connect to (never "
                "turn verification off)"
            )
        super().__init__(f"TLS with {where} failed: {reason}. Nothing was sent. {hint}")
