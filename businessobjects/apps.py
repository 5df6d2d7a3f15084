from django.apps import AppConfig


class BusinessObjectsConfig(AppConfig):
    name = "businessobjects"
    verbose_name = "Business objects"
