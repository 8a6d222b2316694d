"""ASGI entry point for uvicorn/gunicorn: ``carewindow.api.asgi:app`` (settings from the environment)."""

from carewindow.api.app import create_app
from carewindow.gc_tuning import tune_for_serving

tune_for_serving()  # each serving process imports this module (also uvicorn's --workers children)
app = create_app()
