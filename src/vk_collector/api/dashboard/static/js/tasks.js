// Tasks list: status and type filters, paging, live progress of running tasks.

import { del, get } from "./api.js";
import {
  confirmDialog, fmtDate, h, messageArea, pager, pick, progressBar, statusBadge, table, toast,
} from "./dom.js";
import { every, isFinished, progressState, watchTask } from "./live.js";

const PAGE_SIZE = 20;
const REFRESH_MS = 5000;

export const TYPE_LABELS = { fetch_comments: "Collection", process_groups: "Groups upload" };

export const STAGE_LABELS = {
  starting: "Starting", fetching_posts: "Fetching posts", fetching_comments: "Fetching comments",
  saving_data: "Saving", completing: "Finishing", init: "Starting", fetching: "Resolving communities",
  saving: "Saving", done: "Done",
};

/** "42% · Fetching comments · Community name" */
export function progressCaption(state) {
  const parts = [`${Math.round(Number(state.percentage) || 0)}%`];
  if (state.status === "completed") parts.push("Completed");
  else if (state.status === "failed") parts.push("Failed");
  else if (state.status === "cancelled") parts.push("Cancelled");
  else if (state.stage) parts.push(STAGE_LABELS[state.stage] || state.stage);
  const group = state.currentGroup;
  if (group && !isFinished(state.status)) {
    const name = pick(group, "name") || (pick(group, "vkId", "vk_id") ? `club${pick(group, "vkId", "vk_id")}` : null);
    if (name) parts.push(name);
  }
  return parts.join(" · ");
}

function barState(status) {
  if (status === "completed") return "done";
  if (status === "failed" || status === "cancelled") return "failed";
  return "running";
}

/** One table row, reused across refreshes so that its live watcher keeps its bar. */
class TaskRow {
  constructor(task, onDelete) {
    this.id = task.id;
    this.bar = progressBar(`Progress of task ${task.id}`);
    this.statusCell = h("td");
    this.stop = null;
    this.status = null;
    this.tr = h("tr", { dataset: { taskId: String(task.id) } },
      h("td", {}, h("a", { href: `#/tasks/${task.id}` }, `#${task.id}`)),
      h("td", {}, TYPE_LABELS[task.type] || task.type),
      this.statusCell,
      h("td", { class: "cell-progress" }, this.bar.root),
      h("td", {}, fmtDate(pick(task, "createdAt", "created_at"))),
      h("td", { class: "actions" },
        h("a", { class: "btn btn-small", href: `#/tasks/${task.id}` }, "Open"),
        h("button", { type: "button", class: "btn btn-small btn-danger-ghost", onclick: () => onDelete(task) }, "Delete")));
    this.update(progressState(task));
  }

  update(state) {
    if (state.status && state.status !== this.status) {
      this.status = state.status;
      this.statusCell.replaceChildren(statusBadge(state.status));
    }
    const merged = { ...this.last, ...Object.fromEntries(Object.entries(state).filter(([, v]) => v !== undefined)) };
    this.last = merged;
    const pct = merged.status === "completed" ? 100 : merged.percentage;
    this.bar.set(pct, progressCaption({ ...merged, percentage: pct }), barState(merged.status));
  }

  watch() {
    if (this.stop || isFinished(this.status)) return;
    this.stop = watchTask(this.id, {
      onUpdate: (state) => this.update(state),
      onEnd: () => { this.stop = null; },
    });
  }

  dispose() {
    if (this.stop) this.stop();
    this.stop = null;
  }
}

export function mountTasks(root) {
  const messages = messageArea();
  const statusSelect = h("select", { id: "task-status-filter" },
    ["", "pending", "processing", "completed", "failed", "cancelled"].map((s) => h("option", { value: s }, s || "All statuses")));
  const typeSelect = h("select", { id: "task-type-filter" },
    ["", "fetch_comments", "process_groups"].map((t) => h("option", { value: t }, t ? TYPE_LABELS[t] : "All types")));
  const list = table(["Task", "Type", "Status", "Progress", "Created", ""], {
    caption: "Tasks", empty: "No tasks yet. Upload communities, then start a collection.",
  });
  list.root.id = "tasks-table";
  let page = 1;
  const pages = pager((p) => { page = p; refresh(); }, "Task pages");
  const rows = new Map();

  async function onDelete(task) {
    const ok = await confirmDialog(`Delete task #${task.id}? Its job is removed; collected posts and comments stay.`, "Delete task");
    if (!ok) return;
    try {
      await del(`/api/tasks/${task.id}`);
      toast(`Task #${task.id} deleted`, "ok");
      await refresh();
    } catch (err) {
      messages.error(err);
    }
  }

  async function refresh() {
    try {
      const body = await get("/api/tasks", {
        page, limit: PAGE_SIZE, status: statusSelect.value, type: typeSelect.value,
      });
      const tasks = Array.isArray(body.data) ? body.data : (body.data && body.data.items) || [];
      const seen = new Set();
      const trs = tasks.map((task) => {
        seen.add(task.id);
        let row = rows.get(task.id);
        if (!row) {
          row = new TaskRow(task, onDelete);
          rows.set(task.id, row);
        } else if (!row.stop) {
          row.update(progressState(task));
        } else if (isFinished(task.status)) {
          row.dispose();
          row.update(progressState(task));
        }
        row.watch();
        return row.tr;
      });
      for (const [id, row] of rows) {
        if (!seen.has(id)) { row.dispose(); rows.delete(id); }
      }
      list.set(trs);
      const p = body.pagination || { page, limit: PAGE_SIZE, total: tasks.length };
      pages.update(p);
      messages.clear();
    } catch (err) {
      messages.error(err);
      throw err;
    }
  }

  statusSelect.addEventListener("change", () => { page = 1; refresh(); });
  typeSelect.addEventListener("change", () => { page = 1; refresh(); });

  root.append(h("section", { class: "card", "aria-labelledby": "tasks-title" },
    h("div", { class: "card-head" },
      h("h1", { id: "tasks-title" }, "Tasks"),
      h("a", { class: "btn btn-primary", href: "#/collect" }, "New collection")),
    h("div", { class: "toolbar" },
      h("label", { for: "task-status-filter" }, "Status"), statusSelect,
      h("label", { for: "task-type-filter" }, "Type"), typeSelect,
      h("button", { type: "button", class: "btn btn-small", onclick: () => refresh() }, "Refresh")),
    messages.root, list.root, pages.root));

  const stopRefresh = every(refresh, REFRESH_MS);
  return () => {
    stopRefresh();
    for (const row of rows.values()) row.dispose();
  };
}
