// One task: status, live progress, stats, timestamps, errors and, for a collection,
// its results.

import { del, get, post } from "./api.js";
import {
  confirmDialog, fmtDate, fmtDuration, fmtNumber, h, messageArea, pick, progressBar, replace,
  statusBadge, table, toast,
} from "./dom.js";
import { isFinished, progressState, watchTask } from "./live.js";
import { mountResults } from "./results.js";
import { TYPE_LABELS, progressCaption } from "./tasks.js";

const STAT_LABELS = {
  groupsCompleted: "Communities done", totalGroups: "Communities", postsProcessed: "Posts",
  commentsCollected: "Comments", total: "Identifiers", processed: "Processed", valid: "Valid",
  invalid: "Invalid", duplicate: "Duplicates", saved: "Saved",
};

function statsList(stats) {
  const entries = Object.entries(stats || {}).filter(([, v]) => typeof v !== "object");
  if (!entries.length) return h("p", { class: "muted" }, "No figures yet.");
  return h("dl", { class: "stats" }, entries.map(([k, v]) => h("div", { class: "stat" },
    h("dt", {}, STAT_LABELS[k] || k), h("dd", { dataset: { stat: k } }, fmtNumber(v)))));
}

function errorsTable(errors) {
  const t = table(["Community / identifier", "Error", "When"], { caption: "Task errors", empty: "No errors." });
  t.set((errors || []).map((e) => h("tr", {},
    h("td", {}, String(pick(e, "groupId", "group_id", "identifier", "vkId") ?? "—")),
    h("td", {}, String(pick(e, "error", "message") ?? "")),
    h("td", {}, fmtDate(pick(e, "timestamp", "at"))))));
  return t.root;
}

function parametersList(task) {
  const p = task.parameters || {};
  const rows = [];
  const groups = pick(p, "groups", "groupIds", "group_ids", "groupIdentifiers");
  if (Array.isArray(groups)) rows.push(["Communities", fmtNumber(groups.length)]);
  const options = pick(p, "options") || p;
  const limit = pick(options, "limit");
  if (limit !== undefined) rows.push(["Posts per community", fmtNumber(limit)]);
  const replies = pick(options, "includeReplies", "include_replies");
  if (replies !== undefined) rows.push(["Replies", replies ? "included" : "top level only"]);
  const words = pick(options, "filterWords", "filter_words");
  if (Array.isArray(words) && words.length) rows.push(["Filter words", words.join(", ")]);
  const file = pick(p, "originalFileName", "original_file_name", "fileName");
  if (file) rows.push(["File", file]);
  return rows;
}

export function mountTaskDetail(root, taskId) {
  const messages = messageArea();
  const title = h("h1", { id: "task-title" }, `Task #${taskId}`);
  const statusSlot = h("span", { id: "task-status" });
  const bar = progressBar(`Progress of task ${taskId}`);
  bar.root.id = "task-progress";
  const statsSlot = h("div");
  const timesSlot = h("div");
  const failureSlot = h("div");
  const errorsSlot = h("div");
  const resultsSlot = h("div");
  const cancelButton = h("button", {
    type: "button", class: "btn btn-small btn-danger-ghost", id: "task-cancel", hidden: true,
    onclick: () => onCancel(),
  }, "Cancel");
  let current = {};
  let stopWatch = null;
  let resultsMounted = null;
  let disposed = false;

  const render = (task) => {
    current = { ...current, ...task };
    title.textContent = `Task #${task.id} · ${TYPE_LABELS[task.type] || task.type}`;
    replace(statusSlot, statusBadge(task.status));
    cancelButton.hidden = isFinished(task.status);
    const state = progressState(task);
    applyProgress(state);
    replace(statsSlot, statsList(task.stats));
    const started = pick(task, "startedAt", "started_at");
    const finished = pick(task, "finishedAt", "finished_at", "completedAt");
    const rows = [
      ["Created", fmtDate(pick(task, "createdAt", "created_at"))],
      ["Started", fmtDate(started)],
      ["Finished", fmtDate(finished)],
    ];
    if (started && finished) rows.push(["Duration", fmtDuration(new Date(finished) - new Date(started))]);
    rows.push(...parametersList(task));
    replace(timesSlot, h("dl", { class: "kv" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
    const failure = pick(task, "errorMessage", "error_message", "error");
    const ended = task.status === "failed" ? "Failed: " : task.status === "cancelled" ? "Cancelled: " : null;
    replace(failureSlot, ended && failure
      ? h("div", { class: "notice notice-error", role: "alert" }, h("strong", {}, ended), String(failure))
      : null);
    replace(errorsSlot, errorsTable(task.errors));
    if (isFinished(task.status) && !resultsMounted && !disposed) {
      if (task.type === "fetch_comments") {
        resultsMounted = mountResults(resultsSlot, task.id);
      } else if (task.type === "process_groups") {
        replace(resultsSlot, h("section", { class: "card" }, h("h2", {}, "Communities"),
          h("p", {}, "The resolved communities are in the ", h("a", { href: "#/groups" }, "communities list"), ".")));
        resultsMounted = () => {};
      }
    }
  };

  let lastState = {};
  function applyProgress(state) {
    lastState = { ...lastState, ...Object.fromEntries(Object.entries(state).filter(([, v]) => v !== undefined)) };
    const status = lastState.status || current.status;
    const pct = status === "completed" ? 100 : lastState.percentage;
    bar.set(pct, progressCaption({ ...lastState, status, percentage: pct }),
      status === "completed" ? "done" : status === "failed" ? "failed" : "running");
    if (state.stats && !isFinished(status)) replace(statsSlot, statsList(state.stats));
  }

  async function load() {
    try {
      const { data } = await get(`/api/tasks/${taskId}`);
      if (disposed) return;
      render(data);
      if (!isFinished(data.status) && !stopWatch) {
        stopWatch = watchTask(taskId, {
          onUpdate: (state, task) => (task ? render(task) : applyProgress(state)),
          onEnd: (task) => { stopWatch = null; if (task) render(task); },
          onError: (err) => messages.error(err),
        });
      }
      messages.clear();
    } catch (err) {
      messages.error(err);
    }
  }

  async function onCancel() {
    const ok = await confirmDialog(`Cancel task #${taskId}? Its job stops within a second and is not retried.`, "Cancel task");
    if (!ok) return;
    try {
      const { data } = await post(`/api/tasks/${taskId}/cancel`);
      toast(`Task #${taskId} cancelled`, "ok");
      render(data);
    } catch (err) {
      messages.error(err);
    }
  }

  async function onDelete() {
    const ok = await confirmDialog(`Delete task #${taskId}? Collected posts and comments stay in the database.`, "Delete task");
    if (!ok) return;
    try {
      await del(`/api/tasks/${taskId}`);
      toast(`Task #${taskId} deleted`, "ok");
      window.location.hash = "#/tasks";
    } catch (err) {
      messages.error(err);
    }
  }

  root.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/tasks" }, "‹ All tasks")),
    h("section", { class: "card", "aria-labelledby": "task-title" },
      h("div", { class: "card-head" }, h("div", { class: "title-line" }, title, statusSlot),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "btn btn-small", onclick: () => load() }, "Refresh"),
          cancelButton,
          h("button", { type: "button", class: "btn btn-small btn-danger-ghost", onclick: onDelete }, "Delete"))),
      messages.root, bar.root, failureSlot, statsSlot,
      h("div", { class: "grid-2" },
        h("div", {}, h("h2", {}, "Details"), timesSlot),
        h("div", {}, h("h2", {}, "Errors"), errorsSlot))),
    resultsSlot);
  load();
  return () => {
    disposed = true;
    if (stopWatch) stopWatch();
    if (resultsMounted) resultsMounted();
  };
}
