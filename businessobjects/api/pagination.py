from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination

from businessobjects.conf import merp_settings


class CappedPageNumberPagination(PageNumberPagination):
    """``?page=`` and ``?page_size=``; a page size above the cap is cut to the cap.

    A page size that is not a positive integer is a 400 naming ``page_size``
    (DRF would silently fall back to the default page size).
    """

    page_size_query_param = "page_size"

    @property
    def page_size(self) -> int:
        return merp_settings.PAGE_SIZE

    @property
    def max_page_size(self) -> int:
        return merp_settings.MAX_PAGE_SIZE

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        significant = raw.lstrip("0")
        if not (raw.isascii() and raw.isdigit() and significant):
            raise exceptions.ValidationError(
                {
                    self.page_size_query_param: [
                        f"Must be a positive integer, not {raw[:40]!r} (values "
                        f"above {self.max_page_size} are cut to {self.max_page_size})."
                    ]
                }
            )
        if len(significant) > 9:  # int() of thousands of digits raises
            return self.max_page_size
        return min(int(significant), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
        return parameters
