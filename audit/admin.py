"""Admin history for business objects: simple-history's history view, limited to
the admin's companies, showing the stored change sets; and a revert that goes
through the services (simple-history's own revert saves the form directly, which
would bypass the single write path)."""

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from simple_history.admin import SimpleHistoryAdmin

from businessobjects.admin_scoping import scoped_company_ids
from businessobjects.exceptions import VersionConflict
from businessobjects.params import is_id

from . import services
from .display import ChangeRenderer


class BusinessObjectHistoryAdmin(SimpleHistoryAdmin):
    """Mixed into ``CompanyScopedAdmin``: every business object's admin history."""

    history_list_display = ["correlation_id"]
    object_history_list_template = "audit/object_history_list.html"
    revert_template = "audit/revert_preview.html"

    def get_history_queryset(self, request, history_manager, pk_name, object_id):
        if not is_id(object_id):
            raise Http404
        queryset = super().get_history_queryset(
            request, history_manager, pk_name, object_id
        )
        company_ids = scoped_company_ids(request)
        if company_ids is not None:
            # Also for deleted objects: another company's id is a 404, not a 403.
            queryset = queryset.filter(company_id__in=company_ids)
        return queryset

    def set_history_delta_changes(self, request, historical_records, **kwargs):
        # Show the change set the service stored (custom fields included) rather
        # than simple-history's field diff between consecutive rows, for people
        # (audit.display).
        renderers: dict = {}
        for record in historical_records:
            renderer = renderers.get(record.company_id)
            if renderer is None:
                renderer = renderers[record.company_id] = ChangeRenderer(
                    self.model, record.company_id
                )
            record.history_delta_changes = renderer.rows(
                record.changes, record.history_type
            )

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        object_id, version_id = unquote(object_id), unquote(version_id)
        if not (is_id(object_id) and is_id(version_id)):
            raise Http404
        history = self.get_history_queryset(
            request, self.model.history, self.model._meta.pk.attname, object_id
        )
        record = history.filter(history_id=version_id).first()
        if record is None:
            raise Http404
        current = self.get_queryset(request).filter(pk=record.id).first()
        can_revert = current is not None and self.has_change_permission(
            request, current
        )
        opts = self.model._meta
        history_url = reverse(
            f"admin:{opts.app_label}_{opts.model_name}_history", args=(record.id,)
        )
        if request.method == "POST":
            if not can_revert:
                raise PermissionDenied
            return self._revert(request, current, record, history_url)

        plan, error = None, None
        if current is not None:
            try:
                plan = services.revert_plan(current, history_id=record.history_id)
            except ValidationError as exc:
                error = "; ".join(exc.messages)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Revert %s") % (current or record.instance),
            "opts": opts,
            "record": record,
            "current": current,
            "changes": ChangeRenderer(self.model, record.company_id).rows(plan.changes)
            if plan
            else [],
            "error": error,
            "can_revert": can_revert and plan is not None and bool(plan.changes),
            "history_url": history_url,
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, self.revert_template, context)

    def _revert(self, request, current, record, history_url):
        version = current.version
        try:
            services.revert(
                current,
                history_id=record.history_id,
                user=request.user,
                expected_version=_posted_version(request),
            )
        except (ValidationError, VersionConflict) as exc:
            detail = "; ".join(getattr(exc, "messages", [str(exc)]))
            self.message_user(request, f"Not reverted: {detail}", messages.ERROR)
            return redirect(request.path)
        if current.version == version:
            self.message_user(
                request, "Nothing to revert: the object already has these values."
            )
        else:
            self.log_change(
                request, current, f"Reverted to history entry {record.history_id}."
            )
            self.message_user(
                request,
                f"Reverted {current} to version {record.version}; the revert is "
                f"recorded as version {current.version}.",
                messages.SUCCESS,
            )
        return redirect(history_url)


def _posted_version(request) -> int | None:
    # The version the preview showed: a change made since then is a conflict.
    raw = request.POST.get("version", "")
    return int(raw) if is_id(raw) else None
