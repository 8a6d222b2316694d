"""ASGI entry point for uvicorn/gunicorn: ``carewindow.api.asgi:app`` (settings from the environment)."""

from carewindow.api.app import create_app

app = create_app()
