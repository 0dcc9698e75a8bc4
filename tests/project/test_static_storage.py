"""Production's static storage names files from the package's manifest, never the bucket's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.template import Context, Template
from django.test import override_settings
from moto import mock_aws

from infra.package import static_manifest

SITE = "nimbus.example.com"
BUCKET = "nimbus-dev-static"


@pytest.fixture(scope="module")
def package_dir(tmp_path_factory) -> Path:
    """A directory holding this checkout's manifest, as the package's root does."""
    root = tmp_path_factory.mktemp("task")
    manifest = static_manifest(tmp_path_factory.mktemp("collected"))
    (root / "staticfiles.json").write_text(manifest.read_text())
    return root


def _storage(backend: str, **options: Any) -> dict[str, Any]:
    return {
        "BACKEND": backend,
        "OPTIONS": {
            "bucket_name": BUCKET,
            "location": "static",
            "custom_domain": SITE,
            "querystring_auth": False,
            "default_acl": None,
            "file_overwrite": True,
            **options,
        },
    }


@pytest.fixture
def empty_bucket():
    """The static bucket before any collectstatic: no files, no manifest."""
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        yield


def _render_static(storage: dict[str, Any], settings: Any) -> str:
    with override_settings(
        STORAGES={**settings.STORAGES, "staticfiles": storage},
        STATIC_URL=f"https://{SITE}/static/",
    ):
        return Template("{% load static %}{% static 'nimbus/site.css' %}").render(Context())


def test_static_urls_come_from_the_packaged_manifest_with_no_manifest_in_the_bucket(
    empty_bucket, package_dir, settings
):
    hashed = json.loads((package_dir / "staticfiles.json").read_text())["paths"]["nimbus/site.css"]
    storage = _storage(
        "project.static_storage.PackagedManifestStaticStorage",
        manifest_location=str(package_dir),
    )
    assert hashed != "nimbus/site.css"
    assert _render_static(storage, settings) == f"https://{SITE}/static/{hashed}"


def test_the_bucket_manifest_storage_fails_the_same_page(empty_bucket, settings):
    """What production did before: a page before collectstatic is a 500."""
    storage = _storage("storages.backends.s3.S3ManifestStaticStorage")
    with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
        _render_static(storage, settings)


@pytest.mark.django_db
def test_a_page_renders_with_the_packaged_manifest(empty_bucket, package_dir, settings, client):
    hashed = json.loads((package_dir / "staticfiles.json").read_text())["paths"]["nimbus/site.css"]
    storage = _storage(
        "project.static_storage.PackagedManifestStaticStorage",
        manifest_location=str(package_dir),
    )
    with override_settings(
        STORAGES={**settings.STORAGES, "staticfiles": storage},
        STATIC_URL=f"https://{SITE}/static/",
    ):
        response = client.get("/")
    assert response.status_code == 200
    assert f'href="https://{SITE}/static/{hashed}"' in response.text


def test_a_package_without_a_manifest_is_refused_with_a_clear_message(tmp_path, settings):
    storage = _storage(
        "project.static_storage.PackagedManifestStaticStorage", manifest_location=str(tmp_path)
    )
    with pytest.raises(ImproperlyConfigured, match="make package"):
        _render_static(storage, settings)
