"""Ends an interactive session after SESSION_IDLE_TIMEOUT without a request."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

_LAST_SEEN = "casebridge_last_seen"


class SessionIdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated and hasattr(request, "session"):
            now = time.time()
            last_seen = request.session.get(_LAST_SEEN)
            if last_seen is not None and now - last_seen > settings.SESSION_IDLE_TIMEOUT.total_seconds():
                from agencies.services import logout_record

                user = request.user
                logout(request)
                logout_record(user=user, reason="idle timeout")
                messages.info(request, "You were logged out after a period of inactivity.")
            elif last_seen is None or now - last_seen > 60:
                # At most one session write a minute: read-only pages stay read-only.
                request.session[_LAST_SEEN] = now
        return self.get_response(request)
