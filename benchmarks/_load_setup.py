"""The world of the load benchmark, set up inside the node (its environment and database) through the services.

Run by benchmarks/load_mixed.py with the node's environment, after `manage.py migrate`:

    python benchmarks/_load_setup.py '{"out": "...", "investigators": 10, ...}'

Writes a JSON file (``out``) that the locust users read: the investigators' API tokens and their
cases, digests a hash set of the agency classifies, and per simulated partner agency its node
token and the directory of its pre-sealed bundles.

* NSP (hosted here), its admin, investigators ``nsp.load01``... with an API token each, and the
  agency's keys: tests/federation/node_setup.py's operations (the same services a real node uses).
* A hash set of ``records`` made-up VICS 2.0 records, imported through ``hashset_import_run``.
* Every investigator opens ``cases_per`` cases (``case_create``); the first ones get 100 digests
  of evidence (``evidence_add``, half of them known), so triage pages have something to show.
* Partner agencies PA01... "on another node": each has its own keys generated here (never stored
  in this database) and a self-signed agency card, added as a partner of NSP from the card,
  verified by fingerprint, with an agreement for leads up to TLP:AMBER and a node token
  (``op_partner_add``). Its ``bundles_per`` ``lead.share`` bundles to NSP are sealed here with its
  private keys, sequence 1, 2, ... of its own stream, one file each: the partner's node pushes
  them to the inbox during the load, in order, each once.
"""

from __future__ import annotations

import io
import json
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.federation import node_setup  # noqa: E402

AGENCY = ("NSP", "Northshire Police", "GB")


def _log(message: str) -> None:
    print(f"load setup: {message}", file=sys.stderr, flush=True)


def _investigators(count: int) -> list[dict]:
    from agencies.models import Agency, Role
    from agencies.services import api_token_create

    agency = Agency.objects.get(code=AGENCY[0])
    people = []
    for n in range(1, count + 1):
        user = node_setup._user(f"nsp.load{n:02d}", agency, Role.INVESTIGATOR)
        token = api_token_create(acting_user=user, name="load benchmark", days=1)
        people.append({"username": user.username, "token": token.secret, "cases": []})
    return people


def _cases(people: list[dict], *, cases_per: int, with_evidence: int, known: list[str]) -> None:
    import random

    from django.contrib.auth import get_user_model

    from cases.selectors import case_context
    from cases.services.cases import case_create
    from cases.services.evidence import evidence_add, evidence_parse_pasted

    rng = random.Random(7)
    user_model = get_user_model()
    for person in people:
        user = user_model.objects.get(username=person["username"])
        for n in range(cases_per):
            case = case_create(acting_user=user, title=f"Load case {person['username']} {n}", tlp="GREEN")
            person["cases"].append(case.pk)
            if n < with_evidence:
                digests = rng.sample(known, 50) + [uuid.uuid4().hex for _ in range(50)]
                context = case_context(user=user, case_id=case.pk)
                evidence_add(acting_user=user, context=context, parsed=evidence_parse_pasted("\n".join(digests)))


def _known_digests(limit: int) -> list[str]:
    from hashsets.models import Media

    return [bytes(md5).hex() for md5 in Media.objects.exclude(md5=None).values_list("md5", flat=True)[:limit]]


def _lead_payload(code: str, n: int, known: list[str]) -> bytes:
    from django.utils import timezone

    from casebridge.lib.canonical_json import canonical_json

    now = timezone.now().isoformat()
    return canonical_json(
        {
            "format": "casebridge.lead/1",
            "share_uid": str(uuid.uuid4()),
            "origin_agency": code,
            "title": f"Lead {n} from {code}",
            "description": "A made-up lead for the load benchmark.",
            "status": "open",
            "tlp": "GREEN",
            "assigned_agency": "",
            "series": [],
            "clues": [{"uid": str(uuid.uuid4()), "type": "language", "text": "Dutch", "origin_agency": code}],
            "evidence": [{"md5": known[(n * 7 + i) % len(known)]} for i in range(3)],
            "updated_at": now,
        }
    )


def _partners(*, count: int, bundles_per: int, bundle_root: Path, known: list[str]) -> list[dict]:
    """Partner agencies on another node: keys and cards made here, added to NSP from the card."""
    from django.utils import timezone

    from agencies.models import Agency
    from exchange import keystore
    from exchange.envelope import bundle_seal
    from exchange.keys import AgencyCard, EncryptionPrivateKeys, SigningPrivateKeys, card_sign

    nsp_keys = keystore.key_set_current(Agency.objects.get(code=AGENCY[0]))
    nsp_public = keystore.encryption_public(nsp_keys)
    partners = []
    for p in range(1, count + 1):
        code = f"PA{p:02d}"
        signing, encryption = SigningPrivateKeys.generate(), EncryptionPrivateKeys.generate()
        valid_from = (timezone.now() - timedelta(minutes=5)).replace(microsecond=0)
        card = AgencyCard(
            name=f"Partner agency {p:02d}", code=code, country="NL", node_url=f"https://{code.lower()}.load.test",
            signing_keys=signing.public_keys(), encryption_keys=encryption.public_keys(),
            valid_from=valid_from, valid_until=valid_from + timedelta(days=30),
        )  # fmt: skip
        added = node_setup.op_partner_add(
            card=card_sign(card, signing),
            signing_fingerprint=signing.public_keys().fingerprint,
            data_types=["lead"],
            max_tlp="AMBER",
        )
        directory = bundle_root / code
        directory.mkdir(parents=True, exist_ok=True)
        files = []
        for sequence in range(1, bundles_per + 1):
            sealed = io.BytesIO()
            header = bundle_seal(
                kind="lead.share", sender_code=code, signing_keys=signing, recipients=[(AGENCY[0], nsp_public)],
                sequence=sequence, payload=[_lead_payload(code, sequence, known)], out=sealed, tlp="GREEN",
                expires=timedelta(days=1),
            )  # fmt: skip
            path = directory / f"{sequence:06d}.cbb"
            path.write_bytes(sealed.getvalue())
            files.append({"path": str(path), "sequence": sequence, "bundle_id": header["bundle_id"]})
        partners.append({"code": code, "token": added["token"], "bundles": files})
    return partners


def setup(
    *,
    out: str,
    node_url: str,
    investigators: int,
    cases_per: int,
    with_evidence: int,
    records: int,
    partners: int,
    bundles_per: int,
    bundle_root: str,
) -> dict:
    started = time.perf_counter()
    node_setup.op_init(code=AGENCY[0], name=AGENCY[1], country=AGENCY[2], node_url=node_url)
    people = _investigators(investigators)
    imported = node_setup.op_hashset_import(name="NSP known material (load)", count=records, salt="load")
    if imported["status"] != "done":
        raise RuntimeError(f"hash set import failed: {imported}")
    known = _known_digests(records)
    _log(f"agency, {investigators} investigators, {records:,} hash records: {time.perf_counter() - started:.1f} s")
    _cases(people, cases_per=cases_per, with_evidence=with_evidence, known=known)
    _log(f"{investigators * cases_per} cases: {time.perf_counter() - started:.1f} s")
    sealed = _partners(count=partners, bundles_per=bundles_per, bundle_root=Path(bundle_root), known=known)
    _log(f"{partners} partners, {partners * bundles_per} bundles sealed: {time.perf_counter() - started:.1f} s")
    world = {"agency": AGENCY[0], "investigators": people, "known_md5": known, "partners": sealed}
    Path(out).write_text(json.dumps(world), encoding="utf-8")
    return {"seconds": round(time.perf_counter() - started, 1), "known": len(known)}


def main(argv: list[str]) -> int:
    node_setup._setup()
    result = setup(**json.loads(argv[1]))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
