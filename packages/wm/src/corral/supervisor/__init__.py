"""Runner supervision, one module per job:

* :mod:`.states` - the lifecycle state machine (pure); :mod:`.policy` - restart backoff and
  crash budget; :mod:`.events` - keys, status snapshots, the event bus;
* :mod:`.spawn` - how a runner's process is started (plain, or forked from a fork server);
  :mod:`.process` - one OS process, its launch record, hello and output tails;
* :mod:`.startup` - the readiness handshake; :mod:`.health` - the ``$/ping`` monitor;
* :mod:`.runner` - :class:`ManagedRunner`, which drives the state machine with them.
"""

from .errors import RunnerCrashedError, RunnerUnavailableError
from .events import EventBus, RunnerKey, RunnerStateChanged, RunnerStatus
from .health import HealthMonitor
from .policy import RestartPolicy
from .process import OutputTail, RunnerProcess, StartError, describe_exit
from .runner import ManagedRunner
from .spawn import ForkSpawner, PlainSpawner, Spawner, default_spawner
from .spec import RunnerSpec
from .startup import Handshake, HandshakeError, start_runner
from .states import IllegalTransitionError, RunnerEvent, RunnerState, transition

__all__ = [
    "EventBus",
    "ForkSpawner",
    "Handshake",
    "HandshakeError",
    "HealthMonitor",
    "IllegalTransitionError",
    "ManagedRunner",
    "OutputTail",
    "PlainSpawner",
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
    "Spawner",
    "StartError",
    "default_spawner",
    "describe_exit",
    "start_runner",
    "transition",
]
