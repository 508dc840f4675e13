// The one place that talks HTTP: builds URLs, adds the API key, unwraps the envelope
// ({success, data, pagination?, message?} or {success: false, error: "<message>", code, details?})
// and turns every failure into an ApiError with a message a person can read.

const KEY_STORAGE = "vkc.apiKey";
const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const RETRY_429_DELAYS_MS = [1000, 2000, 4000];
const MAX_KEY_PROMPTS = 3;

export class ApiError extends Error {
  constructor(message, { status = 0, code = "HTTP_ERROR", details = null, requestId = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }
}

export function getApiKey() {
  try { return sessionStorage.getItem(KEY_STORAGE) || ""; } catch { return ""; }
}

export function setApiKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch { /* storage disabled: the key lives for this request only */ }
}

let pendingKeyPrompt = null;
// Set when the user cancels the key dialog: background reads stop asking until a change
// (or the header's "API key" button) asks again.
let declined = false;

/** Ask for the API key once (concurrent callers share one dialog); resolves the key or "". */
export function askApiKey(reason) {
  if (pendingKeyPrompt) return pendingKeyPrompt;
  const dialog = document.getElementById("api-key-dialog");
  const input = document.getElementById("api-key-input");
  const reasonEl = document.getElementById("api-key-reason");
  if (reason) reasonEl.textContent = reason;
  input.value = getApiKey();
  dialog.returnValue = "";
  pendingKeyPrompt = new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      pendingKeyPrompt = null;
      if (dialog.returnValue === "save") {
        setApiKey(input.value.trim());
        declined = false;
        document.dispatchEvent(new CustomEvent("apikeychange"));
        resolve(input.value.trim());
      } else {
        declined = true;
        if (dialog.returnValue === "clear") setApiKey("");
        document.dispatchEvent(new CustomEvent("apikeychange"));
        resolve("");
      }
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
  return pendingKeyPrompt;
}

export function url(path, query) {
  const u = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === "") continue;
    u.searchParams.set(key, String(value));
  }
  return u.pathname + u.search;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function retryAfterMs(response, attempt) {
  const header = Number(response.headers.get("Retry-After"));
  if (Number.isFinite(header) && header > 0) return Math.min(header * 1000, 30000);
  return RETRY_429_DELAYS_MS[attempt];
}

/** Turn a non-success response (and its parsed body, if any) into an ApiError. */
export function errorFrom(status, body, requestId) {
  const err = body && typeof body === "object" ? body.error : null;
  if (typeof err === "string" && err) {
    return new ApiError(err, {
      status, code: body.code || "HTTP_ERROR", details: body.details ?? null, requestId,
    });
  }
  if (body && typeof body === "object" && body.detail) {
    const msg = typeof body.detail === "string" ? body.detail : "Invalid request";
    return new ApiError(msg, { status, details: typeof body.detail === "string" ? null : body.detail, requestId });
  }
  const fallback = {
    400: "The request was not accepted", 401: "An API key is required", 403: "The API key was refused",
    404: "Not found", 413: "The file is too large", 429: "Too many requests; try again shortly",
    500: "The server failed to handle the request", 502: "The server is unreachable (bad gateway)",
    503: "The service is unavailable", 504: "The server took too long to answer",
  };
  return new ApiError(fallback[status] || `Request failed with HTTP ${status}`, { status, requestId });
}

async function parseBody(response) {
  const type = response.headers.get("Content-Type") || "";
  if (!type.includes("json")) return null;
  try { return await response.json(); } catch { return null; }
}

/**
 * Call the API; resolves the whole envelope ({data, pagination, message, ...}).
 * 429 is retried after 1, 2 and 4 s (or Retry-After); a 401/403 on a change asks for the
 * API key once and repeats the request.
 */
export async function request(method, path, { query, json, body, signal, allowStatus = [] } = {}) {
  const headers = { Accept: "application/json" };
  let payload = body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  }
  let keyPrompts = 0;
  for (let attempt = 0; ; attempt += 1) {
    const key = getApiKey();
    if (key) headers["X-API-Key"] = key;
    else delete headers["X-API-Key"];
    let response;
    try {
      response = await fetch(url(path, query), { method, headers, body: payload, signal, cache: "no-store" });
    } catch (e) {
      if (e && e.name === "AbortError") throw e;
      throw new ApiError("Cannot reach the server. Is it running?", { code: "NETWORK_ERROR" });
    }
    if (response.status === 429 && attempt < RETRY_429_DELAYS_MS.length) {
      await sleep(retryAfterMs(response, attempt));
      continue;
    }
    const parsed = await parseBody(response);
    const requestId = response.headers.get("X-Request-ID") || (parsed && parsed.requestId) || null;
    if ((response.status === 401 || response.status === 403) && keyPrompts < MAX_KEY_PROMPTS && (MUTATING.has(method) || !declined)) {
      keyPrompts += 1;
      const reason = key
        ? "The API key was refused. Enter the right one; it is kept in this browser tab only."
        : "This server requires an API key here. It is kept in this browser tab only (sessionStorage).";
      const entered = await askApiKey(reason);
      if (entered) { attempt = -1; continue; }
    }
    const allowed = allowStatus.includes(response.status);
    if (!response.ok && !allowed) throw errorFrom(response.status, parsed, requestId);
    if (parsed && parsed.success === false && !allowed) throw errorFrom(response.status, parsed, requestId);
    if (parsed === null && response.status !== 204) {
      throw new ApiError(`Unexpected answer from the server (HTTP ${response.status})`, { status: response.status });
    }
    return { ...(parsed || {}), httpStatus: response.status };
  }
}

export const get = (path, query, opts = {}) => request("GET", path, { ...opts, query });
export const post = (path, json, opts = {}) => request("POST", path, { ...opts, json });
export const del = (path, json, opts = {}) => request("DELETE", path, { ...opts, json });

/**
 * Upload a FormData with XMLHttpRequest (fetch has no upload progress).
 * `onProgress(fraction)` gets 0..1; resolves the envelope like `request`.
 */
export function upload(path, formData, { query, onProgress } = {}) {
  const send = () => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url(path, query));
    xhr.setRequestHeader("Accept", "application/json");
    const key = getApiKey();
    if (key) xhr.setRequestHeader("X-API-Key", key);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener("load", () => {
      let parsed = null;
      try { parsed = JSON.parse(xhr.responseText); } catch { parsed = null; }
      resolve({ status: xhr.status, parsed, requestId: xhr.getResponseHeader("X-Request-ID") });
    });
    xhr.addEventListener("error", () => reject(new ApiError("Cannot reach the server. Is it running?", { code: "NETWORK_ERROR" })));
    xhr.addEventListener("abort", () => reject(new ApiError("Upload cancelled", { code: "ABORTED" })));
    xhr.send(formData);
  });
  return (async () => {
    let { status, parsed, requestId } = await send();
    if (status === 401 || status === 403) {
      declined = false;
      const entered = await askApiKey("This server requires an API key for uploads. It is kept in this browser tab only.");
      if (entered) ({ status, parsed, requestId } = await send());
    }
    if (status < 200 || status >= 300 || (parsed && parsed.success === false)) throw errorFrom(status, parsed, requestId);
    return { ...(parsed || {}), httpStatus: status };
  })();
}
