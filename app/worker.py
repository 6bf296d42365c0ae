"""`celery -A app.worker worker` / `celery -A app.worker beat`.

Celery looks for an attribute named `app` (then `celery`) holding a Celery instance, so here `app` is the Celery
app and the Flask app is `flask_app`.
"""
from app import create_app

flask_app = create_app()
celery = app = flask_app.extensions["celery"]
