"""The ``jointspace`` command: datasets, fit, eval, encode, bench, index, search, serve.

Heavy modules are imported inside the commands, so ``jointspace --help`` starts fast.
Errors in the user's input print one line (``error: …``) and exit with status 2.
"""

from jointspace.cli import bench, datasets, encode, models, search, serve  # noqa: F401
from jointspace.cli.common import app

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry point
    """Entry point of the ``jointspace`` console script."""
    app()
