"""Sequence diagrams of scenario runs (``nova-model simulate --sequence``, check's .md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from model.config import ClusterConfig
from nova_model import cli
from nova_model import scenario as S
from nova_model.commands import check
from nova_model.render import sequence
from nova_model.search import counterexample

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
EXAMPLES = sorted(SCENARIOS.glob("*.json"))
HOSTS = ("compute1", "compute2", "compute3", "compute4")
CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB")

# One statement per line, as the writer emits them (text: no raw ``;`` or ``#``).
_TEXT = r"(?:[^;#\n]|#\w+;)*"
_ID = r"(?:user|api|conductor|scheduler|placement|h_\w+)"
MERMAID_LINE = re.compile("|".join((
    r"sequenceDiagram",
    rf"actor user as [^;#:\n]+",
    rf"participant {_ID} as [^;#:\n]+",
    rf"{_ID}(?:->>|-->>|--x|-\)){_ID}: {_TEXT}",
    rf"Note over {_ID}(?:,{_ID})?: {_TEXT}",
    rf"opt {_TEXT}",
    r"rect rgb\(\d+, \d+, \d+\)",
    r"end",
)))


def _render(name: str, **kw) -> str:
    scenario = S.load(SCENARIOS / f"{name}.json")
    return sequence.render(scenario, S.resolve_config(scenario), **kw)


def _replay(name: str) -> S.Run:
    scenario = S.load(SCENARIOS / f"{name}.json")
    return S.run(scenario, S.resolve_config(scenario))


def _mermaid(doc: str) -> list[str]:
    block = doc.split("```mermaid\n", 1)[1].split("\n```", 1)[0]
    return block.split("\n")


def _plain(doc: str) -> str:
    """The diagram's text as drawn on one line (wrapping undone)."""
    return "\n".join(_mermaid(doc)).replace("<br>", " ")


def _usage_rows(doc: str) -> dict[str, list[str]]:
    section = doc.split("## Host usage", 1)[1]
    rows = [line for line in section.split("\n") if line.startswith("| compute")]
    return {cells[0]: cells[1:] for cells in
            ([c.strip() for c in row.strip("|").split("|")] for row in rows)}


def _cell(text: str) -> tuple[str, str]:
    before, _, after = text.partition(" → ")
    return before, after or before


def _flavor_amounts(name: str) -> str:
    flavor = next(f for f in ClusterConfig.default().flavors if f.name == name)
    assert flavor.swap == 0
    return (f"VCPU {flavor.vcpus}, MEMORY_MB {flavor.memory_mb}, "
            f"DISK_GB {flavor.root_gb + flavor.ephemeral_gb}")


# --- the diagram ---------------------------------------------------------------------------

def test_participants_in_fixed_order():
    lines = _mermaid(_render("resize_confirm"))
    declared = [line.split()[1] for line in lines if line.startswith(("  actor", "  participant"))]
    assert declared == ["user", "api", "conductor", "scheduler", "placement",
                        *(f"h_{h}" for h in HOSTS)]
    assert "  participant api as nova-api" in lines
    assert "  participant placement as Placement" in lines


def test_resize_confirm_scheduler_and_placement():
    run = _replay("resize_confirm")
    try:
        dest = run.cluster.instances["vm1"].host
        source = run.cluster.migrations["mig1"].source
    finally:
        run.close()
    text = _plain(_render("resize_confirm"))
    assert f"scheduler-->>conductor: {dest}" in text
    assert "conductor->>scheduler: select_destinations vm1 m1.large" in text
    # the conductor moves the source allocation to the migration, the scheduler claims
    assert f"conductor->>placement: move vm1 → mig1 on {source} {_flavor_amounts('m1.small')}" \
        in text
    assert f"scheduler->>placement: claim vm1 on {dest} {_flavor_amounts('m1.large')}" in text
    # confirming frees the source at the source compute
    assert (f"h_{source}->>placement: delete mig1 on {source} {_flavor_amounts('m1.small')}"
            in text)
    assert "api-->>user: accepted, vm1 task_state resize_prep" in text
    assert "api--xuser: rejected" in text
    assert "Note over api: MigrationNotFoundByStatus" in text


def test_evacuation_doubles_then_the_source_cleans_up():
    text = _plain(_render("evacuate"))
    small = _flavor_amounts("m1.small")
    assert "Note over h_compute1: 3. nova-compute on compute1 goes down" in text
    assert f"scheduler->>placement: add compute2 to vm1 {small}" in text
    assert f"h_compute1->>placement: remove compute1 from vm1 {small}" in text
    assert text.index("add compute2 to vm1") < text.index("remove compute1 from vm1")


def test_failed_boot_shows_no_valid_host():
    text = _plain(_render("boot"))
    assert "conductor->>scheduler: select_destinations vm2 m1.small" in text
    assert "scheduler--xconductor: NoValidHost" in text
    assert "w7 create.schedule vm2 no_valid_host → vm_state error" in text
    # vm2 never holds anything: the only claim is vm1's
    assert text.count("->>placement: claim") == 1


def test_usage_table_equals_the_ledger():
    for name in ("resize_confirm", "evacuate", "restart_recovery"):
        run = _replay(name)
        try:
            ledger, hosts = run.cluster.ledger, run.cluster.hosts
            rows = _usage_rows(_render(name))
            assert sorted(rows) == sorted(hosts)
            for host, cells in rows.items():
                for rc, cell in zip(CLASSES, cells):
                    before, after = _cell(cell)
                    capacity = f"{ledger.capacity(host, rc):g}"
                    assert before == f"0/{capacity}", (name, host, rc)  # a fresh cluster
                    assert after == f"{ledger.usage(host, rc)}/{capacity}", (name, host, rc)
                service = _cell(cells[3])[1]
                assert service.startswith("up" if hosts[host].up else "down")
                assert ("disabled" in service) == (not hosts[host].enabled)
        finally:
            run.close()


def test_service_changes_in_the_table():
    scenario = S.parse({"steps": [{"host": "compute2", "event": "service_down"},
                                  {"host": "compute4", "event": "disable"}]})
    rows = _usage_rows(sequence.render(scenario))
    assert rows["compute2"][3] == "up → down"
    assert rows["compute4"][3] == "up → up, disabled"
    assert rows["compute1"][3] == "up"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_line_is_valid_mermaid(path):
    scenario = S.load(path)
    doc = sequence.render(scenario, S.resolve_config(scenario),
                          violation="Violated:\n  nothing_stuck: x; y # z")
    lines = _mermaid(doc)
    assert lines[0] == "sequenceDiagram"
    bad = [line for line in lines if not MERMAID_LINE.fullmatch(line.strip())]
    assert not bad, bad
    opened = sum(line.strip().startswith(("opt ", "rect ")) for line in lines)
    assert opened == sum(line.strip() == "end" for line in lines)


def test_every_kind_of_step_is_drawn():
    scenario = S.parse({"steps": [
        {"api": "create", "args": {"flavor": "m1.small"}},
        {"settle": True, "outcomes": {"create.spawned": "reschedule"}},
        {"host": "compute4", "event": "disable"},
        {"periodic": "update_available_resource", "host": "compute2"},
        {"periodic": "sync_power_states"},
        {"operator": "set_allocation_ratio", "host": "compute1", "resource_class": "VCPU",
         "value": 2.0},
        {"event": "guest_stopped", "instance": "vm1"},
        {"deliver": "next"},
        {"api": "pause", "instance": "vm1", "note": "a; b # c <d>"},
    ]})
    doc = sequence.render(scenario)
    text = _plain(doc)
    assert "Note over conductor: claims the next alternate" in text
    assert "user->>api: 3. operator disables compute service compute4" in text
    assert "Note over h_compute4: service disabled" in text
    assert "Note over h_compute2: 4. resource audit (update_available_resource)" in text
    assert "Note over h_compute1,h_compute4: 5. periodic task sync_power_states" in text
    assert "user->>placement: 6. operator sets VCPU allocation_ratio of compute1 to 2.0" in text
    assert "Note over placement: compute1 VCPU capacity 128 → 16" in text
    assert "Note over user: a#59; b #35; c #lt;d#gt;" in text
    assert all(MERMAID_LINE.fullmatch(line.strip()) for line in _mermaid(doc))


def test_a_violation_is_marked_on_the_last_step():
    violation = "Trace:\n1. ...\n\nViolated:\n  allocations_have_live_consumers: promise\n"
    doc = _render("resize_confirm", violation=violation)
    lines = [line.strip() for line in _mermaid(doc)]
    rect = lines.index("rect rgb(255, 228, 225)")
    assert lines[rect + 1].startswith("opt 7. settle")  # the last step, framed
    assert lines[-2].startswith("Note over user,h_compute4: invariant violated after step 7")
    assert "allocations_have_live_consumers" in lines[-2] and lines[-1] == "end"
    assert doc.endswith("## Violation\n\n```text\n" + violation.rstrip("\n") + "\n```\n")


def test_rendering_is_deterministic():
    for name in ("resize_confirm", "restart_recovery"):
        assert _render(name).encode() == _render(name).encode()


def test_mermaid_text_escapes_and_wraps():
    assert sequence.mermaid_text("a; b # c <d>: e") == "a#59; b #35; c #lt;d#gt;: e"
    assert sequence.mermaid_text("wrap: x") == "wrap#58; x"
    long = sequence.mermaid_text("word " * 100)
    assert long.count("<br>") == sequence.MOST_LINES - 1 and long.endswith("…")
    assert all(len(line) <= sequence.WIDTH for line in long.split("<br>"))


def test_placement_changes_only_pair_an_instance_with_its_migration():
    small = {"VCPU": 1, "MEMORY_MB": 2048, "DISK_GB": 20}
    large = {"VCPU": 4, "MEMORY_MB": 8192, "DISK_GB": 80}
    # a resize's scheduling: source to the migration, new flavor claimed elsewhere
    changes = sequence.placement_changes({"vm1": {"c1": small}},
                                         {"mig1": {"c1": small}, "vm1": {"c2": large}},
                                         {"mig1": "vm1"})
    assert [(c.kind, c.consumer) for c in changes] == [("move", "mig1"), ("claim", "vm1")]
    # a revert: the migration's allocation back, the destination freed
    changes = sequence.placement_changes({"mig1": {"c1": small}, "vm1": {"c2": large}},
                                         {"vm1": {"c1": small}}, {"mig1": "vm1"})
    assert [c.kind for c in changes] == ["move", "free"]
    assert changes[1].text == "free vm1's old c2 VCPU 4, MEMORY_MB 8192, DISK_GB 80"
    # two unrelated servers of one flavor: a delete and a claim, not a move
    changes = sequence.placement_changes({"vm1": {"c1": small}}, {"vm2": {"c1": small}}, {})
    assert [(c.kind, c.consumer) for c in changes] == [("delete", "vm1"), ("claim", "vm2")]


def test_observing_changes_nothing_in_the_run():
    scenario = S.load(SCENARIOS / "restart_recovery.json")
    config = S.resolve_config(scenario)
    plain, seen = S.run(scenario, config), S.run(scenario, config, observer=sequence.Recorder())
    try:
        assert plain.text() == seen.text() and plain.json() == seen.json()
    finally:
        plain.close()
        seen.close()


# --- the commands --------------------------------------------------------------------------

def test_simulate_writes_the_sequence(capsys, tmp_path):
    path = SCENARIOS / "evacuate.json"
    out = tmp_path / "evacuate.md"
    assert cli.main(["simulate", str(path)]) == 0
    plain = capsys.readouterr().out
    assert cli.main(["simulate", str(path), "--sequence", str(out)]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (plain, "")
    assert out.read_text(encoding="utf-8") == _render("evacuate")
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left behind


@pytest.mark.parametrize("where", ["missing/out.md", "."])
def test_simulate_sequence_bad_path_is_one_line(capsys, tmp_path, where):
    target = tmp_path / where
    code = cli.main(["simulate", str(SCENARIOS / "boot.json"), "--sequence", str(target)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith(f"nova-model: error: {target}")


VIOLATION = ("Trace (each step as an operator would describe it):\n1. create ...\n\n"
             "Violated:\n  nothing_stuck: Nothing stays in a task forever.\n    - vm1\n")


def _report() -> SimpleNamespace:
    return SimpleNamespace(
        scenario=[{"seed": 3}, {"api": "create", "as": "owner", "args": {"flavor": "m1.small"}},
                  {"deliver": {"operation": "create", "step": "schedule", "instance": "vm1",
                               "work": "w1"}}],
        config=ClusterConfig.default(), violation=VIOLATION)


def test_write_counterexample_writes_the_picture(tmp_path):
    path = counterexample.write(str(tmp_path), _report())
    assert path == str(tmp_path / "nova-model-counterexample.json")
    assert json.loads(Path(path).read_text())["seed"] == 3
    md = (tmp_path / "nova-model-counterexample.md").read_text(encoding="utf-8")
    assert md.startswith("# Counterexample found by nova-model check\n")
    assert f"`nova-model simulate {path}`" in md
    text = _plain(md)
    assert "scheduler->>placement: claim vm1 on" in text
    assert "invariant violated after step 2 nothing_stuck" in text
    assert md.endswith("```text\n" + VIOLATION.rstrip("\n") + "\n```\n")
    # the picture is what simulate --sequence draws of the written scenario, violation aside
    loaded = S.load(path)
    simulated = [line.strip() for line in _mermaid(sequence.render(loaded,
                                                                   S.resolve_config(loaded)))]
    drawn = [line.strip() for line in _mermaid(md)]
    assert drawn[-1] == "end" and "invariant violated" in drawn[-2]
    assert [line for line in drawn[:-2] if not line.startswith("rect ")] == simulated
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "nova-model-counterexample.json", "nova-model-counterexample.md",
        "nova-model-counterexample.toml"]


def test_check_prints_the_picture_path(capsys, tmp_path, monkeypatch):
    report = _report()
    monkeypatch.setattr(check, "run_search", lambda *a, **k: SimpleNamespace(
        **vars(report), examples=1, steps=2, memo={}, seconds=0.1, steps_per_second=20.0,
        findings=[], coverage={"vm_states reached": [], "operations accepted": [],
                               "arguments reached": [], "outcomes delivered": [],
                               "outcomes declared": 0,
                               "events": [], "missing": []},
        as_json=lambda: {}))
    code = cli.main(["check", "--skip-graph", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert f"sequence diagram: {tmp_path / 'nova-model-counterexample.md'}" in out
