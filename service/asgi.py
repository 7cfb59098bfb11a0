"""The ASGI app for hypercorn and systemd: `hypercorn service.asgi:app`."""

from service import create_app
from service.lifespan import tune_garbage_collector

app = create_app()
tune_garbage_collector()
