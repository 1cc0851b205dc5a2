"""The promises checked along a run: what the search asserts after every rule and what
``nova-model simulate`` reports after every step of a scenario.

``unexplained_violations`` is the one verdict both use: the ``invariants`` a cluster
breaks, plus (for a variant of the catalogue) any state the specification never
produces, split into those an upstream finding explains and the rest. ``Watch`` is a
scenario observer (``nova_model.scenario.run(observer=...)``) that asks it after
each step and keeps what broke, so a counterexample's replay shows the violation
the search found.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import invariants
from invariants import findings
from model.lifecycle import Lifecycle
from nova_model.scenario import Observation, specification


#: ``specification`` left out: the packaged catalogue is the specification
_PACKAGED = object()


def spec_violations(cluster, lifecycle: Lifecycle,
                    spec: Lifecycle | None | object = _PACKAGED) -> dict[str, list[str]]:
    """A variant of the catalogue is held to the specification's legal states (None: the
    variant is its own specification, as a user's or a proposal's may be)."""
    if spec is _PACKAGED:
        spec = specification()
    if spec is None or lifecycle is spec:
        return {}
    out = []
    for uuid, inst in sorted(cluster.instances.items()):
        if inst.state == "new":
            continue
        if (inst.vm_state, inst.task_state, inst.power_state) not in spec.legal:
            out.append(f"{uuid} reached {inst.vm_state.value}/{inst.task_state}/"
                       f"{inst.power_state.label}, which the specification never produces")
    return {"specification_legal_states": out} if out else {}


def unexplained_violations(cluster, lifecycle: Lifecycle,
                           promises: tuple[invariants.Invariant, ...] = (),
                           spec: Lifecycle | None | object = _PACKAGED):
    """The violated promises no upstream finding explains, and the explained ones.
    ``promises`` (a user's own) are checked besides ``invariants.ALL``."""
    found = invariants.violations(cluster)
    found.update(spec_violations(cluster, lifecycle, spec))
    for promise in promises:
        messages = promise(cluster)
        if messages:
            found[promise.name] = list(messages)
    return findings.split(found, cluster)


@dataclass(frozen=True)
class Broken:
    """A promise a step broke: the step (numbered from 1, and its path in the file),
    the promise and the messages that step added."""

    index: int
    path: str
    invariant: str
    messages: tuple[str, ...]

    def record(self) -> dict:
        return {"step": self.index, "path": self.path, "invariant": self.invariant,
                "messages": list(self.messages)}


@dataclass
class Watch:
    """A scenario observer checking the promises after every step."""

    lifecycle: Lifecycle
    broken: list[Broken] = field(default_factory=list)
    findings: dict[str, str] = field(default_factory=dict)  # name -> where Nova does it
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def __call__(self, seen: Observation) -> None:
        if seen.kind != "done":
            return
        found, explained = unexplained_violations(seen.cluster, self.lifecycle)
        for finding, _ in explained:
            self.findings.setdefault(finding.name, finding.nova)
        for name, messages in found.items():
            # a promise that stays broken is reported at the step that broke it
            new = tuple(m for m in messages if (name, m) not in self._seen)
            self._seen.update((name, m) for m in new)
            if new:
                self.broken.append(Broken(seen.index, seen.step.path, name, new))

    def text(self) -> str:
        lines = [f"upstream finding reproduced: {name}\n  {nova}"
                 for name, nova in sorted(self.findings.items())]
        for b in self.broken:
            doc = invariants.BY_NAME[b.invariant].promise if b.invariant in invariants.BY_NAME \
                else "the specification's legal states"
            lines.append(f"VIOLATED after step {b.index} ({b.path}): {b.invariant}: {doc}")
            lines += [f"  - {m}" for m in b.messages]
        return "\n".join(lines) + ("\n" if lines else "")

    def document(self) -> dict:
        return {"violations": [b.record() for b in self.broken],
                "upstream_findings": [{"name": n, "nova": nova}
                                      for n, nova in sorted(self.findings.items())]}
