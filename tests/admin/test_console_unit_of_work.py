"""Flask-Admin's own create, edit and delete (reference data) run as one unit of work each: the view's hooks run
inside it, work queued for after the commit runs once it is durable, and a refused save leaves nothing behind."""
from sqlalchemy import select

from app.admin.views.notifications import TemplateView
from app.core.audit import AuditRecord
from app.core.db import after_commit, in_unit_of_work
from app.extensions import db
from app.notifications.models import NotificationTemplate
from tests.support import csrf_from

BASE = "/admin/notification_templates"


def _watch(monkeypatch) -> list:
    """Note, for each hook call, whether it ran inside a unit of work; queue a marker for after the commit."""
    seen: list = []
    on_change, on_delete = TemplateView.on_model_change, TemplateView.on_model_delete

    def watched_change(self, form, model, is_created):
        seen.append(("create" if is_created else "edit", in_unit_of_work()))
        after_commit(seen.append, ("committed", model.body))
        on_change(self, form, model, is_created)

    def watched_delete(self, model):
        seen.append(("delete", in_unit_of_work()))
        after_commit(seen.append, ("committed", "deleted"))
        on_delete(self, model)

    monkeypatch.setattr(TemplateView, "on_model_change", watched_change)
    monkeypatch.setattr(TemplateView, "on_model_delete", watched_delete)
    return seen


def test_create_edit_and_delete_each_commit_once_as_a_unit(client, make_user, login, monkeypatch):
    seen = _watch(monkeypatch)
    login(make_user(role="support"))
    token = csrf_from(client.get(f"{BASE}/new/").get_data(as_text=True))
    fields = {"csrf_token": token, "event": "welcome", "channel": "email", "subject": "Hello",
              "active": "y"}

    assert client.post(f"{BASE}/new/", data={**fields, "body": "First."}).status_code == 302
    db.session.rollback()  # see what the request committed
    template = db.session.scalar(select(NotificationTemplate))
    assert template.body == "First."
    assert seen == [("create", True), ("committed", "First.")]

    seen.clear()
    response = client.post(f"{BASE}/edit/?id={template.id}", data={**fields, "body": "Second."})
    assert response.status_code == 302
    db.session.rollback()
    assert db.session.get(NotificationTemplate, template.id).body == "Second."
    assert seen == [("edit", True), ("committed", "Second.")]

    seen.clear()
    token = csrf_from(client.get(f"{BASE}/").get_data(as_text=True))
    response = client.post(f"{BASE}/delete/", data={"id": str(template.id), "csrf_token": token})
    assert response.status_code == 302
    db.session.rollback()
    assert db.session.scalar(select(NotificationTemplate)) is None
    assert seen == [("delete", True), ("committed", "deleted")]
    actions = list(db.session.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))
    assert actions[-3:] == ["notifications.template_saved", "notifications.template_saved",
                            "notifications.template_deleted"]


def test_a_refused_save_leaves_nothing_and_runs_nothing_after_commit(client, make_user, login, monkeypatch):
    seen = _watch(monkeypatch)
    login(make_user(role="support"))
    token = csrf_from(client.get(f"{BASE}/new/").get_data(as_text=True))
    refused = client.post(f"{BASE}/new/", data={"csrf_token": token, "event": "welcome", "channel": "email",
                                                "body": "{{ config.SECRET_KEY }}", "active": "y"},
                          follow_redirects=True)
    assert "does not render" in refused.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(NotificationTemplate)) is None
    assert db.session.scalar(select(AuditRecord).where(
        AuditRecord.action == "notifications.template_saved")) is None
    assert seen == [("create", True)]  # the queued marker went with the rollback
