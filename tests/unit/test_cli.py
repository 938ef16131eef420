"""The real console script on bad input: non-zero exit, one line, no traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cli  # the real console script, one process per call
CLI = str(Path(sys.executable).with_name("pulsewatch"))


def pulsewatch(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **env}
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["run", "--date", "2026-13-45"],
            {},
            "pulsewatch: --date: '2026-13-45' is not a date (expected YYYY-MM-DD)",
        ),
        (
            ["score", "--date", "yesterday"],
            {},
            "pulsewatch: --date: 'yesterday' is not a date (expected YYYY-MM-DD)",
        ),
        (
            ["backfill", "--start", "2026-02-01", "--end", "2026-01-01"],
            {},
            "pulsewatch: backfill: end 2026-01-01 is before start 2026-02-01",
        ),
        (
            ["backfill", "--start", "2026-01-01", "--end", "2026-01-02", "--reprocess", "some"],
            {},
            "pulsewatch: --reprocess: 'some' is not one of: missing, all",
        ),
        (
            ["backfill", "--start", "2026-01-01", "--end", "2026-01-02", "--max-parallel", "3"],
            {},
            "pulsewatch: --max-parallel: 3 dates at once need the backfill/adhoc deployment "
            "(each date its own run); run here, dates go one at a time (use 1)",
        ),
        (
            ["score", "--reasons-top-share", "1.5"],
            {},
            "pulsewatch: --reasons-top-share: must be a share between 0 and 1 (got 1.5)",
        ),
        (
            ["demo-data", "--employees", "0"],
            {},
            "pulsewatch: --employees: must be at least 1 (got 0)",
        ),
        (
            ["demo-data"],
            {"PULSEWATCH_WAREHOUSE_URL": "oracle://scott:tiger@db/x"},
            "pulsewatch: PULSEWATCH_WAREHOUSE_URL: unknown warehouse scheme 'oracle'; expected one "
            "of: duckdb, postgresql, postgresql+psycopg2, redshift, redshift+psycopg2",
        ),
        (
            ["demo-data"],
            {"PULSEWATCH_SCHEMA": "x;drop"},
            "pulsewatch: PULSEWATCH_SCHEMA: schema must match ^[A-Za-z_][A-Za-z0-9_]*$ (got 'x;drop')",
        ),
    ],
)
def test_bad_input_is_one_line(args, env, message):
    result = pulsewatch(*args, **env)
    assert result.returncode == 2
    assert result.stderr.strip() == message
    assert "tiger" not in result.stderr + result.stdout


def test_every_command_has_help():
    for command in ("demo-data", "run", "train", "score", "backfill", "doctor"):
        result = pulsewatch(command, "--help")
        assert result.returncode == 0, command
        assert "Usage" in result.stdout


def test_options_have_help():
    """Every option of run and backfill says what it does."""

    def text(command: str) -> str:  # the help without rich's box and line breaks
        return " ".join(pulsewatch(command, "--help").stdout.replace("│", " ").split())

    assert "even when the champion is fresh" in text("run")
    backfill = text("backfill")
    assert "Only 1 here" in backfill and "backfill/adhoc" in backfill


def test_demo_data_writes_the_embedded_default(tmp_path):
    result = pulsewatch(
        "demo-data", "--employees", "50", "--months", "3", "--end-month", "2026-10-01"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("demo data: 50 employees")
    assert "2026-08..2026-10" in result.stdout


HEAVY = ("prefect", "lightgbm", "pandas", "numpy", "pyarrow", "sqlalchemy", "duckdb")
# Commands that end before any flow, warehouse or API is touched: help and argument errors.
LIGHT_COMMANDS = [
    ["--help"],
    *([command, "--help"] for command in ("demo-data", "run", "train", "score", "backfill")),
    ["doctor", "--help"],
    ["models", "--help"],
    ["models", "list", "--help"],
    ["automations", "apply", "--help"],
    ["run", "--date", "2026-13-45"],
    ["score", "--chunk-rows", "0"],
    ["backfill", "--start", "2026-01-01", "--end", "2026-01-02", "--reprocess", "some"],
    ["backfill", "--start", "2026-01-01", "--end", "2026-01-02", "--max-parallel", "3"],
    ["demo-data", "--employees", "0"],
]
# Runs each command in one fresh interpreter, in turn, through the console script's entry point,
# and names the first one after which a heavy library is loaded.
IMPORT_CHECK = """
import contextlib, io, json, sys
from cli.main import main
heavy, commands = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for args in commands:
    sys.argv = ["pulsewatch", *args]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            main()
        except SystemExit:
            pass
    loaded = [name for name in heavy if name in sys.modules]
    if loaded:
        print(json.dumps({"command": args, "loaded": loaded}))
        break
else:
    print(json.dumps({"command": None, "loaded": []}))
"""


def first_heavy_import(commands: list[list[str]], **env: str) -> dict:
    """Runs IMPORT_CHECK: the first command after which a heavy library is loaded, if any."""
    import json

    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK, json.dumps(HEAVY), json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_help_and_bad_arguments_import_no_prefect_nor_data_libraries():
    """The CLI starts light: help and argument errors answer without importing Prefect,
    LightGBM, pandas or the database libraries (they cost seconds); only commands that run a
    flow or touch the warehouse or the API import them, when they do."""
    assert first_heavy_import(LIGHT_COMMANDS) == {"command": None, "loaded": []}


# The commands that start a flow, on a configuration they refuse before connecting anywhere.
FLOW_COMMANDS = [
    ["run", "--date", "2026-11-20"],
    ["train", "--date", "2026-11-20"],
    ["score", "--date", "2026-11-20"],
    ["backfill", "--start", "2026-11-01", "--end", "2026-11-02"],
]


@pytest.mark.parametrize("variable", ["PULSEWATCH_SCHEMA", "PULSEWATCH_MODEL_STORE"])
def test_config_errors_import_no_prefect_nor_data_libraries(variable, tmp_path):
    """A bad variable is refused before the flow (and Prefect, LightGBM, pandas) is imported:
    were it checked after, each of these commands would load Prefect first (seconds)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    bad = {"PULSEWATCH_SCHEMA": "x;drop", "PULSEWATCH_MODEL_STORE": str(a_file)}[variable]
    result = pulsewatch(*FLOW_COMMANDS[0], **{variable: bad})
    assert result.returncode == 2 and result.stderr.startswith(f"pulsewatch: {variable}: ")
    assert first_heavy_import(FLOW_COMMANDS, **{variable: bad}) == {
        "command": None,
        "loaded": [],
    }
