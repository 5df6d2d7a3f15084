from django.urls import path

from .api import EventListView

urlpatterns = [path("", EventListView.as_view(), name="event-list")]
