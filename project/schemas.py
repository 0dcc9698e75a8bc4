"""Field types the API's schemas share."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from project.requestbody import INT64

#: A database row id: what a ``BigAutoField`` can hold (larger ones overflow the query).
RowId = Annotated[int, Field(ge=1, le=INT64)]
#: A count or an id bound that may be zero ("everything after 0").
RowIdOrZero = Annotated[int, Field(ge=0, le=INT64)]
