"""`pulsewatch models list | retire VERSION | promote VERSION`: registry operations by hand.

A Typer sub-app of its own, registered by the `pulsewatch` command line with one line; it
takes the CLI's error wrapper (one line, no traceback) as an argument instead of importing the
CLI module, so the two stay independent. Each operation is one transaction under the registry's
lock (tasks/registry.py): never two champions; none only after retiring the champion by hand,
until the next training or promotion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:  # the CLI starts without importing Prefect; commands import what they use
    from tasks.registry import RegistryEntry

Wrapper = Callable[[Callable[..., Any]], Callable[..., Any]]
Version = Annotated[str, typer.Argument(help="A model_version from `pulsewatch models list`.")]
COLUMNS = ("model_version", "status", "cut-off", "auc", "trained_at", "promoted_at", "retired_at")


def _when(value: Any) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"


def format_models(entries: list[RegistryEntry]) -> list[str]:
    """Aligned lines, newest first; `replaced by` names a retired champion's successor."""
    rows = [COLUMNS]
    for e in entries:
        status = f"{e.status} (replaced by {e.replaced_by})" if e.replaced_by else e.status
        auc = "-" if e.auc is None else f"{e.auc:.4f}"
        rows.append(
            (
                e.model_version,
                status,
                str(e.train_end_date),
                auc,
                _when(e.trained_at),
                _when(e.promoted_at),
                _when(e.retired_at),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def models_app(friendly: Wrapper) -> typer.Typer:
    """The `models` sub-app; `friendly` is the CLI's one-line error wrapper."""
    app = typer.Typer(
        help="The model registry: list, promote or retire models.", no_args_is_help=True
    )

    @app.command("list")
    @friendly
    def list_command() -> None:
        """Every registered model, newest first, with its status and training cut-off."""
        from tasks.registry import ensure_result_tables, list_models
        from tasks.settings import get_settings
        from tasks.warehouse import open_warehouse

        with open_warehouse(get_settings()) as warehouse:
            ensure_result_tables(warehouse)
            entries = list_models(warehouse)
        if not entries:
            typer.echo("model_registry is empty: `pulsewatch train` registers the first model")
            return
        for line in format_models(entries):
            typer.echo(line)

    @app.command("promote")
    @friendly
    def promote_command(version: Version) -> None:
        """Make VERSION the champion (its artifact is verified first); the current champion is
        retired in the same transaction."""
        from tasks.model_store import load_model, model_store
        from tasks.registry import ensure_result_tables, promote_model
        from tasks.settings import get_settings
        from tasks.warehouse import open_warehouse

        settings = get_settings()

        def check_artifact(entry: RegistryEntry) -> None:
            load_model(model_store(settings), entry.stored)

        with open_warehouse(settings) as warehouse:
            ensure_result_tables(warehouse)
            promoted, previous = promote_model(warehouse, version, check_artifact)
        was = f"; {previous.model_version} retired" if previous else "; there was no champion"
        typer.echo(
            f"promoted  {promoted.model_version} (cut-off {promoted.train_end_date}) to champion"
            f"{was}"
        )

    @app.command("retire")
    @friendly
    def retire_command(version: Version) -> None:
        """Retire VERSION: it scores no date again. Retiring the champion leaves none until the
        next training (`pulsewatch run` trains when there is none) or `models promote`."""
        from tasks.registry import ensure_result_tables, read_champion, retire_model
        from tasks.settings import get_settings
        from tasks.warehouse import open_warehouse

        with open_warehouse(get_settings()) as warehouse:
            ensure_result_tables(warehouse)
            retired = retire_model(warehouse, version)
            champion = read_champion(warehouse)
        typer.echo(f"retired   {retired.model_version}: it scores no date again")
        if champion is None:
            typer.echo(
                "champion  none now: the next `pulsewatch run` or `pulsewatch train` trains one "
                "(gated on the AUC floor alone), or `pulsewatch models promote VERSION`"
            )

    return app
