from rest_framework.routers import SimpleRouter

from .api import EndpointViewSet

router = SimpleRouter()
router.register("", EndpointViewSet, basename="webhook")

urlpatterns = router.urls
