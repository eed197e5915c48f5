"""The CLI passes every option through to the model it builds: `jointspace fit` and
`jointspace bench` are run in-process on a tiny table, and the model they construct is
caught at ``make_model`` (before any fitting) and its ``get_params()`` compared with the
values given — as flags (--epochs, --lr, --hidden, …) and as ``name:key=value`` specs for
every constructor parameter of every model in the factory.

(``make_model`` called directly with numeric keywords is covered by test_model_options.py.)"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from sklearn.base import clone
from typer.testing import CliRunner

import jointspace.bench.harness as harness
import jointspace.models.factory as factory
from jointspace.cli import app
from jointspace.models.factory import MODELS, model_class


class Built(Exception):  # noqa: N818 - a signal, not an error
    """Raised in place of fitting: carries the model the command constructed."""

    def __init__(self, model):
        super().__init__("built")
        self.model = model


@pytest.fixture
def catch_model(monkeypatch):
    """Make `fit` and `bench` stop right after building their model (nothing is fitted)."""
    real = factory.make_model

    def building(*args, **kwargs):
        raise Built(real(*args, **kwargs))

    monkeypatch.setattr(factory, "make_model", building)  # `fit` imports it on each call
    monkeypatch.setattr(harness, "make_model", building)  # `bench` imported it once


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A tiny numeric table with three views a, b, c of 4 columns each (30 rows)."""
    rng = np.random.default_rng(0)
    names = [f"{v}_{j}" for v in "abc" for j in range(4)]
    values = rng.normal(size=(30, len(names)))
    path = tmp_path_factory.mktemp("table") / "t.csv"
    lines = [",".join(names)] + [",".join(f"{x:.6f}" for x in row) for row in values]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def flat_params(model) -> dict:
    """``get_params()`` with a deep model's ``training`` dict resolved into its options."""
    params = model.get_params()
    if "training" in params:
        params.pop("training")
        params.update(dataclasses.asdict(model.training_options))
    return params


def built(command: str, table: str, out, *args: str):
    """The model `jointspace <command>` builds on ``table`` with ``args``."""
    data = ["--table", table, "--columns", "a=a_*,b=b_*,c=c_*"]
    extra = ["--out", str(out)] if command == "fit" else []
    result = CliRunner().invoke(app, [command, *data, *extra, *args])
    assert isinstance(result.exception, Built), (result.exception, result.output)
    return result.exception.model


# ------------------------------------------------------------------ the training flags
FLAGS = {  # flag → (text given, model parameter, value expected)
    "--epochs": ("7", "epochs", 7),
    "--batch-size": ("9", "batch_size", 9),
    "--lr": ("0.0234", "lr", 0.0234),
    "--hidden": ("7,5", "hidden", (7, 5)),
    "--activation": ("tanh", "activation", "tanh"),
    "--input-noise": ("0.3", "input_noise", 0.3),
    "--weight-decay": ("0.05", "weight_decay", 0.05),
    "--device": ("cuda", "device", "cuda"),
    "--n-components": ("3", "n_components", 3),
    "--reg": ("0.2", "reg", 0.2),
    "--missing": ("mean", "missing", "mean"),
}


@pytest.mark.parametrize("command", ["fit", "bench"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_flag_reaches_every_model_that_takes_it(catch_model, table, tmp_path, name,
                                                      command):
    args = [a for flag, (text, *_) in FLAGS.items() for a in (flag, text)]
    model_flag = "--model" if command == "fit" else "--models"
    model = built(command, table, tmp_path / "out", model_flag, name, "--seed", "5", "--json",
                  *args)
    assert type(model) is model_class(name)
    params = flat_params(model)
    default = flat_params(model_class(name)())
    taken = 0
    for _, param, value in FLAGS.values():
        if param in params:
            assert params[param] == value, param
            taken += 1
    assert taken >= (1 if name == "pls" else 2)  # n_components; reg or training options
    if "random_state" in params:
        assert params["random_state"] == 5  # --seed seeds the model too
    if "progress" in params:
        assert params["progress"] is False  # --json: no progress bar
    untouched = set(params) - {p for _, p, _ in FLAGS.values()} - {"random_state", "progress"}
    for param in untouched:  # nothing else moved
        assert params[param] == default[param], param


def test_fit_without_a_model_flags_override_the_image_caption_defaults(catch_model,
                                                                       photo_folder, tmp_path):
    """No --model on images and captions: the dual encoder with its measured defaults, which
    the user's own flags override."""
    root, captions = photo_folder
    result = CliRunner().invoke(app, [
        "fit", "--images", str(root), "--captions", str(captions), "--hidden", "64",
        "--epochs", "2", "--out", str(tmp_path / "out")])
    assert isinstance(result.exception, Built), (result.exception, result.output)
    params = flat_params(result.exception.model)
    assert (params["hidden"], params["epochs"]) == ((64,), 2)
    assert (params["n_components"], params["loss"]) == (512, "infonce")  # the defaults kept


# ------------------------------------------------------------------ the model spec
#: a value different from the default for every non-numeric parameter, as (text, expected)
OTHER_VALUES = {
    "activation": ("tanh", "tanh"),
    "device": ("cuda", "cuda"),
    "schedule": ("step", "step"),
    "tower": ("linear", "linear"),
    "kernel": ("poly", "poly"),
    "loss": ("siglip", "siglip"),
    "vse_reduction": ("sum", "sum"),
    "recon_loss": ("bce", "bce"),
    "posterior": ("moe", "moe"),
    "likelihood": ("bernoulli", "bernoulli"),
    "hidden": ("7/5", (7, 5)),
    "freeze": ("image/text", "image/text"),  # names the model splits at "/"
    "checkpoint_dir": ("runs/ckpt", "runs/ckpt"),  # a path stays a path
    "distill": ("kl", "kl"),
    "distill_teacher": ("text", "text"),
    "hard_negatives": ("moco", "moco"),
    "gamma": ("0.5", 0.5),
    "grad_cache_chunk": ("64", 64),
    "out_dim": ("12", 12),
    "threads": ("2", 2),
    "n_landmarks": ("50", 50),
    "missing": ("mean", "mean"),
}


def other_value(param: str, default):
    """(text for the spec, the value the model must then hold), different from ``default``."""
    if param in OTHER_VALUES:
        return OTHER_VALUES[param]
    if isinstance(default, bool):
        return str(not default).lower(), not default
    if isinstance(default, int):
        return str(default + 3), default + 3
    if isinstance(default, float):
        value = round(default * 2 + 0.25, 6)
        return repr(value), value
    if default is None:  # patience of the dual encoder
        return "4", 4
    raise AssertionError(f"no test value for {param}={default!r}")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_parameter_set_in_the_model_spec_reaches_the_model(catch_model, table,
                                                                 tmp_path, name):
    """One spec naming every constructor parameter (strings, tuples, None-defaults too)."""
    cls = model_class(name)
    default = flat_params(cls())
    options = {p: other_value(p, v) for p, v in default.items()}
    assert all(value != default[p] for p, (_, value) in options.items())
    spec = name + "".join(f":{p}={text}" for p, (text, _) in options.items())
    model = built("fit", table, tmp_path / "out", "--model", spec)
    assert flat_params(model) == {p: value for p, (_, value) in options.items()}
    assert clone(model).get_params() == model.get_params()  # what a pipeline copies


def test_dccae_fitted_by_the_cli_trains_for_the_epochs_given(table, tmp_path):
    """The past bug, end to end: DCCAE ignored --epochs. A real (tiny) fit, then the saved
    model's training history has one row per epoch asked."""
    from jointspace import Pipeline

    result = CliRunner().invoke(app, [
        "fit", "--table", table, "--columns", "a=a_*,b=b_*", "--model", "dccae:patience=none",
        "--epochs", "3", "--hidden", "8", "--n-components", "2", "--json",
        "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    model = Pipeline.load(tmp_path / "out").model
    assert type(model).__name__ == "DCCAE" and tuple(model.hidden) == (8,)  # JSON: a list
    assert [row["epoch"] for row in model.history_] == [0, 1, 2]


@pytest.mark.parametrize("name", ["dcca", "dual-encoder"])
def test_spec_options_beat_flags_and_none_and_dashes_are_understood(catch_model, table,
                                                                    tmp_path, name):
    model = built("fit", table, tmp_path / "out", "--model",
                  f"{name}:epochs=4:batch-size=11:patience=none", "--epochs", "9",
                  "--batch-size", "13")
    params = flat_params(model)
    assert (params["epochs"], params["batch_size"], params["patience"]) == (4, 11, None)


def test_a_reg_per_view_in_the_spec(catch_model, table, tmp_path):
    model = built("fit", table, tmp_path / "out", "--model", "mcca:reg=0.1/0.2/0.3")
    assert model.get_params()["reg"] == (0.1, 0.2, 0.3)


def test_a_checkpoint_dir_path_in_the_spec_stays_a_path(catch_model, table, tmp_path):
    model = built("fit", table, tmp_path / "out", "--model", "dcca:checkpoint_dir=runs/dcca")
    assert model.training["checkpoint_dir"] == "runs/dcca"


# ------------------------------------------------------------------ the data options
DATA_COMMANDS = ["fit", "eval", "bench", "audit", "classify", "predict", "export"]
DATA_FLAGS = ["--dataset", "--images", "--captions", "--table", "--columns", "--image-column",
              "--text-columns", "--label-column", "--separator", "--allow-outside-paths"]


@pytest.mark.parametrize("command", DATA_COMMANDS)
def test_every_command_reading_data_lists_the_ten_data_options_in_order(command):
    """`@data_source_options` puts the ten options on each command, in one order; the
    `source` parameter they make is not an option."""
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    listed = re.findall(r"^│[\s*]*(--[\w-]+)", result.output, flags=re.M)  # option rows
    assert [flag for flag in listed if flag in DATA_FLAGS] == DATA_FLAGS, listed
    assert "--source" not in listed
    for default in ("[default: image]", "[default: caption]"):
        assert default in result.output


def test_the_data_options_reach_the_command_as_one_data_source():
    import typer

    from jointspace.cli.common import user_errors
    from jointspace.cli.data_source import DataSource, data_source_options

    seen = {}
    tiny = typer.Typer()

    @tiny.command()
    @user_errors
    @data_source_options
    def show(name: str = typer.Argument(...), *, source: DataSource,
             top: int = typer.Option(3)):
        seen.update(name=name, source=source, top=top)

    @tiny.command()
    def other() -> None:  # two commands: `show` is then a subcommand, as in `jointspace`
        pass

    result = CliRunner().invoke(tiny, [
        "show", "x", "--table", "t.csv", "--columns", "a=a_*", "--separator", "|",
        "--allow-outside-paths", "--top", "5"])
    assert result.exit_code == 0, result.output
    assert seen == {"name": "x", "top": 5, "source": DataSource(
        table="t.csv", columns="a=a_*", separator="|", allow_outside=True)}
    assert CliRunner().invoke(tiny, ["show", "y"]).exit_code == 0
    assert seen["source"] == DataSource()  # the defaults: image, caption, nothing named
    show(name="z", source=DataSource(dataset="mnist"), top=1)  # a Python caller's source
    assert (seen["name"], seen["source"], seen["top"]) == ("z", DataSource(dataset="mnist"), 1)
