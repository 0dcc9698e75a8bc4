// Nimbus live updates: one WebSocket per page, no framework.
//
// Connects to the push endpoint (`/ws/` locally; API Gateway WebSocket on AWS, with a
// connect ticket in `?ticket=`), reconnects with exponential backoff and jitter, and after
// every (re)connect asks for every stored notification after the last id it saw
// (`{"type": "catch_up", "after": <id>}`), so nothing is lost across a disconnect and
// nothing is shown twice. A `session.ended` frame (the person signed out everywhere, was
// disabled, or changed the password) stops it: the server closes the socket after it.
//
// Every frame is dispatched on `document` as a `nimbus:message` CustomEvent (the frame is
// `event.detail`), then applied to the page by data attributes:
//   file.status     status "deleted": tr[data-file-id="<id>"] rows go (the list's empty
//                   state returns), [data-file-deleted="<id>"] shows, the file's actions go;
//                   otherwise [data-file-status="<id>"], [data-file-id="<id>"][data-live-status],
//                   [data-file-id="<id>"] [data-live-status]  → text + class status-<status>
//                   [data-file-reason="<id>"], [data-file-id="<id>"] [data-live-reason] → reason
//   notifications   [data-unread-count] → the unread count (data-count too);
//                   [data-notifications] (a list) → newest first, at most data-limit items;
//                   one arriving while that list is on screen is seen, so marked read
//
// Times: the server renders "YYYY-MM-DD HH:MM" in UTC inside <time datetime="<ISO>">;
// every such element, on the page or added later (live rows, the uploader's), is shown in
// the same format in the reader's own time zone, with the zone in its title.
//
// Configuration (all optional) from <meta> tags the base template writes:
//   nimbus-live-url    the WebSocket URL (default: same origin /ws/)
//   nimbus-live-after  the last notification id the page was rendered with
//   nimbus-live-ticket URL answering {"ticket": ...}: a one-minute connect ticket, for a
//                      WebSocket on another origin (API Gateway on AWS) the cookie misses

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 30_000;
const PING_MS = 5 * 60_000; // API Gateway drops connections idle for 10 minutes

function meta(name) {
  const element = document.querySelector(`meta[name="${name}"]`);
  return element ? element.content : "";
}

function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/`;
}

function cookie(name) {
  const match = document.cookie.match(new RegExp(`(?:^|; )${name}=([^;]*)`));
  return match ? decodeURIComponent(match[1]) : "";
}

export async function api(path, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["X-CSRFToken"] = cookie("csrftoken");
  }
  const response = await fetch(path, {
    credentials: "same-origin",
    ...options,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return response.json();
}

// Frames of stored notifications as the API returns them (payload + metadata).
export function frameFromNotification(item) {
  const { payload, ...notification } = item;
  return { ...payload, notification };
}

function selectAll(selectors) {
  return document.querySelectorAll(selectors.join(", "));
}

// The file was deleted (here, in another tab, or by an operator): its rows go.
export function applyFileDeleted(frame) {
  const id = CSS.escape(String(frame.file_id));
  for (const row of document.querySelectorAll(`tr[data-file-id="${id}"]`)) {
    const table = row.closest("[data-file-table]");
    row.remove();
    if (table && !table.querySelector("tr[data-file-id]")) {
      table.hidden = true;
      const empty = document.querySelector("[data-empty]");
      if (empty) empty.hidden = false;
    }
  }
  for (const el of document.querySelectorAll(`[data-file-deleted="${id}"]`)) el.hidden = false;
  for (const el of document.querySelectorAll(`[data-file-actions="${id}"]`)) el.remove();
}

export function applyFileStatus(frame) {
  const id = CSS.escape(String(frame.file_id));
  if (frame.status === "deleted") {
    applyFileDeleted(frame);
    return;
  }
  for (const element of selectAll([
    `[data-file-status="${id}"]`,
    `[data-file-id="${id}"][data-live-status]`,
    `[data-file-id="${id}"] [data-live-status]`,
  ])) {
    element.textContent = frame.status_label || frame.status;
    for (const name of [...element.classList]) {
      if (name.startsWith("status-")) element.classList.remove(name);
    }
    element.classList.add(`status-${frame.status}`);
    element.dataset.status = frame.status;
  }
  const reason = frame.reason_message || (frame.notification && frame.notification.body) || "";
  for (const element of selectAll([
    `[data-file-reason="${id}"]`,
    `[data-file-id="${id}"][data-live-reason]`,
    `[data-file-id="${id}"] [data-live-reason]`,
  ])) {
    element.textContent = reason;
    element.classList.remove("reason--hint");  // the unfinished-upload hint is gone with it
  }
}

export function setUnreadCount(count) {
  for (const element of document.querySelectorAll("[data-unread-count]")) {
    element.textContent = count > 0 ? String(count) : "";
    element.dataset.count = String(count);
    const label = element.dataset.unreadLabel;
    if (label) element.setAttribute("aria-label", `${count} ${label}`);
  }
}

function unreadCount() {
  const element = document.querySelector("[data-unread-count]");
  return element ? Number(element.dataset.count || element.textContent || 0) : 0;
}

export function addToLists(frame) {
  const n = frame.notification;
  for (const list of document.querySelectorAll("[data-notifications]")) {
    if (list.querySelector(`[data-notification-id="${n.id}"]`)) continue;
    const item = document.createElement("li");
    item.className = n.read ? "notification" : "notification notification--unread";
    item.dataset.notificationId = String(n.id);
    const title = document.createElement("strong");
    title.className = "notification__title";
    title.textContent = n.title;
    title.title = frame.name || n.title;  // the full file name, even when the title shortens it
    item.append(title);
    if (n.body) {
      const body = document.createElement("span");
      body.className = "notification__body";
      body.textContent = n.body;
      item.append(" ", body);
    }
    const time = document.createElement("time");
    time.dateTime = n.created_at;
    time.textContent = formatTime(n.created_at);
    item.append(" ", time);
    list.prepend(item);
    const limit = Number(list.dataset.limit || 20);
    while (list.children.length > limit) list.lastElementChild.remove();
    const empty = document.querySelector("[data-notifications-empty]");
    if (empty) empty.hidden = true;
  }
}

export class LiveConnection {
  constructor({ url = defaultUrl(), after = 0, ticketUrl = "" } = {}) {
    this.url = url;
    // Everything up to `cursor` has been shown; catch-up asks for what follows it.
    this.cursor = Number(after) || 0;
    this.catchingUp = false;
    this.seen = new Set();
    this.ticketUrl = ticketUrl;
    this.attempt = 0;
    this.socket = null;
    this.stopped = false;
    this.timer = null;
    this.pinger = null;
  }

  start() {
    this.stopped = false;
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    });
    this.open();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    if (this.socket) this.socket.close(1000);
  }

  reconnectNow() {
    if (this.stopped || (this.socket && this.socket.readyState <= WebSocket.OPEN)) return;
    clearTimeout(this.timer);
    this.attempt = 0;
    this.open();
  }

  async open() {
    let url = this.url;
    if (this.ticketUrl) {
      try {
        const { ticket } = await api(this.ticketUrl);
        url += (url.includes("?") ? "&" : "?") + `ticket=${encodeURIComponent(ticket)}`;
      } catch {
        this.scheduleReconnect();
        return;
      }
    }
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.attempt = 0;
      document.documentElement.dataset.live = "open";
      this.catchingUp = true;
      this.send({ type: "catch_up", after: this.cursor });
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.send({ type: "ping" }), PING_MS);
    });
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", () => {
      if (this.socket !== socket || this.stopped) return;
      document.documentElement.dataset.live = "closed";
      clearInterval(this.pinger);
      this.scheduleReconnect();
    });
  }

  scheduleReconnect() {
    if (this.stopped) return;
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
    this.attempt += 1;
    // "Full jitter": spreads reconnecting pages out after a server restart.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.timer = setTimeout(() => this.open(), delay);
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
    }
  }

  async receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === "ref") {
      // Over the WebSocket size limit: fetch the notification itself.
      try {
        frame = frameFromNotification(await api(`/api/notifications/${frame.notification_id}`));
      } catch {
        return; // caught up on the next reconnect
      }
    }
    this.handle(frame);
  }

  handle(frame) {
    if (frame.type === "session.ended") {
      // Signed out everywhere (or disabled, or the password changed): reconnecting would
      // only be refused, so stop until the page is loaded again.
      this.stop();
      document.documentElement.dataset.live = "ended";
      document.dispatchEvent(new CustomEvent("nimbus:message", { detail: frame }));
      return;
    }
    if (frame.type === "catch_up.done") {
      this.cursor = Math.max(this.cursor, Number(frame.last_id) || 0);
      if (frame.more) this.send({ type: "catch_up", after: this.cursor });
      else this.catchingUp = false;
      for (const id of this.seen) if (id <= this.cursor) this.seen.delete(id);
      return;
    }
    if (frame.notification) {
      // Each notification is shown once, whether it came live, by catch-up, or both.
      const id = frame.notification.id;
      if (id <= this.cursor || this.seen.has(id)) return;
      this.seen.add(id);
      // A live frame may overtake the catch-up reply; only move the cursor once caught up.
      if (!this.catchingUp) this.cursor = Math.max(this.cursor, id);
    }
    document.dispatchEvent(new CustomEvent("nimbus:message", { detail: frame }));
    // file.status (and any other file.* frame naming a file and its status) updates badges.
    if (frame.type.startsWith("file.") && frame.file_id && frame.status) applyFileStatus(frame);
    if (frame.type === "notifications.read") setUnreadCount(frame.unread);
    if (frame.notification) {
      addToLists(frame);
      if (frame.notification.read) return;
      if (document.querySelector("[data-notifications]") && document.visibilityState === "visible") {
        // Shown on the open notifications page: seen, so read (the server's reply sets
        // the badge here and on the other pages).
        markSeen(frame.notification.id);
      } else {
        setUnreadCount(unreadCount() + 1);
      }
    }
  }
}

async function markSeen(id) {
  try {
    const { unread } = await api("/api/notifications/read", { method: "POST", body: { ids: [id] } });
    setUnreadCount(unread);
  } catch {
    setUnreadCount(unreadCount() + 1); // not marked: still unread
  }
}

function wireMarkAllRead() {
  for (const button of document.querySelectorAll("[data-mark-all-read]")) {
    button.addEventListener("click", async () => {
      const { unread } = await api("/api/notifications/read", { method: "POST", body: {} });
      setUnreadCount(unread);
      for (const item of document.querySelectorAll(".notification--unread")) {
        item.classList.remove("notification--unread");
      }
    });
  }
}

// "YYYY-MM-DD HH:MM", or with format "time" "HH:MM:SS", in the reader's time zone.
export function formatTime(iso, format = "") {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const two = (n) => String(n).padStart(2, "0");
  const clock = `${two(d.getHours())}:${two(d.getMinutes())}`;
  if (format === "time") return `${clock}:${two(d.getSeconds())}`;
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${clock}`;
}

const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

function localiseTimes(root) {
  const times = root.matches?.("time[datetime]") ? [root] : root.querySelectorAll?.("time[datetime]") || [];
  for (const time of times) {
    if (time.dataset.localised === time.dateTime) continue;
    time.dataset.localised = time.dateTime;
    time.textContent = formatTime(time.dateTime, time.dataset.format);
    time.title = ZONE ? `${time.dateTime} (shown in ${ZONE})` : time.dateTime;
  }
}

localiseTimes(document);
new MutationObserver((records) => {
  for (const record of records) for (const node of record.addedNodes) localiseTimes(node);
}).observe(document.body, { childList: true, subtree: true });

export let live = null;

if (document.querySelector('meta[name="nimbus-live-after"]')) {
  live = new LiveConnection({
    url: meta("nimbus-live-url") || defaultUrl(),
    after: meta("nimbus-live-after"),
    ticketUrl: meta("nimbus-live-ticket"),
  }).start();
  wireMarkAllRead();
}
