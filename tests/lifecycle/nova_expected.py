"""Nova's API guards, transcribed by hand from Nova's source: the tests' oracle.

NOTHING here is read from ``model.catalogue``: every entry was copied from the
decorators on ``nova/compute/api.py: API.<method>`` at commit
``00a030403f672b975364c855b7d25b40ef83e757`` (line numbers below are from that
file), from the REST layer's policy checks (``nova/policies/*.py``,
``nova/api/openstack/compute/*.py``) and from
``/work/shared/reference/nova_lifecycle_facts.md``. States are spelled as Nova's
strings (``nova/compute/vm_states.py``, ``nova/compute/task_states.py``).

``checks`` is the order in which Nova raises, outermost first: the REST layer's
policy check, then the decorators from the top of the stack down, then the
checks inside the method body.
"""

from __future__ import annotations

from dataclasses import dataclass

from model import errors

# check names (our own words for Nova's checks)
POLICY = "policy"            # context.can(...) in the REST controller, admin-only default
LOCK = "lock"                # @check_instance_lock
HOST = "host"                # @check_instance_host()
HOST_UP = "host_up"          # @check_instance_host(check_is_up=True)
STATE = "state"              # @check_instance_state(...)
SOURCE_DOWN = "source_down"  # API.evacuate body: ComputeServiceInUse when the host is up
SOURCE_UP = "source_up"      # API.confirm_resize body: ServiceUnavailable if source is down
MIG_FINISHED = "mig_finished"  # API.confirm_resize / API.revert_resize body:
#                                # Migration.get_by_instance_and_status(..., 'finished')
#                                # raises MigrationNotFoundByStatus
MIG_RUNNING = "mig_running"  # API.live_migrate_force_complete body: status must be running
MIG_ABORTABLE = "mig_abortable"  # API.live_migrate_abort body (microversion >= 2.65)
UNLOCK_OWNER = "unlock_owner"    # LockServerController._unlock: is_expected_locked_by
#                                  # else policy unlock:unlock_override (ADMIN)

UNCHANGED = "<unchanged>"

# nova/compute/vm_states.py
ALLOW_SOFT_REBOOT = ("active",)
ALLOW_HARD_REBOOT = ("active", "stopped", "paused", "suspended", "error")
ALLOW_TRIGGER_CRASH_DUMP = ("active", "paused", "rescued", "resized", "error")
# nova/compute/task_states.py
ALLOW_REBOOT = (None, "rebooting", "reboot_pending", "reboot_started", "resuming",
                "rebooting_hard", "unpausing", "pausing", "suspending")

ANY = None


@dataclass(frozen=True)
class NovaGuard:
    where: str
    vm: tuple[str, ...] | None            # None: any vm_state (decorator default)
    task: tuple[str | None, ...] | None = (None,)  # decorator default: no task
    launched: bool = True                 # must_have_launched default True
    checks: tuple[str, ...] = (LOCK, STATE)
    admin_only: bool = False
    api_task: str | None = UNCHANGED      # task_state the API writes (remote path)
    api_vm: str = UNCHANGED


_IMAGE = ("active", "stopped", "paused", "suspended")

NOVA: dict[str, NovaGuard] = {
    # api.py:2873-2876 lock, host, state
    "start": NovaGuard("API.start", ("stopped",), checks=(LOCK, HOST, STATE),
                       api_task="powering-on"),
    # api.py:2866-2869 (API.force_stop writes the task)
    "stop": NovaGuard("API.stop", ("active", "error"), checks=(LOCK, HOST, STATE),
                      api_task="powering-off"),
    # api.py:3639 lock on API.reboot; 3647 state on API._soft_reboot
    "reboot_soft": NovaGuard("API.reboot/_soft_reboot", ALLOW_SOFT_REBOOT, (None,),
                             api_task="rebooting"),
    # api.py:3660 API._hard_reboot
    "reboot_hard": NovaGuard("API.reboot/_hard_reboot", ALLOW_HARD_REBOOT, ALLOW_REBOOT,
                             api_task="rebooting_hard"),
    "pause": NovaGuard("API.pause", ("active",), api_task="pausing"),          # 4825
    "unpause": NovaGuard("API.unpause", ("paused",), api_task="unpausing"),    # 4834
    "suspend": NovaGuard("API.suspend", ("active",), api_task="suspending"),   # 4861
    "resume": NovaGuard("API.resume", ("suspended",), api_task="resuming"),    # 4870
    "rescue": NovaGuard("API.rescue", ("active", "stopped", "error"),
                        api_task="rescuing"),                                   # 4883
    "unrescue": NovaGuard("API.unrescue", ("rescued",), api_task="unrescuing"),  # 4948
    # api.py:3441, 3400: "We don't check instance lock for snapshot/backup"
    "snapshot": NovaGuard("API.snapshot", _IMAGE, checks=(STATE,),
                          api_task="image_snapshot_pending"),
    "backup": NovaGuard("API.backup", _IMAGE, checks=(STATE,), api_task="image_backup"),
    "rebuild": NovaGuard("API.rebuild", ("active", "stopped", "error"),
                         api_task="rebuilding"),                                # 3682
    # api.py:4289-4291: lock, state, host(check_is_up=True) -- host is checked LAST
    "resize": NovaGuard("API.resize", ("active", "stopped"), checks=(LOCK, STATE, HOST_UP),
                        api_task="resize_prep"),
    # same method; policy os-migrate-server:migrate = PROJECT_MANAGER_OR_ADMIN
    "migrate": NovaGuard("API.resize(flavor_id=None)", ("active", "stopped"),
                         checks=(POLICY, LOCK, STATE, HOST_UP), admin_only=True,
                         api_task="resize_prep"),
    # api.py:4111; body: the 'finished' migration (4131), then the source compute
    # service (ServiceUnavailable)
    "confirm_resize": NovaGuard("API.confirm_resize", ("resized",),
                                checks=(LOCK, STATE, MIG_FINISHED, SOURCE_UP)),
    # api.py:4000; body: the 'finished' migration (4007)
    "revert_resize": NovaGuard("API.revert_resize", ("resized",),
                               checks=(LOCK, STATE, MIG_FINISHED),
                               api_task="resize_reverting"),
    # api.py:5574; policy migrate_live = PROJECT_MANAGER_OR_ADMIN
    "live_migrate": NovaGuard("API.live_migrate", ("active", "paused"),
                              checks=(POLICY, LOCK, STATE), admin_only=True,
                              api_task="migrating"),
    # api.py:5628; body: migration.status must be 'running'
    "live_migrate_force_complete": NovaGuard(
        "API.live_migrate_force_complete", ("active",), ("migrating",),
        checks=(POLICY, LOCK, STATE, MIG_RUNNING), admin_only=True),
    # api.py:5659 (any vm_state); body: running, or queued/preparing from 2.65
    "live_migrate_abort": NovaGuard(
        "API.live_migrate_abort", ANY, ("migrating",),
        checks=(POLICY, LOCK, STATE, MIG_ABORTABLE), admin_only=True),
    # api.py:5707 task_state=None (any), NO lock; body: source service must be down;
    # policy os-evacuate = ADMIN
    "evacuate": NovaGuard("API.evacuate", ("active", "stopped", "error"), ANY,
                          checks=(POLICY, STATE, SOURCE_DOWN), admin_only=True,
                          api_task="rebuilding"),
    "shelve": NovaGuard("API.shelve", _IMAGE, api_task="shelving"),             # 4544
    # nova/policies/shelve.py: os_compute_api:os-shelve:shelve_offload is base.ADMIN
    # ShelveController._shelve_offload: the policy before the API's lock and state
    "shelve_offload": NovaGuard("API.shelve_offload", ("shelved",), admin_only=True,
                                checks=(POLICY, LOCK, STATE),
                                api_task="shelving_offloading"),                # 4584
    "unshelve": NovaGuard("API.unshelve", ("shelved", "shelved_offloaded"),
                          api_task="unshelving"),                               # 4704
    # api.py:2790 vm any, task any, must_have_launched=True
    "soft_delete": NovaGuard("API.soft_delete", ANY, ANY, launched=True,
                             api_task="soft-deleting"),
    "restore": NovaGuard("API.restore", ("soft-delete",), api_task="restoring"),  # 2814
    # api.py:2806 vm any, task any, must_have_launched=False
    "delete": NovaGuard("API.delete", ANY, ANY, launched=False, api_task="deleting"),
    # api.py:2846 task_state=None (any), vm default None (any), launched False
    "force_delete": NovaGuard("API.force_delete", ANY, ANY, launched=False,
                              api_task="deleting"),
    # api.py:5020 no decorators
    "lock": NovaGuard("API.lock", ANY, ANY, launched=False, checks=()),
    "unlock": NovaGuard("API.unlock", ANY, ANY, launched=False, checks=(UNLOCK_OWNER,)),
    "set_admin_password": NovaGuard("API.set_admin_password", ("active",),
                                    api_task="updating_password"),              # 4959
    # api.py:2886-2888 lock, host, state
    "trigger_crash_dump": NovaGuard("API.trigger_crash_dump", ALLOW_TRIGGER_CRASH_DUMP,
                                    checks=(LOCK, HOST, STATE)),
    # admin_actions.py AdminActionsController._reset_state: policy only, no guard
    "reset_state_error": NovaGuard("os-resetState", ANY, ANY, launched=False,
                                   checks=(POLICY,), admin_only=True, api_task=None,
                                   api_vm="error"),
    "reset_state_active": NovaGuard("os-resetState", ANY, ANY, launched=False,
                                    checks=(POLICY,), admin_only=True, api_task=None,
                                    api_vm="active"),
}

#: Ops whose guard includes @check_instance_lock.
LOCK_CHECKED = frozenset(op for op, g in NOVA.items() if LOCK in g.checks)

#: One (vm_state, task_state) each op is accepted in (with the friendly world).
ACCEPTING: dict[str, tuple[str, str | None]] = {
    "start": ("stopped", None), "stop": ("active", None), "reboot_soft": ("active", None),
    "reboot_hard": ("stopped", None), "pause": ("active", None),
    "unpause": ("paused", None), "suspend": ("active", None),
    "resume": ("suspended", None), "rescue": ("active", None),
    "unrescue": ("rescued", None), "snapshot": ("active", None),
    "backup": ("stopped", None), "rebuild": ("active", None), "resize": ("active", None),
    "migrate": ("stopped", None), "confirm_resize": ("resized", None),
    "revert_resize": ("resized", None), "live_migrate": ("active", None),
    "live_migrate_force_complete": ("active", "migrating"),
    "live_migrate_abort": ("active", "migrating"), "evacuate": ("error", None),
    "shelve": ("paused", None), "shelve_offload": ("shelved", None),
    "unshelve": ("shelved_offloaded", None), "soft_delete": ("active", None),
    "restore": ("soft-delete", None), "delete": ("active", None),
    "force_delete": ("active", None), "lock": ("active", None), "unlock": ("active", None),
    "set_admin_password": ("active", None), "trigger_crash_dump": ("active", None),
    "reset_state_error": ("active", None), "reset_state_active": ("error", None),
}


def _task(instance) -> str | None:
    return None if instance.task_state is None else instance.task_state.value


def nova_verdict(op: str, instance, is_admin: bool) -> tuple[type, str | None] | None:
    """What Nova raises for this request (class, InstanceInvalidState.attr), or None."""
    if op == "create":
        # Not a Nova rule: the model's convention that create makes a *new* instance.
        return errors.InvalidRequest, None
    if instance.vm_state.value == "deleted":
        return errors.InstanceNotFound, None  # common.get_instance: 404
    g = NOVA[op]
    vm, task = instance.vm_state.value, _task(instance)
    world = instance.world
    mig = instance.migration
    for check in g.checks:
        if check == POLICY and g.admin_only and not is_admin:
            return errors.PolicyNotAuthorized, None
        if check == LOCK and instance.locked and not is_admin:
            return errors.InstanceIsLocked, None
        if check in (HOST, HOST_UP):
            if not instance.host:
                return errors.InstanceNotReady, None
            if check == HOST_UP and not world.service_is_up(instance.host):
                return errors.ServiceUnavailable, None
        if check == STATE:
            if g.vm is not None and vm not in g.vm:
                return errors.InstanceInvalidState, "vm_state"
            if g.task is not None and task not in g.task:
                return errors.InstanceInvalidState, "task_state"
            if g.launched and not instance.launched:
                return errors.InstanceInvalidState, "launched_at"
        if check == SOURCE_DOWN:
            if instance.host is None:
                return errors.ComputeHostNotFound, None
            if world.service_is_up(instance.host):
                return errors.ComputeServiceInUse, None
        if check == MIG_FINISHED and (mig is None or mig.status.value != "finished"):
            return errors.MigrationNotFoundByStatus, None
        if check == SOURCE_UP:
            if mig is None or mig.source is None or not world.service_is_up(mig.source):
                return errors.ServiceUnavailable, None
        if check == MIG_RUNNING and (mig is None or mig.status.value != "running"):
            return errors.InvalidMigrationState, None
        if check == MIG_ABORTABLE and (
                mig is None or mig.status.value not in ("running", "queued", "preparing")):
            return errors.InvalidMigrationState, None
        if check == UNLOCK_OWNER and instance.locked and not is_admin \
                and instance.locked_by == "admin":
            return errors.PolicyNotAuthorized, None
    return None


def nova_api_write(op: str, vm: str, task: str | None, host: str | None,
                   host_up: bool, powered_off: bool = False) -> tuple[str, str | None]:
    """(vm_state, task_state) right after Nova's API call returns, for an accepted request.

    The delete family follows ``API._delete`` (api.py:2460): no host, or the compute
    service down, is a local delete straight to ``deleted``; otherwise the task is
    saved first (no expected_task_state) and, when the original task was already
    ``deleting``/``soft-deleting``, the request is then ignored.
    A resized instance is confirmed first (``API._confirm_resize_on_deleting``),
    which leaves it stopped or active.
    ``API.restore`` with no host sets ``active`` directly (api.py:2833-2837).
    """
    g = NOVA[op]
    if op in ("delete", "force_delete", "soft_delete"):
        if host is None or not host_up:
            return "deleted", None
        if vm == "resized" and task not in ("deleting", "soft-deleting"):
            # API._confirm_resize_on_deleting: CM._confirm_resize (cast=False) sets
            # vm_state stopped when the guest is shut down, else active
            return ("stopped" if powered_off else "active"), g.api_task
        return vm, g.api_task
    if op == "restore" and host is None:
        return "active", None
    new_vm = vm if g.api_vm == UNCHANGED else g.api_vm
    new_task = task if g.api_task == UNCHANGED else g.api_task
    return new_vm, new_task
