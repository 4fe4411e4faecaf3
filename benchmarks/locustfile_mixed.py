"""Locust users of the load benchmark (benchmarks/load_mixed.py starts locust with this file).

Two kinds of user, one locust process (the counters below are plain module globals):

* ``Investigator``: a tool acting with an investigator's API token. Each picks the next of the
  world's investigator accounts (round robin) and mixes case views, evidence matching and hash
  lookups on that account's cases, plus the trivial ``/healthz`` (no database work) as the
  baseline every other endpoint's p99 is compared with.
* ``PartnerNode``: a partner agency's node pushing its pre-sealed ``lead.share`` bundles to the
  inbox with its node token. Each user owns one partner (one stream: the inbox applies a stream
  in sequence order) and posts its bundles in order, each exactly once.

The environment gives the world file (``LOAD_WORLD``, written by benchmarks/_load_setup.py), the
tally file to write at the end (``LOAD_TALLY``) and the think time (``LOAD_THINK``, "min,max"
seconds). The tally holds, per endpoint name, every response time, the status codes, and what
the 2xx responses reported (items added, digests looked up, bundle ids and their states), so
load_mixed.py can check each of them against the database and the audit log afterwards.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

from _load_endpoints import (  # locust puts this file's folder on sys.path
    CASE_DETAIL,
    CASE_LIST,
    EVIDENCE_ADD,
    EVIDENCE_TRIAGE,
    HEALTHZ,
    INBOX,
    LOOKUP_BATCH,
    LOOKUP_ONE,
)  # fmt: skip
from locust import FastHttpUser, between, events, task

WORLD = json.loads(Path(os.environ["LOAD_WORLD"]).read_text(encoding="utf-8"))
TALLY_PATH = os.environ["LOAD_TALLY"]
THINK = tuple(float(x) for x in os.environ.get("LOAD_THINK", "0.5,1.5").split(","))
EVIDENCE_DIGESTS = 20  # per evidence post: half known, half new
BATCH_DIGESTS = 100  # per batch lookup: half known


_tally: dict = {
    "times": defaultdict(list),  # name -> [wall clock at the response, response time in ms] of every request
    "status": defaultdict(Counter),  # name -> {status code: count}; 0 = no response
    "ok": Counter(),  # name -> 2xx responses
    "evidence_added": 0,  # sum of "added" over 2xx evidence posts
    "evidence_digests": 0,
    "lookup_digests": 0,  # digests in 2xx lookups (single and batch)
    "inbox": [],  # [bundle_id, state] of every 2xx inbox post
    "inbox_exhausted": 0,  # partner users that ran out of bundles
    "started": 0.0,  # wall clock at the test start, and at the last response
    "ended": 0.0,
}
_accounts = itertools.count()
_streams = itertools.count()


@events.request.add_listener
def _on_request(request_type, name, response_time, response_length, response=None, exception=None, **kwargs):
    now = time.time()
    _tally["times"][name].append([now, response_time])
    status = getattr(response, "status_code", 0) or 0
    _tally["status"][name][status] += 1
    if 200 <= status < 300:
        _tally["ok"][name] += 1
    _tally["ended"] = now


@events.test_start.add_listener
def _on_test_start(environment, **kwargs):
    _tally["started"] = time.time()


@events.quitting.add_listener
def _write_tally(environment, **kwargs):
    data = {**_tally, "status": {name: dict(codes) for name, codes in _tally["status"].items()}}
    Path(TALLY_PATH).write_text(json.dumps(data), encoding="utf-8")


def _check(response, expected: tuple[int, ...] = (200,)):
    """Mark anything but the expected status a failure, with the start of the body."""
    if response.status_code not in expected:
        response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
        return False
    return True


class Investigator(FastHttpUser):
    wait_time = between(*THINK)

    def on_start(self) -> None:
        people = WORLD["investigators"]
        self.person = people[next(_accounts) % len(people)]
        self.headers = {"Authorization": f"Bearer {self.person['token']}"}
        self.known = WORLD["known_md5"]

    def _case(self) -> int:
        return random.choice(self.person["cases"])

    @task(2)
    def healthz(self) -> None:
        with self.client.get("/healthz", name=HEALTHZ, catch_response=True) as response:
            _check(response)

    @task(3)
    def case_list(self) -> None:
        with self.client.get(
            "/api/v1/cases/?purpose=investigation", headers=self.headers, name=CASE_LIST, catch_response=True
        ) as response:
            _check(response)

    @task(4)
    def case_detail(self) -> None:
        with self.client.get(
            f"/api/v1/cases/{self._case()}", headers=self.headers, name=CASE_DETAIL, catch_response=True
        ) as response:
            _check(response)

    @task(2)
    def evidence_add(self) -> None:
        half = EVIDENCE_DIGESTS // 2
        digests = random.sample(self.known, half) + [uuid.uuid4().hex for _ in range(EVIDENCE_DIGESTS - half)]
        with self.client.post(
            f"/api/v1/cases/{self._case()}/evidence",
            json={"hashes": "\n".join(digests)},
            headers=self.headers,
            name=EVIDENCE_ADD,
            catch_response=True,
        ) as response:
            if _check(response, (201,)):
                _tally["evidence_added"] += response.json()["added"]
                _tally["evidence_digests"] += len(digests)

    @task(2)
    def evidence_triage(self) -> None:
        with self.client.get(
            f"/api/v1/cases/{self._case()}/evidence?state=known",
            headers=self.headers,
            name=EVIDENCE_TRIAGE,
            catch_response=True,
        ) as response:
            _check(response)

    @task(3)
    def lookup_one(self) -> None:
        digest = random.choice(self.known) if random.random() < 0.5 else uuid.uuid4().hex
        with self.client.get(
            f"/api/v1/hashes/md5/{digest}", headers=self.headers, name=LOOKUP_ONE, catch_response=True
        ) as response:
            if _check(response):
                _tally["lookup_digests"] += 1

    @task(2)
    def lookup_batch(self) -> None:
        half = BATCH_DIGESTS // 2
        digests = random.sample(self.known, half) + [uuid.uuid4().hex for _ in range(BATCH_DIGESTS - half)]
        body = {"hashes": [{"algorithm": "md5", "hex": d} for d in digests]}
        with self.client.post(
            "/api/v1/hashes/lookup", json=body, headers=self.headers, name=LOOKUP_BATCH, catch_response=True
        ) as response:
            if _check(response):
                _tally["lookup_digests"] += len(digests)


class PartnerNode(FastHttpUser):
    """One partner agency's node: its bundles, in sequence order, each pushed once."""

    wait_time = between(*THINK)
    fixed_count = len(WORLD["partners"])

    def on_start(self) -> None:
        number = next(_streams)
        self.partner = WORLD["partners"][number] if number < len(WORLD["partners"]) else None
        self.next = 0
        if self.partner is not None:
            self.headers = {
                "Authorization": f"Partner {self.partner['token']}",
                "Content-Type": "application/octet-stream",
            }

    @task
    def push(self) -> None:
        if self.partner is None or self.next >= len(self.partner["bundles"]):
            if self.partner is not None and self.next == len(self.partner["bundles"]):
                _tally["inbox_exhausted"] += 1
                self.next += 1
            return
        bundle = self.partner["bundles"][self.next]
        self.next += 1  # never again, whatever the answer: each bundle is posted exactly once
        body = Path(bundle["path"]).read_bytes()
        with self.client.post(
            "/api/v1/exchange/inbox", data=body, headers=self.headers, name=INBOX, catch_response=True
        ) as response:
            if _check(response, (202,)):
                answer = response.json()
                _tally["inbox"].append([answer["bundle_id"], answer["state"]])
