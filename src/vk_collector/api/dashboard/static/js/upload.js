// Upload a groups file (drag and drop or file picker), show upload progress, the lines
// that could not be parsed, then follow the resolution task until it is done.

import { get, upload } from "./api.js";
import { fmtNumber, h, messageArea, pick, progressBar, replace, table } from "./dom.js";
import { isFinished } from "./live.js";
import { progressCaption } from "./tasks.js";

const MAX_BYTES = 10 * 1024 * 1024;
const ENCODINGS = [["", "Detect automatically"], ["utf-8", "UTF-8"], ["windows-1251", "Windows-1251"], ["koi8-r", "KOI8-R"]];
const POLL_BASE_MS = 700;
const POLL_MAX_MS = 10000;

/** The server reports bad lines as "line 7: reason"; show them as a table. */
function badLines(lines, total) {
  if (!lines || !lines.length) return null;
  const t = table(["Line", "Problem"], { caption: "Lines that are not communities" });
  t.root.id = "upload-invalid";
  t.set(lines.map((l) => {
    const text = typeof l === "string" ? l : String(pick(l, "error", "message") ?? JSON.stringify(l));
    const m = /^line (\d+):\s*(.*)$/s.exec(text);
    return h("tr", {}, h("td", { class: "num" }, m ? m[1] : ""), h("td", {}, m ? m[2] : text));
  }));
  return h("details", { class: "lines", open: true },
    h("summary", {}, `Lines that are not communities (${fmtNumber(total)})`),
    t.root,
    total > lines.length ? h("p", { class: "muted small" }, `The first ${fmtNumber(lines.length)} of ${fmtNumber(total)} are shown.`) : null);
}

function download(name, text) {
  const link = h("a", { href: URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" })), download: name });
  document.body.append(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
}

export function mountUpload(root) {
  const messages = messageArea();
  const fileInput = h("input", { type: "file", id: "upload-file", name: "file", accept: ".txt,.csv,text/plain,text/csv", class: "sr-only" });
  const fileName = h("span", { class: "drop-file", id: "upload-file-name" }, "No file chosen");
  const drop = h("label", { class: "dropzone", for: "upload-file", id: "upload-dropzone" },
    h("span", { class: "drop-title" }, "Drop a .txt or .csv file here"),
    h("span", { class: "muted" }, "or click to choose one · up to 10 MB · one community per line: id, screen name or link"),
    fileName);
  const encoding = h("select", { id: "upload-encoding", name: "encoding" }, ENCODINGS.map(([v, l]) => h("option", { value: v }, l)));
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "upload-submit", disabled: true }, "Upload");
  const sendBar = progressBar("Upload progress");
  sendBar.root.id = "upload-send-progress";
  sendBar.root.hidden = true;
  const outcome = h("div", { id: "upload-outcome" });
  let file = null;
  let timer = null;
  let disposed = false;

  function choose(f) {
    messages.clear();
    if (!f) return;
    if (f.size > MAX_BYTES) {
      messages.error(new Error(`${f.name} is ${fmtNumber(Math.round(f.size / 1024))} KB; the limit is 10 MB.`));
      return;
    }
    file = f;
    fileName.textContent = `${f.name} · ${fmtNumber(Math.max(1, Math.round(f.size / 1024)))} KB`;
    submit.disabled = false;
  }

  fileInput.addEventListener("change", () => choose(fileInput.files[0]));
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("dragging"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.remove("dragging"); });
  }
  drop.addEventListener("drop", (e) => choose(e.dataTransfer && e.dataTransfer.files[0]));

  function followTask(taskId) {
    const bar = progressBar("Resolving communities");
    bar.root.id = "upload-task-progress";
    const statsSlot = h("div");
    const errorsSlot = h("div");
    const doneSlot = h("div");
    outcome.append(h("section", { class: "card", "aria-labelledby": "resolve-title" },
      h("h2", { id: "resolve-title" }, "Resolving communities ", h("a", { href: `#/tasks/${taskId}`, class: "small" }, `task #${taskId}`)),
      bar.root, statsSlot, errorsSlot, doneSlot));
    let delay = POLL_BASE_MS;
    const poll = async () => {
      timer = null;
      if (disposed) return;
      try {
        const { data } = await get(`/api/groups/upload/${taskId}/status`);
        if (disposed) return;
        delay = POLL_BASE_MS;
        const status = data.status;
        const progress = pick(data, "progress");
        const pct = status === "completed" ? 100 : (typeof progress === "object" ? pick(progress, "percentage") : progress);
        bar.set(pct, progressCaption({ status, percentage: pct, stage: data.stage }),
          status === "completed" ? "done" : status === "failed" ? "failed" : "running");
        const stats = data.stats || {};
        replace(statsSlot, h("dl", { class: "stats" }, Object.entries(stats).filter(([, v]) => typeof v !== "object").map(([k, v]) =>
          h("div", { class: "stat" }, h("dt", {}, k), h("dd", { dataset: { stat: k } }, fmtNumber(v))))));
        const errors = data.errorDetails || [];
        if (errors.length) {
          const t = table(["Identifier", "Problem"], { caption: "Communities that could not be resolved" });
          t.set(errors.map((e) => h("tr", {}, h("td", { class: "mono" }, String(pick(e, "identifier", "groupId") ?? "")), h("td", {}, String(pick(e, "error", "message") ?? "")))));
          replace(errorsSlot, h("details", { class: "lines", open: true }, h("summary", {}, `Not resolved (${fmtNumber(errors.length)})`), t.root,
            h("button", { type: "button", class: "btn btn-small", onclick: () => download(`groups_upload_errors_${taskId}.txt`, errors.map((e) => `${pick(e, "identifier", "groupId")}\t${pick(e, "error", "message")}`).join("\n")) }, "Download list")));
        }
        if (isFinished(status)) {
          replace(doneSlot, status === "completed"
            ? h("p", { class: "notice notice-ok", id: "upload-done" }, "Done. ", h("a", { href: "#/groups" }, "See the communities"), " or ", h("a", { href: "#/collect" }, "start a collection"), ".")
            : h("p", { class: "notice notice-error", role: "alert" }, `Resolution failed: ${pick(data, "errorMessage", "error_message", "error") || "see the task for details"}`));
          return;
        }
      } catch (err) {
        delay = Math.min(delay * 1.5, POLL_MAX_MS);
        messages.error(err);
      }
      timer = setTimeout(poll, delay);
    };
    poll();
  }

  const form = h("form", { class: "form", id: "upload-form" },
    drop, fileInput,
    h("div", { class: "field" }, h("label", { for: "upload-encoding" }, "Encoding"), encoding),
    h("div", { class: "form-actions" }, submit),
    sendBar.root);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file) return;
    messages.clear();
    outcome.replaceChildren();
    submit.disabled = true;
    sendBar.root.hidden = false;
    sendBar.set(0, "Uploading… 0%");
    const data = new FormData();
    data.append("file", file, file.name);
    if (encoding.value) data.append("encoding", encoding.value);
    try {
      const body = await upload("/api/groups/upload", data, {
        onProgress: (f) => sendBar.set(f * 100, `Uploading… ${Math.round(f * 100)}%`),
      });
      sendBar.set(100, "Uploaded", "done");
      const d = body.data || {};
      const taskId = pick(d, "taskId", "task_id", "id");
      const count = (v) => (Array.isArray(v) ? v.length : Number(v) || 0);
      const identifiers = count(pick(d, "identifiers", "totalGroups"));
      const invalid = count(pick(d, "invalidLines", "invalid_lines"));
      const duplicates = count(pick(d, "duplicateLines", "duplicate_lines"));
      const detected = pick(d, "encoding");
      outcome.append(h("section", { class: "card", "aria-labelledby": "parsed-title" },
        h("h2", { id: "parsed-title" }, "File read"),
        h("dl", { class: "stats" },
          h("div", { class: "stat" }, h("dt", {}, "Communities"), h("dd", { id: "upload-identifiers" }, fmtNumber(identifiers))),
          h("div", { class: "stat" }, h("dt", {}, "Bad lines"), h("dd", { id: "upload-invalid-count" }, fmtNumber(invalid))),
          h("div", { class: "stat" }, h("dt", {}, "Duplicate lines"), h("dd", { id: "upload-duplicate-count" }, fmtNumber(duplicates))),
          pick(d, "totalLines") !== undefined ? h("div", { class: "stat" }, h("dt", {}, "Lines"), h("dd", {}, fmtNumber(d.totalLines))) : null,
          detected ? h("div", { class: "stat" }, h("dt", {}, "Encoding"), h("dd", {}, String(detected))) : null),
        badLines(pick(d, "errors") || [], invalid)));
      if (taskId !== undefined) followTask(taskId);
    } catch (err) {
      sendBar.set(0, "Upload failed", "failed");
      messages.error(err);
    } finally {
      submit.disabled = !file;
    }
  });

  root.append(h("section", { class: "card narrow", "aria-labelledby": "upload-title" },
    h("h1", { id: "upload-title" }, "Upload communities"),
    messages.root, form), outcome);
  return () => {
    disposed = true;
    if (timer) clearTimeout(timer);
  };
}
