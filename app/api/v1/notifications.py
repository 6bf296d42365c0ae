"""GET /notifications, POST /notifications/{id}/read, POST /notifications/read-all; push devices."""
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.api.auth import current_api_user
from app.api.envelope import PageArgsSchema, PageMetaSchema, envelope, ok, page_meta
from app.api.examples import accounts as ex
from app.core.db import unit_of_work
from app.core.errors import NotFound
from app.extensions import db
from app.notifications import services as notifications
from app.notifications.models import PushDevice

URL = "/notifications"
blp = Blueprint("api_notifications", __name__, description="In-app notifications and push devices")


class NotificationSchema(Schema):
    id = fields.Integer()
    event = fields.String()
    title = fields.String()
    body = fields.String()
    link = fields.String(allow_none=True)
    read = fields.Function(lambda n: n.read_at is not None, metadata={"type": "boolean"})
    read_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class NotificationPageMeta(PageMetaSchema):
    unread = fields.Integer(required=True, metadata={"description": "the caller's unread notifications"})


class MarkedSchema(Schema):
    marked = fields.Integer(metadata={"description": "how many were unread"})


class DeviceRequestSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=500))
    platform = fields.String(required=True, validate=validate.OneOf(["android", "ios", "web"]))


class DeviceSchema(Schema):
    id = fields.Integer()
    platform = fields.String()
    created_at = fields.DateTime()


@blp.get("")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, envelope(NotificationSchema, many=True, meta=NotificationPageMeta), example=ex.NOTIFICATIONS)
@blp.doc(security=[{"bearerAuth": []}])
def list_notifications(args):
    """The caller's in-app notifications, newest first; `meta.unread` counts the unread ones."""
    user = current_api_user()
    rows, total = notifications.inbox(user.id, page=args["page"], per_page=args["per_page"])
    meta = page_meta(args["page"], args["per_page"], total) | {"unread": notifications.unread_count(user.id)}
    return ok(rows, meta=meta)


@blp.post("/<int:notification_id>/read")
@blp.response(200, envelope(NotificationSchema), example=ex.NOTIFICATION_READ)
@blp.doc(security=[{"bearerAuth": []}])
@unit_of_work
def read_notification(notification_id: int):
    """Mark one of the caller's notifications as read (404 for anyone else's)."""
    notification = notifications.mark_read(current_api_user().id, notification_id)
    return ok(notification)


@blp.post("/read-all")
@blp.response(200, envelope(MarkedSchema), example=ex.MARKED)
@blp.doc(security=[{"bearerAuth": []}])
@unit_of_work
def read_all():
    """Mark every notification of the caller as read."""
    count = notifications.mark_all_read(current_api_user().id)
    return ok({"marked": count})


@blp.post("/devices")
@blp.arguments(DeviceRequestSchema, example=ex.DEVICE_REQUEST)
@blp.response(201, envelope(DeviceSchema), example=ex.DEVICE)
@blp.doc(security=[{"bearerAuth": []}])
@unit_of_work
def register_device(body):
    """Register this phone's push token for the caller (a token moves to whoever registers it last)."""
    device = notifications.register_device(current_api_user(), body["token"], body["platform"])
    return ok(device)


@blp.delete("/devices/<int:device_id>")
@blp.response(200, envelope(None), example=ex.DEVICE_REMOVED)
@blp.doc(security=[{"bearerAuth": []}])
@unit_of_work
def forget_device(device_id: int):
    """Stop push notifications to one of the caller's devices."""
    device = db.session.get(PushDevice, device_id)
    if device is None or device.user_id != current_api_user().id:
        raise NotFound("no such device")
    db.session.delete(device)
    return ok(None, message="Device removed.")
