from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from . import cache
from .models import FieldDefinition


@receiver(post_save, sender=FieldDefinition, dispatch_uid="merp_ext_definition_saved")
@receiver(
    post_delete, sender=FieldDefinition, dispatch_uid="merp_ext_definition_deleted"
)
def invalidate_definitions(sender, instance, **kwargs):
    # Any write path (services, admin, a shell) must reach the cache.
    cache.invalidate(instance.company_id, instance.content_type_id)
