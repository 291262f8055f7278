"""The fork server's soundness check: which envs (and projects) may be forked from a
preloaded template. Fake environments on disk (``pyvenv.cfg`` + ``site-packages`` with
dist-info RECORDs); the check reads nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from corral_runner.forktemplate import Template, site_packages

VENV = "home = /opt/python/bin\nimplementation = CPython\nversion_info = 3.11.7\n"
RECORD = (
    "pkg/__init__.py,sha256=AAA,10\n"
    "pkg-1.0.dist-info/RECORD,,\n"
    "../../../bin/pkg-tool,sha256={script},348\n"
)


def make_env(root: Path, *, venv: str = VENV, record: str = RECORD, script: str = "X") -> Path:
    """An env at ``root`` with distribution ``pkg`` (module ``pkg/__init__.py``), a loose
    module and a ``.pth`` file."""
    site = Path(site_packages(str(root)))
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (site / "pkg-1.0.dist-info").mkdir()
    (site / "pkg-1.0.dist-info" / "RECORD").write_text(record.format(script=script))
    (site / "loose.py").write_text("LOOSE = 1\n")
    (site / "paths.pth").write_text("/opt/extra\n")
    (root / "pyvenv.cfg").write_text(venv + f"prompt = {root.name}\n")
    return root


def site(env: Path) -> Path:
    return Path(site_packages(str(env)))


@pytest.fixture
def template(tmp_path: Path) -> Template:
    env = make_env(tmp_path / "a")
    stdlib = os.__file__  # from the base interpreter: always shared, never checked
    return Template(
        str(env),
        [str(site(env) / "pkg" / "__init__.py"), str(site(env) / "loose.py"), stdlib],
        missing={"optional_dep", "pkg", "loose"},
    )


def test_an_env_from_the_same_wheels_and_interpreter_is_accepted(
    template: Template, tmp_path: Path
) -> None:
    assert list(template.records) == ["pkg-1.0.dist-info"]
    assert list(template.loose) == ["loose.py"]
    assert template.foreign == []
    # a different prompt and a script whose shebang names another interpreter: same env
    env = make_env(tmp_path / "b", script="Y")
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    assert template.refusal(str(env), str(project)) is None


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


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("optional_dep.py", "extra: ['optional_dep.py']"),  # a module the preload missed
        ("optional_dep", "extra: ['optional_dep']"),
        ("sitecustomize.py", "extra: ['sitecustomize.py']"),
        ("coverage.pth", "extra: ['coverage.pth']"),
    ],
)
def test_an_env_with_other_top_level_entries_is_refused(
    template: Template, tmp_path: Path, entry: str, reason: str
) -> None:
    env = make_env(tmp_path / "b")
    path = site(env) / entry
    path.mkdir() if "." not in entry else path.write_text("")
    refusal = template.refusal(str(env))
    assert refusal is not None
    assert reason in refusal
    path.rmdir() if path.is_dir() else path.unlink()
    (site(env) / "loose.py").unlink()
    refusal = template.refusal(str(env))
    assert refusal is not None
    assert "lacking: ['loose.py']" in refusal


def test_missing_edited_or_resized_files_are_refused(template: Template, tmp_path: Path) -> None:
    env = make_env(tmp_path / "b")
    (site(env) / "paths.pth").write_text("/opt/other\n")
    assert template.refusal(str(env)) == "paths.pth differs"
    (site(env) / "paths.pth").write_text("/opt/extra\n")
    (site(env) / "loose.py").write_text("LOOSE = 2\n")
    assert template.refusal(str(env)) == "loose.py differs"
    (site(env) / "loose.py").write_text("LOOSE = 1\n")
    (site(env) / "pkg" / "__init__.py").write_text("VALUE = 12\n")  # RECORD says otherwise
    assert template.refusal(str(env)) == f"pkg{os.sep}__init__.py differs from its RECORD"
    (site(env) / "pkg-1.0.dist-info" / "RECORD").unlink()
    assert template.refusal(str(env)) == "pkg-1.0.dist-info is not installed"
    assert template.refusal(str(tmp_path / "not-an-env")) is not None


def test_a_template_whose_own_files_changed_refuses(template: Template, tmp_path: Path) -> None:
    env = make_env(tmp_path / "b")
    assert template.refusal(str(env)) is None
    (site(Path(template.prefix)) / "loose.py").write_text("LOOSE = 333\n")
    refusal = template.refusal(str(env))
    assert refusal is not None
    assert "the server's loose.py changed since it was loaded" in refusal


@pytest.mark.parametrize("entry", ["pkg", "loose.py", "optional_dep.py", "os.py"])
def test_a_project_module_that_would_shadow_a_preloaded_one_is_refused(
    template: Template, tmp_path: Path, entry: str
) -> None:
    """Under ``-m`` the project directory comes first on ``sys.path``: a runner started
    normally would import the project's module, not the preloaded one."""
    template = Template(
        template.prefix,
        [str(site(Path(template.prefix)) / "loose.py"), os.__file__],
        missing={"optional_dep", "pkg", "loose", "os"},
    )
    env = make_env(tmp_path / "b")
    project = tmp_path / "project"
    project.mkdir()
    path = project / entry
    path.mkdir() if "." not in entry else path.write_text("")
    refusal = template.refusal(str(env), str(project))
    assert refusal is not None
    assert "would shadow" in refusal


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
