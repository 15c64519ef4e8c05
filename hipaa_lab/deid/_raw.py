"""Element values as read: a data set's text codec, string values read from and written to an
element's raw bytes (so that a value that stays is never decoded and encoded again), and the checks
on a kept value."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, cast

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from hipaa_lab.deid._tags import SPECIFIC_CHARACTER_SET
from hipaa_lab.deid.text import _SINGLE_VALUED

#: The longest value of each string VR (PS3.5 6.2), in bytes.
MAX_LENGTH = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 18,
    "DS": 16,
    "DT": 54,
    "IS": 12,
    "LO": 64,
    "SH": 16,
    "TM": 28,
    "UI": 64,
    "PN": 324,
    "ST": 1024,
    "LT": 10240,
}
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")
#: Python codecs by Specific Character Set, for the one-byte and UTF-8 sets read from raw bytes.
_CODECS = {
    "": "latin-1",
    "ISO_IR 6": "latin-1",
    "ISO_IR 100": "latin-1",
    "ISO_IR 192": "utf-8",
}


def plausible(value: Any, vr: str) -> bool:  # Any: a pydicom element value
    """Whether a kept string value fits its VR: no control characters, no value over its maximum."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    if not isinstance(value, bytes):
        value = str(value).encode("utf-8", "replace") if value is not None else b""
    value = value.rstrip(b"\0 ")
    if _CONTROL.search(value):
        return False
    limit = MAX_LENGTH[vr]
    return all(len(v) <= limit for v in value.split(b"\\"))


def text_encoding(ds: Dataset, parent: str | None) -> str | None:
    """The Python codec of ``ds``'s text when it is one-byte Latin-1 or UTF-8 (else ``None``).

    Values in those character sets can be read straight from the raw bytes, as pydicom would
    decode them; for any other (ISO 2022 code extensions, ...) pydicom decodes the element.
    """
    raw = cast("DataElement | RawDataElement | None", ds.get_item(SPECIFIC_CHARACTER_SET))
    if raw is None:
        return parent
    value: Any = raw.value
    if isinstance(value, bytes):
        value = value.decode("latin-1").split("\\")
    names = [str(v).strip(" \0") for v in ([value] if isinstance(value, str) else value or [""])]
    if len(names) != 1:
        return None
    return _CODECS.get(names[0])


def raw_strings(raw: Any, vr: str, encoding: str | None) -> list[str] | None:
    """The values of a raw (not yet converted) string element, or ``None`` when pydicom must decode it."""
    if not raw.is_raw or encoding is None or raw.is_buffered:
        return None
    value = raw.value
    if not value:
        return []
    text = value.decode(encoding, "replace")
    return (
        [text.strip(" \0")] if vr in _SINGLE_VALUED else [v.strip(" \0") for v in text.split("\\")]
    )


def raw_with(
    raw: RawDataElement, vr: str, values: list[str], encoding: str | None
) -> RawDataElement:
    """``raw`` with new string values, encoded and padded to even length as DICOM wants."""
    assert encoding is not None  # raw_strings gave the values, so the encoding is known
    data = "\\".join(values).encode(encoding)
    if len(data) % 2:
        data += b"\0" if vr == "UI" else b" "
    return raw._replace(value=data, length=len(data))


def map_text(value: Any, fn: Callable[[str], str]) -> Any:  # Any: pydicom's element values
    """``fn`` applied to each value of a converted element (a single value stays single)."""
    if value is None or value == "":
        return value
    if isinstance(value, (str, bytes, int, float)) and not isinstance(value, bytes):
        return fn(str(value) if not isinstance(value, str) else value)
    if isinstance(value, bytes):
        return fn(value.decode("latin-1"))
    return [fn(str(v)) for v in value]
