"""Web pages of the files app, and the local backend's storage endpoints."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from apps.files import upload_views
from apps.files.views import file_delete_page, file_detail_page, file_list_page

app_name = "files"

urlpatterns: list[URLPattern | URLResolver] = [
    path("files/", file_list_page, name="list"),
    path("files/<uuid:file_id>/", file_detail_page, name="detail"),
    path("files/<uuid:file_id>/delete/", file_delete_page, name="delete"),
    # The local backend's stand-ins for S3 (unused when NIMBUS_UPLOADS selects S3).
    path("files/storage/upload/<str:token>/", upload_views.upload, name="upload"),
    path("files/storage/part/<str:token>/", upload_views.upload_part, name="upload-part"),
    path("files/storage/download/<str:token>/", upload_views.download, name="download"),
]
