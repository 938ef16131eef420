"""`make audit`: pip-audit of the lock files, with a summary that says what was really audited.

pip-audit prints "No known vulnerabilities found" and exits 0 even when it audited nothing:
a package PyPI's JSON API does not answer for (no route to pypi.org, a mirror without that API)
becomes a *skipped* dependency, and skipped dependencies count as clean in its summary
(pip_audit/_cli.py). This wrapper runs pip-audit with `--format json`, reads its report and
prints how many packages were audited and how many could not be, with the reasons.

Exit status: 1 when a known vulnerability is found (the target fails) or pip-audit itself failed;
0 otherwise, also when some or all packages could not be audited (reported, loudly: the audit
needs PyPI, and `make test` must still run offline). Hand-written because pip-audit has no
option that reports skipped packages without failing on them (`--strict` fails on the first).

Usage: python scripts/audit.py [--pip-audit PATH] -- <pip-audit arguments>
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Summary:
    audited: list[str] = field(default_factory=list)  # "name version"
    skipped: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # reason
    vulnerable: list[str] = field(default_factory=list)  # one line per vulnerability

    @property
    def total(self) -> int:
        return len(self.audited) + sum(len(names) for names in self.skipped.values())

    @property
    def n_skipped(self) -> int:
        return self.total - len(self.audited)


def _general_reason(name: str, reason: str) -> str:
    """pip-audit's reason names the package ("... audited: numpy (2.1.0)"); group without it."""
    head, sep, tail = reason.rpartition(": ")
    return head if sep and tail.startswith(name) else reason


def summarize(report: dict[str, Any]) -> Summary:
    """Read pip-audit's JSON report (pip_audit/_format/json.py: one entry per dependency,
    either {name, skip_reason} or {name, version, vulns: [{id, fix_versions, ...}]})."""
    summary = Summary()
    for dep in report.get("dependencies", []):
        name = dep.get("name", "?")
        if "skip_reason" in dep:
            summary.skipped[_general_reason(name, dep["skip_reason"])].append(name)
            continue
        summary.audited.append(f"{name} {dep.get('version', '?')}")
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions", [])) or "none yet"
            summary.vulnerable.append(
                f"{name} {dep.get('version', '?')}: {vuln.get('id', '?')} (fixed in: {fixes})"
            )
    return summary


def render(summary: Summary) -> tuple[list[str], int]:
    """(lines to print, exit status)."""
    lines = []
    if summary.vulnerable:
        lines.append(f"pip-audit: {len(summary.vulnerable)} known vulnerabilities:")
        lines += [f"  {line}" for line in summary.vulnerable]
    if summary.n_skipped:
        lines.append(
            f"pip-audit: {summary.n_skipped} of {summary.total} packages could NOT be audited:"
        )
        for reason, names in sorted(summary.skipped.items()):
            shown = ", ".join(sorted(names)[:8]) + (" ..." if len(names) > 8 else "")
            lines.append(f"  {reason} ({len(names)}): {shown}")
    verdict = (
        "known vulnerabilities found"
        if summary.vulnerable
        else "no known vulnerabilities in the audited ones"
        if summary.audited
        else "NOTHING was audited: this is not a clean result"
    )
    lines.append(
        f"pip-audit: audited {len(summary.audited)} of {summary.total} packages, "
        f"{summary.n_skipped} could not be audited; {verdict}"
    )
    return lines, 1 if summary.vulnerable else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip-audit", default="pip-audit", help="the pip-audit executable")
    parser.add_argument("args", nargs="*", help="arguments for pip-audit (after --)")
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="pw-audit-") as tmp:
        report_path = Path(tmp) / "report.json"
        done = subprocess.run(  # noqa: S603 - our own fixed command line
            [options.pip_audit, *options.args, "--format", "json", "--output", str(report_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        try:
            report = json.loads(report_path.read_text())
        except (OSError, ValueError):
            # pip-audit stopped before writing a report (bad arguments, lock file, network):
            # its own message says why.
            sys.stderr.write(done.stderr)
            print(f"pip-audit failed (exit {done.returncode}) before reporting", file=sys.stderr)
            return done.returncode or 2
    lines, status = render(summarize(report))
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
