"""List filters shared by Nimbus's admin pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib import admin


class ValuesFilter(admin.AllValuesFieldListFilter):
    """Django's filter by each value a column holds, with the empty string named.

    Django lists a blank value as a link with no text (no name for a screen reader, nothing
    to click for anyone else); here it reads "(none)".
    """

    blank_display = "(none)"

    def choices(self, changelist: Any) -> Iterator[Any]:
        for choice in super().choices(changelist):
            display = str(choice.get("display", ""))
            if not display.strip() or display.startswith(" ("):  # "" or " (3)" with counts
                choice = {**choice, "display": self.blank_display + display}
            yield choice
