"""Lookup budgets: a user may check many digests, but not enumerate the hash sets.

The budget counts digests, not requests (one request may carry 10,000), in a fixed window per
user, in the shared cache so every web process sees the same count.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import Throttled


def lookup_budget_charge(*, user, digests: int) -> None:
    limit = settings.HASH_LOOKUP_DIGESTS_PER_HOUR
    window = int(time.time() // 3600)
    key = f"hash-lookup-budget:{user.pk}:{window}"
    cache.add(key, 0, timeout=3700)
    try:
        used = cache.incr(key, digests)
    except ValueError:  # evicted between add and incr
        cache.set(key, digests, timeout=3700)
        used = digests
    if used > limit:
        wait = 3600 - int(time.time() % 3600)
        raise Throttled(
            wait=wait,
            detail=f"Hash lookup budget of {limit:,} digests per hour used up; it renews in {wait // 60 + 1} minutes.",
        )
