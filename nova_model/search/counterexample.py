"""A search's counterexample written out: the scenario ``nova-model simulate`` replays,
the cluster it ran on, and its picture (sequence diagram, host usage, violation, and
the command that replays it)."""

from __future__ import annotations

import json
import os

from nova_model.files import make_directory, write_files

#: The counterexample's files, written into ``--out``.
COUNTEREXAMPLE = "nova-model-counterexample"


def write(directory: str, report, found_by: str = "nova-model check",
          replay: str | None = None) -> str:
    """Write the failing run: the scenario (.json, returned), the cluster it ran on
    (.toml) and its picture (.md), all three whole or none (OutputError)."""
    make_directory(directory)
    steps = list(report.scenario or [])
    document: dict = {"description": f"counterexample found by {found_by}",
                      "steps": [s for s in steps if "seed" not in s]}
    seeds = [s["seed"] for s in steps if "seed" in s]
    if seeds:
        document["seed"] = seeds[0]
    files = {}
    if report.config is not None:
        files[os.path.join(directory, f"{COUNTEREXAMPLE}.toml")] = report.config.to_toml()
        document["config"] = f"{COUNTEREXAMPLE}.toml"
    path = scenario_path(directory)
    files[path] = json.dumps(document, indent=2, sort_keys=True) + "\n"
    files[picture_path(directory)] = _picture(document, path, report, found_by, replay)
    write_files(files)
    return path


def scenario_path(directory: str) -> str:
    return os.path.join(directory, f"{COUNTEREXAMPLE}.json")


def picture_path(directory: str) -> str:
    return os.path.join(directory, f"{COUNTEREXAMPLE}.md")


def _picture(document: dict, path: str, report, found_by: str,
             replay: str | None = None) -> str:
    """The counterexample drawn as ``nova-model simulate PATH --sequence`` draws it.

    The replay runs the catalogue and cluster the search ran (the specification's,
    unless a variant was searched). A trace that does not replay (it should always)
    still gets a page with the violation, so that the search's finding is never lost
    to a drawing problem.
    """
    from nova_model import scenario as scenarios
    from nova_model.render import sequence

    title = f"Counterexample found by {found_by}"
    try:
        parsed = scenarios.parse(document, path)
        return sequence.render(parsed, report.config, violation=report.violation,
                               title=title, lifecycle=getattr(report, "lifecycle", None),
                               cluster_class=getattr(report, "cluster_class", None),
                               replay=replay)
    except scenarios.ScenarioError as exc:
        return (f"# {title}\n\nThe trace does not replay ({exc}), so there is no "
                f"diagram.\n\n## Violation\n\n```text\n{report.violation}\n```\n")
