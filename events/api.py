"""``GET /api/events/?after=<id>``: the active company's events, for clients without
Redis. ``id`` is the event's position: pass the last one seen as ``after``."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, serializers
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from businessobjects import params
from businessobjects.api.pagination import page_size_param
from businessobjects.api.permissions import IsCompanyMember
from businessobjects.conf import merp_settings

from . import envelope, selectors
from .models import OutboxEvent

# Plain filters besides the cursor; anything else is a 400.
FILTERS = ("event_type", "aggregate_type", "aggregate_id", "correlation_id")


class EventSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="position")
    occurred_at = serializers.SerializerMethodField()

    class Meta:
        model = OutboxEvent
        fields = ["id", "stream", *envelope.FIELDS, "sent_at"]

    def get_occurred_at(self, event) -> str:
        # The very string of the stream entry.
        return event.occurred_at.isoformat()


class EventFeedPagination(BasePagination):
    """Keyset pages: ``{"next": <url with after=last id>, "results": [...]}``.

    ``next`` is always set, so a client polls it forever; an empty page repeats
    the same ``after``.
    """

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.after = getattr(view, "after", 0)
        size = page_size_param(
            request.query_params,
            "page_size",
            merp_settings.PAGE_SIZE,
            merp_settings.MAX_PAGE_SIZE,
        )
        self.page = list(queryset[:size])
        return self.page

    def get_paginated_response(self, data):
        last = self.page[-1].position if self.page else self.after
        url = replace_query_param(self.request.build_absolute_uri(), "after", last)
        return Response({"next": url, "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {"type": "string", "format": "uri"},
                "results": schema,
            },
        }


@extend_schema(
    parameters=[
        OpenApiParameter(
            "after",
            OpenApiTypes.INT,
            description="Return events after this id (the last id you saw; 0 or "
            "absent: from the oldest retained event).",
        ),
        OpenApiParameter("page_size", OpenApiTypes.INT),
        *(OpenApiParameter(name, OpenApiTypes.STR) for name in FILTERS),
    ]
)
class EventListView(generics.ListAPIView):
    """The active company's outbox events in commit order, sent or not."""

    permission_classes = [IsCompanyMember]
    serializer_class = EventSerializer
    pagination_class = EventFeedPagination
    filter_backends = []

    def get_queryset(self):
        company = getattr(self.request, "company", None)
        if company is None:  # schema generation
            return OutboxEvent.objects.none()
        known = {"after", "page_size", "format", *FILTERS}
        unknown = [key for key in self.request.query_params if key not in known]
        if unknown:
            raise exceptions.ValidationError(
                {key: [f"Unknown parameter '{key}'."] for key in unknown}
            )
        query = self.request.query_params
        errors: dict = {}
        self.after = params.collect(errors, params.integer_param, query, "after", 0)
        filters = {
            name: params.collect(errors, params.text_param, query, name, "")
            for name in FILTERS
            if name in query
        }
        if errors:
            raise exceptions.ValidationError(errors)
        return selectors.company_events(company, after=self.after).filter(**filters)
