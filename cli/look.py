"""The run summary's "look" command: a night's highest risk scores, from any directory and
while a run is writing (the DuckDB file is opened read-only, waiting for the writer's lock).

    <venv>/bin/python -m cli.look /abs/path/warehouse.duckdb main.condition_scores 2026-11-29
"""

from __future__ import annotations

import sys
from datetime import date

TOP = 10


def top_scores_sql(table: str, score_date: date, limit: int = TOP) -> str:
    """The highest risk scores of one date, rounded to 3 decimals (ordered by the exact ones)."""
    return (
        f"SELECT employee_id, ROUND(risk_score, 3) AS risk FROM {table} "
        f"WHERE score_date = DATE '{score_date.isoformat()}' "
        f"ORDER BY risk_score DESC, employee_id LIMIT {int(limit)}"
    )


def _waiting(path: str) -> None:
    print(f"pulsewatch look: {path} is being written; waiting for it", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    from tasks.dates import parse_date
    from tasks.errors import PulsewatchError
    from tasks.warehouse.duckdb_io import show_read_only
    from tasks.warehouse.names import validate_identifier

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m cli.look DUCKDB_FILE TABLE YYYY-MM-DD", file=sys.stderr)
        return 2
    path, table, day = args
    try:
        parts = [validate_identifier(p.strip('"'), "table") for p in table.split(".")]
        quoted = ".".join(f'"{p}"' for p in parts)
        sql = top_scores_sql(quoted, parse_date(day, "date"))
        print(show_read_only(path, sql, on_wait=lambda: _waiting(path)))
    except (PulsewatchError, ValueError) as error:
        print(f"pulsewatch look: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
