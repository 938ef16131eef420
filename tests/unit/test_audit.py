"""scripts/audit.py: the `make audit` summary read from pip-audit's JSON report.

offline_all_skipped.json is pip-audit 2.10.1's real report for our lock files on a machine
that cannot reach PyPI's JSON API (every package skipped, and pip-audit itself said "No known
vulnerabilities found", exit 0). The audited and vulnerable reports are written by pip-audit's
own JSON formatter, so the shape is the one `pip-audit --format json` prints.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from packaging.version import Version
from pip_audit._format import JsonFormat
from pip_audit._service.interface import (
    ResolvedDependency,
    SkippedDependency,
    VulnerabilityResult,
)

from scripts.audit import main, render, summarize

pytestmark = pytest.mark.unit
RECORDED = Path(__file__).parent / "pip_audit"


def pip_audit_report(*deps) -> dict:
    """pip-audit's JSON for (dependency, [vulnerabilities]) pairs, by pip-audit's formatter."""
    return json.loads(JsonFormat(output_desc=False, output_aliases=False).format(dict(deps), []))


def resolved(name: str, version: str) -> ResolvedDependency:
    return ResolvedDependency(name=name, version=Version(version))


def vuln(vuln_id: str, *fixed: str) -> VulnerabilityResult:
    return VulnerabilityResult(
        id=vuln_id, description="", fix_versions=[Version(v) for v in fixed], aliases=set()
    )


CLEAN = pip_audit_report((resolved("numpy", "2.1.0"), []), (resolved("pandas", "2.2.3"), []))
MIXED = pip_audit_report(
    (resolved("numpy", "2.1.0"), []),
    (
        SkippedDependency(
            name="adbc-driver-manager",
            skip_reason="Dependency not found on PyPI and could not be audited: "
            "adbc-driver-manager (1.13.0)",
        ),
        [],
    ),
)
VULNERABLE = pip_audit_report(
    (resolved("numpy", "2.1.0"), []),
    (resolved("jinja2", "3.1.4"), [vuln("GHSA-q2x7-8rv6-6q7h", "3.1.5")]),
)


def test_the_recorded_offline_run_is_not_called_clean():
    report = json.loads((RECORDED / "offline_all_skipped.json").read_text())
    lines, status = render(summarize(report))
    assert lines[-1] == (
        "pip-audit: audited 0 of 195 packages, 195 could not be audited; "
        "NOTHING was audited: this is not a clean result"
    )
    assert lines[0] == "pip-audit: 195 of 195 packages could NOT be audited:"
    assert lines[1].startswith(
        "  Dependency not found on PyPI and could not be audited (195): adbc-driver-manager, "
    )
    assert not any("No known vulnerabilities found" in line for line in lines)
    assert status == 0  # reported, not failed: `make test` runs offline


def test_a_clean_audit_says_how_many_were_audited():
    assert render(summarize(CLEAN)) == (
        [
            "pip-audit: audited 2 of 2 packages, 0 could not be audited; "
            "no known vulnerabilities in the audited ones"
        ],
        0,
    )


def test_partly_skipped_names_the_skipped_ones():
    lines, status = render(summarize(MIXED))
    assert lines == [
        "pip-audit: 1 of 2 packages could NOT be audited:",
        "  Dependency not found on PyPI and could not be audited (1): adbc-driver-manager",
        "pip-audit: audited 1 of 2 packages, 1 could not be audited; "
        "no known vulnerabilities in the audited ones",
    ]
    assert status == 0


def test_a_known_vulnerability_fails_the_target():
    lines, status = render(summarize(VULNERABLE))
    assert lines == [
        "pip-audit: 1 known vulnerabilities:",
        "  jinja2 3.1.4: GHSA-q2x7-8rv6-6q7h (fixed in: 3.1.5)",
        "pip-audit: audited 2 of 2 packages, 0 could not be audited; known vulnerabilities found",
    ]
    assert status == 1


def _fake_pip_audit(tmp_path: Path, report: dict | None, exit_code: int) -> str:
    """An executable standing in for pip-audit: writes `report` to --output, exits."""
    script = tmp_path / "pip-audit"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "out = sys.argv[sys.argv.index('--output') + 1]\n"
        f"report = {json.dumps(report)!r}\n"
        "if report != 'null':\n"
        "    open(out, 'w').write(report)\n"
        "print('No known vulnerabilities found', file=sys.stderr)\n"
        f"sys.exit({exit_code})\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.mark.cli  # runs a stand-in pip-audit process
def test_main_passes_the_arguments_and_exits_with_the_verdict(tmp_path, capsys):
    fake = _fake_pip_audit(tmp_path, VULNERABLE, 1)
    assert main(["--pip-audit", fake, "--", "--requirement", "requirements.lock"]) == 1
    out = capsys.readouterr()
    assert "jinja2 3.1.4: GHSA-q2x7-8rv6-6q7h" in out.out
    assert "No known vulnerabilities found" not in out.out + out.err


@pytest.mark.cli
def test_pip_audit_failing_before_a_report_is_a_failure(tmp_path, capsys):
    fake = _fake_pip_audit(tmp_path, None, 1)
    assert main(["--pip-audit", fake, "--", "--requirement", "missing.lock"]) == 1
    assert "pip-audit failed (exit 1) before reporting" in capsys.readouterr().err
