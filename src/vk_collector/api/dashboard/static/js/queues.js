// Queues: counts, pause/resume per queue, pause/resume workers, failed jobs to retry
// or remove.  Refreshed every 5 s while shown.

import { del, get, post } from "./api.js";
import { confirmDialog, fmtDate, fmtNumber, h, messageArea, pick, replace, statusBadge, table, toast, truncate } from "./dom.js";
import { every } from "./live.js";

const REFRESH_MS = 5000;
const COUNT_KEYS = ["waiting", "active", "delayed", "completed", "failed", "paused", "prioritized", "waiting-children"];

function queueList(data) {
  if (Array.isArray(data)) return data;
  const queues = data && (data.queues || data);
  if (Array.isArray(queues)) return queues;
  return Object.entries(queues || {}).filter(([, v]) => v && typeof v === "object").map(([name, v]) => ({ name, ...v }));
}

export function mountQueues(root) {
  const messages = messageArea();
  const cards = h("div", { class: "queue-grid", id: "queue-cards" });
  const queueFilter = h("select", { id: "jobs-queue" }, h("option", { value: "" }, "All queues"));
  const statusFilter = h("select", { id: "jobs-status" },
    ["failed", "delayed", "waiting", "active", "completed"].map((s) => h("option", { value: s }, s)));
  const jobs = table(["Job", "Queue", "Task", "Attempts", "Failed reason", "When", ""], {
    caption: "Jobs", empty: "No jobs in this state.",
  });
  jobs.root.id = "jobs-table";
  let knownQueues = [];

  async function act(label, fn) {
    try {
      await fn();
      toast(label, "ok");
      await refresh();
    } catch (err) {
      messages.error(err);
    }
  }

  function queueCard(q) {
    const name = q.name || q.queue;
    const counts = q.counts || q.jobCounts || {};
    const paused = Boolean(pick(q, "paused", "isPaused"));
    const workers = pick(q, "workers");
    const workerCount = Array.isArray(workers) ? workers.length : workers;
    return h("article", { class: "card queue-card", dataset: { queue: name } },
      h("div", { class: "card-head" }, h("h2", {}, name), paused ? statusBadge("paused") : statusBadge("active")),
      h("dl", { class: "stats compact" },
        COUNT_KEYS.filter((k) => counts[k] !== undefined).map((k) =>
          h("div", { class: "stat" }, h("dt", {}, k), h("dd", { dataset: { count: k } }, fmtNumber(counts[k])))),
        workerCount !== undefined ? h("div", { class: "stat" }, h("dt", {}, "workers"), h("dd", {}, fmtNumber(workerCount))) : null),
      h("div", { class: "actions" },
        paused
          ? h("button", { type: "button", class: "btn btn-small btn-primary", onclick: () => act(`Queue ${name} resumed`, () => post(`/api/queues/${encodeURIComponent(name)}/resume`)) }, "Resume queue")
          : h("button", { type: "button", class: "btn btn-small", onclick: () => act(`Queue ${name} paused`, () => post(`/api/queues/${encodeURIComponent(name)}/pause`)) }, "Pause queue")));
  }

  function jobRow(job) {
    const id = String(pick(job, "id", "jobId"));
    const data = job.data || {};
    const fromId = /-(\d+)$/.exec(id);
    const taskId = pick(data, "taskId", "task_id") ?? pick(job, "taskId", "task_id") ?? (fromId ? fromId[1] : undefined);
    const reason = pick(job, "failedReason", "failed_reason", "error") || "";
    const when = pick(job, "finishedOn", "finished_on", "processedOn", "timestamp");
    return h("tr", { dataset: { jobId: id } },
      h("td", { class: "mono" }, id),
      h("td", {}, String(pick(job, "queue", "queueName", "queue_name") ?? "")),
      h("td", {}, taskId !== undefined ? h("a", { href: `#/tasks/${taskId}` }, `#${taskId}`) : "—"),
      h("td", { class: "num" }, fmtNumber(pick(job, "attemptsMade", "attempts_made") ?? 0)),
      h("td", { class: "cell-text", title: String(reason) }, truncate(reason, 140)),
      h("td", { class: "nowrap" }, fmtDate(when)),
      h("td", { class: "actions" },
        statusFilter.value === "failed"
          ? h("button", { type: "button", class: "btn btn-small", onclick: () => act(`Job ${id} queued again`, () => post(`/api/jobs/${encodeURIComponent(id)}/retry`)) }, "Retry")
          : null,
        h("button", {
          type: "button", class: "btn btn-small btn-danger-ghost",
          onclick: async () => {
            if (await confirmDialog(`Remove job ${id}? Its task is not deleted.`, "Remove job")) {
              act(`Job ${id} removed`, () => del(`/api/jobs/${encodeURIComponent(id)}`));
            }
          },
        }, "Remove")));
  }

  async function refresh() {
    try {
      const [queuesBody, jobsBody] = await Promise.all([
        get("/api/queues"),
        get("/api/jobs", { status: statusFilter.value, queue: queueFilter.value }),
      ]);
      const queues = queueList(queuesBody.data);
      replace(cards, queues.map(queueCard));
      const names = queues.map((q) => q.name || q.queue);
      if (names.join() !== knownQueues.join()) {
        knownQueues = names;
        const keep = queueFilter.value;
        replace(queueFilter, h("option", { value: "" }, "All queues"), names.map((n) => h("option", { value: n, selected: n === keep }, n)));
      }
      const list = Array.isArray(jobsBody.data) ? jobsBody.data : (jobsBody.data && (jobsBody.data.jobs || jobsBody.data.items)) || [];
      jobs.set(list.map(jobRow));
      messages.clear();
    } catch (err) {
      messages.error(err);
      throw err;
    }
  }

  queueFilter.addEventListener("change", () => refresh());
  statusFilter.addEventListener("change", () => refresh());

  root.append(
    h("section", { class: "card", "aria-labelledby": "queues-title" },
      h("div", { class: "card-head" }, h("h1", { id: "queues-title" }, "Queues"),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "btn btn-small", onclick: () => act("Workers paused", () => post("/api/workers/pause")) }, "Pause workers"),
          h("button", { type: "button", class: "btn btn-small btn-primary", onclick: () => act("Workers resumed", () => post("/api/workers/resume")) }, "Resume workers"))),
      h("p", { class: "muted" }, "Pausing a queue stops its jobs from starting in every process. Pausing workers pauses only this server's workers; others keep going."),
      messages.root, cards),
    h("section", { class: "card", "aria-labelledby": "jobs-title" },
      h("div", { class: "card-head" }, h("h2", { id: "jobs-title" }, "Jobs")),
      h("div", { class: "toolbar" },
        h("label", { for: "jobs-status" }, "State"), statusFilter,
        h("label", { for: "jobs-queue" }, "Queue"), queueFilter),
      jobs.root));
  return every(refresh, REFRESH_MS);
}
