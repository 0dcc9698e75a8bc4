"""The operator's side, in a real browser against the live server and worker.

An operator approves one file and rejects another from the execution page, which follows
the execution to its end without a reload (and so does the same page open in another
tab); the message is in the past tense; "Waiting for approval" counts each file once; the
audit trail names the execution and the verdict. The state graph has no edge through a
state's box (measured on the drawn SVG) and bolds the path taken; assigned variables show
per state for JSONata and JSONPath executions; every admin list fits at 1280 px; the
breadcrumbs stay in their bar; the dashboard charts the last 24 hours accessibly.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.a11y import assert_accessible
from tests.browser.conftest import LiveNimbus
from tests.browser.people import new_email, sign_in_to_admin, sign_up, snapshot
from tests.browser.test_main_job import (
    LIVE_TIMEOUT,
    MINIMAL_PDF,
    assert_not_reloaded,
    choose_file,
    file_id_of,
    mark_no_reload,
    status_of,
)

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_only]


def _query(live: LiveNimbus, code: str) -> Any:
    """Run ``code`` (which sets ``out``) against the live database; returns ``out``."""
    printed = live.python(code + "\nimport json\nprint(json.dumps(out, default=str))")
    return json.loads(printed.strip().splitlines()[-1])


def _execution_of(live: LiveNimbus, file_id: str) -> str:
    return _query(
        live,
        "from apps.workflows.models import Execution\n"
        f"out = str(Execution.objects.get(workflow='file_review', name='file-{file_id}').pk)",
    )


def _awaiting_files(live: LiveNimbus) -> int:
    return _query(
        live,
        "from apps.files.models import File\n"
        "out = File.objects.filter(status='awaiting_approval').count()",
    )


def _tile_count(operator: Any) -> int:
    operator.goto("/admin/")
    tile = operator.locator("[data-tile=awaiting_approval] .nimbus-tile__count")
    return int(tile.inner_text())


def _upload_for_approval(person: Any, name: str) -> str:
    choose_file(person, name, "application/pdf", MINIMAL_PDF)
    expect(status_of(person, name)).to_have_text(
        re.compile("Awaiting approval", re.I), timeout=LIVE_TIMEOUT
    )
    return file_id_of(person, name)


# The drawn graph, measured in the browser: every edge path sampled along its length,
# each point tested against the boxes of the states that are not its ends.
_EDGE_COLLISIONS_JS = r"""
() => {
  const svg = document.querySelector('svg.workflow-graph');
  const boxes = Array.from(svg.querySelectorAll('g.state')).map((g) => {
    const r = g.querySelector('rect');
    return {name: g.dataset.state, x: +r.getAttribute('x'), y: +r.getAttribute('y'),
            w: +r.getAttribute('width'), h: +r.getAttribute('height')};
  });
  const found = [];
  for (const edge of svg.querySelectorAll('g.edge')) {
    const path = edge.querySelector('path');
    const length = path.getTotalLength();
    for (const box of boxes) {
      if (box.name === edge.dataset.from || box.name === edge.dataset.to) continue;
      for (let at = 0; at <= length; at += 1) {
        const p = path.getPointAtLength(at);
        if (p.x >= box.x && p.x <= box.x + box.w && p.y >= box.y && p.y <= box.y + box.h) {
          found.push(`${edge.dataset.from} -> ${edge.dataset.to} crosses ${box.name}`);
          break;
        }
      }
    }
  }
  return {found, edges: svg.querySelectorAll('g.edge').length, states: boxes.length};
}
"""


def _assert_graph_clear(page: Any) -> None:
    measured = page.evaluate(_EDGE_COLLISIONS_JS)
    assert measured["edges"] > 0
    assert measured["found"] == [], measured["found"]


def test_approve_and_reject_show_at_once_and_live_counted_once_and_audited(
    new_page: Any, live_nimbus: LiveNimbus
) -> None:
    person = new_page("person")
    sign_up(person, live_nimbus, new_email("ops"))
    operator = new_page("operator")
    sign_in_to_admin(operator)
    before = _tile_count(operator)
    first = _upload_for_approval(person, "to-approve.pdf")
    # one file awaiting approval is one more in the tile, not two (its pending callback)
    assert _tile_count(operator) == before + 1 == _awaiting_files(live_nimbus)

    execution = _execution_of(live_nimbus, first)
    url = f"/admin/workflows/execution/{execution}/change/"
    watcher = new_page("watcher")  # a second operator tab, left open on the same page
    sign_in_to_admin(watcher)
    watcher.goto(url)
    expect(watcher.locator(".wf-status")).to_have_text("RUNNING")
    expect(watcher.locator('g.state-waiting[data-state="AwaitApproval"]')).to_be_visible()
    mark_no_reload(watcher)

    operator.goto(url)
    _assert_graph_clear(operator)
    snapshot(operator, "operator-execution-waiting")
    operator.get_by_role("button", name="Approve").click()
    expect(operator.locator(".messagelist")).to_have_text("AwaitApproval: approved.")
    mark_no_reload(operator)
    # the page the redirect brought follows the execution to its end by itself
    expect(operator.locator(".wf-status")).to_have_text("SUCCEEDED", timeout=LIVE_TIMEOUT)
    expect(operator.locator('g.state-succeeded[data-state="Approve"]')).to_be_visible()
    expect(operator.get_by_role("heading", name="Waiting for a callback")).to_have_count(0)
    assert_not_reloaded(operator)
    # and so does the other tab
    expect(watcher.locator(".wf-status")).to_have_text("SUCCEEDED", timeout=LIVE_TIMEOUT)
    taken = watcher.locator("g.edge-taken")
    expect(
        taken.and_(watcher.locator('[data-from="AwaitApproval"][data-to="Approve"]'))
    ).to_have_count(1)
    assert_not_reloaded(watcher)
    _assert_graph_clear(watcher)
    assert_accessible(watcher)
    snapshot(watcher, "operator-execution-approved-live")
    expect(status_of(person, "to-approve.pdf")).to_have_text("Approved", timeout=LIVE_TIMEOUT)

    second = _upload_for_approval(person, "to-reject.pdf")
    operator.goto(f"/admin/workflows/execution/{_execution_of(live_nimbus, second)}/change/")
    operator.get_by_label("Reason").fill("Not the signed copy")
    operator.get_by_role("button", name="Reject").click()
    expect(operator.locator(".messagelist")).to_have_text("AwaitApproval: rejected.")
    mark_no_reload(operator)
    expect(operator.locator(".wf-status")).not_to_have_text("RUNNING", timeout=LIVE_TIMEOUT)
    expect(operator.locator('g.state-succeeded[data-state="Reject"]')).to_be_visible()
    assert_not_reloaded(operator)
    expect(status_of(person, "to-reject.pdf")).to_have_text(
        re.compile("Rejected", re.I), timeout=LIVE_TIMEOUT
    )

    operator.goto("/admin/nimbus/auditentry/?action__exact=action")
    rows = operator.locator("#result_list tbody tr")
    approved = rows.filter(has_text=f"file_review/file-{first} · AwaitApproval")
    rejected = rows.filter(has_text=f"file_review/file-{second} · AwaitApproval")
    expect(approved).to_have_count(1)
    expect(approved).to_contain_text("approved")
    expect(rejected).to_have_count(1)
    expect(rejected).to_contain_text("rejected")
    expect(rows.filter(has_text="0 selected")).to_have_count(0)
    assert_accessible(operator)
    snapshot(operator, "operator-audit-trail")


@pytest.mark.parametrize(
    ("workflow", "expected"),
    [
        ("browser_variables_jsonata", ["$attempt, $customer", "$paused"]),
        ("browser_variables_jsonpath", ["$attempt, $customer", "$tier"]),
    ],
)
def test_the_execution_page_shows_each_states_assigned_variables(
    new_page: Any, live_nimbus: LiveNimbus, workflow: str, expected: list[str]
) -> None:
    execution = _query(
        live_nimbus,
        "from apps.workflows import services\n"
        f"out = str(services.execution_start(workflow={workflow!r}, "
        "input={'who': 'ada', 'vip': True}).pk)",
    )
    operator = new_page("operator")
    sign_in_to_admin(operator)
    operator.goto(f"/admin/workflows/execution/{execution}/change/")
    mark_no_reload(operator)
    expect(operator.locator(".wf-status")).to_have_text("SUCCEEDED", timeout=LIVE_TIMEOUT)
    assert_not_reloaded(operator)
    graph = operator.locator("svg.workflow-graph")
    remember = graph.locator('g.state[data-state="Remember"]')
    expect(remember.locator("text.assigned")).to_have_text(expected[0])
    expect(remember.locator("title")).to_contain_text('$customer = "ada"')
    timeline = operator.get_by_role("region", name="Event timeline")
    for names in expected:
        expect(timeline.locator("details.assigned summary", has_text=names)).to_have_count(1)
    table = operator.locator("table.wf-variables")
    expect(table.locator('tr[data-state="Remember"]')).to_contain_text('"customer": "ada"')
    _assert_graph_clear(operator)
    assert_accessible(operator)
    snapshot(operator, f"operator-variables-{workflow}")


def test_every_admin_list_fits_at_1280_px(new_page: Any, live_nimbus: LiveNimbus) -> None:
    operator = new_page("operator")
    sign_in_to_admin(operator)
    lists = operator.eval_on_selector_all(
        "#content-main .app-list th[scope=row] a, #content-main .module th[scope=row] a",
        "links => [...new Set(links.map((a) => a.getAttribute('href')))]",
    )
    assert len(lists) >= 10, lists
    too_wide = []
    for href in lists:
        operator.goto(href)
        measured = operator.evaluate(
            "() => { const page = document.documentElement;"
            " const results = document.querySelector('#changelist .results');"
            " return {page: [page.scrollWidth, page.clientWidth],"
            " results: results ? [results.scrollWidth, results.clientWidth] : [0, 0]}; }"
        )
        for where, (scroll, client) in measured.items():
            if scroll > client + 1:
                too_wide.append(f"{href} {where}: {scroll} > {client}")
    assert too_wide == [], "\n".join(too_wide)


def _assert_breadcrumbs_in_their_bar(page: Any) -> None:
    measured = page.evaluate(
        "() => { const bar = document.querySelector('.breadcrumbs');"
        " const box = bar.getBoundingClientRect();"
        " const inside = [...bar.querySelectorAll('a, li')].every((el) => {"
        "   const r = el.getBoundingClientRect();"
        "   return r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5"
        "     && r.left >= box.left - 0.5 && r.right <= box.right + 0.5; });"
        " const style = getComputedStyle(bar);"
        " return {inside, height: box.height, tag: bar.tagName,"
        "   background: style.backgroundColor,"
        "   nav: bar.parentElement.tagName}; }"
    )
    assert measured["inside"], measured
    assert measured["tag"] == "OL", measured
    assert measured["nav"] == "NAV", measured
    assert measured["height"] < 60, measured  # one line
    assert measured["background"] not in ("rgba(0, 0, 0, 0)", "transparent"), measured


def test_breadcrumbs_stay_in_their_bar_on_the_execution_and_metrics_pages(
    new_page: Any, live_nimbus: LiveNimbus
) -> None:
    execution = _query(
        live_nimbus,
        "from apps.workflows.models import Execution\n"
        "out = str(Execution.objects.order_by('-started_at').values_list('pk', flat=True)[0])",
    )
    operator = new_page("operator")
    sign_in_to_admin(operator)
    for url in (f"/admin/workflows/execution/{execution}/change/", "/admin/metrics/"):
        operator.goto(url)
        _assert_breadcrumbs_in_their_bar(operator)
        assert_accessible(operator)
        expect(operator.locator(".breadcrumbs li").first).to_have_text("Home")
    snapshot(operator, "operator-metrics")


def test_the_dashboard_charts_the_last_day_with_a_text_alternative(
    new_page: Any, live_nimbus: LiveNimbus
) -> None:
    operator = new_page("operator")
    sign_in_to_admin(operator)
    charts = operator.get_by_role("region", name="Last 24 hours")
    expect(charts).to_be_visible()
    cards = charts.locator("li.nimbus-chart-card")
    expect(cards).to_have_count(5)
    for key in ("uploads", "inspection", "events", "workflows", "latency"):
        card = charts.locator(f'[data-chart="{key}"]')
        svg = card.get_by_role("img")
        expect(svg).to_have_count(1)
        # the accessible name and description come from the SVG's <title> and <desc>
        assert svg.get_attribute("aria-labelledby") == f"chart-{key}-title chart-{key}-desc"
        expect(card.locator(f"#chart-{key}-desc")).to_contain_text("hourly from")
    # earlier tests uploaded files and made requests: the current hour has figures
    uploads = charts.locator('[data-chart="uploads"]')
    uploads.get_by_text("Figures by hour").click()
    last = uploads.locator("table tbody tr").last
    assert int(last.locator("td").first.inner_text()) >= 1
    latency = charts.locator('[data-chart="latency"]')
    expect(latency.locator("#chart-latency-desc")).to_contain_text("highest")
    # nothing drawn by a script, nothing from elsewhere
    assert operator.evaluate("document.querySelectorAll('.nimbus-charts script').length") == 0
    sizes = operator.evaluate(
        "[...document.querySelectorAll('svg.nimbus-chart')].map((s) => s.getBoundingClientRect().width)"
    )
    assert all(w > 200 for w in sizes), sizes
    assert operator.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    assert_accessible(operator)
    snapshot(operator, "operator-dashboard-charts")


def test_the_operator_pages_fit_a_phone(new_page: Any, live_nimbus: LiveNimbus) -> None:
    """At 375 px the graph and the tables scroll in their own boxes (reachable by keyboard)
    or wrap; the page itself never scrolls sideways."""
    execution = _query(
        live_nimbus,
        "from apps.workflows import services\n"
        "out = str(services.execution_start(workflow='browser_variables_jsonpath', "
        "input={'who': 'a-rather-long-customer-name-without-spaces', 'vip': False}).pk)",
    )
    operator = new_page("operator")
    operator.set_viewport_size({"width": 375, "height": 800})
    sign_in_to_admin(operator)
    wide = []
    for url in (
        "/admin/",
        "/admin/metrics/",
        f"/admin/workflows/execution/{execution}/change/",
        "/admin/workflows/execution/",
        "/admin/nimbus/auditentry/",
        "/admin/files/file/",
        "/admin/events/event/catalog/",
    ):
        operator.goto(url)
        scroll, client = operator.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        if scroll > client:
            wide.append(f"{url}: {scroll} > {client}")
        assert_accessible(operator)
    assert wide == [], wide
    operator.goto(f"/admin/workflows/execution/{execution}/change/")
    graph_box = operator.get_by_label("State graph, scrollable")
    assert graph_box.get_attribute("tabindex") == "0"
    snapshot(operator, "operator-execution-375")
