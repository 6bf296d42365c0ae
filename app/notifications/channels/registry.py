"""Which channel object sends on which channel name, and whether it is switched on."""
from __future__ import annotations

from app.notifications.channels.base import Channel
from app.notifications.channels.email import SmtpEmail
from app.notifications.channels.push import FcmPush
from app.notifications.channels.sms import TwilioSms
from app.notifications.models import EMAIL, IN_APP, PUSH, SMS


def channel_for(name: str) -> Channel:
    if name == EMAIL:
        return SmtpEmail()
    if name == SMS:
        return TwilioSms()
    if name == PUSH:
        return FcmPush()
    raise KeyError(f"no sending channel for {name!r}")


def channel_enabled(name: str) -> bool:
    if name == IN_APP:
        return True
    return channel_for(name).enabled()
