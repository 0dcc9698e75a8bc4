// The admin's execution page follows its execution while it runs, without a reload.
//
// It polls the page's live view (`data-wf-live`, JSON) with the version it shows
// (`data-wf-version`): the answer carries new HTML for each changing part
// (`[data-wf-region]`: summary, pending callbacks, graph, timeline) only when something
// changed. Polling starts fast (an operator who just approved or rejected sees the result
// within a second), slows down while nothing changes, pauses while the tab is hidden, and
// stops once the execution has ended and waits for nothing. A part holding the focus (a
// reason being typed) is left alone until the focus leaves it.
//
// Why a poll and not the WebSocket: the push channel reaches people's own connections,
// and on AWS nothing tells Nimbus of each state's progress; the live view reads the same
// history the page does, on both backends.

const FIRST_MS = 400;
const MAX_MS = 5000;

function start() {
  const root = document.querySelector("[data-wf-live]");
  if (!root) return;
  let version = root.dataset.wfVersion || "";
  let live = root.dataset.wfRunning === "true";
  let delay = FIRST_MS;
  let timer = 0;
  const pendingRegions = new Map();

  function apply(regions) {
    for (const [name, html] of Object.entries(regions)) {
      pendingRegions.set(name, html);
    }
    for (const [name, html] of pendingRegions) {
      const region = root.querySelector(`[data-wf-region="${name}"]`);
      if (!region) {
        pendingRegions.delete(name);
        continue;
      }
      if (region.contains(document.activeElement) && document.activeElement !== document.body) {
        continue; // the operator is typing here: replace it once they leave
      }
      if (region.innerHTML !== html) region.innerHTML = html;
      pendingRegions.delete(name);
    }
  }

  async function poll() {
    timer = 0;
    if (document.hidden) return; // resumed by visibilitychange
    let changed = false;
    try {
      const url = new URL(root.dataset.wfLive, location.href);
      url.searchParams.set("version", version);
      const response = await fetch(url, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (response.ok) {
        const body = await response.json();
        if (body.regions) {
          apply(body.regions);
          changed = true;
        }
        version = body.version;
        live = body.live;
        root.dataset.wfVersion = version;
        root.dataset.wfRunning = String(live);
      }
    } catch (error) {
      // a passing network fault: try again, more slowly
    }
    if (pendingRegions.size) apply({});
    const note = root.querySelector("[data-wf-note]");
    if (note && !live) note.textContent = "";
    if (!live && !pendingRegions.size) return;
    delay = changed ? FIRST_MS : Math.min(delay * 1.5, MAX_MS);
    timer = window.setTimeout(poll, delay);
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && !timer && (live || pendingRegions.size)) {
      delay = FIRST_MS;
      poll();
    }
  });
  root.addEventListener("focusout", () => {
    if (pendingRegions.size) window.setTimeout(() => apply({}), 0);
  });
  if (live) timer = window.setTimeout(poll, FIRST_MS);
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start);
} else {
  start();
}
