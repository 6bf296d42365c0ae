"""Reviewing KYC in the console: queue, claim, per-document and overall decisions, resubmission, bulk, overdue,
gating, notifications and the audit trail."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.audit import AuditRecord
from app.core.db import utcnow
from app.core.errors import Conflict, Forbidden, IllegalTransition, ValidationError
from app.extensions import db
from app.kyc import services as kyc
from app.kyc.models import KycSubmission
from app.notifications.models import Notification
from tests.core import files
from tests.support import csrf_from, outbox


def submit(user, form, **overrides):
    values = {"document_type": "passport", "document_number": "P123456", "issuing_country": "FR",
              "date_of_birth": "1979-03-03"}
    values.update(overrides)
    submission = kyc.submit(user, form, values, {"front_image": kyc.Upload(files.jpeg()),
                                                  "selfie": kyc.Upload(files.png())})
    db.session.commit()
    return submission


@pytest.fixture
def reviewer(make_user):
    return make_user(role="compliance")


def test_queue_is_oldest_first_and_filters(client, make_user, login, forms, reviewer):
    identity, _ = forms
    old, new = make_user("old@example.com"), make_user("new@example.com")
    first = submit(old, identity)
    first.submitted_at = utcnow() - timedelta(days=3)
    db.session.commit()
    submit(new, identity, issuing_country="DE")
    login(reviewer)
    html = client.get("/admin/kyc_queue/").get_data(as_text=True)
    assert html.index("old@example.com") < html.index("new@example.com")
    assert "2 pending" in html
    de_only = client.get("/admin/kyc_queue/?flt0_country_equals=DE").get_data(as_text=True)
    assert client.get("/admin/kyc_queue/").status_code == 200
    assert "new@example.com" in de_only


def test_finance_cannot_review(client, make_user, login, forms):
    identity, _ = forms
    submission = submit(make_user(), identity)
    finance = make_user(role="finance")
    login(finance)
    assert client.get("/admin/kyc_queue/").status_code == 403
    assert client.get(f"/admin/kyc_queue/case/{submission.id}").status_code == 403
    token = csrf_from(client.get("/account/security").get_data(as_text=True))
    assert client.post(f"/admin/kyc_queue/case/{submission.id}/decide",
                       data={"csrf_token": token, "decision": "approved"}).status_code == 403
    assert client.get(f"/admin/kyc_queue/document/{submission.documents[0].id}").status_code == 403
    with pytest.raises(Forbidden):
        kyc.decide(submission, "approved", actor=finance)


def test_case_page_shows_data_beside_documents_and_audits_document_views(client, make_user, login, forms,
                                                                         reviewer):
    identity, _ = forms
    investor = make_user("case@example.com")
    submission = submit(investor, identity, document_number="AB998877")
    login(reviewer)
    html = client.get(f"/admin/kyc_queue/case/{submission.id}").get_data(as_text=True)
    assert "AB998877" in html and "Front of the document" in html and "Selfie" in html
    assert f"/admin/kyc_queue/document/{submission.documents[0].id}" in html
    assert "<kbd>a</kbd>" in html  # keyboard shortcuts
    image = client.get(f"/admin/kyc_queue/document/{submission.documents[0].id}")
    assert image.status_code == 200 and image.mimetype == "image/jpeg"
    viewed = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "kyc.document_viewed"))
    assert viewed.actor_id == reviewer.id and viewed.target_id == str(submission.documents[0].id)


def test_approve_opens_the_gate_and_tells_the_investor(client, make_user, login, forms, reviewer):
    identity, _ = forms
    investor = make_user()
    with pytest.raises(Forbidden, match="Identity"):
        kyc.require_approved(investor, kyc.INVEST)
    submission = submit(investor, identity)
    login(reviewer)
    page = client.get(f"/admin/kyc_queue/case/{submission.id}").get_data(as_text=True)
    token = csrf_from(page)
    client.post(f"/admin/kyc_queue/case/{submission.id}/claim", data={"csrf_token": token})
    response = client.post(f"/admin/kyc_queue/case/{submission.id}/decide",
                           data={"csrf_token": token, "decision": "approved", "comment": "All good."})
    assert response.status_code == 302
    db.session.expire_all()
    assert submission.status == "approved" and submission.decided_by_id == reviewer.id
    assert submission.assignee_id == reviewer.id
    assert all(d.decision == "accepted" for d in submission.documents)
    kyc.require_approved(investor, kyc.INVEST)  # open
    with pytest.raises(Forbidden, match="Proof of address"):
        kyc.require_approved(investor, kyc.WITHDRAW)  # the address form is also configured for withdrawing
    assert kyc.overall_status(investor.id) == "not_started"  # the address form is still to do
    assert outbox(investor.email, "kyc_approved")
    record = db.session.scalar(select(AuditRecord).where(AuditRecord.action == "kyc.approved"))
    assert record.actor_id == reviewer.id and record.after["status"] == "approved"
    with pytest.raises(IllegalTransition):
        kyc.decide(submission, "rejected", actor=reviewer, reason_code="other")


def test_reject_needs_a_reason_from_the_list(make_user, forms, reviewer):
    identity, _ = forms
    submission = submit(make_user(), identity)
    with pytest.raises(ValidationError):
        kyc.decide(submission, "rejected", actor=reviewer)
    with pytest.raises(ValidationError):
        kyc.decide(submission, "rejected", actor=reviewer, reason_code="made_up")
    kyc.decide(submission, "rejected", actor=reviewer, reason_code="altered", comment="Edited photo.")
    db.session.commit()
    assert submission.status == "rejected"
    notification = db.session.scalar(select(Notification).where(Notification.event == "kyc_rejected"))
    assert notification.context["reason"] == "Document appears altered"


def test_resubmission_names_the_documents_and_keeps_the_accepted_ones(client, make_user, login, forms, reviewer,
                                                                      token_for):
    identity, _ = forms
    investor = make_user()
    submission = submit(investor, identity)
    front, selfie = submission.documents
    kyc.decide_document(front, "accepted", actor=reviewer)
    kyc.decide_document(selfie, "redo", actor=reviewer, reason_code="unreadable", comment="Too dark.")
    with pytest.raises(Conflict):
        kyc.decide(submission, "approved", actor=reviewer)  # a document is not accepted
    kyc.decide(submission, "resubmission_requested", actor=reviewer, reason_code="unreadable")
    db.session.commit()
    [email] = outbox(investor.email, "kyc_resubmission_requested")
    assert "Selfie: Document unreadable or blurred (Too dark.)" in email.body
    assert "Front of the document" not in email.body
    # the investor sends only the selfie again; the accepted front is kept
    login(investor)
    page = client.get(f"/kyc/forms/{identity.id}").get_data(as_text=True)
    assert "Please send again" in page and "Accepted last time" in page
    import io

    response = client.post(f"/kyc/forms/{identity.id}", data={
        "csrf_token": csrf_from(page), "document_type": "passport", "document_number": "P123456",
        "issuing_country": "FR", "date_of_birth": "1979-03-03", "selfie": (io.BytesIO(files.png(50, 50)), "s.png")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    second = db.session.scalar(select(KycSubmission).order_by(KycSubmission.id.desc()))
    assert second.previous_id == submission.id and second.status == "pending"
    kept = [d for d in second.documents if d.carried_from_id == front.id]
    assert len(kept) == 1 and kept[0].decision == "accepted"
    kyc.decide(second, "approved", actor=reviewer)
    db.session.commit()
    assert kyc.missing_for(investor.id, kyc.INVEST) == []


def test_nobody_reviews_their_own_case(make_user, forms):
    identity, _ = forms
    compliance = make_user(role="compliance")
    submission = submit(compliance, identity)
    with pytest.raises(Forbidden):
        kyc.decide(submission, "approved", actor=compliance)


def test_claim_is_exclusive(make_user, forms, reviewer):
    identity, _ = forms
    submission = submit(make_user(), identity)
    kyc.claim(submission, reviewer)
    other = make_user(role="compliance")
    with pytest.raises(Conflict):
        kyc.claim(submission, other)
    kyc.assign(submission, other, reviewer)
    assert submission.assignee_id == other.id
    with pytest.raises(ValidationError):
        kyc.assign(submission, make_user(role="finance"), reviewer)


def test_bulk_decisions_report_each_case(client, make_user, login, forms, reviewer):
    identity, _ = forms
    ok_case = submit(make_user(), identity)
    own_case = submit(reviewer, identity)  # cannot be decided by its owner
    done_case = submit(make_user(), identity)
    kyc.decide(done_case, "approved", actor=reviewer)
    db.session.commit()
    login(reviewer)
    page = client.get("/admin/kyc_queue/").get_data(as_text=True)
    response = client.post("/admin/kyc_queue/action/", data={
        "csrf_token": csrf_from(page), "action": "approve", "rowid": [ok_case.id, own_case.id, done_case.id],
        "url": "/admin/kyc_queue/"}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert f"Case #{ok_case.id}: approved" in html
    assert f"Case #{own_case.id}: nobody reviews their own KYC" in html
    assert f"Case #{done_case.id}: submission #{done_case.id} is approved, not pending" in html
    assert "1 of 3 case(s) approved" in html
    db.session.expire_all()
    assert (ok_case.status, own_case.status) == ("approved", "pending")
    another = submit(make_user(), identity)
    rejected = client.post("/admin/kyc_queue/action/", data={
        "csrf_token": csrf_from(page), "action": "reject", "rowid": [another.id], "url": "/admin/kyc_queue/"},
        follow_redirects=True).get_data(as_text=True)
    assert "reason is required" in rejected  # bulk reject needs a reason too
    client.post("/admin/kyc_queue/action/", data={
        "csrf_token": csrf_from(page), "action": "reject", "rowid": [another.id], "url": "/admin/kyc_queue/",
        "bulk_reason_code": "sanctions_hit", "bulk_comment": "Screening match."})
    db.session.expire_all()
    assert another.status == "rejected" and another.reason_code == "sanctions_hit"


def test_overdue_cases_are_flagged_once_and_shown(client, make_user, login, forms, reviewer, app):
    identity, _ = forms
    late = submit(make_user(), identity)
    late.submitted_at = utcnow() - timedelta(hours=app.config["KYC_REVIEW_SLA_HOURS"] + 1)
    fresh = submit(make_user(), identity)
    db.session.commit()
    from app.kyc.tasks import flag_overdue_cases

    assert flag_overdue_cases.delay().get() == 1
    assert flag_overdue_cases.delay().get() == 0  # once
    db.session.expire_all()
    assert late.overdue_at is not None and fresh.overdue_at is None
    assert db.session.scalar(select(Notification).where(Notification.event == "kyc_overdue_staff",
                                                        Notification.user_id == reviewer.id)) is not None
    login(reviewer)
    dashboard = client.get("/admin/").get_data(as_text=True)
    assert "KYC cases pending" in dashboard and "1 overdue" in dashboard
    assert "overdue" in client.get("/admin/kyc_queue/").get_data(as_text=True)


def test_queue_queries_do_not_grow(client, make_user, login, forms, reviewer, count_queries):
    identity, _ = forms
    submit(make_user(), identity)
    login(reviewer)
    with count_queries() as few:
        client.get("/admin/kyc_queue/")
    for _ in range(8):
        submit(make_user(), identity)
    with count_queries() as many:
        client.get("/admin/kyc_queue/")
    assert 0 < len(many) == len(few)


def test_forms_are_designed_in_the_console(client, make_user, login, forms):
    login(make_user(role="compliance"))
    page = client.get("/admin/kyc_forms/new/")
    assert page.status_code == 200
    token = csrf_from(page.get_data(as_text=True))
    response = client.post("/admin/kyc_forms/new/", data={
        "csrf_token": token, "name": "Source of funds", "description": "Where the money comes from.",
        "position": "3", "active": "y", "required_for_investing": "y",
        "fields-0-name": "employer", "fields-0-label": "Employer", "fields-0-type": "text",
        "fields-0-required": "y", "fields-0-position": "1", "fields-0-help_text": "",
        "fields-1-name": "statement", "fields-1-label": "Bank statement", "fields-1-type": "file",
        "fields-1-required": "y", "fields-1-position": "2", "fields-1-help_text": ""})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    from app.kyc.models import KycForm

    created = db.session.scalar(select(KycForm).where(KycForm.name == "Source of funds"))
    assert [f.name for f in created.fields] == ["employer", "statement"]
    assert created in kyc.required_forms(kyc.INVEST)
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "kyc.form_saved")) is not None


def test_a_decision_made_meanwhile_wins(make_user, forms, reviewer):
    """Two reviewers decide the same case at once: the conditional state change lets exactly one through."""
    from sqlalchemy import update

    identity, _ = forms
    submission = submit(make_user(), identity)
    db.session.execute(update(KycSubmission).where(KycSubmission.id == submission.id)
                       .values(status="rejected", reason_code="expired")
                       .execution_options(synchronize_session=False))  # the other reviewer's decision
    assert submission.status == "pending"  # what this reviewer still sees
    with pytest.raises(IllegalTransition, match="rejected now"):
        kyc.decide(submission, "approved", actor=reviewer)
    assert submission.status == "rejected"
    assert db.session.scalar(select(AuditRecord).where(AuditRecord.action == "kyc.approved")) is None
