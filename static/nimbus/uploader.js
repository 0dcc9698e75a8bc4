// Nimbus uploader: drag and drop or pick files, send them straight to storage.
//
// The API answers POST /api/files/uploads with either a form POST target
// ({url, fields}: S3's presigned POST, or the local backend's signed URL — the same
// protocol) or a multipart plan ({multipart: {part_size, parts: [{part_number, url}]}})
// for large files: each part is PUT to its URL and the ETags are sent to /complete.
// Progress comes from XMLHttpRequest upload events; cancel aborts, retry resumes
// (multipart: only the missing parts) or starts again.
//
// Status changes arrive through live.js (elements with data-file-status="<id>") or, when
// there is no live connection, by polling the file until its status settles.

const API = "/api/files/";
const SETTLED = new Set(["accepted", "rejected", "approved", "awaiting_approval", "failed"]);
const TYPES_BY_EXTENSION = {
  png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif",
  webp: "image/webp", pdf: "application/pdf", txt: "text/plain", csv: "text/csv",
  zip: "application/zip", mp4: "video/mp4",
};
const MESSAGES = {
  file_empty: "This file is empty.",
  file_too_large: "This file is larger than the maximum allowed.",
  file_type_not_allowed: "Files of this type cannot be uploaded.",
  quota_exceeded: "This file would go over your storage quota. Delete some files first.",
  upload_expired: "The upload link expired. Retry to get a new one.",
  upload_too_large: "This file is larger than the upload allows.",
  upload_empty: "This file is empty.",
  upload_already_used: "This upload link was already used. Retry to get a new one.",
  upload_signature_invalid: "The upload link is not valid. Retry to get a new one.",
  upload_key_mismatch: "The upload was refused by storage. Retry to get a new link.",
  upload_type_mismatch: "The upload was refused by storage. Retry to get a new link.",
  upload_part_invalid: "A part of the upload was lost. Retry to send it again.",
  not_authenticated: "Your session has ended. Sign in again, then retry.",
  csrf_failed: "Reload the page, then retry.",
  invalid_input: "The upload request was not valid.",
  rate_limited: "Too many uploads at once; try again in a minute.",  // without Retry-After
  // S3's own error codes (XML bodies) for the same refusals.
  EntityTooLarge: "This file is larger than the upload allows.",
  EntityTooSmall: "This file is empty.",
  AccessDenied: "Storage refused the upload (the link may have expired). Retry.",
  network: "The connection was lost. Retry to continue.",
};

// Refusals about the file itself: sending the same file again can only fail the same way,
// so the uploader offers no Retry after them, only Dismiss.
const FINAL = new Set([
  "file_empty", "file_too_large", "file_type_not_allowed", "upload_too_large", "upload_empty",
  "invalid_input", "EntityTooLarge", "EntityTooSmall",
]);

function csrfToken() {
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (input) return input.value;
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function contentTypeOf(file) {
  if (file.type) return file.type;
  const ext = file.name.includes(".") ? file.name.split(".").pop().toLowerCase() : "";
  return TYPES_BY_EXTENSION[ext] || "application/octet-stream";
}

function formatBytes(n) {
  const units = ["bytes", "KB", "MB", "GB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

// How long to wait, in words: project.ratelimit.in_words, rounded up the same way.
export function inWords(seconds) {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  if (seconds < 90 * 60) return `${Math.ceil(seconds / 60)} minutes`;
  return `${Math.ceil(seconds / 3600)} hours`;
}

// A 429 says when to retry: Retry-After (seconds), or the error's detail.retry_after.
function retryAfter(response, error) {
  const header = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  const seconds = Number.isFinite(header) ? header : Number((error.detail || {}).retry_after);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : null;
}

class UploadError extends Error {
  constructor(code, message) {
    super(message || MESSAGES[code] || "The upload failed.");
    this.code = code;
  }
}

async function api(method, path, body) {
  let response;
  try {
    response = await fetch(API + path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new UploadError("network");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || {};
    const wait = response.status === 429 ? retryAfter(response, error) : null;
    if (wait !== null) {
      throw new UploadError("rate_limited", `Too many uploads at once; try again in ${inWords(wait)}.`);
    }
    throw new UploadError(error.code || `http_${response.status}`, MESSAGES[error.code] || error.message);
  }
  return data;
}

// One XMLHttpRequest with progress; resolves with the request, rejects with UploadError.
function send(method, url, body, onProgress, track) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    track(xhr);
    xhr.open(method, url);
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded); });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr);
      reject(storageError(xhr));
    });
    xhr.addEventListener("error", () => reject(new UploadError("network")));
    xhr.addEventListener("abort", () => reject(new UploadError("cancelled", "Cancelled.")));
    xhr.send(body);
  });
}

function storageError(xhr) {
  const text = xhr.responseText || "";
  try {
    const code = JSON.parse(text).error.code;
    return new UploadError(code);
  } catch { /* S3 answers in XML */ }
  const match = text.match(/<Code>([^<]+)<\/Code>/);
  return new UploadError(match ? match[1] : `http_${xhr.status}`);
}

class Upload {
  constructor(file, view) {
    this.file = file;
    this.view = view;
    this.xhrs = new Set();
    this.fileId = null;
    this.plan = null;
    this.cancelled = false;
  }

  track = (xhr) => { this.xhrs.add(xhr); };

  async start() {
    this.cancelled = false;
    this.view.state("Starting…");
    try {
      if (this.plan) await this.resume();
      else await this.begin();
      this.view.sent(this.fileId);
    } catch (error) {
      if (this.cancelled) return;
      this.view.failed(error);
    }
  }

  async begin() {
    const started = await api("POST", "uploads", {
      name: this.file.name, content_type: contentTypeOf(this.file), size: this.file.size,
    });
    this.fileId = started.file_id;
    this.view.bind(this.fileId);
    if (started.multipart) {
      this.plan = { ...started.multipart, etags: new Map() };
      await this.sendParts(started.multipart.parts);
    } else {
      await this.post(started);
    }
  }

  async post(target) {
    const form = new FormData();
    for (const [name, value] of Object.entries(target.fields)) form.append(name, value);
    form.append("file", this.file);  // S3 requires the file to be the last field
    this.view.state("Uploading…");
    await send("POST", target.url, form, (n) => this.view.progress(n, this.file.size), this.track);
  }

  async resume() {
    const state = await api("GET", `${this.fileId}/parts`);
    for (const part of state.uploaded) this.plan.etags.set(part.part_number, part.etag);
    await this.sendParts(state.multipart.parts);
  }

  async sendParts(parts) {
    const size = this.plan.part_size;
    const loaded = new Map();
    const report = () => {
      let done = 0;
      for (const n of this.plan.etags.keys()) done += Math.min(size, this.file.size - (n - 1) * size);
      for (const n of loaded.keys()) done += loaded.get(n);
      this.view.progress(done, this.file.size);
    };
    this.view.state("Uploading in parts…");
    for (const part of parts) {
      if (this.plan.etags.has(part.part_number)) continue;
      const start = (part.part_number - 1) * size;
      const blob = this.file.slice(start, Math.min(start + size, this.file.size));
      const xhr = await send("PUT", part.url, blob, (n) => { loaded.set(part.part_number, n); report(); }, this.track);
      loaded.delete(part.part_number);
      this.plan.etags.set(part.part_number, (xhr.getResponseHeader("ETag") || "").replaceAll('"', ""));
      report();
    }
    const done = [...this.plan.etags.entries()].sort((a, b) => a[0] - b[0]);
    await api("POST", `${this.fileId}/complete`, {
      parts: done.map(([part_number, etag]) => ({ part_number, etag })),
    });
  }

  async cancel() {
    this.cancelled = true;
    for (const xhr of this.xhrs) xhr.abort();
    if (this.fileId) {
      const path = this.plan ? `${this.fileId}/abort` : this.fileId;
      await api(this.plan ? "POST" : "DELETE", path).catch(() => {});
      document.querySelector(`tr[data-file-id="${this.fileId}"]`)?.remove();
    }
    this.view.remove();
  }

  async retry() {
    if (!this.plan && this.fileId) {
      // A form POST URL is single use: drop the unfinished record and ask for a new one.
      await api("DELETE", this.fileId).catch(() => {});
      document.querySelector(`tr[data-file-id="${this.fileId}"]`)?.remove();
      this.fileId = null;
    }
    this.start();
  }
}

class UploadView {
  constructor(list, file) {
    this.item = document.createElement("li");
    this.item.innerHTML = `
      <span class="upload__name"></span>
      <span class="upload__actions">
        <button type="button" class="button button--small button--secondary" data-retry hidden>Retry</button>
        <button type="button" class="button button--small button--secondary" data-cancel>Cancel</button>
      </span>
      <progress max="100" value="0" aria-label="Upload progress"></progress>
      <span class="upload__state" role="status"></span>`;
    const name = this.item.querySelector(".upload__name");
    name.textContent = `${file.name} (${formatBytes(file.size)})`;
    name.title = file.name;
    this.bar = this.item.querySelector("progress");
    this.text = this.item.querySelector(".upload__state");
    this.retryButton = this.item.querySelector("[data-retry]");
    this.cancelButton = this.item.querySelector("[data-cancel]");
    list.append(this.item);
  }

  state(text, isError = false) {
    this.text.textContent = text;
    this.item.classList.toggle("notice--error", isError);
  }

  progress(loaded, total) {
    const percent = total ? Math.round((loaded / total) * 100) : 100;
    this.bar.value = percent;
    this.state(`Uploading… ${percent}%`);
  }

  bind(fileId) { this.item.dataset.uploadFileId = fileId; }

  sent(fileId) {
    this.bar.value = 100;
    this.retryButton.hidden = true;
    this.cancelButton.hidden = true;
    this.state("Uploaded. Checking the file…");
    addRow(fileId).then(() => watch(fileId, () => this.remove()));
  }

  failed(error) {
    this.state(error.message, true);
    const final = FINAL.has(error.code);
    this.retryButton.hidden = final;
    if (final) this.cancelButton.textContent = "Dismiss";
  }

  remove() { this.item.remove(); }
}

async function addRow(fileId) {
  const file = await api("GET", fileId).catch(() => null);
  const rows = document.querySelector("[data-file-rows]");
  if (!file || !rows || rows.querySelector(`tr[data-file-id="${fileId}"]`)) return;
  const row = document.createElement("tr");
  row.dataset.fileId = fileId;
  row.innerHTML = `<td><a class="file-name"></a></td><td></td>
    <td><span class="status"></span> <span class="reason"></span></td><td><time></time></td>
    <td class="file-actions"><a class="button button--small button--secondary">Delete</a></td>`;
  const link = row.querySelector("a");
  link.href = `/files/${fileId}/`;
  link.textContent = file.name;
  link.title = file.name;
  const remove = row.querySelector(".file-actions a");
  remove.href = `/files/${fileId}/delete/`;
  remove.setAttribute("aria-label", `Delete ${file.name}`);
  remove.dataset.fileDelete = fileId;
  row.children[1].textContent = formatBytes(file.declared_size);
  // live.js shows it in the reader's time zone, as it does the server-rendered rows.
  row.querySelector("time").dateTime = file.created_at;
  row.querySelector(".status").dataset.fileStatus = fileId;
  row.querySelector(".reason").dataset.fileReason = fileId;
  rows.prepend(row);
  document.querySelector("[data-file-table]")?.removeAttribute("hidden");
  document.querySelector("[data-empty]")?.setAttribute("hidden", "");
  showStatus(fileId, file.status, file.status_label, file.reason_message);
}

// Update every element showing this file's status (list rows, detail page).
export function showStatus(fileId, status, label, reason = "") {
  for (const el of document.querySelectorAll(`[data-file-status="${fileId}"]`)) {
    el.className = `status status-${status}`;
    el.textContent = label || status;
  }
  for (const el of document.querySelectorAll(`[data-file-reason="${fileId}"]`)) {
    el.textContent = reason || "";
    el.classList.remove("reason--hint");
  }
  for (const el of document.querySelectorAll(`[data-file-download="${fileId}"]`)) {
    el.hidden = status !== "approved";  // apps.files.models.DOWNLOADABLE
  }
}

// Until the status settles, poll (live.js updates the same elements when connected).
async function watch(fileId, onSettled) {
  for (let delay = 1000; delay < 60000; delay = Math.min(delay * 1.5, 10000)) {
    const file = await api("GET", fileId).catch(() => null);
    if (file) showStatus(fileId, file.status, file.status_label, file.reason_message);
    if (!file || SETTLED.has(file.status)) break;
    await new Promise((r) => setTimeout(r, delay));
  }
  onSettled();
}

export function mountUploader(root) {
  const input = root.querySelector("[data-file-input]");
  const zone = root.querySelector("[data-dropzone]");
  const list = root.querySelector("[data-uploads]");
  const begin = (files) => {
    for (const file of files) {
      const view = new UploadView(list, file);
      const upload = new Upload(file, view);
      view.cancelButton.addEventListener("click", () => upload.cancel());
      view.retryButton.addEventListener("click", () => { view.retryButton.hidden = true; upload.retry(); });
      upload.start();
    }
  };
  input.addEventListener("change", () => { begin([...input.files]); input.value = ""; });
  // The whole zone is a button: a click anywhere opens the picker (the label inside
  // already does so itself, and the input's own click bubbles here too).
  zone.addEventListener("click", (e) => {
    if (!e.target.closest("label, input")) input.click();
  });
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (e) => { e.preventDefault(); zone.classList.add("is-dragover"); });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("is-dragover"));
  }
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer?.files?.length) begin([...e.dataTransfer.files]);
  });
}

// Live messages from live.js (which itself updates [data-file-status] / [data-file-reason]):
// show the download link once a file passed inspection, and list the review's steps.
document.addEventListener("nimbus:message", (e) => {
  const message = e.detail || {};
  if (!message.file_id) return;
  const id = CSS.escape(String(message.file_id));
  if (message.type === "file.status") {
    for (const el of document.querySelectorAll(`[data-file-download="${id}"]`)) {
      el.hidden = message.status !== "approved";  // apps.files.models.DOWNLOADABLE
    }
  }
  if (message.type === "workflow.step" && String(message.event || "").endsWith("StateEntered")) {
    const list = document.querySelector(`[data-review-list="${id}"]`);
    if (list && message.state) {
      const item = document.createElement("li");
      item.textContent = message.label || message.state;
      if (message.timestamp) {
        const time = document.createElement("time");
        time.className = "muted";
        time.dataset.format = "time";
        time.dateTime = message.timestamp;  // live.js shows it in the reader's zone
        item.append(" ", time);
      }
      list.append(item);
      document.querySelector("[data-review-empty]")?.setAttribute("hidden", "");
    }
  }
});

const root = document.querySelector("[data-uploader]");
if (root) mountUploader(root);
