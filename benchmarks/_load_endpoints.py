"""The endpoint names of the load benchmark (locust's `name` of each request), shared by the
locust file that makes the requests and the script that reports them; the first is the baseline."""

HEALTHZ = "GET /healthz"
CASE_LIST = "GET /api/v1/cases/"
CASE_DETAIL = "GET /api/v1/cases/{id}"
EVIDENCE_ADD = "POST /api/v1/cases/{id}/evidence"
EVIDENCE_TRIAGE = "GET /api/v1/cases/{id}/evidence?state=known"
LOOKUP_ONE = "GET /api/v1/hashes/md5/{hex}"
LOOKUP_BATCH = "POST /api/v1/hashes/lookup"
INBOX = "POST /api/v1/exchange/inbox"
ENDPOINTS = [HEALTHZ, CASE_LIST, CASE_DETAIL, EVIDENCE_ADD, EVIDENCE_TRIAGE, LOOKUP_ONE, LOOKUP_BATCH, INBOX]
