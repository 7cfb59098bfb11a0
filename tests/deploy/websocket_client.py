"""A WebSocket client on a plain (or TLS) socket, with the headers a browser would send."""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass, field

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Event,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)


@dataclass
class WebSocket:
    status: int  # 101 when upgraded, else the refusal's status
    body: bytes
    sock: socket.socket
    connection: WSConnection
    pending: list[Event] = field(default_factory=list)

    def receive_text(self, timeout: float) -> str:
        """The next text message, within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self._events():
                if isinstance(event, TextMessage):
                    return event.data
                if isinstance(event, CloseConnection):
                    raise AssertionError(f"closed: {event.code} {event.reason}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no message within {timeout} s")
            self.sock.settimeout(remaining)
            self.connection.receive_data(self.sock.recv(65536) or None)

    def _events(self) -> list[Event]:
        events, self.pending = [*self.pending, *self.connection.events()], []
        return events

    def close(self) -> None:
        self.sock.close()


def open_websocket(
    port: int,
    path: str,
    *,
    host: str,
    headers: dict[str, str],
    tls: ssl.SSLContext | None = None,
) -> WebSocket:
    """Connect to 127.0.0.1:`port` and ask to upgrade `path`, sending `host` as Host."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if tls is not None:
        sock = tls.wrap_socket(sock, server_hostname=host)
    connection = WSConnection(ConnectionType.CLIENT)
    extra = [(name.encode(), value.encode()) for name, value in headers.items()]
    sock.sendall(connection.send(Request(host=host, target=path, extra_headers=extra)))
    status, body = 0, b""
    while True:
        data = sock.recv(65536)
        connection.receive_data(data or None)
        for event in connection.events():
            if isinstance(event, AcceptConnection):
                return WebSocket(101, b"", sock, connection)
            if isinstance(event, RejectConnection):
                status = event.status_code
                if not event.has_body:
                    return WebSocket(status, b"", sock, connection)
            if isinstance(event, RejectData):
                body += event.data
                if event.body_finished:
                    return WebSocket(status, body, sock, connection)
        if not data:
            raise ConnectionError(f"closed during the handshake (status {status})")
