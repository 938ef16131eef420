"""The Dockerfile, checked statically (no Docker engine here): hadolint plus the rules the
image must keep. Its install step is reproduced in tests/integration/test_image_install.py."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deploy_config import ROOT

pytestmark = pytest.mark.unit
DOCKERFILE = (ROOT / "Dockerfile").read_text()
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))


@pytest.mark.cli
def test_hadolint_finds_nothing():
    result = subprocess.run(
        [HADOLINT, "--failure-threshold", "style", "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.cli
def test_hadolint_would_catch_an_unpinned_root_image(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install -r requirements.txt\n")
    result = subprocess.run([HADOLINT, "--no-color", str(bad)], capture_output=True, text=True)
    assert result.returncode != 0 and "DL3007" in result.stdout


def test_pinned_slim_base_two_stages_non_root():
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base)
    stages = re.findall(r"^FROM \$\{PYTHON_IMAGE\} AS (\w+)$", DOCKERFILE, re.M)
    assert stages == ["builder", "runtime"]
    runtime = DOCKERFILE.split("AS runtime", 1)[1]
    assert re.search(r"^USER 10001:10001$", runtime, re.M)
    assert "PYTHONUNBUFFERED=1" in runtime
    assert 'CMD ["prefect", "flow-run", "execute"]' in runtime
    # the runtime writes no .pyc (PYTHONDONTWRITEBYTECODE), so every code directory it copies
    # is compiled once in the image
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime
    copied = re.findall(r"^COPY (?!--from)(\w+) \./\1$", runtime, re.M)
    compiled = re.search(r"^RUN python -m compileall -q (.+)$", runtime, re.M)
    assert compiled and set(compiled.group(1).split()) == set(copied) == {
        "flows",
        "tasks",
        "deployments",
    }


def test_dependencies_from_the_lock_in_a_layer_before_the_code():
    lock = DOCKERFILE.index("COPY requirements.lock")
    sync = DOCKERFILE.index("uv pip sync --python /opt/venv/bin/python --require-hashes")
    code = DOCKERFILE.index("COPY cli")
    assert lock < sync < code
    assert "--mount=type=cache,target=/root/.cache/uv" in DOCKERFILE[lock:code]
    assert "--no-deps --no-build-isolation" in DOCKERFILE


def test_no_secret_or_index_in_the_image():
    for line in DOCKERFILE.splitlines():
        if line.startswith(("ENV", "ARG")) or line.startswith("    "):
            assert not re.search(r"(PASSWORD|SECRET|TOKEN|API_KEY|WEBHOOK|WAREHOUSE_URL)", line), (
                line
            )
    assert "--index-url" not in DOCKERFILE and "http" not in DOCKERFILE
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") :][:1] == ["*"]  # allowlist: everything else stays out
    allowed = {line[1:] for line in ignored if line.startswith("!")}
    assert allowed == {
        "requirements.lock",
        "pyproject.toml",
        "README.md",
        "cli/",
        "flows/",
        "tasks/",
        "deployments/*.py",
    }
