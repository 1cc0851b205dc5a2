"""What a violation is about, so that an upstream finding can look up its cause.

An invariant reports each violation as a ``Violation``: the readable message (it is a
``str``, and everything that prints or compares messages keeps working) and the
``subjects`` it concerns, the uuids of instances, migrations, consumers or hosts.
``invariants.findings`` explains a violation only by the causes the cluster
recorded for those subjects (``Cluster.migration_errors``, ``host_events`` ...), never
by its text.
"""

from __future__ import annotations

from model.cluster_records import name_order


class Violation(str):
    """A violation message and the subjects it concerns."""

    subjects: tuple[str, ...]

    def __new__(cls, message: str, subjects=()) -> "Violation":
        self = super().__new__(cls, message)
        self.subjects = tuple(subjects)
        return self

    def __reduce__(self):
        return (Violation, (str(self), self.subjects))


def of_instance(cluster, uuid: str) -> tuple[str, ...]:
    """An instance and its migrations (the records of either may hold the cause)."""
    moves = sorted((m.uuid for m in cluster.migrations.values() if m.instance_uuid == uuid),
                   key=name_order)
    return (uuid, *moves)


def of_instances(cluster, uuids) -> tuple[str, ...]:
    return tuple(s for u in uuids for s in of_instance(cluster, u))
