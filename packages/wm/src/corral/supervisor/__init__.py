"""Runner supervision: the lifecycle state machine, restart policy, processes and events."""

from .events import EventBus, RunnerKey, RunnerStateChanged, RunnerStatus
from .policy import RestartPolicy
from .process import OutputTail, RunnerProcess, StartError, describe_exit
from .runner import (
    ManagedRunner,
    RunnerCrashedError,
    RunnerSpec,
    RunnerUnavailableError,
)
from .states import IllegalTransitionError, RunnerEvent, RunnerState, transition

__all__ = [
    "EventBus",
    "IllegalTransitionError",
    "ManagedRunner",
    "OutputTail",
    "RestartPolicy",
    "RunnerCrashedError",
    "RunnerEvent",
    "RunnerKey",
    "RunnerProcess",
    "RunnerSpec",
    "RunnerState",
    "RunnerStateChanged",
    "RunnerStatus",
    "RunnerUnavailableError",
    "StartError",
    "describe_exit",
    "transition",
]
