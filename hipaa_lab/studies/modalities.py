"""The image builders, one per family of modality, and :func:`make_study`, which picks one.

- CT and MR: one axial series of cross-sections (:func:`~hipaa_lab.studies.phantoms.ct_slice`,
  :func:`~hipaa_lab.studies.phantoms.mr_slice`), with an overlay from ``EVERYWHERE``;
- CR, DX and MG: projection views (chest PA and lateral; mammography CC and MLO of each side),
  DX and MG with the DX modules; a label may be burned into a corner;
- US: frames with the patient's name, MRN, date and site burned into the banner;
- SC: a scanned CT dose sheet or requisition, the patient's details typed on the page;
- SR: a radiology report (:mod:`hipaa_lab.studies.report`).
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from hipaa_lab.phi import Location, PHIEntry, SafeHarborCategory
from hipaa_lab.studies import phantoms
from hipaa_lab.studies.burned import add_overlay, burn_corner, set_pixels
from hipaa_lab.studies.context import StudyContext, dicom_date, us_date
from hipaa_lab.studies.header import Marks, base_dataset, code_item, finish
from hipaa_lab.studies.model import SOP_CLASS, Instance, Modality, PHILevel, Study
from hipaa_lab.studies.patients import Patient, file_word, make_patient
from hipaa_lab.studies.report import report

__all__ = ["make_study"]

C = SafeHarborCategory

_DEFAULTS = {  # modality: (rows, columns, images)
    Modality.CT: (256, 256, 8),
    Modality.MR: (256, 256, 6),
    Modality.CR: (384, 320, 2),
    Modality.DX: (384, 320, 1),
    Modality.MG: (384, 288, 4),
    Modality.US: (480, 640, 2),
    Modality.SC: (660, 510, 1),
    Modality.SR: (0, 0, 1),
}


def _image_plane(
    ds: Dataset, rows: int, cols: int, spacing: float, z: float, thickness: float
) -> None:
    """The Image Plane module of an axial slice at ``z``, centred on the patient."""
    ds.PixelSpacing = [f"{spacing:.4g}", f"{spacing:.4g}"]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [
        f"{-cols * spacing / 2:.2f}",
        f"{-rows * spacing / 2:.2f}",
        f"{z:.2f}",
    ]
    ds.SliceThickness = f"{thickness:g}"
    ds.SliceLocation = f"{z:.2f}"


def _cross_sectional(ctx: StudyContext, rows: int, cols: int, n: int) -> list[Instance]:
    """A CT or MR series of ``n`` axial slices, with an overlay when the context chose one."""
    mr = ctx.modality is Modality.MR
    thickness = 5.0 if mr else ctx.rh.choice([2.5, 5.0])
    spacing = (220.0 if mr else 380.0) / max(rows, cols)
    z0 = -ctx.rh.randint(20, 120) * 1.0
    out = []
    for i in range(n):
        marks = Marks()
        ds = base_dataset(ctx, marks, 1, i + 1, SOP_CLASS[ctx.modality])
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"] if mr else ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.FrameOfReferenceUID = ctx.frame_uid
        ds.PositionReferenceIndicator = ""
        ds.BodyPartExamined = ctx.body_part
        ds.PatientPosition = "HFS"
        z = z0 + i * thickness
        _image_plane(ds, rows, cols, spacing, z, thickness)
        ds.AcquisitionNumber = 1
        zf = i / (n - 1) if n > 1 else 0.5
        if mr:
            ds.ScanningSequence = "SE"
            ds.SequenceVariant = "NONE"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "2D"
            ds.RepetitionTime = "500"
            ds.EchoTime = "15"
            ds.EchoTrainLength = 1
            ds.MagneticFieldStrength = "1.5"
            ds.ImagedNucleus = "1H"
            arr = phantoms.mr_slice(rows, cols, 0.15 + 0.75 * zf, ctx.np)
            ds.WindowCenter, ds.WindowWidth = "500", "1000"
        else:
            ds.KVP = "120"
            ds.ConvolutionKernel = "STANDARD"
            ds.RescaleIntercept = "-1024"
            ds.RescaleSlope = "1"
            ds.RescaleType = "HU"
            ds.WindowCenter, ds.WindowWidth = "40", "400"
            arr = phantoms.ct_slice(rows, cols, zf, ctx.np)
        set_pixels(ds, arr, bits_stored=12)
        extra = add_overlay(ctx, ds, rows, cols, "") if ctx.overlay else []
        out.append(finish(ctx, ds, marks, 1, i + 1, extra))
    return out


def _projection(ctx: StudyContext, rows: int, cols: int, n: int) -> list[Instance]:
    """``n`` CR, DX or MG views, cycling through the modality's views; maybe a corner label."""
    mod = ctx.modality
    out = []
    view_sets: dict[Modality, list[tuple[str, bool | str]]] = {
        Modality.CR: [("PA", False), ("LL", True)],
        Modality.DX: [("PA", False), ("LL", True)],
        Modality.MG: [("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")],
    }
    views = view_sets[mod]
    for i in range(n):
        marks = Marks()
        ds = base_dataset(ctx, marks, 1, i + 1, SOP_CLASS[mod])
        view = views[i % len(views)]
        ds.BodyPartExamined = ctx.body_part
        ds.ImagerPixelSpacing = ["0.139", "0.139"] if mod is not Modality.MG else ["0.1", "0.1"]
        if mod is Modality.MG:
            side, proj = view
            arr = phantoms.mammogram(rows, cols, ctx.np, right=side == "R", mlo=proj == "MLO")
        else:
            arr = phantoms.chest_xray(rows, cols, ctx.np, lateral=view[1] is True)
        extra: list[PHIEntry] = []
        burned = (ctx.corner_label and mod is not Modality.MG) or (ctx.corner_label and i == 0)
        if burned:
            extra += burn_corner(ctx, arr, 4000, "")
        if mod is Modality.CR:
            ds.ViewPosition = view[0]
            ds.KVP = "110"
            ds.PatientOrientation = ["P", "F"] if view[0] == "PA" else ["A", "F"]
            ds.WindowCenter, ds.WindowWidth = "2000", "4000"
            if burned:
                ds.BurnedInAnnotation = "YES"
        else:
            _dx_modules(ctx, ds, mod, view, burned, marks)
        set_pixels(ds, arr, bits_stored=12)
        if ctx.overlay:
            extra += add_overlay(ctx, ds, rows, cols, "")
        out.append(finish(ctx, ds, marks, 1, i + 1, extra))
    return out


def _dx_modules(
    ctx: StudyContext,
    ds: Dataset,
    mod: Modality,
    view: tuple[str, bool | str],
    burned: bool,
    marks: Marks,
) -> None:
    """The DX Image and DX Detector modules, with the DX or the Mammography view codes."""
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
    ds.PixelIntensityRelationship = "LIN"
    ds.PixelIntensityRelationshipSign = 1
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "YES" if burned else "NO"
    ds.WindowCenter, ds.WindowWidth = "2000", "4000"
    ds.DetectorType = "SCINTILLATOR"
    ds.AcquisitionContextSequence = []
    ds.KVP = "110" if mod is Modality.DX else "28"
    if mod is Modality.DX:
        ds.ImageLaterality = "U"
        ds.AnatomicRegionSequence = [code_item("51185008", "SCT", "Chest")]
        ds.ViewPosition = view[0]
        ds.PositionerType = ""
        code = (
            ("399348003", "postero-anterior") if view[0] == "PA" else ("399173006", "left lateral")
        )
        view_item = code_item(code[0], "SCT", code[1])
        view_item.ViewModifierCodeSequence = []
        ds.ViewCodeSequence = [view_item]
        ds.PatientOrientation = ["P", "F"] if view[0] == "PA" else ["A", "F"]
        return
    side, proj = view
    ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
    ds.PositionerType = "MAMMOGRAPHIC"
    ds.ImageLaterality = side
    ds.OrganExposed = "BREAST"
    ds.AnatomicRegionSequence = [code_item("76752008", "SCT", "Breast")]
    code = (
        ("399162004", "cranio-caudal") if proj == "CC" else ("399368009", "medio-lateral oblique")
    )
    view_item = code_item(code[0], "SCT", code[1])
    view_item.ViewModifierCodeSequence = []
    ds.ViewCodeSequence = [view_item]
    ds.PatientOrientation = ["A", "R"] if side == "L" else ["P", "L"]
    ds.BreastImplantPresent = "NO"
    ds.PartialView = "NO"


def _ultrasound(ctx: StudyContext, rows: int, cols: int, n: int) -> list[Instance]:
    """``n`` ultrasound frames; from ``EVERYWHERE`` the banner names the patient."""
    p = ctx.p
    out = []
    top = max(30, rows // 12)
    for i in range(n):
        marks = Marks()
        ds = base_dataset(ctx, marks, 1, i + 1, SOP_CLASS[Modality.US], acquisition=True)
        arr = phantoms.ultrasound(rows, cols, ctx.np, top=top)
        size = max(10, top // 3)
        extra: list[PHIEntry] = []
        if ctx.everywhere:
            name = f"{file_word(p.family).upper()}^{file_word(p.given).upper()}"
            runs = [
                (name, C.NAMES),
                (f"ID:{p.mrn}", C.MEDICAL_RECORD),
                (ctx.fmt(ctx.date), C.DATES),
                (ctx.institution.upper(), C.OTHER),
            ]
            x = 6
            for j, (text, cat) in enumerate(runs):
                row = 3 if j < 2 else 3 + size + 4
                if j in (0, 2):
                    x = 6
                box = phantoms.draw_text(arr, x, row, text, size, 255)
                x = box[0] + box[2] + 14
                extra.append(PHIEntry("", Location.PIXELS, cat, text, box=box))
            ds.BurnedInAnnotation = "YES"
        phantoms.draw_text(arr, cols - 8 * size, 3, f"{ctx.model[:12]} C5-2", size, 200)
        phantoms.draw_text(arr, cols - 8 * size, 3 + size + 4, "MI 1.1 TIS 0.4", size, 200)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL"]
        ds.BodyPartExamined = ctx.body_part
        ds.PatientOrientation = ""
        set_pixels(ds, arr, bits_stored=8)
        ds.LossyImageCompression = "00"
        if ctx.overlay:
            extra += add_overlay(ctx, ds, rows, cols, "")
        out.append(finish(ctx, ds, marks, 1, i + 1, extra))
    return out


def _secondary_capture(ctx: StudyContext, rows: int, cols: int, n: int) -> list[Instance]:
    """``n`` scanned pages: a CT dose sheet or, from ``EVERYWHERE``, a requisition too."""
    p = ctx.p
    out = []
    for i in range(n):
        marks = Marks()
        ds = base_dataset(ctx, marks, 1, i + 1, SOP_CLASS[Modality.SC], acquisition=False)
        ds.ConversionType = "SD"
        ds.BodyPartExamined = "CHEST"
        marks.set(ds, "DateOfSecondaryCapture", dicom_date(ctx.date), C.DATES)
        ds.TimeOfSecondaryCapture = ctx.time
        ds.PatientOrientation = ""
        ds.BurnedInAnnotation = "YES" if ctx.everywhere else "NO"
        arr = phantoms.page(rows, cols, ctx.np)
        size = max(11, rows // 40)
        step = size + size // 2 + 4
        extra: list[PHIEntry] = []
        y = 16
        dose = not ctx.everywhere or ctx.re.random() < 0.3
        title = "CT DOSE REPORT" if dose else "RADIOLOGY REQUISITION"
        phantoms.draw_text(arr, 20, y, title, size + 6, 20)
        y += 2 * step
        phantoms.draw_text(arr, 20, y, ctx.institution, size, 20)
        y += step
        arr[y : y + 2, 16 : cols - 16] = 40
        y += step
        fields: list[tuple[str, str, SafeHarborCategory | None]] = []
        if ctx.everywhere:
            fields += [
                ("Patient:", f"{file_word(p.family)}, {file_word(p.given)}", C.NAMES),
                ("DOB:", us_date(p.birth_date), C.DATES),
                ("MRN:", p.mrn, C.MEDICAL_RECORD),
                ("Phone:", p.phone, C.TELEPHONE),
            ]
            if not dose:
                fields += [
                    ("Address:", f"{p.street}, {p.city} {p.state} {p.zip}", C.GEOGRAPHIC),
                    ("Insurance:", p.health_plan, C.HEALTH_PLAN),
                    (
                        "Referring:",
                        f"Dr. {ctx.referring.split('^')[1]} {ctx.referring.split('^')[0]}",
                        C.NAMES,
                    ),
                    ("Exam date:", us_date(ctx.date), C.DATES),
                ]
        if dose:
            fields += [
                ("Exam:", "CT CHEST ABDOMEN", None),
                ("CTDIvol:", "12.4 mGy", None),
                ("DLP:", "610 mGy*cm", None),
                ("Phantom:", "Body 32 cm", None),
            ]
        else:
            fields += [
                ("Exam:", ctx.description, None),
                ("Reason:", "Follow-up of pulmonary nodule", None),
            ]
        for label, value, cat in fields:
            phantoms.draw_text(arr, 24, y, label, size, 30)
            box = phantoms.draw_text(arr, 24 + 9 * size, y, value, size, 10)
            if cat is not None:
                extra.append(PHIEntry("", Location.PIXELS, cat, value, box=box))
            y += step
        set_pixels(ds, arr, bits_stored=8)
        out.append(finish(ctx, ds, marks, 1, i + 1, extra))
    return out


def make_study(
    modality: str | Modality,
    *,
    seed: int,
    level: PHILevel | int = PHILevel.EVERYWHERE,
    patient: Patient | None = None,
    slices: int | None = None,
    rows: int | None = None,
    columns: int | None = None,
) -> Study:
    """One synthetic study with identifiers planted up to ``level``.

    Parameters
    ----------
    modality
        ``"CT"``, ``"MR"``, ``"CR"``, ``"DX"``, ``"US"``, ``"MG"``, ``"SC"`` or ``"SR"``.
    seed
        Decides every value and every placement; the same seed gives the same files.
    level
        How deep identifiers are planted (:class:`PHILevel`).
    patient
        Whose study it is (default: ``make_patient(seed)``).
    slices
        How many images (slices for CT and MR, views for CR/DX/MG, frames for US, pages for SC).
    rows, columns
        Image size (defaults are small, e.g. CT 256x256 with 8 slices).

    Raises
    ------
    ValueError
        For an unknown modality or level, or sizes that are not positive.
    """
    try:
        mod = Modality(modality.upper() if isinstance(modality, str) else modality)
    except ValueError:
        raise ValueError(
            f"unknown modality {modality!r}; choose one of {', '.join(m.value for m in Modality)}"
        ) from None
    try:
        lvl = PHILevel(level)
    except ValueError:
        raise ValueError(
            f"unknown PHI level {level!r}; choose one of {[int(x) for x in PHILevel]}"
        ) from None
    d_rows, d_cols, d_n = _DEFAULTS[mod]
    r, c, n = rows or d_rows, columns or d_cols, slices or d_n
    if mod is Modality.SR:
        r, c, n = 0, 0, 1
    elif min(r, c, n) <= 0 or min(r, c) < 64:
        raise ValueError(
            f"rows and columns must be at least 64 and slices positive, got {r}x{c}x{n}"
        )
    patient = patient if patient is not None else make_patient(seed)
    ctx = StudyContext(mod, seed, lvl, patient)
    if mod in (Modality.CT, Modality.MR):
        instances = _cross_sectional(ctx, r, c, n)
    elif mod in (Modality.CR, Modality.DX, Modality.MG):
        instances = _projection(ctx, r, c, n)
    elif mod is Modality.US:
        instances = _ultrasound(ctx, r, c, n)
    elif mod is Modality.SC:
        instances = _secondary_capture(ctx, r, c, n)
    else:
        instances = report(ctx)
    return Study(patient, mod, instances, seed=seed, level=lvl)
