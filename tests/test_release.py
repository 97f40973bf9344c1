"""Release plumbing: the version comes from git tags, CI runs the README's test command, PyPI gets tags only.

The workflows cannot run here; `make lint` validates them against GitHub's schema and with zizmor. These tests
keep them in step with the rest of the repository (README, classifiers, pyproject). They read the repository's own
files and skip in an unpacked sdist, which carries no ``.github`` folder.
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

import hyperst as hst

ROOT = Path(__file__).parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
needs_repository = pytest.mark.skipif(not WORKFLOWS.is_dir(), reason="needs the repository's .github folder")
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")  # owner/repo[/path]@<full commit SHA>


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _workflow(name: str) -> dict:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def _run_lines(job: dict) -> list[str]:
    return [line.strip() for step in job["steps"] for line in step.get("run", "").splitlines()]


def test_version_is_the_installed_distributions():
    assert hst.__version__ == version("hyperst")  # set at build time from the git tag, never a literal


def test_version_comes_from_git_tags():
    pyproject = _pyproject()
    assert "version" not in pyproject["project"] and pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["hatch"]["version"]["source"] == "vcs"
    assert pyproject["tool"]["hatch"]["version"]["fallback-version"]  # a copy without git still builds
    assert {"hatchling", "hatch-vcs"} <= set(pyproject["build-system"]["requires"])


def test_sdist_carries_what_packagers_need():
    include = set(_pyproject()["tool"]["hatch"]["build"]["targets"]["sdist"]["include"])
    assert {"/src", "/tests", "/docs", "/LICENSE", "/CHANGELOG.md", "/CITATION.cff"} <= include


@needs_repository
def test_ci_runs_the_readme_test_command_on_every_supported_python():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^(make test)\b", readme, flags=re.MULTILINE)
    assert command, "README.md no longer gives `make test` as the test command: update the Test workflow too"
    job = _workflow("test.yaml")["jobs"]["test"]
    assert any(line.startswith(command.group(1)) for line in _run_lines(job))
    classifiers = _pyproject()["project"]["classifiers"]
    supported = {
        c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert set(job["strategy"]["matrix"]["python"]) == supported


@needs_repository
def test_release_publishes_tags_to_pypi_with_trusted_publishing():
    workflow = _workflow("release.yaml")
    assert set(workflow["on"]) == {"push"} and workflow["on"]["push"] == {"tags": ["v*"]}
    assert workflow["permissions"] == {}  # nothing by default; each job asks for what it needs
    publish = workflow["jobs"]["publish"]
    assert publish["permissions"] == {"id-token": "write"} and publish["environment"]["name"] == "pypi"
    uses = [step["uses"] for step in publish["steps"] if "uses" in step]
    assert any(use.startswith("pypa/gh-action-pypi-publish@") for use in uses)
    assert not any("run" in step for step in publish["steps"])  # the job that can publish runs no repository code
    assert any('"dist/hyperst-${TAG#v}.tar.gz"' in line for line in _run_lines(workflow["jobs"]["build"]))


@needs_repository
@pytest.mark.parametrize("name", sorted(path.name for path in WORKFLOWS.glob("*.y*ml")) if WORKFLOWS.is_dir() else [])
def test_workflows_pin_actions_and_never_run_untrusted_code_with_secrets(name):
    workflow = _workflow(name)
    assert "pull_request_target" not in workflow["on"] and "workflow_run" not in workflow["on"]
    for job_name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name}: job {job_name} needs an explicit `permissions:`"
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{name}: pin {step['uses']} to a full commit SHA"
