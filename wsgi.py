"""WSGI entry point: `gunicorn wsgi:app`, and the app `flask` finds."""
import sys

from app import create_app

# `flask config check` lists every problem of the configuration, errors included, where any other start refuses an
# error at once: for that one command the app is built without refusing (it serves nothing).
CHECKING_CONFIG = sys.argv[-2:] == ["config", "check"]

app = create_app(validate=not CHECKING_CONFIG)
