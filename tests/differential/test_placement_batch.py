"""Differential test: the model's Placement ledger against Placement itself.

The installed ``openstack-placement`` (16.0.0) runs in process on an in-memory
sqlite database (its own ``PlacementFixture``, the one Nova's functional tests
use; requests go through wsgi-intercept, no socket). Hypothesis draws providers
with inventories (total, reserved, step_size, allocation ratio), then a sequence
of single-consumer writes (PUT /allocations/{consumer}), batched writes
(POST /allocations, several consumers at once, consumers given nothing included;
and Nova's ``move_allocations``: one consumer's allocations to another),
and operator changes of an allocation ratio (which may leave usage above
capacity). After each request the model (``Ledger.claim``,
``Ledger.post_allocations``, ``Ledger.update_inventory``) and Placement must agree
on whether it was accepted and on every consumer's allocations.

That pins the batch's semantics to Placement's ``set_allocations`` ->
``allocation.replace_all`` -> ``_set_allocations`` / ``_check_capacity_exceeded``:
all consumers' old allocations removed first, capacity on the cumulative effect,
all or nothing, and a write that leaves a provider no fuller than before accepted
above capacity. Amounts are at least 1 (Placement's schema refuses 0; Nova never
sends one). Consumer generations are always the current ones: the model has no
concurrent writer between Nova's read and write (see model/placement.py).

Placement must be installed (``pip install openstack-placement``); set
NOVA_MODEL_SKIP_DIFFERENTIAL=1 to skip this module explicitly.
"""

from __future__ import annotations

import os
import uuid as uuidlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.placement import Inventory, Ledger

if os.environ.get("NOVA_MODEL_SKIP_DIFFERENTIAL") == "1":
    pytest.skip("NOVA_MODEL_SKIP_DIFFERENTIAL=1: differential test against Placement skipped",
                allow_module_level=True)

try:
    import requests
    from placement.tests.functional.fixtures.placement import PlacementFixture
except ImportError as exc:  # pragma: no cover - the test extra installs it
    raise ImportError(f"{exc}: the differential test needs openstack-placement "
                      "(pip install openstack-placement)") from None

PROVIDERS = ("p1", "p2")
CONSUMERS = ("a", "b", "c")
RCS = ("VCPU", "MEMORY_MB")
VERSION = "placement 1.38"  # consumer generations and types, as Nova 34 writes them


@pytest.fixture(scope="module")
def placement():
    fixture = PlacementFixture()
    fixture.setUp()
    session = requests.Session()
    session.headers.update({"x-auth-token": "admin", "OpenStack-API-Version": VERSION})
    try:
        yield _Placement(session, fixture.endpoint)
    finally:
        fixture.cleanUp()


class _Placement:
    """The few HTTP requests the test makes, by the model's names."""

    def __init__(self, session, endpoint):
        self.http, self.url = session, endpoint
        self.rps: dict[str, str] = {}
        self.consumers: dict[str, str] = {}

    def start(self) -> None:
        """Fresh providers and consumers for one example (the database is shared)."""
        self.rps = {p: str(uuidlib.uuid4()) for p in PROVIDERS}
        self.consumers = {c: str(uuidlib.uuid4()) for c in CONSUMERS}
        for name, rp in self.rps.items():
            r = self.http.post(f"{self.url}/resource_providers",
                               json={"name": rp, "uuid": rp})
            assert r.status_code == 200, r.text

    def set_inventories(self, provider: str, inventories: dict[str, Inventory]) -> None:
        rp = self.rps[provider]
        gen = self.http.get(f"{self.url}/resource_providers/{rp}").json()["generation"]
        body = {"resource_provider_generation": gen, "inventories": {
            rc: {"total": inv.total, "reserved": inv.reserved, "min_unit": inv.min_unit,
                 "max_unit": inv.max_unit, "step_size": inv.step_size,
                 "allocation_ratio": inv.allocation_ratio}
            for rc, inv in inventories.items()}}
        r = self.http.put(f"{self.url}/resource_providers/{rp}/inventories", json=body)
        assert r.status_code == 200, r.text

    def _body(self, consumer: str, allocations: dict) -> dict:
        held = self.http.get(f"{self.url}/allocations/{self.consumers[consumer]}").json()
        return {"allocations": {self.rps[p]: {"resources": dict(rcs)}
                                for p, rcs in allocations.items()},
                "project_id": "project", "user_id": "user", "consumer_type": "INSTANCE",
                "consumer_generation": held.get("consumer_generation")}

    def put(self, consumer: str, allocations: dict) -> bool:
        r = self.http.put(f"{self.url}/allocations/{self.consumers[consumer]}",
                          json=self._body(consumer, allocations))
        assert r.status_code in (204, 409), r.text
        return r.status_code == 204

    def post(self, batch: dict) -> bool:
        body = {self.consumers[c]: self._body(c, allocs) for c, allocs in batch.items()}
        r = self.http.post(f"{self.url}/allocations", json=body)
        assert r.status_code in (204, 409), r.text
        return r.status_code == 204

    def allocations(self) -> dict[str, dict[str, dict[str, int]]]:
        by_uuid = {rp: name for name, rp in self.rps.items()}
        out = {}
        for c, cid in self.consumers.items():
            held = self.http.get(f"{self.url}/allocations/{cid}").json()["allocations"]
            if held:
                out[c] = {by_uuid[rp]: dict(sorted(v["resources"].items()))
                          for rp, v in sorted(held.items(), key=lambda kv: by_uuid[kv[0]])}
        return out


def _model_allocations(ledger: Ledger) -> dict[str, dict[str, dict[str, int]]]:
    return {c: {p: {str(rc): n for rc, n in rcs.items()}
                for p, rcs in ledger.allocations_of(c).items()}
            for c in ledger.consumers()}


inventories = st.builds(
    lambda total, reserved, step, ratio: Inventory(
        total=total, reserved=min(reserved, total - 1), step_size=step,
        allocation_ratio=ratio),
    st.integers(2, 6), st.integers(0, 1), st.sampled_from((1, 1, 2)),
    st.sampled_from((1.0, 1.0, 1.5, 2.0, 0.5)))
providers = st.fixed_dictionaries(
    {p: st.fixed_dictionaries({rc: inventories for rc in RCS}) for p in PROVIDERS})
# (small amounts on one or two classes: most writes fit, so the batches that follow
# have something to move and providers fill up)
amounts = st.dictionaries(st.sampled_from(RCS), st.integers(1, 4), min_size=1)
allocations = st.dictionaries(st.sampled_from(PROVIDERS), amounts, max_size=1)
some_allocations = st.dictionaries(st.sampled_from(PROVIDERS), amounts, min_size=1, max_size=2)
requests_ = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(CONSUMERS), some_allocations),
    st.tuples(st.just("post"),
              st.dictionaries(st.sampled_from(CONSUMERS), allocations, min_size=1)),
    st.tuples(st.just("ratio"), st.sampled_from(PROVIDERS), st.sampled_from(RCS),
              st.sampled_from((0.5, 1.0, 2.0))),
    # Nova's move_allocations: what one consumer holds to another, as one batch
    st.tuples(st.just("move"), st.integers(0, 2), st.sampled_from(CONSUMERS)),
)


@settings(max_examples=50, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(providers, st.lists(requests_, min_size=3, max_size=10))
def test_writes_agree_with_placement(placement, invs, seq):
    placement.start()
    ledger = Ledger()
    for name in PROVIDERS:
        ledger.add_provider(name, invs[name])
        placement.set_inventories(name, invs[name])
    for request in seq:
        if request[0] == "put":
            _, consumer, allocs = request
            ours, theirs = ledger.claim(consumer, allocs), placement.put(consumer, allocs)
        elif request[0] == "move":
            _, pick, target = request
            holders = [c for c in ledger.consumers() if c != target]
            if not holders:
                continue
            source = holders[pick % len(holders)]
            held = {p: {str(rc): n for rc, n in rcs.items()}
                    for p, rcs in ledger.allocations_of(source).items()}
            batch = {source: {}, target: held}
            ours, theirs = ledger.move_allocations(source, target), placement.post(batch)
        elif request[0] == "post":
            # (an empty item for a consumer that holds nothing changes nothing, in the
            # model or in Placement, but Placement keeps the consumer record it creates
            # for it without a generation the next write could name: left out)
            batch = {c: a for c, a in request[1].items() if a or ledger.allocations_of(c)}
            if not batch:
                continue
            ours, theirs = ledger.post_allocations(batch), placement.post(batch)
        else:
            _, provider, rc, ratio = request
            ledger.update_inventory(provider, rc, allocation_ratio=ratio)
            placement.set_inventories(provider, ledger.inventories(provider))
            ours = theirs = True
        assert ours == theirs, (request, ledger.summary())
        assert _model_allocations(ledger) == placement.allocations(), request


def test_a_swap_on_a_full_provider_is_accepted_by_placement(placement):
    """The case the batch exists for, spelled out: the instance holds all of p; moving
    it to the migration as two separate writes (the migration's first) is refused,
    as one POST /allocations it is accepted, by Placement and the model alike."""
    placement.start()
    ledger = Ledger()
    inv = {"VCPU": Inventory(total=4), "MEMORY_MB": Inventory(total=4)}
    for name in PROVIDERS:
        ledger.add_provider(name, inv)
        placement.set_inventories(name, inv)
    full = {"p1": {"VCPU": 4, "MEMORY_MB": 4}}
    assert ledger.claim("a", full) and placement.put("a", full)
    assert not ledger.claim("b", full) and not placement.put("b", full)
    assert ledger.post_allocations({"a": {}, "b": full}) and placement.post({"a": {}, "b": full})
    assert _model_allocations(ledger) == placement.allocations() == {"b": full}
