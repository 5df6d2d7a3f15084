from rest_framework.pagination import PageNumberPagination

from businessobjects.conf import merp_settings


class CappedPageNumberPagination(PageNumberPagination):
    """``?page=`` and ``?page_size=``; a page size above the cap is cut to the cap."""

    page_size_query_param = "page_size"

    @property
    def page_size(self) -> int:
        return merp_settings.PAGE_SIZE

    @property
    def max_page_size(self) -> int:
        return merp_settings.MAX_PAGE_SIZE
