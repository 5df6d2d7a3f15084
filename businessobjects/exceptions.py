from django.core.exceptions import ObjectDoesNotExist


class VersionConflict(Exception):
    """The caller's ``version`` is not the stored one (someone else wrote first)."""

    def __init__(self, *, expected: int, actual: int):
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"Version conflict: you sent version {expected}, the stored version is "
            f"{actual}. Reload the object and apply your change again."
        )


class ObjectInUse(Exception):
    """The object cannot be deleted while other business objects refer to it."""


class PreconditionFailed(VersionConflict):
    """``If-Match`` names no version the object has now (HTTP 412)."""

    def __init__(self, *, actual: int):
        self.expected = None
        self.actual = actual
        Exception.__init__(
            self,
            f"Precondition failed: If-Match does not name the current version "
            f"{actual}. Reload the object and apply your change again.",
        )


class ObjectNotFound(ObjectDoesNotExist):
    """The object is gone: deleted (or moved out of reach) after the caller read it,
    e.g. by a concurrent request. The API answers 404."""
