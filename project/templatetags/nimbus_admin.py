"""``{% nimbus_dashboard %}`` and ``{% nimbus_charts %}``: the operator numbers and the
charts of the last day on the admin index."""

from __future__ import annotations

from typing import Any

from django import template

from project.admin_dashboard import as_of, dashboard_tiles

register = template.Library()


@register.inclusion_tag("admin/nimbus_dashboard.html", takes_context=True)
def nimbus_dashboard(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    tiles = dashboard_tiles(user=user) if user is not None and user.is_staff else []
    return {"tiles": tiles, "as_of": as_of()}


@register.inclusion_tag("admin/nimbus_charts.html", takes_context=True)
def nimbus_charts(context: template.Context) -> dict[str, Any]:
    from project.admin_site import is_operator
    from project.operator_charts import chart_values

    request = context.get("request")
    user = getattr(request, "user", None)
    return {"charts": chart_values() if is_operator(user) else []}
