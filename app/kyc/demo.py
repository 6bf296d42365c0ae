"""KYC demo data: the two forms, the reason codes, and an approved identity for the demo investor."""
from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageDraw
from sqlalchemy import select

from app.extensions import db
from app.kyc import services as kyc
from app.kyc.models import APPROVED, KycField, KycForm, ReasonCode

COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "IE", "IN", "SG", "AE", "CA", "AU"]
REASONS = [
    ("unreadable", "Document unreadable or blurred", "both"),
    ("expired", "Document expired", "both"),
    ("mismatch", "Details do not match the account", "both"),
    ("incomplete", "Part of the document is missing", "document"),
    ("wrong_document", "Not the document we asked for", "document"),
    ("selfie_mismatch", "Selfie does not match the document", "document"),
    ("altered", "Document appears altered", "both"),
    ("sanctions_hit", "Sanctions or PEP screening match", "submission"),
    ("other", "Other (see comment)", "both"),
]


def ensure_forms() -> tuple[KycForm, KycForm]:
    identity = db.session.scalar(select(KycForm).where(KycForm.name == "Identity"))
    if identity is None:
        identity = KycForm(name="Identity", position=1, active=True, required_for_investing=True,
                           required_for_withdrawing=True,
                           description="A government photo ID and a selfie, to confirm who you are.")
        identity.fields = [
            KycField(name="document_type", label="Document type", type="select", required=True, position=1,
                     options=["passport", "id_card", "driving_licence"]),
            KycField(name="document_number", label="Document number", type="text", required=True, position=2,
                     sensitive=True, help_text="As printed on the document."),
            KycField(name="issuing_country", label="Issuing country", type="select", required=True, position=3,
                     options=COUNTRIES),
            KycField(name="date_of_birth", label="Date of birth", type="date", required=True, position=4),
            KycField(name="front_image", label="Front of the document", type="file", required=True, position=5,
                     help_text="A sharp photo or scan, all four corners visible."),
            KycField(name="selfie", label="Selfie", type="file", required=True, position=6,
                     help_text="Your face, well lit, no sunglasses."),
        ]
        db.session.add(identity)
    address = db.session.scalar(select(KycForm).where(KycForm.name == "Proof of address"))
    if address is None:
        address = KycForm(name="Proof of address", position=2, active=True, required_for_investing=False,
                          required_for_withdrawing=True,
                          description="A utility bill or bank statement from the last three months.")
        address.fields = [
            KycField(name="proof_document", label="Proof of address", type="file", required=True, position=1,
                     help_text="PDF or photo, showing your name and address."),
            KycField(name="notes", label="Anything we should know", type="textarea", required=False, position=2),
        ]
        db.session.add(address)
    for code, label, applies_to in REASONS:
        if db.session.scalar(select(ReasonCode).where(ReasonCode.code == code)) is None:
            db.session.add(ReasonCode(code=code, label=label, applies_to=applies_to, active=True))
    db.session.flush()
    return identity, address


@lru_cache(maxsize=32)  # the same few pictures for every demo and test investor: drawn once per process
def sample_image(text: str, size=(640, 400)) -> bytes:
    image = Image.new("RGB", size, (232, 240, 236))
    draw = ImageDraw.Draw(image)
    draw.rectangle([20, 20, size[0] - 20, size[1] - 20], outline=(31, 95, 74), width=6)
    draw.rectangle([50, 80, 230, 300], fill=(190, 205, 198))
    draw.text((260, 90), text, fill=(20, 40, 30))
    draw.text((260, 130), "SPECIMEN - DEMO DATA", fill=(120, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@lru_cache(maxsize=32)
def sample_pdf(text: str) -> bytes:
    image = Image.open(io.BytesIO(sample_image(text, (620, 877)))).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PDF")
    return buffer.getvalue()


def approve_identity(user, reviewer) -> None:
    """Submit and approve the demo investor's identity and address through the same services as real use."""
    identity, address = ensure_forms()
    latest = kyc.latest_submissions(user.id)
    cases: tuple[tuple[KycForm, dict[str, str], dict[str, kyc.Upload]], ...] = (
        (identity, {"document_type": "passport", "document_number": "X1234567", "issuing_country": "US",
                    "date_of_birth": "1985-06-14"},
         {"front_image": kyc.Upload(sample_image("PASSPORT  Iris Investor")),
          "selfie": kyc.Upload(sample_image("Iris Investor", (400, 400)))}),
        (address, {}, {"proof_document": kyc.Upload(sample_pdf("UTILITY BILL  Iris Investor, 1 Demo Street"))}),
    )
    for form, values, documents in cases:
        submission = latest.get(form.id)
        if submission is not None and submission.status == APPROVED:
            continue
        if submission is None:
            submission = kyc.submit(user, form, values, documents)
        kyc.decide(submission, APPROVED, actor=reviewer, comment="Demo data: approved.")
