// Small DOM helpers.  Text from the API (community names, post and comment text) is
// user content: it only ever reaches the page through text nodes, never innerHTML.

/**
 * Create an element.  `attrs` keys: `class`, `dataset` (object), `on<event>` (listener),
 * boolean values toggle attributes, other values become attributes (strings) or
 * properties when the key is `value`, `checked`, `disabled`, `hidden`.
 * Children: nodes, strings/numbers (text nodes), arrays, null/undefined/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (["value", "checked", "disabled", "hidden", "indeterminate"].includes(key)) {
      el[key] = value;
    } else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** First present value among `names` on `obj` (API fields may be camelCase or snake_case). */
export function pick(obj, ...names) {
  if (!obj) return undefined;
  for (const name of names) {
    if (obj[name] !== undefined && obj[name] !== null) return obj[name];
  }
  return undefined;
}

const numberFormat = new Intl.NumberFormat();

export function fmtNumber(value) {
  if (value === undefined || value === null || value === "") return "—";
  const n = Number(value);
  return Number.isFinite(n) ? numberFormat.format(n) : String(value);
}

/** ISO strings, unix seconds or milliseconds → local date and time. */
export function fmtDate(value) {
  if (value === undefined || value === null || value === "") return "—";
  let date;
  if (typeof value === "number") date = new Date(value < 1e12 ? value * 1000 : value);
  else date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, {
    year: "numeric", month: "short", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function fmtDuration(ms) {
  if (ms === undefined || ms === null) return "—";
  const s = Number(ms) / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s % 60)} s`;
}

export function truncate(text, max) {
  const s = String(text ?? "");
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

const STATUS_CLASSES = {
  completed: "ok", healthy: "ok", valid: "ok", done: "ok", active: "info",
  processing: "info", running: "info", waiting: "muted", pending: "muted", delayed: "muted",
  paused: "warn", duplicate: "warn", skipped: "warn", degraded: "warn", stale: "warn",
  failed: "bad", unhealthy: "bad", invalid: "bad", error: "bad", cancelled: "warn",
};

export function statusBadge(status) {
  const kind = STATUS_CLASSES[String(status).toLowerCase()] || "muted";
  return h("span", { class: `badge badge-${kind}` }, String(status ?? "unknown"));
}

/** A progress bar (`role=progressbar`) with a caption; `set(percent, caption)` updates it. */
export function progressBar(label) {
  const fill = h("div", { class: "progress-fill" });
  const bar = h("div", {
    class: "progress", role: "progressbar", "aria-label": label,
    "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0",
  }, fill);
  const caption = h("span", { class: "progress-caption" });
  const root = h("div", { class: "progress-wrap" }, bar, caption);
  return {
    root,
    set(percent, text, state) {
      const p = Math.max(0, Math.min(100, Math.round(Number(percent) || 0)));
      fill.style.width = `${p}%`;
      bar.setAttribute("aria-valuenow", String(p));
      bar.dataset.state = state || "";
      caption.textContent = text === undefined ? `${p}%` : text;
    },
  };
}

/** An inline message area for one panel. */
export function messageArea() {
  const root = h("div", { class: "messages", "aria-live": "polite" });
  return {
    root,
    clear() { root.replaceChildren(); },
    error(err) { replace(root, errorNotice(err)); },
    info(text) { replace(root, h("p", { class: "notice notice-info" }, text)); },
    success(text) { replace(root, h("p", { class: "notice notice-ok" }, text)); },
  };
}

export function errorNotice(err) {
  const message = err && err.message ? err.message : String(err);
  const parts = [h("strong", {}, "Error: "), message];
  if (err && err.code && err.code !== "HTTP_ERROR") parts.push(h("span", { class: "muted" }, ` (${err.code})`));
  const details = err && err.details ? formatDetails(err.details) : null;
  return h("div", { class: "notice notice-error", role: "alert" },
    h("p", {}, parts),
    details ? h("pre", { class: "details" }, details) : null,
    err && err.requestId ? h("p", { class: "muted small" }, `Request ${err.requestId}`) : null);
}

function formatDetails(details) {
  if (typeof details === "string") return details;
  if (details && Array.isArray(details.fields)) return formatDetails(details.fields);
  if (Array.isArray(details)) {
    return details.map((d) => {
      if (d && typeof d === "object") {
        const where = Array.isArray(d.loc) ? d.loc.join(".") : [d.in, d.field || d.path].filter(Boolean).join(" ");
        return where ? `${where}: ${d.msg || d.message || JSON.stringify(d)}` : (d.msg || d.message || JSON.stringify(d));
      }
      return String(d);
    }).join("\n");
  }
  try { return JSON.stringify(details, null, 2); } catch { return String(details); }
}

export function toast(text, kind = "info") {
  const area = document.getElementById("toasts");
  const el = h("div", { class: `toast toast-${kind}` }, text);
  area.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
}

/** A modal confirmation; resolves true when the user confirms. */
export function confirmDialog(message, okLabel = "Confirm") {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-message").textContent = message;
  document.getElementById("confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Prev/next pager with a "a–b of n" caption; `update({page, limit, total})`. */
export function pager(onPage, label = "Pages") {
  const info = h("span", { class: "pager-info" });
  const prev = h("button", { type: "button", class: "btn btn-small", "aria-label": "Previous page" }, "‹ Prev");
  const next = h("button", { type: "button", class: "btn btn-small", "aria-label": "Next page" }, "Next ›");
  const root = h("nav", { class: "pager", "aria-label": label }, prev, info, next);
  let current = 1;
  prev.addEventListener("click", () => onPage(current - 1));
  next.addEventListener("click", () => onPage(current + 1));
  return {
    root,
    update({ page, limit, total, hasNext, hasPrev }) {
      current = page;
      const totalN = Number(total) || 0;
      const first = totalN === 0 ? 0 : (page - 1) * limit + 1;
      const last = Math.min(page * limit, totalN);
      info.textContent = `${fmtNumber(first)}–${fmtNumber(last)} of ${fmtNumber(totalN)}`;
      prev.disabled = hasPrev === undefined ? page <= 1 : !hasPrev;
      next.disabled = hasNext === undefined ? last >= totalN : !hasNext;
    },
  };
}

/** A table whose body `set(rows)` replaces; `columns` are header labels. */
export function table(columns, { caption, empty = "Nothing here yet." } = {}) {
  const tbody = h("tbody");
  const el = h("table", { class: "table" },
    caption ? h("caption", { class: "sr-only" }, caption) : null,
    h("thead", {}, h("tr", {}, columns.map((c) => (c instanceof Node ? h("th", { scope: "col" }, c) : h("th", { scope: "col" }, c))))),
    tbody);
  const root = h("div", { class: "table-wrap" }, el);
  return {
    root,
    tbody,
    set(rows) {
      if (!rows.length) {
        replace(tbody, h("tr", { class: "empty-row" }, h("td", { colspan: String(columns.length) }, empty)));
      } else {
        replace(tbody, rows);
      }
    },
  };
}
