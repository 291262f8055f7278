"""The handler example in packages/er-python/README.md runs as written."""

from __future__ import annotations

from pathlib import Path

from runner_harness import run, running

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_handler_runs(tmp_path: Path) -> None:
    code = README.read_text().split("```python\n")[1].split("```")[0]
    (tmp_path / "my_todos.py").write_text(code)
    (tmp_path / "a.py").write_text("# TODO one\n# TODO two\n")

    async def scenario() -> None:
        async with running(tmp_path) as runner:
            await runner.configure({"todos": [("todos", "my_todos:count_todos")]})
            result = await runner.run(
                "todos", {"paths": ["a.py"]}, work_done_token="w", partial_result_token="p"
            )
            assert (result.status, result.result) == ("ok", {"todos": 2})
            kinds = [type(p.value).__name__ for p in runner.progress]
            assert kinds == ["WorkDoneBegin", "WorkDoneReport", "PartialResult", "WorkDoneEnd"]

    run(scenario())
