// The health badge in the header: GET /api/health/detailed every 15 s.
// healthy (green) and degraded (amber) answer 200, unhealthy (red) 503.  Without the
// API key (when the server has one) the answer carries the reasons but no details.

import { request } from "./api.js";
import { every } from "./live.js";
import { fmtDate, fmtNumber, h, pick, replace } from "./dom.js";

const REFRESH_MS = 15000;

const LABELS = { healthy: "Healthy", degraded: "Degraded", unhealthy: "Unhealthy" };
const BADGES = { healthy: "ok", degraded: "warn", unhealthy: "bad" };

function describe(data) {
  const details = (data && data.details) || {};
  const rows = [];
  for (const reason of (data && data.reasons) || []) {
    rows.push([reason.status === "unhealthy" ? "Unhealthy" : "Degraded", `${reason.message} (${reason.check})`]);
  }
  const redis = details.redis;
  if (redis) {
    const latency = pick(redis, "latencyMs", "latency_ms");
    rows.push(["Redis", redis.connected ? `connected${latency !== undefined ? `, ${Number(latency).toFixed(1)} ms` : ""}` : "not connected"]);
  }
  const queues = details.queues;
  if (queues) {
    const backlogOk = pick(queues, "backlogOk", "backlog_ok");
    rows.push(["Backlog", backlogOk === false ? "over threshold" : "ok"]);
    const counts = (queues.counts && queues.counts.queues) || {};
    const processing = queues.processing || {};
    for (const [name, c] of Object.entries(counts)) {
      if (c && typeof c === "object") {
        const p = processing[name] || {};
        rows.push([`Queue ${name}`, `${fmtNumber(c.waiting ?? 0)} waiting, ${fmtNumber(p.dueDelayed ?? 0)} due, ${fmtNumber(c.active ?? 0)} active, ${fmtNumber(c.failed ?? 0)} failed, ${fmtNumber(p.liveWorkers ?? 0)} live workers`]);
      }
    }
  }
  const workers = details.workers;
  if (Array.isArray(workers)) {
    const healthy = workers.filter((w) => w && w.status === "healthy").length;
    rows.push(["Workers", `${healthy} of ${workers.length} healthy`]);
    for (const w of workers) {
      if (!w || w.status === "healthy") continue;
      const d = w.details || {};
      const seen = w.lastSeen ? `, last seen ${fmtDate(w.lastSeen)}` : "";
      rows.push([`Worker ${d.queueName ?? ""}`, `${w.status}: ${d.host ?? "?"} pid ${d.pid ?? "?"}${seen}`]);
    }
  }
  const database = details.database;
  if (database) {
    const latency = pick(database, "latencyMs", "latency_ms");
    rows.push(["Database", database.connected ? `connected${latency !== undefined && latency !== null ? `, ${Number(latency).toFixed(1)} ms` : ""}` : "not connected"]);
  }
  const when = pick(details, "timestamp") || pick(data, "timestamp");
  if (when) rows.push(["Checked", fmtDate(when)]);
  return rows;
}

export function startHealth() {
  const badge = document.getElementById("health-badge");
  const panel = document.getElementById("health-panel");
  const show = (state, text, rows) => {
    badge.className = `badge badge-${BADGES[state] || "unknown"}`;
    badge.textContent = text;
    badge.title = text;
    replace(panel, h("dl", { class: "kv" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  };
  every(async () => {
    try {
      const body = await request("GET", "/api/health/detailed", { allowStatus: [503] });
      const data = body.data || {};
      const status = data.status || (body.httpStatus === 503 ? "unhealthy" : "healthy");
      show(status, LABELS[status] || status, describe(data));
    } catch (err) {
      const unhealthy = err && err.status === 503;
      show("unhealthy", unhealthy ? "Unhealthy" : "Unreachable", [["Problem", err.message]]);
      throw err;
    }
  }, REFRESH_MS, 60000);
}
