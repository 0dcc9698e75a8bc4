"""Static files ship with content-hashed names (collectstatic + ManifestStaticFilesStorage)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.template import Context, Template


@pytest.fixture
def collected(settings, tmp_path: Path) -> Path:
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    return tmp_path


def test_collectstatic_writes_hashed_copies_of_the_site_assets(collected: Path) -> None:
    manifest = json.loads((collected / "staticfiles.json").read_text())["paths"]
    hashed = manifest["nimbus/site.css"]
    assert re.fullmatch(r"nimbus/site\.[0-9a-f]{12}\.css", hashed)
    assert (collected / hashed).read_bytes() == (collected / "nimbus/site.css").read_bytes()


def test_pages_link_the_hashed_names(collected: Path, settings) -> None:
    settings.DEBUG = False
    html = Template("{% load static %}{% static 'nimbus/site.css' %}").render(Context())
    assert re.fullmatch(r"/static/nimbus/site\.[0-9a-f]{12}\.css", html)
