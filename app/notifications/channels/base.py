"""What every delivery channel provides. A channel sends one rendered message and says how it failed."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


@dataclass(frozen=True)
class OutgoingMessage:
    to: str  # e-mail address, phone number (E.164) or push device token
    body: str  # text body (e-mail text part, SMS text, push body)
    subject: str | None = None  # e-mail subject or push title
    html: str | None = None  # e-mail HTML part
    data: dict = field(default_factory=dict)  # push data payload (string values)


class ChannelError(Exception):
    """A send that did not happen. `retryable` says whether trying again later may succeed (timeouts, 5xx, 429);
    a permanent failure (bad number, unregistered device, 4xx) is not retried."""

    def __init__(self, message: str, *, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


class DeviceGone(ChannelError):
    """The provider says the device token is no longer registered (app uninstalled, token rotated): forget the
    token. Raised by the push channel; the delivery task forgets the device."""

    def __init__(self, message: str):
        super().__init__(message, retryable=False)


class Channel(ABC):
    name: str = ""

    @abstractmethod
    def enabled(self) -> bool:
        """Configured and switched on."""

    @abstractmethod
    def send(self, message: OutgoingMessage) -> str | None:
        """Send it; return the provider's message id (or None). Raise ChannelError on failure."""
