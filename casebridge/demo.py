"""Demo content for `make run` (DEMO or DEBUG only): enough to see every part working, safe to run twice.

Agencies and users come from `agencies.demo`. On top: keys and a verified partnership between
NSP and RNP with a sharing agreement, a hash set per agency made of digests of benign strings
(they disagree on a few items), and one NSP case with evidence that partly matches.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from agencies.demo import demo_seed
from agencies.models import Agency
from audit.capture import SYSTEM_ACTOR
from cases.models import Case
from cases.selectors import case_context
from cases.services.cases import case_create
from cases.services.evidence import evidence_add, evidence_parse_pasted
from exchange.models import Partner
from exchange.services import agreement_set, keys_ensure, partner_add_from_card, partner_verify
from hashsets.models import HashSet
from hashsets.services import hashset_import_run, import_job_create

User = get_user_model()
VICS2 = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/$metadata#Media"


def _digest(n: int) -> str:
    return hashlib.md5(f"casebridge-demo-item-{n}".encode()).hexdigest().upper()  # noqa: S324 - demo digests


def _demo_set(agency: Agency, name: str, items: range, category: int) -> None:
    if HashSet.objects.filter(owner=agency, name=name).exists():
        return
    hashset = HashSet.objects.create(owner=agency, name=name, tlp="GREEN", description="Demo digests of made-up bytes")
    records = [
        {"MediaID": n, "MD5": _digest(n), "Category": category, "IsDistributed": "true", "Series": "Demo series"}
        for n in items
    ]
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "demo.json"
        path.write_text(json.dumps({"@odata.context": VICS2, "value": records}))
        job = import_job_create(acting_user=None, hashset=hashset, file_name="demo.json", total_bytes=1, scheme=None)
        hashset_import_run(job=job, path=path, actor=SYSTEM_ACTOR)


def _partners(admin_a, admin_b, a: Agency, b: Agency) -> None:
    for admin, other in ((admin_a, b), (admin_b, a)):
        partner = Partner.objects.filter(agency=admin.membership.agency, partner=other).first()
        if partner is None:
            keys = keys_ensure(agency=other)
            partner = partner_add_from_card(acting_user=admin, card_document=keys.card)
            partner_verify(acting_user=admin, partner=partner, signing_fingerprint=keys.signing_fingerprint)
            agreement_set(
                acting_user=admin, partner=partner, data_types=["hashset", "lead"], max_tlp="AMBER",
                requires_approval=True,
            )  # fmt: skip


# A plausible starting policy, for the retention pages to show something (each agency sets its own).
_DEMO_RETENTION = [
    # kind, status, review after days, erase after days
    ("case", "closed", 365, 730),
    ("case", "", 1825, 3650),
    ("lead", "", 1825, 3650),
    ("evidence", "", 1825, 3650),
    ("bundle_received", "", 90, 365),
    ("bundle_quarantined", "", 30, 90),
]


def _demo_retention(admin) -> None:
    from retention.models import RetentionRule
    from retention.services import retention_rule_set

    if RetentionRule.objects.filter(agency=admin.membership.agency).exists():
        return  # the agency has a policy already (the demo's, or its admin's): keep it
    for kind, status, review, erase in _DEMO_RETENTION:
        retention_rule_set(
            acting_user=admin, kind=kind, status=status, review_after_days=review, erase_after_days=erase
        )


def demo_content_seed() -> list:
    users = demo_seed()
    a, b = Agency.objects.get(code="NSP"), Agency.objects.get(code="RNP")
    admin_a, admin_b = User.objects.get(username="nsp.admin"), User.objects.get(username="rnp.admin")
    with transaction.atomic():
        keys_ensure(agency=a)
        keys_ensure(agency=b)
        _partners(admin_a, admin_b, a, b)
        _demo_retention(admin_a)
        _demo_retention(admin_b)
    _demo_set(a, "NSP known material", range(0, 200), category=1)
    _demo_set(b, "RNP national set", range(150, 260), category=2)  # 150-199: the agencies disagree
    HashSet.objects.get(owner=b, name="RNP national set").shared_with.add(a)
    investigator = User.objects.get(username="nsp.investigator")
    if not Case.objects.filter(agency=a, title="Demo: seized laptop").exists():
        case = case_create(acting_user=investigator, title="Demo: seized laptop", tlp="AMBER")
        context = case_context(user=investigator, case_id=case.pk)
        pasted = "\n".join([_digest(n) for n in (5, 160, 199, 250)] + [_digest(n) for n in range(900, 904)])
        evidence_add(acting_user=investigator, context=context, parsed=evidence_parse_pasted(pasted))
    return users
