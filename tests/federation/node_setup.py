"""Runs inside one federation test node (its own environment and database) and acts through the services.

The two-node tests never import Django for a node: they start this script with the node's
environment and talk to it. Two ways to use it:

    python tests/federation/node_setup.py serve            # JSON lines: {"op": ..., "args": {...}} in,
                                                           # {"ok": true, "result": ...} out
    python tests/federation/node_setup.py OP '{"arg": 1}'  # one operation, result as JSON on stdout

Every write goes through the real services (agency_create aside, which is an operator action),
so audit records, on-commit delivery tasks (to this node's Celery broker) and checks all happen
as on a real node. Reads for assertions are done by the tests with SQL on the node's database.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PASSWORD = "a-long-and-unguessable-federation-passphrase"


def _setup() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casebridge.settings")
    import django

    django.setup()


def _user(username: str, agency, role: str):
    from django.contrib.auth import get_user_model

    from agencies.models import Membership

    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user = user_model.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.org")
        Membership.objects.create(user=user, agency=agency, role=role)
    return user


def _admin(code: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=f"{code.lower()}.admin")


def _investigator(code: str):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=f"{code.lower()}.investigator")


def _local_agency():
    """The node's own agency: the first hosted here (a test may add a second, see op_local_partner)."""
    from agencies.models import Agency

    return Agency.objects.filter(hosted_here=True).order_by("pk").first()


# --- operations ----------------------------------------------------------------------------------


def op_init(*, code: str, name: str, country: str, node_url: str) -> dict:
    """The agency this node hosts, its admin and investigator, its keys, and an API token."""
    from agencies.models import Agency, Role
    from agencies.services import agency_create, api_token_create
    from exchange.services import keys_ensure

    agency = Agency.objects.filter(code=code).first() or agency_create(
        name=name, code=code, country=country, node_url=node_url
    )
    _user(f"{code.lower()}.admin", agency, Role.AGENCY_ADMIN)
    investigator = _user(f"{code.lower()}.investigator", agency, Role.INVESTIGATOR)
    keys = keys_ensure(agency=agency)
    token = api_token_create(acting_user=investigator, name="federation tests", days=1)
    return {
        "agency_id": agency.pk,
        "signing_fingerprint": keys.signing_fingerprint,
        "api_token": token.secret,
    }


def op_partner_add(*, card: dict, signing_fingerprint: str, data_types: list[str], max_tlp: str) -> dict:
    """Add the partner from its card, verify the fingerprint given out of band, set the agreement,
    and issue the token the partner's node will present when it calls this node."""
    from exchange.services import agreement_set, partner_add_from_card, partner_token_issue, partner_verify

    admin = _admin(_local_agency().code)
    partner = partner_add_from_card(acting_user=admin, card_document=card)
    partner = partner_verify(acting_user=admin, partner=partner, signing_fingerprint=signing_fingerprint)
    agreement_set(acting_user=admin, partner=partner, data_types=data_types, max_tlp=max_tlp, requires_approval=False)
    token = partner_token_issue(acting_user=admin, partner=partner)
    return {
        "partner_id": partner.pk,
        "partner_code": partner.partner.code,
        "node_url": partner.node_url,
        "token": token,
    }


def op_local_partner(*, code: str, name: str, country: str, data_types: list[str]) -> dict:
    """A second agency hosted on this node, partner of the node's own agency both ways (verified,
    agreement without approval): bundles between them are delivered and applied by this node's worker."""
    from agencies.models import Agency, Role
    from agencies.services import agency_create
    from exchange.services import agreement_set, keys_ensure, partner_add_from_card, partner_verify

    home = _local_agency()
    other = Agency.objects.filter(code=code).first() or agency_create(name=name, code=code, country=country)
    _user(f"{code.lower()}.admin", other, Role.AGENCY_ADMIN)
    for agency, partner_agency in ((home, other), (other, home)):
        admin = _admin(agency.code)
        keys = keys_ensure(agency=partner_agency)
        partner = partner_add_from_card(acting_user=admin, card_document=keys.card)
        partner = partner_verify(acting_user=admin, partner=partner, signing_fingerprint=keys.signing_fingerprint)
        agreement_set(
            acting_user=admin, partner=partner, data_types=data_types, max_tlp="AMBER", requires_approval=False
        )
    return {"agency_id": other.pk}


def op_partner_token_set(*, partner_code: str, token: str) -> dict:
    """Store the token the partner's node issued to us (used for our calls to it)."""
    from exchange.models import Partner
    from exchange.services import partner_outbound_token_set

    agency = _local_agency()
    partner = Partner.objects.get(agency=agency, partner__code=partner_code)
    partner_outbound_token_set(acting_user=_admin(agency.code), partner=partner, token=token)
    return {"partner_id": partner.pk}


def op_hashset_import(*, name: str, count: int, salt: str, series: str = "", tlp: str = "GREEN") -> dict:
    """Create the hash set on first use, then import `count` made-up VICS 2.0 records into it."""
    from audit.capture import actor_for_user
    from hashsets.models import HashSet
    from hashsets.services import hashset_create, hashset_import_run, import_job_create
    from tests.hashsets.factories import vics2_file, vics2_records

    agency = _local_agency()
    investigator = _investigator(agency.code)
    hashset = HashSet.objects.filter(owner=agency, name=name).first()
    if hashset is None:
        hashset = hashset_create(acting_user=investigator, name=name, tlp=tlp, scheme="vic_us")
    with tempfile.TemporaryDirectory() as scratch:
        path = vics2_file(Path(scratch) / f"{salt}.json", vics2_records(count, salt=salt, series=series or None))
        job = import_job_create(
            acting_user=investigator, hashset=hashset, file_name=path.name, total_bytes=path.stat().st_size, scheme=None
        )
        job = hashset_import_run(job=job, path=path, actor=actor_for_user(investigator))
    return {"hashset_id": hashset.pk, "status": job.status, "records": job.records, "error": job.error}


def op_hashset_publish(*, hashset_id: int, recipients: list[str]) -> list[dict]:
    """Publish through hashset_publish (snapshot first, then deltas); delivery is queued on commit."""
    from hashsets.exchange_kinds import hashset_publish
    from hashsets.models import HashSet

    hashset = HashSet.objects.get(pk=hashset_id)
    bundles = hashset_publish(
        acting_user=_investigator(hashset.owner.code), hashset=hashset, recipient_codes=recipients
    )
    return [
        {"pk": b.pk, "bundle_id": str(b.bundle_id), "kind": b.kind, "sequence": b.sequence, "path": b.path}
        for b in bundles
    ]


def op_bundle_retry(*, pk: int) -> dict:
    """The UI's "retry now": make the bundle due, and hand it to this node's worker."""
    from exchange.delivery import bundle_retry_now
    from exchange.models import Bundle
    from exchange.tasks import outbox_deliver_task

    bundle = Bundle.objects.get(pk=pk)
    bundle_retry_now(bundle=bundle)
    outbox_deliver_task.delay(pk)
    return {"pk": pk}


def op_sweep() -> dict:
    """What the periodic sweep does: queue every due outbox bundle for this node's worker."""
    from exchange.tasks import outbox_sweep_task

    return {"queued": outbox_sweep_task()}


def op_lead_share(*, title: str, clue: str, partner_codes: list[str], tlp: str = "GREEN") -> dict:
    """A case with one lead (and a clue), shared with partners through the cases app's share flow."""
    from cases.selectors import case_context
    from cases.services.cases import case_create
    from cases.services.leads import lead_create
    from cases.sharing import lead_share_request

    investigator = _investigator(_local_agency().code)
    case = case_create(acting_user=investigator, title=f"Case of {title}", tlp=tlp)
    context = case_context(user=investigator, case_id=case.pk)
    lead = lead_create(acting_user=investigator, context=context, title=title, tlp=tlp, clues=[("language", clue)])
    share = lead_share_request(
        acting_user=investigator, lead=lead, partner_codes=partner_codes, purpose="victim_identification"
    )
    share.refresh_from_db()
    return {"lead_id": lead.pk, "share_uid": str(lead.share_uid), "share_state": share.state}


def op_lead_update(*, share_uid: str, status: str = "", clue: str = "") -> dict:
    """This node's investigator changes the lead it holds (a received one, say): status and/or a clue."""
    from cases.models import Lead
    from cases.services.leads import lead_clue_add, lead_update

    agency = _local_agency()
    investigator = _investigator(agency.code)
    lead = Lead.objects.get(agency=agency, share_uid=share_uid)
    if status:
        lead = lead_update(acting_user=investigator, lead=lead, status=status)
    if clue:
        lead_clue_add(acting_user=investigator, lead=lead, kind="location", text=clue)
    return {"lead_id": lead.pk}


def op_partner_import_as(*, agency_code: str, card: dict, signing_fingerprint: str = "") -> dict:
    """The admin of `agency_code` (hosted here) imports a card, and verifies it when given a fingerprint."""
    from exchange.services import partner_add_from_card, partner_verify

    admin = _admin(agency_code)
    partner = partner_add_from_card(acting_user=admin, card_document=card)
    if signing_fingerprint:
        partner = partner_verify(acting_user=admin, partner=partner, signing_fingerprint=signing_fingerprint)
    return {"partner_id": partner.pk, "state": partner.state, "node_url": partner.node_url}


def op_partner_token_issue_as(*, agency_code: str, partner_code: str) -> dict:
    """The admin of `agency_code` issues a node token on its partner row for `partner_code`."""
    from exchange.models import Partner
    from exchange.services import partner_token_issue

    partner = Partner.objects.get(agency__code=agency_code, partner__code=partner_code)
    return {"token": partner_token_issue(acting_user=_admin(agency_code), partner=partner)}


def op_kinds() -> list[str]:
    from exchange.kinds import kinds_all

    return sorted(kinds_all())


def op_witness(*, partner_code: str) -> dict:
    """Checkpoint this node's log and ask the partner's node to cosign it (exchange.witness)."""
    from audit.integrator import audit_checkpoint_now, audit_integrate
    from exchange.models import Partner
    from exchange.witness import witness_request

    audit_integrate()
    audit_checkpoint_now()
    cosignature = witness_request(partner=Partner.objects.get(agency=_local_agency(), partner__code=partner_code))
    return {"size": cosignature.checkpoint_size, "witness": cosignature.witness} if cosignature else {}


OPS = {name[3:]: value for name, value in globals().items() if name.startswith("op_")}


def _run(op: str, args: dict):
    from django.db import close_old_connections

    close_old_connections()
    return OPS[op](**args)


def serve() -> None:
    """JSON lines on stdin/stdout. Anything else printed goes to stderr, never into the protocol."""
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr
    _setup()
    protocol.write(json.dumps({"ok": True, "result": "ready"}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            reply = {"ok": True, "result": _run(request["op"], request.get("args") or {})}
        except Exception:
            reply = {"ok": False, "error": traceback.format_exc()}
        protocol.write(json.dumps(reply, default=str) + "\n")


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[1] == "serve":
        serve()
        return 0
    if len(argv) < 2 or argv[1] not in OPS:
        print(f"usage: {argv[0]} serve | {' | '.join(sorted(OPS))} ['<json args>']", file=sys.stderr)
        return 2
    _setup()
    result = _run(argv[1], json.loads(argv[2]) if len(argv) > 2 else {})
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
