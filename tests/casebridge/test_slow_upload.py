"""SlowUploadGuard on a real socket pair: a dripping sender is cut, a steady one is not."""

from __future__ import annotations

import socket
import threading
import time

from casebridge.lib.slow_upload import SlowUploadGuard


def _send(sock: socket.socket, *, chunk: bytes, every: float, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            sock.sendall(chunk)
        except OSError:
            return
        time.sleep(every)


def _read_all(sock: socket.socket, guard: SlowUploadGuard, seconds: float) -> float:
    """Read like the inbox view does until EOF (the guard cut it) or `seconds`; how long it took."""
    started = time.monotonic()
    sock.settimeout(seconds)  # a safety net per read; the loop below bounds the whole
    with guard:
        try:
            while time.monotonic() - started < seconds and (data := sock.recv(1 << 14)):
                guard.received(len(data))
        except TimeoutError:
            pass
    return time.monotonic() - started


def _run(*, chunk: bytes, every: float, min_rate: int, window: float, seconds: float):
    server, client = socket.socketpair()
    stop = threading.Event()
    sender = threading.Thread(target=_send, args=(client,), kwargs={"chunk": chunk, "every": every, "stop": stop})
    sender.start()
    guard = SlowUploadGuard({"gunicorn.socket": server}, min_rate=min_rate, window=window)
    try:
        took = _read_all(server, guard, seconds)
    finally:
        stop.set()
        sender.join()
        server.close()
        client.close()
    return guard, took


def test_a_dripping_sender_is_cut_within_a_window_or_two():
    guard, took = _run(chunk=b"x", every=0.05, min_rate=1000, window=0.3, seconds=5)  # 20 bytes/s
    assert guard.cut
    assert took < 1.5  # the blocked read ended when the guard shut the read side


def test_a_steady_sender_is_not_cut():
    guard, took = _run(chunk=b"x" * 4096, every=0.01, min_rate=1000, window=0.3, seconds=1.5)  # ~400 KB/s
    assert not guard.cut
    assert took >= 1.4  # read until our own deadline, never cut


def test_without_a_socket_nothing_is_watched():
    with SlowUploadGuard({}, min_rate=10**9, window=0.05) as guard:
        time.sleep(0.2)
    assert not guard.cut
