"""PDF certificates of training: one per learner per module passed, each carrying its own proof.

A certificate names the learner (a workforce member: name, employee id, department and role; no
patient's information), the module, its version, the day of the pass and the score, and the
ledger entry of the pass: its index and SHA-256. It carries that entry's **inclusion receipt**
(:class:`hipaa_lab.ledger.Receipt`) against a signed checkpoint twice: attached to the PDF as the
file ``receipt.json`` (what :func:`read_receipt` extracts and ``hipaa-lab records verify-receipt
CERT.pdf`` checks with the ledger's public key alone), and printed in full on its second page, so a
paper copy can still be checked by retyping it. A second attachment, ``record.json``, holds the
printed facts as data (:func:`read_certificate`).

fpdf2 draws the PDF in the DejaVu fonts that matplotlib ships (Latin, Greek, Cyrillic), falling
back to IPA Gothic for Japanese names where that font is installed; an export reads them once for
all its certificates (:class:`FontBook`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hipaa_lab.records.export import write_whole
from hipaa_lab.records.status import TrainingRecord

if TYPE_CHECKING:
    from fpdf import FPDF

    from hipaa_lab.ledger import Checkpoint, Ledger, Receipt

__all__ = [
    "CUT_FONTS_FROM",
    "FontBook",
    "RECEIPT_ATTACHMENT",
    "RECORD_ATTACHMENT",
    "certifiable",
    "certificate_name",
    "read_certificate",
    "read_receipt",
    "write_certificate",
    "write_certificates",
]

RECEIPT_ATTACHMENT = "receipt.json"  #: the name of the receipt attached to each certificate
RECORD_ATTACHMENT = "record.json"  #: the name of the printed facts attached as data
#: Certificates from which an export cuts its fonts first (:class:`FontBook`): cutting costs
#: about three certificates' time, and saves about half of each one's.
CUT_FONTS_FROM = 4
_FALLBACK_FONTS = (Path("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf"),)
_NAVY = (22, 45, 84)
_GOLD = (176, 141, 54)
_GREY = (90, 90, 90)


def certificate_name(record: TrainingRecord) -> str:
    """The certificate's file name: ``{employee_id}_{module}.pdf``, unsafe characters as ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{record.employee_id}_{record.module}") + ".pdf"


#: The certificate's faces: (family, style, file under matplotlib's fonts/ttf).
_FACES = (
    ("Sans", "", "DejaVuSans.ttf"),
    ("Sans", "B", "DejaVuSans-Bold.ttf"),
    ("Serif", "", "DejaVuSerif.ttf"),
    ("Serif", "B", "DejaVuSerif-Bold.ttf"),
    ("Mono", "", "DejaVuSansMono.ttf"),
)


def _needs_fallback(text: str) -> bool:
    """Whether ``text`` has characters past DejaVu's scripts (CJK), for the fallback fonts."""
    return not all(ord(c) < 0x2E80 for c in text)


class FontBook:
    """The certificate's fonts, cut once for many certificates to the characters they print.

    fpdf2 reads a TrueType file and measures each of its glyphs when a font is added, and cuts
    it down to the glyphs a document uses when it writes the PDF: for DejaVu's thousands of
    glyphs, five faces a certificate, that was two thirds of a certificate's time. A book cuts
    each face once to the characters the certificates can print (Latin-1, general punctuation,
    and every character of ``texts``: the records' names, departments, titles) into a temporary
    folder, so each certificate adds small fonts of the same glyphs. Each certificate still has
    fonts of its own (fpdf2 changes them as it writes), added through fpdf2's ``add_font``.
    The fallback fonts (IPA Gothic, for Japanese names) are cut to the characters past DejaVu's
    scripts, when there are any. A context manager: the folder is removed on leaving.

    Cutting costs about as much as three certificates: without ``texts`` (for one or a few
    certificates) the book adds the whole faces, as fpdf2 alone would.
    """

    def __init__(self, texts: Iterable[str] | None = None) -> None:
        import tempfile

        import matplotlib

        ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
        self._chars: frozenset[str] | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        if texts is None:  # the whole faces
            self._faces = [(family, style, ttf / name) for family, style, name in _FACES]
            self._fallbacks = [
                (f"Fallback{i}", "", path)
                for i, path in enumerate(_FALLBACK_FONTS)
                if path.exists()
            ]
            return
        chars = {chr(c) for c in (*range(0x20, 0x100), *range(0x2000, 0x2070))}
        for text in texts:
            chars.update(text)
        self._chars = frozenset(chars)
        self._folder = tempfile.TemporaryDirectory(prefix="hipaa-lab-fonts-")
        self._faces = [
            (family, style, self._cut(ttf / name, chars)) for family, style, name in _FACES
        ]
        beyond = {c for c in chars if _needs_fallback(c)}
        self._fallbacks = (
            [
                (f"Fallback{i}", "", self._cut(path, beyond))
                for i, path in enumerate(_FALLBACK_FONTS)
                if path.exists()
            ]
            if beyond
            else []
        )

    def _cut(self, path: Path, chars: set[str]) -> Path:
        """The face at ``path`` with only the glyphs of ``chars`` (those it has), in the
        book's folder."""
        from fontTools import subset

        options = subset.Options(notdef_outline=True, recommended_glyphs=True)
        options.drop_tables += ["FFTM"]  # FontForge's time stamp, which fpdf2 drops too
        font = subset.load_font(str(path), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=[ord(c) for c in chars])
        subsetter.subset(font)
        assert self._folder is not None  # made before cutting
        cut = Path(self._folder.name) / path.name
        font.save(str(cut))
        return cut

    def __enter__(self) -> FontBook:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._folder is not None:
            self._folder.cleanup()

    def install(self, pdf: FPDF, text: str) -> None:
        """Add the certificate's faces to ``pdf``, and the fallback fonts when ``text`` needs
        them (characters past DejaVu's scripts).

        Raises
        ------
        ValueError
            When ``text`` has a character the book was not made for.
        """
        missing = set() if self._chars is None else set(text) - self._chars
        if missing:
            raise ValueError(f"the fonts were not cut for {sorted(missing)}")
        for family, style, path in self._faces:
            pdf.add_font(family, style, path)
        if _needs_fallback(text) and self._fallbacks:
            for family, style, path in self._fallbacks:
                pdf.add_font(family, style, path)
            pdf.set_fallback_fonts([family for family, _, _ in self._fallbacks], exact_match=False)


def _facts(record: TrainingRecord, title: str, checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "employee_id": record.employee_id,
        "name": record.name,
        "department": record.department,
        "role": record.role,
        "module": record.module,
        "module_title": title,
        "module_version": record.module_version,
        "passed_date": record.passed_on.isoformat() if record.passed_on else None,
        "score": record.score,
        "attested": record.attested,
        "ledger_entry": record.entry_index,
        "ledger_hash": record.entry_hash,
        "checkpoint_size": checkpoint.size,
        "checkpoint_time": checkpoint.time,
    }


def _printed(facts: dict[str, Any]) -> str:
    """The facts' text, whose characters the fonts must have."""
    return "".join(str(v) for v in facts.values())


def _draw(pdf: FPDF, facts: dict[str, Any], receipt: Receipt) -> None:
    from fpdf.enums import Align, XPos, YPos

    cp = receipt.checkpoint
    w, h = pdf.w, pdf.h
    pdf.add_page()
    pdf.set_draw_color(*_NAVY)
    pdf.set_line_width(1.2)
    pdf.rect(8, 8, w - 16, h - 16)
    pdf.set_draw_color(*_GOLD)
    pdf.set_line_width(0.4)
    pdf.rect(11, 11, w - 22, h - 22)

    def line(text: str, font: str, style: str, size: float, color: tuple[int, int, int]) -> None:
        # a line break or tab in a name prints as a space, other control characters not at all
        text = " ".join("".join(c for c in text if c.isprintable() or c.isspace()).split())
        pdf.set_font(font, style, size)
        while size > 7 and pdf.get_string_width(text) > w - 50:  # a long name: smaller, inside
            size -= 1
            pdf.set_font(font, style, size)
        pdf.set_text_color(*color)
        pdf.cell(0, size * 0.55, text, align=Align.C, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.set_y(24)
    line("CERTIFICATE OF TRAINING", "Serif", "B", 30, _NAVY)
    pdf.ln(2)
    line("HIPAA Privacy, Security and Breach Notification Rules", "Sans", "", 13, _GREY)
    line("Workforce training, 45 CFR 164.530(b) and 164.308(a)(5)", "Sans", "", 10, _GREY)
    pdf.ln(8)
    line("This certifies that", "Serif", "", 14, (0, 0, 0))
    pdf.ln(2)
    line(facts["name"], "Serif", "B", 26, _NAVY)
    line(
        f"employee {facts['employee_id']}  ·  {facts['department']}  ·  {facts['role']}",
        "Sans",
        "",
        11,
        _GREY,
    )
    pdf.ln(6)
    line("has completed and passed the training module", "Serif", "", 14, (0, 0, 0))
    pdf.ln(2)
    line(facts["module_title"], "Serif", "B", 20, _NAVY)
    line(f"{facts['module']}  ·  version {facts['module_version'][:16]}", "Sans", "", 10, _GREY)
    pdf.ln(5)
    passed = dt.date.fromisoformat(facts["passed_date"])
    attested = "; policy acknowledged" if facts["attested"] else ""
    line(
        f"on {passed.day} {passed:%B %Y} with a score of {facts['score']:g}%{attested}.",
        "Serif",
        "",
        14,
        (0, 0, 0),
    )
    pdf.set_draw_color(*_GOLD)
    pdf.line(40, pdf.get_y() + 6, w - 40, pdf.get_y() + 6)
    pdf.ln(9)
    issued = dt.date.fromisoformat(cp.time[:10])
    line(
        f"Issued {issued.day} {issued:%B %Y} from the organisation's tamper-evident training "
        "ledger (hipaa-lab)",
        "Sans",
        "",
        9,
        _GREY,
    )

    pdf.set_y(h - 50)
    pdf.set_x(22)
    pdf.set_font("Sans", "B", 9)
    pdf.set_text_color(*_NAVY)
    pdf.cell(0, 5, "Tamper-evident record", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    rows = [
        ("Ledger entry", f"{facts['ledger_entry']}  (SHA-256 {facts['ledger_hash']})"),
        ("Module version", facts["module_version"]),
        (
            "Signed checkpoint",
            f"{cp.size} entries, Merkle root {cp.root.hex()}, signed {cp.time}, key {cp.key_id}",
        ),
        (
            "Check it",
            "The entry's inclusion receipt is attached to this PDF (receipt.json) and printed "
            "on page 2. Run: hipaa-lab records verify-receipt THIS.pdf --public-key ledger.pub",
        ),
    ]
    for label, value in rows:
        pdf.set_x(22)
        pdf.set_font("Sans", "B", 7.5)
        pdf.cell(30, 4, label)
        pdf.set_font("Mono", "", 7)
        pdf.multi_cell(
            w - 22 - 22 - 30, 4, value, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    pdf.add_page()
    pdf.set_y(16)
    pdf.set_font("Sans", "B", 12)
    pdf.set_text_color(*_NAVY)
    pdf.cell(0, 7, "Inclusion receipt", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Sans", "", 9)
    pdf.set_text_color(0, 0, 0)
    pdf.multi_cell(
        0,
        4.5,
        "The ledger entry below is in the Merkle tree (RFC 9162) whose root the checkpoint signs "
        "with the ledger's Ed25519 key. The check needs only this receipt and the ledger's public "
        "key, not the ledger: hipaa-lab records verify-receipt THIS.pdf --public-key ledger.pub "
        "(or save the JSON below as receipt.json and pass that).",
        align=Align.L,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(3)
    pdf.set_font("Mono", "", 7)
    printed = json.dumps(json.loads(receipt.to_json()), indent=2)
    pdf.multi_cell(0, 3.4, printed, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def write_certificate(
    record: TrainingRecord,
    receipt: Receipt,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    fonts: FontBook | None = None,
) -> Path:
    """Write the certificate of ``record``'s pass, with ``receipt`` (of its ledger entry).

    ``fonts``: the fonts, read once for many certificates (:class:`FontBook`); without it, read
    for this one.

    Raises
    ------
    ValueError
        When ``record`` has no pass, or ``receipt`` is not of its ledger entry.
    """
    from fpdf import FPDF

    if record.passed_on is None or record.entry_index is None:
        raise ValueError(f"{record.employee_id} {record.module}: no pass to certify")
    if receipt.index != record.entry_index:
        raise ValueError(
            f"the receipt is of ledger entry {receipt.index}; the pass is entry "
            f"{record.entry_index}"
        )
    facts = _facts(record, title or record.module, receipt.checkpoint)
    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(20, 16, 20)
    text = _printed(facts)
    if fonts is None:
        with FontBook() as book:
            return _write(pdf, facts, receipt, book, text, path)
    return _write(pdf, facts, receipt, fonts, text, path)


def _write(
    pdf: FPDF,
    facts: dict[str, Any],
    receipt: Receipt,
    fonts: FontBook,
    text: str,
    path: str | os.PathLike[str],
) -> Path:
    fonts.install(pdf, text)
    pdf.set_title(f"Certificate of training: {facts['module_title']}")
    pdf.set_subject(f"{facts['module']} version {facts['module_version']}")
    pdf.set_author("hipaa-lab training records")
    pdf.set_creation_date(dt.datetime.now(dt.UTC))
    _draw(pdf, facts, receipt)
    pdf.embed_file(
        bytes=receipt.to_json().encode(),
        basename=RECEIPT_ATTACHMENT,
        mime_type="application/json",
        desc="inclusion receipt of the ledger entry of this pass",
    )
    pdf.embed_file(
        bytes=json.dumps(facts, ensure_ascii=False, sort_keys=True).encode(),
        basename=RECORD_ATTACHMENT,
        mime_type="application/json",
        desc="the facts this certificate prints",
    )
    data = bytes(pdf.output())
    return write_whole(path, lambda tmp: tmp.write_bytes(data))


def write_certificates(
    records: Iterable[TrainingRecord],
    ledger: Ledger,
    checkpoint: Checkpoint,
    out: str | os.PathLike[str],
    *,
    titles: dict[str, str] | None = None,
    progress: bool = False,
) -> list[Path]:
    """A certificate in ``out`` for each record with a pass in ``checkpoint``'s tree
    (:func:`certifiable`); from :data:`CUT_FONTS_FROM` of them, the fonts cut once for all
    (:class:`FontBook`).

    Each carries its pass's receipt against ``checkpoint`` (:meth:`Ledger.receipt`); a pass
    recorded after the checkpoint gets none (make a new checkpoint). ``progress``: show a
    progress bar on standard error. Returns the files written.
    """
    out = Path(out)
    titles = titles or {}
    passed = certifiable(records, checkpoint)
    receipts = ledger.receipts(
        [r.entry_index for r in passed if r.entry_index is not None], checkpoint
    )
    texts = None
    if len(passed) >= CUT_FONTS_FROM:
        texts = [_printed(_facts(r, titles.get(r.module, r.module), checkpoint)) for r in passed]
    with FontBook(texts) as fonts:
        return _write_all(passed, receipts, out, titles, fonts, progress=progress)


def _write_all(
    passed: list[TrainingRecord],
    receipts: Iterable[Receipt],
    out: Path,
    titles: dict[str, str],
    fonts: FontBook,
    *,
    progress: bool,
) -> list[Path]:
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(passed), unit="certificate", desc="pdf", file=sys.stderr)
    written = []
    try:
        for r, receipt in zip(passed, receipts, strict=True):
            name = out / certificate_name(r)
            title = titles.get(r.module, r.module)
            written.append(write_certificate(r, receipt, name, title=title, fonts=fonts))
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return written


def certifiable(records: Iterable[TrainingRecord], checkpoint: Checkpoint) -> list[TrainingRecord]:
    """The records with a pass that ``checkpoint``'s tree holds: those that get a certificate."""
    return [
        r
        for r in records
        if r.passed_on is not None and r.entry_index is not None and r.entry_index < checkpoint.size
    ]


def _attachment(path: str | os.PathLike[str], name: str) -> bytes:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        found = PdfReader(Path(path)).attachments.get(name)
    except (PyPdfError, OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable PDF ({exc})") from None
    if not found:
        raise ValueError(f"{path} has no {name} attached; expected a hipaa-lab certificate")
    return found[0]


def read_receipt(path: str | os.PathLike[str]) -> Receipt:
    """The inclusion receipt attached to the certificate at ``path``.

    Raises
    ------
    ValueError
        When ``path`` is not a PDF or has no receipt attached.
    """
    from hipaa_lab.ledger import Receipt

    return Receipt.from_json(_attachment(path, RECEIPT_ATTACHMENT).decode())


def read_certificate(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The facts the certificate at ``path`` prints (its ``record.json`` attachment)."""
    value: dict[str, Any] = json.loads(_attachment(path, RECORD_ATTACHMENT))
    return value
