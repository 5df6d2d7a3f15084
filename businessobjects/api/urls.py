from django.urls import path
from rest_framework.routers import DefaultRouter

from businessobjects.registry import registrations
from extensions.api import FieldDefinitionViewSet

from .auth import TokenView
from .views import CompanyViewSet, viewset_for


def build_router() -> DefaultRouter:
    router = DefaultRouter()
    router.register("companies", CompanyViewSet, basename="company")
    router.register("custom-fields", FieldDefinitionViewSet, basename="custom-field")
    for registration in registrations():
        router.register(
            registration.plural, viewset_for(registration), basename=registration.name
        )
    return router


urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api-token"),
    *build_router().urls,
]
