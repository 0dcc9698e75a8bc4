"""Accessibility checks run on every main page the browser tests visit.

Not a full audit: the failures a keyboard or screen-reader user hits first — a control
without a name, a form field without a label, a page without exactly one main heading,
an image without alternative text, a focus ring removed.
"""

from __future__ import annotations

from typing import Any

_PROBLEMS_JS = r"""
() => {
  const problems = [];
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length)
      && getComputedStyle(el).visibility !== 'hidden';
  const describe = (el) => el.outerHTML.slice(0, 140);
  const labelled = (el) => {
    if (el.getAttribute('aria-label')?.trim()) return true;
    const ids = el.getAttribute('aria-labelledby');
    if (ids && ids.split(/\s+/).some((id) => document.getElementById(id)?.textContent.trim())) return true;
    // A label names its field by its text, or by an image's alternative text in it
    // (Django admin's search box: <label><img alt="Search"></label>).
    const named = (l) => l.textContent.trim()
      || Array.from(l.querySelectorAll('img[alt]')).some((i) => i.alt.trim());
    if (el.labels && Array.from(el.labels).some(named)) return true;
    return !!el.getAttribute('title')?.trim();
  };
  if (!document.documentElement.lang) problems.push('<html> has no lang');
  if (!document.title.trim()) problems.push('the page has no <title>');
  const h1s = Array.from(document.querySelectorAll('h1')).filter(visible);
  if (h1s.length !== 1) problems.push(`expected one visible <h1>, found ${h1s.length}`);
  if (!document.querySelector('main')) problems.push('no <main> landmark');
  for (const el of document.querySelectorAll('input, select, textarea')) {
    const type = (el.getAttribute('type') || '').toLowerCase();
    if (['hidden', 'submit', 'button', 'reset', 'image'].includes(type)) continue;
    // A file input hidden inside its visible <label> (a drop zone) is still labelled by it.
    if (!visible(el) && !(type === 'file' && el.labels && el.labels.length)) continue;
    if (!labelled(el)) problems.push(`form field without a label: ${describe(el)}`);
  }
  const controls = document.querySelectorAll('a[href], button, [role="button"], summary');
  for (const el of controls) {
    if (!visible(el)) continue;
    const name = (el.getAttribute('aria-label') || el.textContent || el.getAttribute('title') || '').trim()
      || Array.from(el.querySelectorAll('img[alt]')).map((i) => i.alt).join('').trim();
    if (!name && !labelled(el)) problems.push(`control without a name: ${describe(el)}`);
  }
  for (const img of document.querySelectorAll('img')) {
    if (!img.hasAttribute('alt')) problems.push(`image without alt: ${describe(img)}`);
  }
  const ids = {};
  for (const el of document.querySelectorAll('[id]')) {
    if (ids[el.id]) problems.push(`duplicate id "${el.id}"`);
    ids[el.id] = true;
  }
  return problems;
}
"""


def accessibility_problems(page: Any) -> list[str]:
    """What a keyboard or screen-reader user would trip over on the current page."""
    return list(page.evaluate(_PROBLEMS_JS))


def assert_accessible(page: Any) -> None:
    problems = accessibility_problems(page)
    assert not problems, f"accessibility problems on {page.url}:\n" + "\n".join(problems)


def tab_to(page: Any, predicate_js: str, max_tabs: int = 40) -> list[str]:
    """Press Tab until ``predicate_js`` (a JS expression over ``el``) holds for the focused
    element; returns the names of the elements passed on the way. Fails if never reached.
    """
    passed: list[str] = []
    for _ in range(max_tabs):
        page.keyboard.press("Tab")
        hit = page.evaluate(
            f"(() => {{ const el = document.activeElement; return !!({predicate_js}); }})()"
        )
        if hit:
            return passed
        passed.append(
            page.evaluate(
                "(() => { const el = document.activeElement;"
                " return (el.getAttribute('aria-label') || el.textContent || el.name || el.tagName).trim(); })()"
            )
        )
    raise AssertionError(f"never reached {predicate_js} by Tab; passed {passed}")


def assert_focus_visible(page: Any) -> None:
    """The focused element shows a focus indicator (an outline or a box shadow)."""
    shown = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none'; })()"
    )
    assert shown, (
        f"no visible focus indicator on {page.evaluate('document.activeElement.outerHTML')}"
    )


# -- axe-core ---------------------------------------------------------------------------------

#: Impacts that fail a page: what blocks or seriously hinders someone (axe's own scale is
#: minor < moderate < serious < critical).
FAILING_IMPACTS = ("serious", "critical")


def _axe_source() -> str:
    """axe-core's axe.min.js as the axe-playwright-python package ships it (offline)."""
    from pathlib import Path

    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


def axe_violations(
    page: Any, impacts: tuple[str, ...] = FAILING_IMPACTS, skip: tuple[str, ...] = ()
) -> list[str]:
    """axe-core's WCAG 2.x A/AA violations of ``impacts`` on the current page, one line each.

    Evaluated in the page rather than added as a <script>, so the site's CSP (which refuses
    scripts without its nonce) does not stop it, and no page code changes.
    """
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
            resultTypes: ["violations"],
          });
          return r.violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
          }));
        }"""
    )
    return [
        f"{v['impact']}: {v['id']} — {v['help']} ({', '.join(v['targets'])})"
        for v in result
        if v["impact"] in impacts and v["id"] not in skip
    ]


def assert_no_serious_axe_violations(page: Any, skip: tuple[str, ...] = ()) -> None:
    found = axe_violations(page, skip=skip)
    assert not found, f"axe-core on {page.url}:\n" + "\n".join(found)
