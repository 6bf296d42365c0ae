"""GET /kyc, POST /kyc/submissions (multipart: form_id plus one part per field), GET /kyc/documents/{id}."""
from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.api.auth import current_api_user
from app.api.envelope import envelope, ok
from app.api.examples import accounts as ex
from app.core.db import unit_of_work
from app.core.errors import NotFound, ValidationError
from app.core.uploads import UploadRejected
from app.extensions import db, limiter
from app.kyc import services as kyc
from app.kyc.models import DOC_DECISIONS, FIELD_TYPES, NOT_STARTED, SUBMISSION_STATES, KycForm
from app.kyc.views import serve_document

URL = "/kyc"
blp = Blueprint("api_kyc", __name__, description="Identity verification (KYC)")
MAX_FILE = 10 * 1024 * 1024
STATUSES = [NOT_STARTED, *SUBMISSION_STATES]
DOCUMENT_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")


class FieldSchema(Schema):
    name = fields.String()
    label = fields.String()
    type = fields.String(metadata={"enum": list(FIELD_TYPES)})
    required = fields.Boolean()
    help_text = fields.String()
    options = fields.List(fields.String(), allow_none=True)


class FormSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    required_for_investing = fields.Boolean()
    required_for_withdrawing = fields.Boolean()
    status = fields.String(metadata={"enum": STATUSES})
    # a declared field: marshmallow takes it off the class, so it does not replace Schema.fields
    fields = fields.List(fields.Nested(FieldSchema))  # type: ignore[assignment]


class DocumentSchema(Schema):
    id = fields.Integer()
    field = fields.Function(lambda d: d.field.name, metadata={"type": "string"})
    content_type = fields.String(metadata={"enum": list(DOCUMENT_TYPES)})
    decision = fields.String(metadata={"enum": list(DOC_DECISIONS)})
    reason_code = fields.String(allow_none=True)
    comment = fields.String(allow_none=True)


class SubmissionSchema(Schema):
    id = fields.Integer()
    form_id = fields.Integer()
    status = fields.String(metadata={"enum": list(SUBMISSION_STATES)})
    submitted_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    reason = fields.Function(lambda s: kyc.reason_label(s.reason_code), metadata={"type": "string", "nullable": True})
    comment = fields.String(allow_none=True)
    values = fields.Function(lambda s: {v.field.name: (kyc.mask(v.text) if v.field.sensitive else v.text)
                                        for v in s.values}, metadata={
        "type": "object", "additionalProperties": {"type": "string", "nullable": True},
        "description": "each field's value by field name; sensitive ones masked"})
    documents = fields.List(fields.Nested(DocumentSchema))


class KycSchema(Schema):
    status = fields.String(metadata={"enum": STATUSES})
    missing_for_investing = fields.List(fields.String())
    missing_for_withdrawing = fields.List(fields.String())
    forms = fields.List(fields.Nested(FormSchema))
    submissions = fields.List(fields.Nested(SubmissionSchema))


@blp.get("")
@blp.response(200, envelope(KycSchema), example=ex.KYC)
@blp.doc(security=[{"bearerAuth": []}])
def status():
    """KYC status, the forms to fill (with their fields) and the caller's submissions."""
    user = current_api_user()
    latest = kyc.latest_submissions(user.id)
    forms = [{"id": f.id, "name": f.name, "description": f.description,
              "required_for_investing": f.required_for_investing,
              "required_for_withdrawing": f.required_for_withdrawing,
              "status": kyc.form_status(latest, f.id), "fields": f.fields} for f in kyc.active_forms()]
    return ok({"status": kyc.overall_status(user.id),
               "missing_for_investing": [f.name for f in kyc.missing_for(user.id, kyc.INVEST)],
               "missing_for_withdrawing": [f.name for f in kyc.missing_for(user.id, kyc.WITHDRAW)],
               "forms": forms, "submissions": kyc.history(user.id)})


@blp.post("/submissions")
@limiter.limit("20/hour", override_defaults=False)
@blp.response(201, envelope(SubmissionSchema), example=ex.SUBMITTED)
@blp.alt_response(404, description="no such form, or it is not in use")
@blp.alt_response(409, description="this form is already under review, approved or rejected")
@blp.alt_response(422, description="a field or a document is not acceptable: `errors` names each")
@blp.doc(security=[{"bearerAuth": []}], description="multipart/form-data: `form_id`, then one part per field name "
                                                    "(files for `file` fields: JPEG, PNG, WebP or PDF, 10 MB each), "
                                                    "e.g. `form_id=1`, `document_type=passport`, "
                                                    "`document_number=P1234567`, `date_of_birth=1988-04-12`, "
                                                    "`front_image=<file>`, `selfie=<file>`.",
         requestBody={"required": True, "content": {"multipart/form-data": {"schema": {
             "type": "object", "required": ["form_id"],
             "properties": {"form_id": {"type": "string", "pattern": "^[0-9]+$",
                                        "description": "the id of a form from GET /kyc"}},
             "additionalProperties": {"oneOf": [{"type": "string"}, {"type": "string", "format": "binary"}],
                                      "description": "one part per field name: its value, or its file"}},
             "example": ex.SUBMIT_REQUEST}}})
def submit():
    """Submit a form. Every field is checked and every file inspected before anything is stored."""
    user = current_api_user()
    raw_form_id = request.form.get("form_id", "")
    if not raw_form_id.isdigit():
        raise ValidationError("form_id is required", {"form_id": ["Give the id of a form from GET /kyc."]})
    form = db.session.get(KycForm, int(raw_form_id))
    if form is None or not form.active:
        raise NotFound("no such form")
    files, errors = {}, {}
    for name, storage in request.files.items():
        if storage:
            try:
                files[name] = kyc.read_upload(storage, MAX_FILE)
            except UploadRejected as exc:
                errors[name] = [exc.message]
    if errors:
        raise ValidationError("a document is not acceptable", errors)
    values = {k: v for k, v in request.form.items() if k != "form_id"}
    with unit_of_work():
        submission = kyc.submit(user, form, values, files)
    return ok(submission, message="Submitted for review.")


@blp.get("/documents/<int:document_id>")
@blp.doc(security=[{"bearerAuth": []}], responses={
    "200": {"description": "the file itself (local storage)",
            "content": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in DOCUMENT_TYPES}},
    "302": {"description": "a redirect to a link valid for a minute (S3 storage)",
            "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}}}})
def document(document_id: int):
    """One of the caller's own documents (404 for anyone else's)."""
    user = current_api_user()
    found = kyc.document_for(document_id, user)
    if found.submission.user_id != user.id:
        raise NotFound("no such document")
    return serve_document(found)
