"""The admin app configured with Nimbus's admin site (see project/admin_site.py)."""

from django.contrib.admin.apps import AdminConfig


class NimbusAdminConfig(AdminConfig):
    """Django's admin with Nimbus's site: operators only, audited, with a metrics page.

    Replaces ``django.contrib.admin`` in INSTALLED_APPS, so every app's
    ``admin.site.register(...)`` registers on the Nimbus site.
    """

    default_site = "project.admin_site.NimbusAdminSite"
