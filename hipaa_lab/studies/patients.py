"""Synthetic patients: names in several scripts, contacts, identifiers, all drawn from a seed.

No value belongs to a real person: names come from Faker's locales, telephone numbers from the
555-01xx range, social security numbers from the 9xx area the SSA never issues, e-mail addresses
from ``example.*``. The same seed always gives the same :class:`Patient`.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faker import Faker

__all__ = ["PN_MAX_BYTES", "Patient", "make_patient"]

#: The fictional institutions (name, department): a patient's issuer of IDs, a study's site.
INSTITUTIONS = [
    ("Northside General Hospital", "Radiology"),
    ("Lakeview Imaging Center", "Diagnostic Imaging"),
    ("St. Brendan Medical Center", "Department of Radiology"),
    ("Riverbend Community Clinic", "Medical Imaging"),
    ("Harbor Point Orthopedics", "X-Ray"),
]
_PAYERS = ["BLUEHARBOR HEALTH PLAN", "MERIDIAN CARE", "UNITY MUTUAL HEALTH", "PIONEER MEDICAID"]
_LOCALES = ["en_US"] * 6 + ["es_MX"] * 2 + ["de_DE", "fr_FR"] + ["ja_JP"] * 2
_RELATIONS = ["PARENT", "CHILD", "SPOUSE", "SIBLING", "GUARDIAN", "RELATIVE"]


@functools.cache
def faker_for(locale: str) -> Faker:
    """The one Faker of ``locale`` (seed it with ``seed_instance`` before each use)."""
    from faker import Faker

    return Faker(locale)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def file_word(text: str) -> str:
    """``text`` made safe as one file-name word: ASCII letters, digits and hyphens."""
    return re.sub(r"[^A-Za-z0-9]+", "-", _ascii(text)).strip("-")


@dataclass
class Patient:
    """A synthetic identity. No value belongs to a real person.

    ``name`` is the DICOM person name with all component groups (alphabetic, then ideographic and
    phonetic when present), e.g. ``"Yamada^Tarou=山田^太郎=やまだ^たろう"``; ``family`` and
    ``given`` are the alphabetic components. ``charset`` is the Specific Character Set the
    patient's files use (empty: the default repertoire).
    """

    seed: int
    name: str
    family: str
    given: str
    charset: tuple[str, ...]
    mrn: str
    issuer: str
    birth_date: dt.date
    sex: str
    street: str
    city: str
    state: str
    zip: str
    phone: str
    email: str
    ssn: str
    health_plan: str
    payer: str
    account: str
    ideographic: tuple[str, str] | None = None
    phonetic: tuple[str, str] | None = None
    birth_family: str | None = None
    prior_mrn: str = ""
    relative: str = ""
    relation: str = ""
    locale: str = "en_US"

    @property
    def address(self) -> str:
        """One-line postal address."""
        return f"{self.street}, {self.city}, {self.state} {self.zip}"

    @property
    def display_name(self) -> str:
        """Given name then family name, as people write it in free text."""
        if self.ideographic and self.locale == "ja_JP":
            return f"{self.ideographic[0]} {self.ideographic[1]}"
        return f"{self.given} {self.family}"

    def age_on(self, day: dt.date) -> int:
        """Age in whole years on ``day``."""
        b = self.birth_date
        return day.year - b.year - ((day.month, day.day) < (b.month, b.day))

    def name_components(self) -> list[str]:
        """Every name component of every group, and the birth name: what a scanner should look for."""
        parts = [self.family, self.given]
        for group in (self.ideographic, self.phonetic):
            if group:
                parts.extend(group)
        if self.birth_family:
            parts.append(self.birth_family)
        return parts


#: PS3.5 Table 6.2-1 allows 64 characters per PN component group; dciodvfy (dicom3tools) holds
#: the whole encoded value, every group with its escape sequences, to 64 bytes, and so do we.
PN_MAX_BYTES = 64


def _pn_bytes(name: str, charset: tuple[str, ...]) -> int:
    """Length in bytes of a person name as written in a file of Specific Character Set ``charset``."""
    from pydicom.charset import convert_encodings
    from pydicom.valuerep import PersonName

    return len(PersonName(name).encode(convert_encodings(list(charset) or ["ISO_IR 6"])))


def make_patient(seed: int) -> Patient:
    """A deterministic synthetic patient.

    Examples
    --------
    >>> make_patient(3) == make_patient(3)
    True
    >>> make_patient(3).mrn != make_patient(4).mrn
    True
    """
    rng = random.Random(f"patient:{seed}")
    locale = rng.choice(_LOCALES)
    sex = rng.choice("FM")
    fake = faker_for(locale)
    fake.seed_instance(seed)
    ideographic = phonetic = None
    if locale == "ja_JP":
        fam = fake.last_name_pair()
        giv = fake.first_name_female_pair() if sex == "F" else fake.first_name_male_pair()
        family, given = fam[2], giv[2]
        ideographic = (fam[0], giv[0])
        groups = [f"{family}^{given}", f"{fam[0]}^{giv[0]}"]
        if rng.random() < 0.7:
            phonetic = (fam[1], giv[1])
            groups.append(f"{fam[1]}^{giv[1]}")
        charset = rng.choice([("", "ISO 2022 IR 87"), ("ISO_IR 192",)])
        if phonetic and _pn_bytes("=".join(groups), charset) > PN_MAX_BYTES:
            phonetic = (
                None  # the phonetic group would overflow PN: dciodvfy measures the whole value
            )
            groups.pop()
        name = "=".join(groups)
    else:
        family = fake.last_name()
        given = fake.first_name_female() if sex == "F" else fake.first_name_male()
        name = f"{family}^{given}"
        if name.isascii():
            charset = rng.choice([(), ("ISO_IR 100",)])
        else:
            try:
                name.encode("latin-1")
                charset = rng.choice([("ISO_IR 100",), ("ISO_IR 192",)])
            except UnicodeEncodeError:
                charset = ("ISO_IR 192",)
    us = faker_for("en_US")
    us.seed_instance(f"contact:{seed}")
    street, city = us.street_address(), us.city()
    state = us.state_abbr(include_territories=False, include_freely_associated_states=False)
    zipcode = us.zipcode()
    birth_family = us.last_name() if sex == "F" and rng.random() < 0.5 else None
    relative_given = us.first_name()
    # one in five over 89: an age that is itself an identifier
    year = rng.randint(1915, 1929) if rng.random() < 0.2 else rng.randint(1940, 2012)
    birth = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
    user = f"{file_word(given).lower()}.{file_word(family).lower()}{rng.randint(1, 99)}"
    return Patient(
        seed=seed,
        name=name,
        family=family,
        given=given,
        charset=charset,
        mrn=str(rng.randint(1_000_000, 9_999_999)),
        issuer=rng.choice(INSTITUTIONS)[0].upper(),
        birth_date=birth,
        sex=sex,
        street=street,
        city=city,
        state=state,
        zip=zipcode,
        phone=f"({rng.randint(201, 989)}) 555-01{rng.randint(0, 99):02d}",
        email=f"{user}@example.{rng.choice(['com', 'org', 'net'])}",
        ssn=f"9{rng.randint(0, 99):02d}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}",
        health_plan=f"{rng.choice(['BHX', 'MRC', 'UMH', 'PMD'])}{rng.randint(100_000_000, 999_999_999)}",
        payer=rng.choice(_PAYERS),
        account=str(rng.randint(10**9, 10**10 - 1)),
        ideographic=ideographic,
        phonetic=phonetic,
        birth_family=birth_family,
        prior_mrn=str(rng.randint(100_000, 999_999)),
        relative=f"{family}^{relative_given}",
        relation=rng.choice(_RELATIONS),
        locale=locale,
    )
