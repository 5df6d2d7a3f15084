from django.db import models
from django.test.utils import isolate_apps

from businessobjects.models import BusinessObject
from businessobjects.registry import Registration, _registry
from extensions.checks import check_object_ids


def test_registered_objects_pass():
    assert check_object_ids() == []


@isolate_apps("tests.testapp")
def test_non_integer_primary_key_is_an_error():
    class UuidThing(BusinessObject):
        id = models.UUIDField(primary_key=True)

        class Meta(BusinessObject.Meta):
            app_label = "testapp"

    _registry["uuidthing"] = Registration(model=UuidThing, name="uuidthing", plural="x")
    try:
        errors = check_object_ids()
    finally:
        del _registry["uuidthing"]
    assert [e.id for e in errors] == ["extensions.E001"]
    assert errors[0].obj is UuidThing
    assert "BigAutoField" in errors[0].hint
