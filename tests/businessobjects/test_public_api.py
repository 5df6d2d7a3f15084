"""Each app's public API is importable from its top level."""

import importlib

import pytest


@pytest.mark.parametrize("app", ["businessobjects", "audit", "extensions", "events"])
def test_every_export_resolves_to_its_module_attribute(app):
    package = importlib.import_module(app)
    for name, module in package._EXPORTS.items():
        assert getattr(package, name) is getattr(
            importlib.import_module(module), name
        ), f"{app}.{name}"


def test_unknown_names_are_attribute_errors():
    import businessobjects

    with pytest.raises(AttributeError, match="no_such_thing"):
        businessobjects.no_such_thing  # noqa: B018


def test_submodules_still_import_beside_the_exports():
    from businessobjects import context, services

    assert services.create is importlib.import_module("businessobjects").create
    assert context.use_context is importlib.import_module("businessobjects").use_context
