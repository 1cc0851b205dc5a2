"""Typed rejections, named like the Nova exceptions a caller would see.

A rejected request raises one of these and changes nothing. ``nova`` names the
exception in ``nova/exception.py`` (or the REST layer) that it mirrors.
"""

from __future__ import annotations


class NovaModelError(Exception):
    """Base class for every rejection the model can raise."""

    nova = "NovaException"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InstanceInvalidState(NovaModelError):
    """``check_instance_state`` refused: wrong vm_state, task_state, or never launched."""

    nova = "InstanceInvalidState"

    def __init__(self, message: str, attr: str):
        super().__init__(message)
        self.attr = attr


class InstanceIsLocked(NovaModelError):
    nova = "InstanceIsLocked"


class InstanceNotReady(NovaModelError):
    """``check_instance_host``: the instance has no host."""

    nova = "InstanceNotReady"


class ServiceUnavailable(NovaModelError):
    """A compute service the operation needs is down."""

    nova = "ServiceUnavailable"


class ComputeServiceInUse(NovaModelError):
    """Evacuate asked for while the source compute service is still up."""

    nova = "ComputeServiceInUse"


class ComputeHostNotFound(NovaModelError):
    """The instance names no host whose service could be looked up."""

    nova = "ComputeHostNotFound"


class InstanceNotFound(NovaModelError):
    """The instance is deleted (its row is gone for the API)."""

    nova = "InstanceNotFound"


class InvalidMigrationState(NovaModelError):
    """No migration in the status the operation needs."""

    nova = "InvalidMigrationState"


class MigrationNotFoundByStatus(NovaModelError):
    """``Migration.get_by_instance_and_status`` found no migration in the wanted status."""

    nova = "MigrationNotFoundByStatus"


class PolicyNotAuthorized(NovaModelError):
    """The default policy reserves this action to admins."""

    nova = "PolicyNotAuthorized"


class UnexpectedTaskStateError(NovaModelError):
    """A compare-and-swap on task_state lost: another operation got there first."""

    nova = "UnexpectedTaskStateError"


class InvalidRequest(NovaModelError):
    """A request argument the API refuses (unknown flavor, same host for evacuate, ...)."""

    nova = "BadRequest"


class NoValidHost(NovaModelError):
    nova = "NoValidHost"


class NoHostForInstance(NovaModelError):
    """The API wrote its task state, then could not address the compute: the instance
    has no host (the compute RPC API's ``_compute_host``). Nova answers 500 and the
    task state stays; this error rides on an accepted result, as its answer."""

    nova = "NovaException"


class MessagingTimeout(NovaModelError):
    """An API that waits for the compute (an RPC call) hears nothing back: the compute
    service is down. Nova answers 500; the API's writes stay and the message waits in
    the compute's queue. Rides on an accepted result, as its answer."""

    nova = "MessagingTimeout"


class UnexpectedAPIError(NovaModelError):
    """The API wrote its changes, then raised an exception it does not handle: Nova
    answers 500 ("Unexpected API Error") and the writes stay. Rides on an accepted
    result, as its answer."""

    nova = "ValueError"
