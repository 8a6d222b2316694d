// carewindow inbox: countdowns, the template picker's live preview, keyboard moves, and live updates.
// Never builds HTML from data: text goes in with textContent; fresh regions come from the server,
// rendered with autoescape, and are moved in as parsed nodes.

const REGIONS = ["list", "header", "thread"];
let serverOffset = 0; // server clock minus browser clock, in ms
let refreshing = null;
let refreshAgain = false;

function syncClock(doc) {
  const server = Date.parse(doc.body.dataset.serverNow || "");
  if (!Number.isNaN(server)) serverOffset = server - Date.now();
}

const now = () => Date.now() + serverOffset;
const pageUrl = () => document.getElementById("main")?.dataset.url || location.pathname;

export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} m`;
  if (m) return `${m} m ${String(sec).padStart(2, "0")} s`;
  return `${sec} s`;
}

export function ago(seconds) {
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} m ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86400)} d ago`;
}

function tick() {
  let expired = false;
  for (const badge of document.querySelectorAll("[data-expires-at]")) {
    const expires = Date.parse(badge.dataset.expiresAt);
    if (Number.isNaN(expires)) continue;
    const left = (expires - now()) / 1000;
    if (left > 0) {
      badge.textContent = `${duration(Math.ceil(left))} left`;
      badge.classList.toggle("window-urgent", left < 900);
      badge.classList.toggle("window-soon", left >= 900 && left < 3600);
    } else {
      badge.textContent = `closed ${ago(-left)}`;
      if (badge.dataset.windowState === "open") {
        // The server decides what may be sent now: ask it once the window has run out.
        badge.dataset.windowState = "closing";
        badge.className = "badge window window-closed";
        expired = true;
      }
    }
  }
  if (expired) refresh();
}

function localTimes(root) {
  const fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  for (const t of root.querySelectorAll("time[datetime]")) {
    const at = Date.parse(t.getAttribute("datetime"));
    if (!Number.isNaN(at)) t.textContent = fmt.format(at);
  }
}

function renderPreview(form) {
  const values = {};
  for (const input of form.querySelectorAll("input[data-param]")) {
    values[input.dataset.param] = input.value;
  }
  for (const out of form.querySelectorAll("[data-source]")) {
    const all = out.dataset.paramForAll;
    out.textContent = out.dataset.source.replace(/\{\{(.*?)\}\}/g, (token, key) => {
      const value = values[all ?? key];
      return value ? value : token;
    });
  }
}

function setupComposer(root) {
  const picker = root.querySelector("#template-picker");
  const forms = [...root.querySelectorAll("form[data-picker]")];
  const show = () => {
    for (const form of forms) {
      form.hidden = form.id !== picker.value;
      // Hidden forms must not be reachable by keyboard or submitted.
      for (const el of form.elements) el.disabled = form.hidden;
    }
  };
  if (picker) {
    picker.addEventListener("change", () => {
      show();
      const first = root.querySelector(`#${picker.value} input[data-param]`);
      if (first) first.focus();
    });
    show();
  }
  for (const form of forms) {
    form.addEventListener("input", () => renderPreview(form));
    renderPreview(form);
    // A media-header template: the preview names the header's file once one is picked.
    const file = form.querySelector("input[data-header-file]");
    const shown = form.querySelector(".preview-header-media");
    if (file && shown) {
      file.addEventListener("change", () => {
        const f = file.files && file.files[0];
        const kind = form.dataset.headerMedia;
        shown.textContent = f ? `[${kind}: ${f.name}, ${sizeLabel(f.size)}]` : `[${kind}: the file you pick]`;
      });
    }
  }
  setupAttach(root);
  const text = root.querySelector("#message-text");
  if (text) {
    text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !text.disabled) text.form.requestSubmit();
    });
  }
}

function sizeLabel(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

// The composer's file: chosen with the picker or dropped on the zone, previewed before sending.
function setupAttach(root) {
  const form = root.querySelector("form[data-attach]");
  if (!form) return;
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector("[data-drop]");
  const preview = form.querySelector("[data-preview]");
  const show = () => {
    const file = input.files && input.files[0];
    preview.replaceChildren();
    preview.hidden = !file;
    if (!file) return;
    if (file.type === "image/jpeg" || file.type === "image/png" || file.type === "image/webp") {
      // A data: URL (the page's policy allows data: images, not blob:).
      const img = document.createElement("img");
      img.alt = file.name;
      img.className = "media-thumb";
      const reader = new FileReader();
      reader.addEventListener("load", () => {
        img.src = reader.result;
      });
      reader.readAsDataURL(file);
      preview.append(img);
    }
    const name = document.createElement("p");
    name.className = "attach-name";
    name.textContent = `${file.name} · ${sizeLabel(file.size)}`;
    preview.append(name);
  };
  input.addEventListener("change", show);
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("is-over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("is-over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("is-over");
    if (e.dataTransfer && e.dataTransfer.files.length) {
      input.files = e.dataTransfer.files;
      show();
    }
  });
}

function threadAtBottom() {
  const t = document.getElementById("thread");
  return !t || t.scrollHeight - t.scrollTop - t.clientHeight < 40;
}

function scrollThread() {
  const t = document.getElementById("thread");
  if (t) t.scrollTop = t.scrollHeight;
}

function swap(current, fresh) {
  if (!current || !fresh) return;
  current.replaceWith(document.importNode(fresh, true));
}

// Fetch this page again and move the changed regions in. The composer is replaced only when what
// may be sent changed, so a half-written reply survives status updates.
export async function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      const res = await fetch(pageUrl(), { headers: { Accept: "text/html" }, credentials: "same-origin" });
      if (res.redirected && res.url.includes("/inbox/login")) {
        location.assign(res.url);
        return;
      }
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      syncClock(doc);
      const bottom = threadAtBottom();
      const focused = document.activeElement?.closest("[data-region=list] li a")?.getAttribute("href");
      for (const region of REGIONS) {
        swap(document.querySelector(`[data-region=${region}]`), doc.querySelector(`[data-region=${region}]`));
      }
      const composer = document.querySelector("[data-region=composer]");
      const freshComposer = doc.querySelector("[data-region=composer]");
      if (composer && freshComposer && composer.dataset.state !== freshComposer.dataset.state) {
        swap(composer, freshComposer);
        setupComposer(document.querySelector("[data-region=composer]"));
      }
      if (focused) document.querySelector(`[data-region=list] a[href="${CSS.escape(focused)}"]`)?.focus();
      localTimes(document);
      if (bottom) scrollThread();
      tick();
    } finally {
      refreshing = null;
      if (refreshAgain) {
        refreshAgain = false;
        refresh();
      }
    }
  })();
  return refreshing;
}

let debounce = null;
function scheduleRefresh() {
  clearTimeout(debounce);
  debounce = setTimeout(refresh, 100);
}

function connect() {
  const status = document.getElementById("live-status");
  const set = (state, text) => {
    if (!status) return;
    status.dataset.state = state;
    status.textContent = text;
  };
  const source = new EventSource("/inbox/events");
  // "ready" comes once the server listens: refresh to catch anything since the page was rendered.
  source.addEventListener("ready", () => {
    set("live", "live");
    scheduleRefresh();
  });
  for (const type of ["message.received", "message.status", "message.queued", "window.opened", "consent.changed", "message.media"]) {
    source.addEventListener(type, scheduleRefresh);
  }
  source.onerror = () => set("offline", "reconnecting…");
}

function keyboard() {
  document.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowDown" && e.key !== "ArrowUp") return;
    const link = document.activeElement?.closest("[data-region=list] li a");
    if (!link) return;
    const links = [...document.querySelectorAll("[data-region=list] li a")];
    const next = links[links.indexOf(link) + (e.key === "ArrowDown" ? 1 : -1)];
    if (next) {
      e.preventDefault();
      next.focus();
    }
  });
}

function start() {
  syncClock(document);
  // After a refused send the page was rendered by the POST: point the address bar back at the page.
  if (pageUrl() !== location.pathname) history.replaceState(null, "", pageUrl());
  localTimes(document);
  scrollThread();
  const composer = document.querySelector("[data-region=composer]");
  if (composer) setupComposer(composer);
  keyboard();
  tick();
  setInterval(tick, 1000);
  if (document.getElementById("live-status")) connect();
}

start();
