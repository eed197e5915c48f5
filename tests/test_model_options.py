"""Every parameter of every model reaches the model, through ``make_model`` keywords and
through a spec string (what the CLI passes): no option is silently kept at its default."""

from __future__ import annotations

import pytest

from jointspace.models.factory import MODELS, make_model, model_class


def changed(value):
    """A value of the same type as ``value`` that differs from it (None: not tried)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 3
    if isinstance(value, float):
        return round(value * 2 + 0.25, 6)
    return None


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_numeric_parameter_reaches_the_model(name):
    cls = model_class(name)
    default = make_model(name)
    tried = 0
    for param in cls._get_param_names():
        value = changed(getattr(default, param))
        if value is None:
            continue
        assert getattr(make_model(name, **{param: value}), param) == value, param
        spec = f"{name}:{param}={str(value).lower() if isinstance(value, bool) else value}"
        assert getattr(make_model(spec), param) == value, spec
        tried += 1
    assert tried >= 1


DEEP = sorted(name for name in MODELS if "training" in model_class(name)._get_param_names())


@pytest.mark.parametrize("name", DEEP)
def test_every_numeric_training_option_reaches_the_model(name):
    # flat keywords and spec options (the CLI's) land in the one ``training`` dict, and the
    # others keep the class's own measured defaults
    from jointspace.train.options import OPTION_NAMES

    defaults = model_class(name).training_defaults
    tried = 0
    for option in OPTION_NAMES:
        value = changed(getattr(defaults, option))
        if value is None:
            continue
        spec = f"{name}:{option}={str(value).lower() if isinstance(value, bool) else value}"
        for model in (make_model(name, **{option: value}), make_model(spec)):
            assert model.training == {option: value}, spec
            resolved = model.training_options
            assert getattr(resolved, option) == value, spec
            others = [o for o in OPTION_NAMES if o != option]
            assert [getattr(resolved, o) for o in others] == \
                [getattr(defaults, o) for o in others], spec
        tried += 1
    assert tried >= 8


def test_dccae_takes_the_training_options_of_dcca():
    model = make_model("dccae", epochs=3, hidden=(16,), lr=0.5, recon_weight=0.2)
    assert model.training == {"epochs": 3, "lr": 0.5}
    assert (model.hidden, model.recon_weight) == ((16,), 0.2)
    # a spec's own options win over keywords, option by option
    assert make_model("dccae:epochs=4", epochs=3, lr=0.5).training == {"epochs": 4, "lr": 0.5}


@pytest.mark.parametrize("name", DEEP)
def test_a_bad_training_option_is_named_before_any_work(name):
    import numpy as np
    from sklearn.utils._param_validation import InvalidParameterError

    from jointspace.train.options import OPTION_NAMES

    views = [np.random.default_rng(0).normal(size=(20, 4)) for _ in range(2)]
    cls = model_class(name)
    for option in OPTION_NAMES:
        model = make_model(name, **{option: object()})
        with pytest.raises(InvalidParameterError,
                           match=f"'{option}' parameter of {cls.__name__} training"):
            model.fit(views)
        assert not hasattr(model, "view_names_")
    with pytest.raises(ValueError, match="training has no option 'epoch'; the options are"):
        cls(training={"epoch": 3}).fit(views)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_parameter_has_a_constraint_checked_before_any_work(name):
    # scikit-learn's form: one constraint list per parameter, validated first thing in fit,
    # so a nonsense value names the parameter (and no deep model trains a single step)
    import numpy as np
    from sklearn.utils._param_validation import InvalidParameterError

    cls = model_class(name)
    assert set(cls._parameter_constraints) == set(cls._get_param_names())
    views = [np.random.default_rng(0).normal(size=(20, 4)) for _ in range(2)]
    for param in cls._get_param_names():
        model = make_model(name, **{param: object()})
        with pytest.raises(InvalidParameterError, match=f"'{param}' parameter of {cls.__name__}"):
            model.fit(views)
        assert not hasattr(model, "view_names_")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_views_are_data_not_routable_metadata(name):
    routing = model_class(name)().get_metadata_routing()
    for method in ("fit", "transform", "score"):
        assert "views" not in getattr(routing, method).requests, method
