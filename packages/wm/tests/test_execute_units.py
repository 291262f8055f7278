"""Pure pieces of execution, without runners: segments (plan), project selection, the
mapping of domain errors to JSON-RPC errors, and domain error messages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest
from corral.config import ActionSpec, ConfigError, HandlerRef, ProjectConfig
from corral.errors import (
    DepthLimitError,
    FanOutLimitError,
    RunCancelledError,
    UnknownActionError,
    UnknownProjectError,
    UsageError,
)
from corral.execute import Limits, select_projects
from corral.plan import PRESET_ACTION, plan_action, runner_configuration
from corral.rpcerrors import error_object, to_rpc_error
from corral.supervisor import RunnerKey, RunnerUnavailableError
from corral_protocol import ErrorCode
from corral_protocol.errordata import ERROR_DATA


def handler(name: str, env: str) -> HandlerRef:
    return HandlerRef(name=name, source=f"pkg:{name}", env=env)


def test_sequential_segments_group_consecutive_handlers_of_one_env() -> None:
    action = ActionSpec(
        name="check",
        mode="sequential",
        handlers=(handler("a", "x"), handler("b", "x"), handler("c", "y"), handler("d", "x")),
    )
    segments = plan_action(action)
    assert [(s.env, s.runner_action, [h.name for h in s.handlers]) for s in segments] == [
        ("x", "check#0", ["a", "b"]),
        ("y", "check", ["c"]),
        ("x", "check#1", ["d"]),
    ]


def test_concurrent_segments_are_one_per_env() -> None:
    action = ActionSpec(
        name="lint",
        mode="concurrent",
        handlers=(handler("a", "x"), handler("b", "y"), handler("c", "x")),
    )
    assert [(s.env, [h.name for h in s.handlers]) for s in plan_action(action)] == [
        ("x", ["a", "c"]),
        ("y", ["b"]),
    ]


def test_a_runner_is_configured_with_its_segments_and_dev_workspace_resolves_presets() -> None:
    action = ActionSpec(
        name="check", mode="sequential", handlers=(handler("a", "x"), handler("b", "y"))
    )
    config = ProjectConfig(
        root=Path("/p"), config_file=Path("/p/corral.toml"), actions={"check": action}
    )
    assert list(runner_configuration(config, "x").actions) == ["check"]
    assert list(runner_configuration(config, "dev_workspace").actions) == [PRESET_ACTION]


class Catalogue:
    """The part of the WM that project selection reads."""

    limits = Limits()
    journal = None

    def __init__(self, configs: dict[Path, ProjectConfig | ConfigError]) -> None:
        self.configs = configs

    def project_roots(self) -> list[Path]:
        return sorted(self.configs)

    async def project_config(self, root: Path) -> ProjectConfig:
        found = self.configs[root]
        if isinstance(found, ConfigError):
            raise found
        return found


def project(name: str, *actions: str) -> ProjectConfig:
    root = Path("/ws") / name
    return ProjectConfig(
        root=root,
        config_file=root / "corral.toml",
        actions={a: ActionSpec(name=a, handlers=(handler("h", "dev"),)) for a in actions},
    )


def test_selection_runs_where_the_action_is_defined_and_names_the_others() -> None:
    broken = ConfigError(Path("/ws/c/corral.toml"), "actions", found="1 (int)", expected="a table")
    ctx = Catalogue(
        {
            Path("/ws/a"): project("a", "lint", "format"),
            Path("/ws/b"): project("b", "format"),
            Path("/ws/c"): broken,
        }
    )
    selection = asyncio.run(select_projects(ctx, "lint"))  # type: ignore[arg-type]
    assert selection.selected == [Path("/ws/a"), Path("/ws/c")]  # broken: its error is news
    assert selection.skipped == [Path("/ws/b")]
    assert selection.broken == [Path("/ws/c")]
    assert selection.require("lint") is selection
    typo = asyncio.run(select_projects(ctx, "lnit"))  # type: ignore[arg-type]
    with pytest.raises(UnknownActionError) as info:
        typo.require("lnit")
    assert info.value.suggestions == ("lint",)
    assert "did you mean 'lint'?" in str(info.value)
    assert info.value.user_fault


def test_with_only_broken_projects_their_errors_are_reported_not_the_action() -> None:
    broken = ConfigError(Path("/ws/a/corral.toml"), "", found="x", expected="y")
    selection = asyncio.run(select_projects(Catalogue({Path("/ws/a"): broken}), "lint"))  # type: ignore[arg-type]
    assert selection.require("lint").selected == [Path("/ws/a")]


def test_unknown_action_messages() -> None:
    nothing = UnknownActionError("lint", project=Path("/p"), known=())
    assert str(nothing) == "project /p has no action 'lint' (no actions are configured)"
    listed = UnknownActionError("zz", project=None, known=["lint", "format"])
    assert str(listed) == (
        "no action 'zz' in any project of the workspace (known actions: format, lint)"
    )


@pytest.mark.parametrize(
    ("error", "code", "user_fault"),
    [
        (ConfigError(Path("/p/corral.toml"), "envs", found="1", expected="a table"), -32602, True),
        (UsageError("bad"), -32602, True),
        (UnknownActionError("x", project=Path("/p"), known=["y"]), -32010, True),
        (DepthLimitError(9, 8), -32012, False),
        (FanOutLimitError("lint", 300, 256), -32013, False),
        (UnknownProjectError(Path("/nope")), -32014, True),
        (RunnerUnavailableError(RunnerKey(Path("/p"), "dev"), "no venv"), -32015, False),
        (RunCancelledError("r1"), -32800, False),
    ],
)
def test_domain_errors_become_the_protocols_codes_with_typed_data(
    error: Exception, code: int, user_fault: bool
) -> None:
    rpc = to_rpc_error(error)  # type: ignore[arg-type]
    assert rpc.code == code
    assert rpc.message == str(error)
    assert error.user_fault is user_fault  # type: ignore[attr-defined]
    shape = ERROR_DATA.get(code)
    assert shape is not None
    assert isinstance(rpc.data, shape)
    wire = error_object(error)  # type: ignore[arg-type]
    assert msgspec.to_builtins(wire)["code"] == code
    assert ErrorCode(code)  # a code the protocol defines
