"""The company audit log in the admin, with "undo this request".

``/admin/audit/log/`` lists the changes of a company the user administers
(newest first, paginated), each correlation id linked to
``/admin/audit/undo/<company>/<correlation id>/``: the undo plan (or its
conflicts) first, then, on confirmation, ``audit.undo.undo`` (the service the
API's ``POST /api/audit/undo/`` calls).
"""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from businessobjects.admin_scoping import is_admin_user, scoped_company_ids
from businessobjects.models import Company
from businessobjects.params import is_id, unsafe_text
from businessobjects.registry import get_registration

from . import selectors, undo
from .display import ChangeRenderer

_ACTIONS = {"+": "created", "~": "updated", "-": "deleted"}
PAGE = 50


def _companies(request):
    if not is_admin_user(request):
        raise PermissionDenied
    ids = scoped_company_ids(request)
    companies = Company.objects.order_by("name")
    return companies if ids is None else companies.filter(pk__in=ids)


def _company(request, raw) -> Company:
    company = _companies(request).filter(pk=raw).first() if is_id(raw) else None
    if company is None:
        raise Http404
    return company


def audit_log(request):
    companies = list(_companies(request))
    if not companies:
        raise Http404
    raw = request.GET.get("company")
    company = _company(request, raw) if raw else companies[0]
    page = Paginator(selectors.company_log(company=company), PAGE).get_page(
        request.GET.get("page")
    )
    User = get_user_model()
    users = dict(
        User.objects.filter(
            pk__in={row["history_user_id"] for row in page if row["history_user_id"]}
        ).values_list("pk", User.USERNAME_FIELD)
    )
    shown = _Renderers(company)
    rows = [
        {
            **row,
            "action": _ACTIONS[row["history_type"]],
            "user": users.get(row["history_user_id"], ""),
            "changes": shown(row["object_type"]).rows(
                row["changes"], row["history_type"]
            ),
            "undo_url": reverse(
                "merp-admin-undo", args=(company.pk, row["correlation_id"])
            )
            if row["correlation_id"]
            else "",
        }
        for row in page
    ]
    context = {
        **admin.site.each_context(request),
        "title": f"Audit log: {company}",
        "company": company,
        "companies": companies,
        "page": page,
        "rows": rows,
    }
    return TemplateResponse(request, "audit/audit_log.html", context)


def undo_request(request, company_id, correlation_id: str):
    company = _company(request, company_id)
    if unsafe_text(correlation_id):
        raise Http404
    log_url = f"{reverse('merp-admin-audit-log')}?company={company.pk}"
    if request.method == "POST":
        try:
            plan = undo.undo(
                company=company, correlation_id=correlation_id, user=request.user
            )
        except undo.NothingToUndo:
            raise Http404 from None
        except undo.UndoConflict as exc:
            messages.error(request, f"Not undone: {exc}")
            return redirect(request.path)
        except ValidationError as exc:
            messages.error(request, "Not undone: " + "; ".join(exc.messages))
            return redirect(request.path)
        messages.success(
            request,
            f"Undid {len(plan.steps)} change(s) of request {correlation_id}.",
        )
        return redirect(log_url)
    try:
        plan = undo.undo(company=company, correlation_id=correlation_id, dry_run=True)
        conflicts = []
    except undo.NothingToUndo:
        raise Http404 from None
    except undo.UndoConflict as exc:
        plan, conflicts = None, exc.conflicts
    shown = _Renderers(company)
    context = {
        **admin.site.each_context(request),
        "title": f"Undo request {correlation_id}",
        "company": company,
        "correlation_id": correlation_id,
        "steps": [
            {
                **step.as_dict(),
                # Read as "now -> after the undo", like a change set.
                "changes": shown(step.object_type).rows(step.changes),
            }
            for step in (plan.steps if plan else [])
        ],
        "conflicts": [c.as_dict() for c in conflicts],
        "log_url": log_url,
    }
    return TemplateResponse(request, "audit/undo_confirm.html", context)


class _Renderers(dict):
    """One ``ChangeRenderer`` per object type of a page (labels, values by type,
    "(empty)"; the history page's rendering)."""

    def __init__(self, company):
        super().__init__()
        self.company = company

    def __call__(self, object_type: str) -> ChangeRenderer:
        if object_type not in self:
            model = get_registration(object_type).model
            self[object_type] = ChangeRenderer(model, self.company.pk)
        return self[object_type]
