"""The numbers an operator wants first on the admin index, each linked to its list.

Each tile counts rows of one or more models (``"app_label.ModelName"`` plus filters). Apps
are resolved lazily: a model that is not installed, or lacks a field a source filters on,
is skipped, so the dashboard shows whatever parts of Nimbus are present. Counts are only
shown for models the operator may view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import NoReverseMatch, reverse
from django.utils import timezone


def _today(field_name: str) -> Callable[[], dict[str, Any]]:
    """Filter on ``field_name`` falling on today's (UTC) date, as the admin date drill-down does."""

    def build() -> dict[str, Any]:
        today = timezone.now().date()
        return {
            f"{field_name}__year": today.year,
            f"{field_name}__month": today.month,
            f"{field_name}__day": today.day,
        }

    return build


@dataclass(frozen=True)
class Source:
    """Rows of one model that count towards a tile; ``filters`` become the list's querystring."""

    model: str
    label: str
    filters: dict[str, Any] = field(default_factory=dict)
    dynamic: Callable[[], dict[str, Any]] | None = None

    def lookups(self) -> dict[str, Any]:
        return {**self.filters, **(self.dynamic() if self.dynamic else {})}


@dataclass(frozen=True)
class Tile:
    key: str
    title: str
    help: str
    sources: tuple[Source, ...]
    # "bad" tiles turn red when not zero (something needs an operator).
    alert_when_nonzero: bool = False
    #: The source whose count is the tile's number, when the sources count the same things
    #: in different ways (a file awaiting approval is also one pending callback): the
    #: others are still listed, as ways into the same work. None: the sources add up.
    headline: int | None = None


TILES: tuple[Tile, ...] = (
    Tile(
        "uploads_today",
        "Uploads today",
        "Files started today (UTC), whatever became of them.",
        (Source("files.File", "All files", dynamic=_today("created_at")),),
    ),
    Tile(
        "awaiting_approval",
        "Waiting for approval",
        "Files held by the review workflow until an operator approves or rejects them.",
        (
            Source("files.File", "Files", {"status__exact": "awaiting_approval"}),
            Source("workflows.TaskToken", "Pending callbacks", {"consumed_at__isnull": "True"}),
        ),
        alert_when_nonzero=True,
        headline=0,
    ),
    Tile(
        "dead_letters",
        "Dead-lettered events",
        "Event deliveries that ran out of retries; open one to see its error and redrive it.",
        (Source("events.DeadLetter", "Dead letters", {"status__exact": "dead"}),),
        alert_when_nonzero=True,
    ),
    Tile(
        "failures",
        "Failures",
        "Files that could not be processed, failed workflow runs and background tasks.",
        (
            Source("files.File", "Files", {"status__exact": "failed"}),
            Source("workflows.Execution", "Workflow runs", {"status__exact": "FAILED"}),
            Source("django_tasks_database.DBTaskResult", "Tasks", {"status__exact": "FAILED"}),
        ),
        alert_when_nonzero=True,
    ),
)


@dataclass
class Count:
    label: str
    count: int
    url: str


@dataclass
class TileValue:
    key: str
    title: str
    help: str
    total: int
    alert: bool
    parts: list[Count]

    @property
    def url(self) -> str:
        return self.parts[0].url


def _model(label: str) -> type[models.Model] | None:
    try:
        return apps.get_model(label)
    except (LookupError, ValueError):
        return None


def _has_fields(model: type[models.Model], lookups: dict[str, Any]) -> bool:
    for lookup in lookups:
        try:
            model._meta.get_field(lookup.split("__")[0])
        except FieldDoesNotExist:
            return False
    return True


def _count(source: Source, user: Any) -> Count | None:
    model = _model(source.model)
    if model is None:
        return None
    opts = model._meta
    if not user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
        return None
    lookups = source.lookups()
    if not _has_fields(model, lookups):
        return None
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    except NoReverseMatch:
        return None
    # The admin reads "True"/"False" for __isnull in the querystring; the ORM wants booleans.
    filters = {
        k: (str(v).lower() not in ("", "false", "0") if k.endswith("__isnull") else v)
        for k, v in lookups.items()
    }
    # A value the field refuses (a status the app does not use) means the source does not apply.
    try:
        count = model._default_manager.filter(**filters).count()
    except (ValueError, TypeError):
        return None
    query = urlencode(lookups)
    return Count(source.label, count, f"{url}?{query}" if query else url)


def dashboard_tiles(*, user: Any, tiles: tuple[Tile, ...] = TILES) -> list[TileValue]:
    """The tiles this operator may see, with counts; tiles without any present model are left out."""
    values = []
    for tile in tiles:
        counted = [(i, _count(s, user)) for i, s in enumerate(tile.sources)]
        parts = [c for _, c in counted if c is not None]
        if not parts:
            continue
        headline = [c for i, c in counted if c is not None and i == tile.headline]
        total = headline[0].count if headline else sum(p.count for p in parts)
        values.append(
            TileValue(
                tile.key,
                tile.title,
                tile.help,
                total,
                tile.alert_when_nonzero and total > 0,
                parts,
            )
        )
    return values


def as_of() -> datetime:
    return timezone.now()
