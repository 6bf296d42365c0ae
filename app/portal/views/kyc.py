"""The investor's identity verification: what is needed, the forms, their history, their own documents."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.auth.forms import SimpleForm
from app.core.db import unit_of_work
from app.core.errors import DomainError
from app.core.uploads import UploadRejected
from app.extensions import db, limiter
from app.kyc import services as kyc
from app.kyc.models import KycForm
from app.kyc.views import serve_document
from app.portal import bp

MAX_FILE = 10 * 1024 * 1024


@bp.get("/kyc")
def kyc_overview():
    latest = kyc.latest_submissions(current_user.id)
    forms = [{"form": f, "status": kyc.form_status(latest, f.id), "submission": latest.get(f.id)}
             for f in kyc.active_forms()]
    return render_template("portal/kyc/overview.html", forms=forms, status=kyc.overall_status(current_user.id),
                           missing_invest=kyc.missing_for(current_user.id, kyc.INVEST),
                           missing_withdraw=kyc.missing_for(current_user.id, kyc.WITHDRAW),
                           history=kyc.history(current_user.id))


@bp.route("/kyc/forms/<int:form_id>", methods=["GET", "POST"])
@limiter.limit("20/hour", methods=["POST"])
def kyc_form(form_id: int):
    form = db.session.get(KycForm, form_id)
    if form is None or not form.active:
        abort(404)
    latest = kyc.latest_submissions(current_user.id).get(form.id)
    csrf = SimpleForm()
    errors: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    if request.method == "POST":
        if not csrf.validate_on_submit():
            abort(400)
        values = {k: v for k, v in request.form.items() if k != "csrf_token"}
        files, errors = {}, {}
        for name, storage in request.files.items():
            if storage and storage.filename:
                try:
                    files[name] = kyc.read_upload(storage, MAX_FILE)
                except UploadRejected as exc:
                    errors[name] = [exc.message]
        if not errors:
            try:
                with unit_of_work():
                    kyc.submit(current_user, form, values, files)
                flash(_("Thank you: your %(form)s is submitted. We will tell you as soon as it is reviewed.", form=form.name),
                      "success")
                return redirect(url_for("portal.kyc_overview"))
            except DomainError as exc:
                errors = exc.errors or {"form_id": [exc.message]}
    prefill = {}
    if latest is not None and not values:
        prefill = {v.field.name: v.text for v in latest.values}
    carried = {d.field.name for d in (latest.documents if latest else []) if d.decision == "accepted"}
    redo = kyc.documents_to_redo(latest) if latest is not None and latest.status == "resubmission_requested" else []
    return render_template("portal/kyc/form.html", form=form, csrf=csrf, errors=errors, values=values or prefill,
                           latest=latest, carried=carried, redo=redo), (422 if errors else 200)


@bp.get("/kyc/documents/<int:document_id>")
def kyc_document(document_id: int):
    try:
        document = kyc.document_for(document_id, current_user)
    except DomainError:
        abort(404)
    if document.submission.user_id != current_user.id:
        abort(404)  # staff look at documents in the console, where the view is audited
    return serve_document(document)
