"""The fork server's soundness check: which envs may be forked from a preloaded template.

Fake environments on disk (``pyvenv.cfg`` + ``site-packages`` with dist-info RECORDs); the
check reads nothing else.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from corral_runner.forkserver import Template, _site_packages

VENV = "home = /opt/python/bin\nimplementation = CPython\nversion_info = 3.11.7\n"
RECORD = (
    "pkg/__init__.py,sha256=AAA,10\n"
    "pkg-1.0.dist-info/RECORD,,\n"
    "../../../bin/pkg-tool,sha256={script},348\n"
)


def make_env(root: Path, *, venv: str = VENV, record: str = RECORD, script: str = "X") -> Path:
    """An env at ``root`` with distribution ``pkg`` (module ``pkg/__init__.py``)."""
    site = Path(_site_packages(str(root)))
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (site / "pkg-1.0.dist-info").mkdir()
    (site / "pkg-1.0.dist-info" / "RECORD").write_text(record.format(script=script))
    (site / "loose.py").write_text("LOOSE = 1\n")
    (root / "pyvenv.cfg").write_text(venv + f"prompt = {root.name}\n")
    return root


@pytest.fixture
def template(tmp_path: Path) -> Template:
    env = make_env(tmp_path / "a")
    site = Path(_site_packages(str(env)))
    stdlib = os.__file__  # from the base interpreter: always shared, never checked
    return Template(str(env), [str(site / "pkg" / "__init__.py"), str(site / "loose.py"), stdlib])


def test_an_env_from_the_same_wheels_and_interpreter_is_accepted(
    template: Template, tmp_path: Path
) -> None:
    assert list(template.records) == ["pkg-1.0.dist-info"]
    assert list(template.loose) == ["loose.py"]
    assert template.foreign == []
    # a different prompt and a script whose shebang names another interpreter: same env
    assert template.refusal(str(make_env(tmp_path / "b", script="Y"))) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"venv": VENV.replace("3.11.7", "3.11.8")}, "another interpreter"),
        ({"venv": VENV.replace("/opt/python", "/usr")}, "another interpreter"),
        ({"record": RECORD.replace("AAA", "BBB")}, "pkg-1.0.dist-info differs"),
    ],
)
def test_an_env_that_would_import_other_code_is_refused(
    template: Template, tmp_path: Path, change: dict[str, str], reason: str
) -> None:
    refusal = template.refusal(str(make_env(tmp_path / "b", **change)))
    assert refusal is not None
    assert reason in refusal


def test_missing_or_edited_files_are_refused(template: Template, tmp_path: Path) -> None:
    env = make_env(tmp_path / "b")
    site = Path(_site_packages(str(env)))
    (site / "loose.py").write_text("LOOSE = 2\n")
    assert template.refusal(str(env)) == "loose.py differs"
    (site / "loose.py").unlink()
    assert template.refusal(str(env)) == "loose.py is missing"
    (site / "pkg-1.0.dist-info" / "RECORD").unlink()
    assert template.refusal(str(env)) == "pkg-1.0.dist-info is not installed"
    assert template.refusal(str(tmp_path / "not-an-env")) is not None


def test_a_template_with_modules_from_outside_its_env_refuses_everything(
    tmp_path: Path,
) -> None:
    env = make_env(tmp_path / "a")
    elsewhere = tmp_path / "src" / "editable.py"
    elsewhere.parent.mkdir()
    elsewhere.write_text("")
    template = Template(str(env), [str(elsewhere)])
    assert template.foreign == [str(elsewhere)]
    refusal = template.refusal(str(make_env(tmp_path / "b")))
    assert refusal is not None
    assert "outside the environment" in refusal


def test_an_env_with_a_module_the_template_looked_for_and_missed_is_refused(
    tmp_path: Path,
) -> None:
    """An optional dependency (msgspec tries typing_extensions): the env that has it would
    have imported it, so the template's modules are not what it would run."""
    template = Template(str(make_env(tmp_path / "a")), [], missing={"optional_dep", "_win"})
    env = make_env(tmp_path / "b")
    assert template.refusal(str(env)) is None
    site = Path(_site_packages(str(env)))
    for entry in ("optional_dep.py", "optional_dep", "optional_dep.cpython-311-x86_64.so"):
        path = site / entry
        path.mkdir() if "." not in entry else path.write_text("")
        refusal = template.refusal(str(env))
        assert refusal is not None
        assert "optional_dep" in refusal
        path.rmdir() if path.is_dir() else path.unlink()
    (site / "optional_dep-1.0.dist-info").mkdir()  # metadata alone is not the module
    (site / "optional_dep_extra.py").write_text("")  # nor is a longer name
    assert template.refusal(str(env)) is None
