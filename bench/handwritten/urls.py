from django.urls import include, path
from rest_framework.routers import DefaultRouter

from .views import PartnerViewSet, native_partners

router = DefaultRouter()
router.register("partners", PartnerViewSet, basename="partner")

urlpatterns = [
    path("api/", include(router.urls)),
    path("limit/partners/", native_partners),
]
