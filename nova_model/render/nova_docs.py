"""TRANSCRIBED from Nova's own documentation page — not derived from the model.

Source: upstream Nova, ``doc/source/reference/vm-states.rst`` (page last changed
in 2019; read at nova commit 00a030403f), as copied into
``/work/shared/reference/nova_docs_vm_states.md``. The tables below are the
page's tables cell for cell, in the page's own words and order. The only
additions are the vocabulary maps at the bottom, which say which model names
the page's words stand for; the comparison in the design-review document is
computed from these tables and the catalogue.

The code (``nova/compute/api.py``, mirrored by ``model/catalogue.py``) is the
authority wherever the two disagree.
"""

from __future__ import annotations

from types import MappingProxyType

from model.states import VmState

PAGE = "doc/source/reference/vm-states.rst"
PAGE_URL = "https://docs.openstack.org/nova/latest/reference/vm-states.html"

#: "Requirements for Commands": (command, req'd VM states, req'd task states, target state)
REQUIREMENTS: tuple[tuple[str, str, str, str], ...] = (
    ("pause", "Active, Shutoff, Rescued", "Resize Verify, unset", "Paused"),
    ("unpause", "Paused", "N/A", "Active"),
    ("suspend", "Active, Shutoff", "N/A", "Suspended"),
    ("resume", "Suspended", "N/A", "Active"),
    ("rescue", "Active, Shutoff", "Resize Verify, unset", "Rescued"),
    ("unrescue", "Rescued", "N/A", "Active"),
    ("set admin password", "Active", "N/A", "Active"),
    ("rebuild", "Active, Shutoff", "Resize Verify, unset", "Active, Shutoff"),
    ("force delete", "Soft Deleted", "N/A", "Deleted"),
    ("restore", "Soft Deleted", "N/A", "Active"),
    ("soft delete", "Active, Shutoff, Error", "N/A", "Soft Deleted"),
    ("delete", "Active, Shutoff, Building, Rescued, Error", "N/A", "Deleted"),
    ("backup", "Active, Shutoff", "N/A", "Active, Shutoff"),
    ("snapshot", "Active, Shutoff", "N/A", "Active, Shutoff"),
    ("start", "Shutoff, Stopped", "N/A", "Active"),
    ("stop", "Active, Shutoff, Rescued", "Resize Verify, unset", "Stopped"),
    ("reboot", "Active, Shutoff, Rescued", "Resize Verify, unset", "Active"),
    ("resize", "Active, Shutoff", "Resize Verify, unset", "Resized"),
    ("revert resize", "Active, Shutoff", "Resize Verify, unset", "Active"),
    ("confirm resize", "Active, Shutoff", "Resize Verify, unset", "Active"),
)

#: "VM states and possible commands": (VM state, commands), rows in the page's order
#: ("Rescued" appears twice on the page).
COMMANDS_BY_STATE: tuple[tuple[str, str], ...] = (
    ("Paused", "unpause"),
    ("Suspended", "resume"),
    ("Active", "set admin password, suspend, pause, rescue, rebuild, soft delete, delete, "
               "backup, snapshot, stop, reboot, resize, revert resize, confirm resize"),
    ("Shutoff", "suspend, pause, rescue, rebuild, soft delete, delete, backup, start, "
                "snapshot, stop, reboot, resize, revert resize, confirm resize"),
    ("Rescued", "unrescue, pause"),
    ("Stopped", "rescue, delete, start"),
    ("Soft Deleted", "force delete, restore"),
    ("Error", "soft delete, delete"),
    ("Building", "delete"),
    ("Rescued", "delete, stop, reboot"),
)

#: The page's diagram: "All states are allowed to transition to DELETED and ERROR."
DIAGRAM_NOTE = "All states are allowed to transition to DELETED and ERROR."
#: The states that note names (so the diagram draws no edge to them).
DIAGRAM_NOTE_TARGETS: tuple[VmState, ...] = (VmState.DELETED, VmState.ERROR)
DIAGRAM_EDGES: tuple[tuple[str, str], ...] = (
    ("building", "active"),
    ("active", "active"), ("active", "soft_deleted"), ("active", "suspended"),
    ("active", "paused"), ("active", "stopped"), ("active", "shelved"),
    ("active", "shelved_offloaded"), ("active", "rescued"), ("active", "resized"),
    ("soft_deleted", "active"),
    ("suspended", "active"), ("suspended", "shelved"), ("suspended", "shelved_offloaded"),
    ("paused", "active"), ("paused", "shelved"), ("paused", "shelved_offloaded"),
    ("stopped", "active"), ("stopped", "stopped"), ("stopped", "resized"),
    ("stopped", "rescued"), ("stopped", "shelved"), ("stopped", "shelved_offloaded"),
    ("resized", "active"),
    ("rescued", "active"),
    ("shelved", "shelved_offloaded"), ("shelved", "active"),
    ("shelved_offloaded", "active"),
)

# --- vocabulary: the page's words -> the model's names ----------------------------------

#: The page's state words. "Shutoff" and "Stopped" both name the code's ``stopped``;
#: the diagram uses ``soft_deleted`` for the code's ``soft-delete``.
VM_WORDS: MappingProxyType[str, VmState] = MappingProxyType({
    "active": VmState.ACTIVE,
    "building": VmState.BUILDING,
    "paused": VmState.PAUSED,
    "suspended": VmState.SUSPENDED,
    "shutoff": VmState.STOPPED,
    "stopped": VmState.STOPPED,
    "rescued": VmState.RESCUED,
    "resized": VmState.RESIZED,
    "soft deleted": VmState.SOFT_DELETED,
    "soft_deleted": VmState.SOFT_DELETED,
    "deleted": VmState.DELETED,
    "error": VmState.ERROR,
    "shelved": VmState.SHELVED,
    "shelved_offloaded": VmState.SHELVED_OFFLOADED,
})

#: The page's task-state words. "unset" is no task in progress (None); "Resize Verify"
#: is the old name of what the code now keeps as vm_state ``resized`` (there is no
#: such task_state); "N/A" states no requirement.
TASK_UNSET = "unset"
TASK_RESIZE_VERIFY = "resize verify"
TASK_NOT_STATED = "n/a"
RESIZE_VERIFY_IS = VmState.RESIZED

#: The page's command words -> the catalogue operations they name. "reboot" is one
#: API call with two types, which the catalogue declares as two operations.
COMMAND_WORDS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType({
    "pause": ("pause",),
    "unpause": ("unpause",),
    "suspend": ("suspend",),
    "resume": ("resume",),
    "rescue": ("rescue",),
    "unrescue": ("unrescue",),
    "set admin password": ("set_admin_password",),
    "rebuild": ("rebuild",),
    "force delete": ("force_delete",),
    "restore": ("restore",),
    "soft delete": ("soft_delete",),
    "delete": ("delete",),
    "backup": ("backup",),
    "snapshot": ("snapshot",),
    "start": ("start",),
    "stop": ("stop",),
    "reboot": ("reboot_soft", "reboot_hard"),
    "resize": ("resize",),
    "revert resize": ("revert_resize",),
    "confirm resize": ("confirm_resize",),
})


def words(cell: str) -> list[str]:
    """A table cell's comma-separated words, lower-cased."""
    return [w.strip().lower() for w in cell.split(",") if w.strip()]
