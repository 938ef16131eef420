"""The Dockerfile's install step, reproduced without Docker: a clean venv from
requirements.lock alone (hashes required) plus the project without dependencies, built from
exactly the files .dockerignore lets into the image, imports every deployment entrypoint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deploy_config import ROOT, load

pytestmark = pytest.mark.integration
UV = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
CHECK = """
import json, sys
from prefect import Flow
from prefect.flows import load_flow_from_entrypoint
names = {}
for entrypoint in json.loads(sys.argv[1]):
    flow = load_flow_from_entrypoint(entrypoint)
    assert isinstance(flow, Flow), entrypoint
    names[entrypoint] = flow.name
try:
    import prefect_docker  # a deploy-time tool: must not be in the image
except ImportError:
    names["prefect_docker"] = "absent"
print(json.dumps(names))
"""


def _context(target: Path) -> None:
    """Copy what the Dockerfile's build context holds (the .dockerignore allowlist)."""
    allowed = [
        line[1:]
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    for name in allowed:
        if "*" in name:  # a glob such as deployments/*.py: copy the matches, keeping the folder
            for match in ROOT.glob(name):
                (target / match.parent.relative_to(ROOT)).mkdir(parents=True, exist_ok=True)
                shutil.copy2(match, target / match.relative_to(ROOT))
            continue
        source = ROOT / name.rstrip("/")
        if source.is_dir():
            shutil.copytree(
                source, target / source.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            shutil.copy2(source, target / source.name)


# As in the image's runtime stage: no .pyc written (make test itself runs with writing on).
ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=ENV, timeout=900)
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


@pytest.mark.long
def test_clean_venv_from_the_lock_imports_every_entrypoint(tmp_path):
    context, venv, workdir = tmp_path / "context", tmp_path / "venv", tmp_path / "opt-pulsewatch"
    context.mkdir()
    _context(context)
    python = str(venv / "bin" / "python")
    _run(UV, "venv", "--quiet", "--python", sys.executable, str(venv))
    _run(
        UV,
        "pip",
        "sync",
        "--quiet",
        "--python",
        python,
        "--require-hashes",
        str(context / "requirements.lock"),
    )
    _run(
        UV,
        "pip",
        "install",
        "--quiet",
        "--python",
        python,
        "--no-deps",
        "--no-build-isolation",
        "--no-cache",
        str(context),
    )
    # the runtime stage: code in its own directory, the deployments' `pull` step cds there
    workdir.mkdir()
    for name in ("flows", "tasks"):
        shutil.copytree(context / name, workdir / name)
    entrypoints = [d["entrypoint"] for d in load()["deployments"]]
    out = _run(python, "-c", CHECK, json.dumps(entrypoints), cwd=workdir)
    names = json.loads(out.stdout.strip().splitlines()[-1])
    assert names == {
        "flows/nightly.py:nightly_pipeline": "nightly-pipeline",
        "flows/train.py:train_model": "train-model",
        "flows/backfill.py:backfill": "backfill",
        "prefect_docker": "absent",
    }
    # the image's command exists in this environment
    assert "Usage" in _run(str(venv / "bin" / "prefect"), "flow-run", "execute", "--help").stdout
    assert _run(str(venv / "bin" / "pulsewatch"), "--help").returncode == 0
