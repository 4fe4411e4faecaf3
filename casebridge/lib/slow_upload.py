"""Cutting off a request body that arrives too slowly (a slow-drip sender holding a worker).

Gunicorn's workers read a request body with blocking reads, and nothing in the WSGI stack bounds
how long a sender may take: one byte every few seconds keeps a worker (or a worker's thread) busy
for as long as the sender likes. `SlowUploadGuard` watches the body while the view reads it: every
`window` seconds it checks that at least `min_rate * window` bytes arrived since the last check,
and otherwise shuts the connection's read side, which ends the blocked read at once; the view then
refuses the request (408) and the worker is free again.

It needs the connection's socket, which gunicorn puts in the WSGI environ as `gunicorn.socket`;
under another server (the test client, runserver) it watches nothing. The reverse proxy's own
time-outs remain the first line (docs/deploy.md).
"""

from __future__ import annotations

import contextlib
import socket
import threading


class SlowUploadGuard:
    def __init__(self, environ: dict, *, min_rate: int, window: float) -> None:
        self._socket = environ.get("gunicorn.socket")
        self._min_bytes = int(min_rate * window)
        self._window = window
        self._received = 0
        self._at_last_check = 0
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self.cut = False

    def __enter__(self) -> SlowUploadGuard:
        self._schedule()
        return self

    def __exit__(self, *exc) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None

    def received(self, count: int) -> None:
        """The view read `count` more bytes of the body."""
        self._received += count

    def _schedule(self) -> None:
        if self._socket is None or self._min_bytes <= 0:
            return
        self._timer = threading.Timer(self._window, self._check)
        self._timer.daemon = True
        self._timer.start()

    def _check(self) -> None:
        with self._lock:
            if self._timer is None:  # the body was read in time: nothing to do
                return
            if self._received - self._at_last_check >= self._min_bytes:
                self._at_last_check = self._received
                self._schedule()
                return
            self.cut = True
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RD)  # the blocked read returns at once, short
