"""Random operation sequences on one instance in a two-host world (Hypothesis).

Requests come from an owner or an admin, pending steps are delivered in any order
with any declared outcome (stale ones included: a late RPC is real), and either
host's compute service goes down or comes back. After every action:

* (vm_state, task_state, power_state) is in the declared legal set;
* a request is accepted exactly when the hand-transcribed Nova guards say so, with
  Nova's error class otherwise, and a rejected request or a step that lost its
  compare-and-swap changed nothing.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine, initialize, invariant, precondition, rule,
)

from lifecycle_support import A, B, apply_migration, combo, snapshot
from model import errors
from model.lifecycle import ADMIN, NEW, USER, Lifecycle, SimpleWorld
from model.operation import Where
from nova_expected import NOVA, nova_verdict

LC = Lifecycle()
OPS = sorted(NOVA)  # every API operation but create (requested once, at boot)
#: Deleting ends a run, so the delete family is drawn a quarter as often.
FINAL = {"delete", "force_delete", "soft_delete"}
WEIGHTED_OPS = [op for op in OPS for _ in range(1 if op in FINAL else 4)]
HOSTS = (A, B)


class OneInstance(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.world = SimpleWorld()
        self.inst = None
        self.pending: list[tuple[str, str, str | None]] = []  # (op, step, target)

    # -- helpers --

    def _other(self) -> str:
        """A destination other than the instance's host, preferring one that is up."""
        others = [h for h in HOSTS if h != self.inst.host]
        up = [h for h in others if h not in self.world.down]
        return (up or others)[0]

    def _where(self, step, target) -> str | None:
        m = self.inst.migration
        return {Where.API: None, Where.CONDUCTOR: None, Where.HOST: self.inst.host,
                Where.SOURCE: m.source if m is not None else self.inst.host,
                Where.DEST: target}[step.where]

    def _follow(self, op, branch, target, before_host):
        apply_migration(self.inst, branch, before_host, target)
        if branch.then is not None:
            self.pending.append((op, branch.then, target))

    # -- rules --

    @initialize(offload=st.sampled_from([0, -1]),
                built=st.sampled_from([True, True, True, False]))
    def boot(self, offload, built):
        """Create the instance; usually let the build run to active straight away."""
        self.world.shelved_offload_time = offload
        self.inst = LC.new_instance("prop", self.world)
        target = self._other()
        branch = LC.request("create", self.inst, USER)
        self._follow("create", branch, target, None)
        while built and self.pending:
            self._deliver(0, "ok")  # schedule, build, ..., spawned: each has "ok"

    def _deliver(self, index: int, outcome: str) -> None:
        op, step_name, target = self.pending.pop(index)
        before = snapshot(self.inst)
        before_host = self.inst.host
        m = self.inst.migration
        try:
            branch = LC.deliver(op, step_name, outcome, self.inst, dest=target,
                                source=m.source if m is not None else before_host)
        except errors.UnexpectedTaskStateError:
            assert snapshot(self.inst) == before, f"lost CAS of {op}.{step_name} changed state"
            return
        self._follow(op, branch, target, before_host)

    def _deliverable(self, index: int) -> bool:
        op, step_name, target = self.pending[index]
        where = self._where(LC.operation(op).step(step_name), target)
        return where is None or where not in self.world.down

    @rule(op=st.sampled_from(WEIGHTED_OPS), admin=st.booleans())
    def request(self, op, admin):
        """Any request, from an owner or an admin."""
        inst = self.inst
        expected = nova_verdict(op, inst, admin)
        before = snapshot(inst)
        before_host = inst.host
        target = self._other()
        try:
            branch = LC.request(op, inst, ADMIN if admin else USER, dest=target, source=None)
        except errors.NovaModelError as exc:
            assert snapshot(inst) == before, f"rejected {op} changed the instance"
            assert (type(exc), getattr(exc, "attr", None)) == expected, (op, exc)
            return
        assert expected is None, f"{op} accepted, Nova raises {expected}"
        self._follow(op, branch, target, before_host)

    @rule(data=st.data())
    def request_something_nova_accepts(self, data):
        """Progress: a request Nova's guards admit right now (the model must agree)."""
        options = [(op, admin) for op in OPS for admin in (False, True)
                   if op not in FINAL and nova_verdict(op, self.inst, admin) is None]
        if options:
            op, admin = data.draw(st.sampled_from(options), label="request")
            self.request(op, admin)

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def deliver_any(self, data):
        """Any pending step, with any of its declared outcomes."""
        index = data.draw(st.integers(0, len(self.pending) - 1), label="pending")
        if not self._deliverable(index):
            return  # the message waits for its service to come back
        op, step_name, _ = self.pending[index]
        outcomes = [o.name for o in LC.operation(op).step(step_name).outcomes]
        self._deliver(index, data.draw(st.sampled_from(outcomes), label="outcome"))

    @precondition(lambda self: self.pending)
    @rule()
    def deliver_oldest_ok(self):
        """Progress: the oldest deliverable step succeeds."""
        for index in range(len(self.pending)):
            if self._deliverable(index):
                op, step_name, _ = self.pending[index]
                self._deliver(index, LC.operation(op).step(step_name).outcomes[0].name)
                return

    @rule(host=st.sampled_from(HOSTS))
    def toggle_service(self, host):
        self.world.down ^= {host}

    # -- invariants --

    @invariant()
    def combination_is_legal(self):
        if self.inst is None or self.inst.state == NEW:
            return
        assert self.inst.state in LC.machine.states
        assert combo(self.inst) in LC.legal, combo(self.inst)

    def teardown(self):
        if self.inst is not None:
            LC.forget(self.inst)


OneInstance.TestCase.settings = settings(
    max_examples=400, stateful_step_count=80, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_one_instance = OneInstance.TestCase
