"""Audit test helpers.

``fake_extensions`` stands in for the custom-fields app behind the hook interface
of ``extensions.services`` (prepare, write, bulk_write, current_values, remove,
prefetch), so these tests exercise how the services and the audit trail treat
custom-field changes without depending on how the extensions app stores them.
"""

import pytest
from django.core.exceptions import ValidationError

from businessobjects import services
from businessobjects.models import Partner
from extensions import services as ext


class FakeExtensions:
    """Custom fields ``tier`` (string) and ``score`` (integer) on every object."""

    fields = {"tier": str, "score": int}

    def __init__(self):
        self.store: dict[tuple[str, int], dict] = {}

    def _key(self, instance):
        return (instance._meta.label_lower, instance.pk)

    def current_values(self, instance) -> dict:
        return dict(self.store.get(self._key(instance), {}))

    def prepare(self, model, company, incoming, *, instance=None):
        old = self.current_values(instance) if instance is not None else {}
        new = dict(old)
        errors = {}
        for name, value in (incoming or {}).items():
            kind = self.fields.get(name)
            if kind is None:
                errors[f"extensions.{name}"] = [f"Unknown custom field '{name}'."]
            elif value is None:
                new.pop(name, None)
            elif not isinstance(value, kind) or isinstance(value, bool):
                errors[f"extensions.{name}"] = [f"Expected {kind.__name__}."]
            else:
                new[name] = value
        if errors:
            raise ValidationError(errors)
        changes = {
            name: {"old": old.get(name), "new": new.get(name)}
            for name in old.keys() | new.keys()
            if old.get(name) != new.get(name)
        }
        return ext.ExtensionWrite(values=new, changes=changes)

    def write(self, instance, staged) -> None:
        self.store[self._key(instance)] = dict(staged.values)

    def bulk_write(self, pairs) -> None:
        for instance, staged in pairs:
            self.write(instance, staged)

    def remove(self, instance) -> None:
        self.store.pop(self._key(instance), None)

    def prefetch(self, instances) -> None:
        for instance in instances:
            instance._merp_extensions = self.current_values(instance)


@pytest.fixture
def fake_extensions(monkeypatch):
    fake = FakeExtensions()
    for name in (
        "current_values",
        "prepare",
        "write",
        "bulk_write",
        "remove",
        "prefetch",
    ):
        monkeypatch.setattr(ext, name, getattr(fake, name))
    return fake


@pytest.fixture
def make_partner(company_a):
    def make(name: str = "Acme", company=None, **data):
        return services.create(
            Partner, data={"name": name, **data}, company=company or company_a
        )

    return make
