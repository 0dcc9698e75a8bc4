"""The API's URLconf, imported on the first request under ``/api/`` (or the first
``reverse()``), not at cold start: ninja, pydantic and every app's schemas cost a cold
start more than a second, and ``/healthz``, pages, admin and events never use them.

``project/urls.py`` mounts this module by name with the API's ``(app_name, namespace)``
(``api.urls`` returns ``("ninja", api.urls_namespace)``), so ``reverse("api:...")`` works.
"""

from project.api import api

urlpatterns = api.urls[0]
