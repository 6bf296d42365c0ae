"""The checks of a production configuration that read only its values (app/config.py runs them): the shared services
(broker, cache, rate limits), mail and the payment gateways' credentials."""
from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One problem of a configuration, named by its environment variable. An error stops the app from starting;
    a warning does not."""

    variable: str
    message: str
    error: bool = True

    def __str__(self) -> str:
        return f"{'error' if self.error else 'warning'}: {self.variable}: {self.message}"


REDIS_SCHEMES = ("redis://", "rediss://")
LOCAL_BROKERS = ("memory://", "sqla+sqlite", "filesystem://")


def shared_services_problems(config: Mapping[str, Any]) -> list[Problem]:
    """The broker, the cache and the rate limits are shared by every process (web workers, Celery workers, beat)
    through Redis: production never falls back to a SQLite broker, a per-process cache or per-process limits."""
    found = []
    redis_url = config.get("REDIS_URL")
    broker = config.get("CELERY_BROKER_URL")
    if not redis_url:
        if broker:
            found.append(Problem("REDIS_URL", "missing: the cache and the rate limits must be shared by every process "
                                              "(CELERY_BROKER_URL is the broker only)"))
        else:
            found.append(Problem("REDIS_URL", "missing: the broker, the cache and the rate limits must be shared by "
                                              "every process (production never falls back to a SQLite broker or "
                                              "per-process limits)"))
    elif not str(redis_url).startswith(REDIS_SCHEMES):
        found.append(Problem("REDIS_URL", "must be a redis:// or rediss:// URL"))
    if broker and str(broker).startswith(LOCAL_BROKERS):
        found.append(Problem("CELERY_BROKER_URL", "an in-process or file broker is not shared by the workers: "
                                                  "name the Redis server (or unset it: REDIS_URL)"))
    return found


def _is_local_host(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mail_problems(config: Mapping[str, Any]) -> list[Problem]:
    server = config.get("MAIL_SERVER")
    if not server:
        return [Problem("MAIL_SERVER", "production needs SMTP (mail is never written to the log there)")]
    found = []
    tls, ssl = config.get("MAIL_USE_TLS"), config.get("MAIL_USE_SSL")
    if not (tls or ssl) and not _is_local_host(str(server)):
        found.append(Problem("MAIL_USE_TLS", f"off, and MAIL_USE_SSL too: mail to {server} (its links, and the "
                                             "SMTP password) crosses the network unencrypted", error=False))
    if tls and ssl:
        found.append(Problem("MAIL_USE_SSL", "on, and MAIL_USE_TLS too: implicit TLS is used, STARTTLS is not",
                             error=False))
    return found


PAYPAL_KEYS = ("PAYPAL_CLIENT_ID", "PAYPAL_CLIENT_SECRET", "PAYPAL_WEBHOOK_ID")


def paypal_problems(config: Mapping[str, Any]) -> list[Problem]:
    """PayPal is on only with its three values: some of them without the others is a mistake (PayPal would be off
    without saying so), and its API is spoken over TLS."""
    found = []
    present = [key for key in PAYPAL_KEYS if config.get(key)]
    if present:
        found += [Problem(key, f"missing: PayPal needs {', '.join(PAYPAL_KEYS)} together (it stays off without it)")
                  for key in PAYPAL_KEYS if key not in present]
        base = str(config.get("PAYPAL_API_BASE") or "")
        if not base.startswith("https://"):
            found.append(Problem("PAYPAL_API_BASE", "must be an https:// address (https://api-m.paypal.com, or "
                                                    "https://api-m.sandbox.paypal.com for the sandbox)"))
        elif "sandbox" in base:
            found.append(Problem("PAYPAL_API_BASE", "points at PayPal's sandbox: no real money is taken",
                                 error=False))
    return found


SOCIAL_KEYS = {"Google": ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"),
               "GitHub": ("GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET")}
SOCIAL_ENDPOINTS = {"Google": ("GOOGLE_METADATA_URL",), "GitHub": ("GITHUB_OAUTH_BASE", "GITHUB_API_BASE")}


def social_problems(config: Mapping[str, Any]) -> list[Problem]:
    """A social sign-in provider is on only with both its client id and secret: one without the other is a mistake
    (the provider would be off without saying so); an enabled provider is spoken to over TLS."""
    found = []
    for name, keys in SOCIAL_KEYS.items():
        present = [key for key in keys if config.get(key)]
        if present and len(present) < len(keys):
            found += [Problem(key, f"missing: {name} sign-in needs {' and '.join(keys)} together (it stays off "
                                   "without it)") for key in keys if key not in present]
        if len(present) == len(keys):
            found += [Problem(key, "must be an https:// address") for key in SOCIAL_ENDPOINTS[name]
                      if not str(config.get(key) or "").startswith("https://")]
    return found
