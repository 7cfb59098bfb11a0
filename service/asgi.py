"""The ASGI app for hypercorn and systemd: `hypercorn service.asgi:app`."""

from service import create_app

app = create_app()
