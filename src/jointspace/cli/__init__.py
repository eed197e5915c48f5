"""The ``jointspace`` command: datasets, fit, eval, classify, predict, encode, bench, audit, export,
index, search, serve.

Heavy modules are imported inside the commands, so ``jointspace --help`` starts fast.
Errors in the user's input print one line (``error: …``) and exit with status 2.
"""

from jointspace.cli import (  # noqa: F401
    audit,
    bench,
    classify,
    datasets,
    encode,
    export,
    models,
    search,
    serve,
)
from jointspace.cli.common import app

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``jointspace`` console script: a usage error (an unknown option or
    command, a value of the wrong type) is one line on stderr and exit status 2, like every
    input error."""
    import sys

    import typer
    from rich.console import Console

    usage_errors: tuple[type[BaseException], ...] = (typer.TyperException,)
    try:  # typer releases that use click itself raise click's exceptions
        import click

        usage_errors += (click.ClickException,)
    except ImportError:
        pass
    try:
        code = app(standalone_mode=False)
    except typer.Abort:
        Console(stderr=True).print("aborted", highlight=False)
        sys.exit(130)
    except usage_errors as exc:
        format_message = getattr(exc, "format_message", None)
        message = " ".join((format_message() if format_message else str(exc)).split())
        command = getattr(getattr(exc, "ctx", None), "command_path", None) or "jointspace"
        Console(stderr=True).print(f"[bold red]error:[/] {message} (see '{command} --help')",
                                   highlight=False, soft_wrap=True)
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(code if isinstance(code, int) else 0)
