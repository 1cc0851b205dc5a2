"""The arguments the search sends with its requests, drawn from the cluster's configuration.

Which arguments a request takes is each operation's ``request_args`` in the catalogue
(``REQUEST_ARGS``); the values come from the configuration searched (its hosts, images,
availability zones and server groups), so that a user's cluster file is searched with
its own. Each accepted request counts under its *shapes*: what was given, not the
values (a move to a named host, forced; a rebuild with a new image; a create in an
availability zone). ``shapes(config)`` is every shape the configuration makes possible:
the coverage a search must reach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from model.catalogue import REQUEST_ARGS
from model.config import ClusterConfig

#: The scheduler hints the model's filters read (SameHostFilter, DifferentHostFilter):
#: each names instances.
HINTS = ("same_host", "different_host")

# The shapes, one word each (the coverage items read "operation: shape").
SCHEDULED, TO_HOST, FORCED = "no host (the scheduler's choice)", "a host", "a host, forced"
SAME_IMAGE, NEW_IMAGE = "the same image", "a new image"
NEW_FLAVOR = "a new flavor"
PLAIN, IMAGE, GROUP, ZONE = ("no options", "an image", "a server group",
                             "an availability zone")


def _hint(name: str) -> str:
    return f"the hint {name}"


@dataclass(frozen=True)
class Pools:
    """What a configuration offers the arguments."""

    hosts: tuple[str, ...]
    images: tuple[str, ...]
    zones: tuple[str, ...]
    groups: tuple[str, ...]
    flavors: tuple[str, ...]


_POOLS: dict[int, tuple[ClusterConfig, Pools]] = {}


def pools(config: ClusterConfig) -> Pools:
    """The configuration's hosts, images, zones, groups and flavors (once per config)."""
    known = _POOLS.get(id(config))
    if known is not None and known[0] is config:
        return known[1]
    found = Pools(tuple(sorted(h.name for h in config.hosts)),
                  tuple(i.name for i in config.images),
                  tuple(config.availability_zones()),
                  tuple(sorted(g.name for g in config.server_groups)),
                  tuple(sorted(f.name for f in config.flavors)))
    if len(_POOLS) > 64:  # (configurations are few; a long session may make many)
        _POOLS.clear()
    _POOLS[id(config)] = (config, found)
    return found


def draw(op: str, c, p: Pools, *, flavor: str, host: str | None, image: str | None,
         others: Sequence[str] = (), group: str | None = None) -> dict[str, Any]:
    """The arguments of one ``op`` request, decoded from ``c`` (``machine.Choices``).

    ``flavor`` and ``group`` were drawn already (the rules draw them from bundles);
    ``host`` and ``image`` are the instance's (a create has none); ``others`` are the
    instances a create's hints may name. A move names a host other than the
    instance's own half the time (its own is refused, which says nothing new), and
    forces it half of those times where the request takes ``force``.
    """
    takes = REQUEST_ARGS.get(op)
    if not takes:
        return {}
    args: dict[str, Any] = {}
    if "flavor" in takes:
        args["flavor"] = flavor
    if op == "create":
        if group is not None:
            args["group"] = group
        if p.images and c.take(2):
            args["image"] = c.pick(p.images)
        if p.zones and c.take(3) == 0:
            args["availability_zone"] = c.pick(p.zones)
        if others and c.take(4) == 0:
            args["hints"] = {c.pick(HINTS): [c.pick(others)]}
        return args
    if "image" in takes and p.images:
        # a rebuild names its image (Nova's body requires imageRef): its own or another
        args["image"] = (image if image in p.images and c.take(2) == 0
                         else c.pick(p.images))
    if "host" in takes and c.take(2):
        away = [h for h in p.hosts if h != host]
        if away:
            args["host"] = c.pick(away)
            if "force" in takes and c.take(2):
                args["force"] = True
    return args


def shapes_of(op: str, args: Mapping[str, Any], image: str | None = None) -> tuple[str, ...]:
    """The shapes of an ``op`` request with ``args`` on an instance with ``image``."""
    takes = REQUEST_ARGS.get(op)
    if not takes:
        return ()
    out = []
    if op == "create":
        out += [label for key, label in (("image", IMAGE), ("group", GROUP),
                                         ("availability_zone", ZONE)) if key in args]
        out += [_hint(name) for name in args.get("hints", {}) if name in HINTS]
        return tuple(out) or (PLAIN,)
    if "flavor" in takes:
        out.append(NEW_FLAVOR)
    if "image" in takes:
        out.append(SAME_IMAGE if args.get("image", image) == image else NEW_IMAGE)
    if "host" in takes:
        out.append(SCHEDULED if "host" not in args
                   else FORCED if args.get("force") else TO_HOST)
    return tuple(out)


def shapes(config: ClusterConfig) -> tuple[str, ...]:
    """Every "operation: shape" the search can send on ``config``."""
    p = pools(config)
    out = []
    for op in sorted(REQUEST_ARGS):
        takes = REQUEST_ARGS[op]
        if op == "create":
            mine = [PLAIN] + [label for label, offered in ((IMAGE, p.images), (GROUP, p.groups),
                                                           (ZONE, p.zones)) if offered]
            mine += [_hint(name) for name in HINTS]
        else:
            mine = []
            if "flavor" in takes and len(p.flavors) > 1:
                mine.append(NEW_FLAVOR)
            if "image" in takes and p.images:
                mine += [SAME_IMAGE] + ([NEW_IMAGE] if len(p.images) > 1 else [])
            if "host" in takes:
                mine.append(SCHEDULED)
                if len(p.hosts) > 1:
                    mine += [TO_HOST] + ([FORCED] if "force" in takes else [])
        out += [f"{op}: {shape}" for shape in mine]
    return tuple(out)
