"""The project's URLs plus the bench-only baseline view of ``bench.list``.

``bench.list`` points ``ROOT_URLCONF`` here while it runs; nothing else uses it.
"""

from decimal import Decimal

from django.http import JsonResponse
from django.urls import path

from merp.urls import urlpatterns as project_urlpatterns

PAGE = 50


def native_partners(request):
    """The hand-written alternative: a page of a native, indexed column.

    What a developer would write without the framework: session login, the
    company from the header, one ``.values()`` query ordered by the
    ``(company_id, id)`` index, JSON out. No custom fields, no membership
    check; a ``COUNT(*)`` of the matches only with ``?count=1`` (to compare
    with page-number pages, which count).
    """
    from .list import native_model

    if not request.user.is_authenticated:
        return JsonResponse({"detail": "Not authenticated."}, status=401)
    company_id = int(request.headers["X-Company-ID"])
    rows = native_model().objects.filter(company_id=company_id)
    threshold = request.GET.get("credit_limit__gte")
    if threshold is not None:
        rows = rows.filter(credit_limit__gte=Decimal(threshold))
    page = list(
        rows.order_by("-id").values(
            "id",
            "company_id",
            "version",
            "created_at",
            "updated_at",
            "name",
            "email",
            "phone",
            "is_active",
            "credit_limit",
        )[:PAGE]
    )
    body = {"results": page}
    if request.GET.get("count"):
        body = {"count": rows.count(), **body}
    return JsonResponse(body)


urlpatterns = [
    path("bench/native-partners/", native_partners),
    *project_urlpatterns,
]
