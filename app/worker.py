"""`celery -A app.worker worker` / `celery -A app.worker beat`."""
from app import create_app

app = create_app()
celery = app.extensions["celery"]
