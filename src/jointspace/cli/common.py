"""Shared pieces of the ``jointspace`` command: the Typer apps, options and helpers."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

app = typer.Typer(
    help="Learn joint spaces for paired multi-view data, evaluate and compare them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
datasets_app = typer.Typer(help="Built-in real datasets.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
console = Console()
RETRIEVAL_KEYS = ("R@1", "R@5", "R@10", "MedR", "mAP")

# training options of the deep models (dcca, dccae, dgcca); linear models ignore them
CACHE_DIR = typer.Option(
    None, help="Feature cache: a folder, or a LanceDB URI such as s3://bucket/features "
    "(credentials from the environment); default: no cache.")
EPOCHS = typer.Option(None, help="Deep models: training epochs.")
BATCH_SIZE = typer.Option(None, help="Deep models: minibatch size.")
LR = typer.Option(None, help="Deep models: learning rate.")
HIDDEN = typer.Option(None, help="Deep models: hidden widths, e.g. 1024,1024.")
ACTIVATION = typer.Option(None, help="Deep models: relu, gelu, tanh, sigmoid, …")
INPUT_NOISE = typer.Option(None, help="Deep models: std of Gaussian input noise in training.")
WEIGHT_DECAY = typer.Option(None, help="Deep models: AdamW weight decay.")
DEVICE = typer.Option(None, help="Deep models: cpu, cuda or auto.")
MISSING = typer.Option(None, help="Views samples lack, at fit and query time: mask, drop, "
                       "zero, mean or model (default: mask where the model can, else drop).")


def model_params(
    epochs, batch_size, lr, hidden, activation, input_noise, weight_decay, device, missing=None
) -> dict[str, Any]:  # noqa: ANN001 - typer values
    widths = None if hidden is None else tuple(int(h) for h in split_names(hidden) or [])
    for name, value, low, strict in (("epochs", epochs, 1, False),
                                     ("batch-size", batch_size, 2, False),
                                     ("lr", lr, 0, True), ("input-noise", input_noise, 0, False),
                                     ("weight-decay", weight_decay, 0, False)):
        if value is not None and (value < low or (strict and value == low)):
            raise ValueError(f"--{name} is {value}; expected {'>' if strict else '≥'} {low}")
    if widths is not None and (not widths or min(widths) < 1):
        raise ValueError(f"--hidden is {hidden!r}; expected widths ≥ 1, e.g. 1024,1024")
    return {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "hidden": widths,
        "activation": activation,
        "input_noise": input_noise,
        "weight_decay": weight_decay,
        "device": device,
        "missing": missing,
    }


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn input errors into one clear line and exit status 2, not a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (ValueError, KeyError, OSError) as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            Console(stderr=True).print(
                f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(2) from None

    return wrapper


def check_out_dir(out: str, option: str = "--out") -> None:
    """Fail now, before any work, if ``out`` cannot become a folder (it, or a folder it
    would sit in, is a file)."""
    from pathlib import Path

    path = Path(out).expanduser()
    for candidate in [path, *path.parents]:
        if candidate.exists():
            if not candidate.is_dir():
                what = ("is" if candidate == path
                        else f"would be inside {str(candidate)!r}, which is")
                raise ValueError(f"{option} {out!r} {what} a file; expected a folder path")
            return


def split_names(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=float) + "\n")


def parse_pairs(text: str | None, what: str) -> dict[str, str] | None:
    """ "a=x,b=y" → {"a": "x", "b": "y"}."""
    if not text:
        return None
    pairs = {}
    for item in split_names(text) or []:
        if "=" not in item:
            raise ValueError(f"--{what} item {item!r}; expected view=name, e.g. text=tfidf")
        view, _, value = item.partition("=")
        pairs[view.strip()] = value.strip()
    return pairs
