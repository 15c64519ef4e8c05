"""Red-team submissions for modules 5 to 7 that earned marks without doing the work (each
failed on the graders before their fixes): returning nothing, a scan that never reads a header,
``None`` everywhere but once, and the package's own link signer."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from hipaa_lab.course import checks_breach as cb
from hipaa_lab.course import checks_safeguards as cs
from hipaa_lab.course import checks_sharing as csh
from hipaa_lab.errors import GradingError
from hipaa_lab.safeguards import sharing

SEEDS = (1, 12345)


@pytest.mark.parametrize("seed", SEEDS)
def test_three_empty_lists_earn_nothing_on_verify_restore(seed: int) -> None:
    # right on the intact backup without looking: that alone was worth a fifth
    with pytest.raises(GradingError, match="intact backup counts only"):
        cs.check_verify_restore(
            lambda manifest, files: {"changed": [], "missing": [], "extra": []}, seed=seed
        )


def _aligned_dicm(image: str) -> list[int]:
    """Every cluster with DICM at its 128th byte, no header read."""
    data = base64.b64decode(image)
    return [o for o in range(0, len(data), cs.CLUSTER) if data[o + 128 : o + 132] == b"DICM"]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_carver_that_reads_no_header_loses_half(seed: int) -> None:
    # it reports the wiped file as a file; 75% precision used to keep all the credit
    credit = cs.check_carve_dicom(_aligned_dicm, seed=seed)
    assert credit.fraction <= 0.5
    assert "wiped file" in credit.message


def test_every_image_holds_one_wiped_file_apart_from_its_files() -> None:
    for seed in range(6):
        image, offsets = cs.raw_image(seed)
        wiped = cs.wiped_offsets(image, offsets)
        assert len(wiped) == 1 and not set(wiped) & set(offsets)


@pytest.mark.parametrize("seed", SEEDS)
def test_none_everywhere_but_once_earns_nothing_on_which_exclusion(seed: int) -> None:
    # half the incidents are near misses: None was right on them, and one odd answer dodged
    # the same-answer rule
    with pytest.raises(GradingError):
        cb.check_which_exclusion(lambda i: None if i["incident"] != 1 else "x", seed=seed)


def test_the_package_signer_refuses_while_link_valid_is_graded() -> None:
    def via_make_link(link: dict[str, Any], user: str, now: str, key: str) -> bool:
        signed = sharing.make_link(link["study_uid"], link["recipient"], link["expires"], key)

        def when(text: str) -> dt.datetime:
            return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))

        return (
            signed["signature"] == link["signature"]
            and user == link["recipient"]
            and when(now) < when(link["expires"])
        )

    with pytest.raises(GradingError, match="make_link is the package's answer"):
        csh.check_link_valid(via_make_link, seed=3)
    # outside a grade it still signs
    assert len(sharing.make_link("2.25.7", "dr.lee", "2026-05-01T12:00:00Z", "00" * 32)) == 4
