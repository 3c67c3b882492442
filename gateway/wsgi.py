"""WSGI entry point for any server: ``gunicorn 'gateway.wsgi:app'``."""

from gateway.serving import serving_app

app = serving_app()
