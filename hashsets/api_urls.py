from __future__ import annotations

from django.urls import path

from hashsets import api

urlpatterns = [
    path("hashes/lookup", api.HashLookupBatchView.as_view(), name="api-hash-lookup"),
    path("hashes/match/pdq", api.PdqMatchView.as_view(), name="api-hash-match-pdq"),
    path("hashes/<str:algorithm>/<str:hex_digest>", api.HashLookupOneView.as_view(), name="api-hash-one"),
    path("hashsets", api.HashSetListView.as_view(), name="api-hashsets"),
]
