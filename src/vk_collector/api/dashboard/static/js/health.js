// The health badge in the header: GET /api/health/detailed every 15 s (503 = unhealthy).

import { request } from "./api.js";
import { every } from "./live.js";
import { fmtDate, fmtNumber, h, pick, replace } from "./dom.js";

const REFRESH_MS = 15000;

function describe(data) {
  const details = (data && data.details) || {};
  const rows = [];
  const redis = details.redis;
  if (redis) {
    const latency = pick(redis, "latencyMs", "latency_ms");
    rows.push(["Redis", redis.connected ? `connected${latency !== undefined ? `, ${Number(latency).toFixed(1)} ms` : ""}` : "not connected"]);
  }
  const queues = details.queues;
  if (queues) {
    const backlogOk = pick(queues, "backlogOk", "backlog_ok");
    rows.push(["Backlog", backlogOk === false ? "over threshold" : "ok"]);
    const counts = queues.counts || {};
    for (const [name, c] of Object.entries(counts)) {
      if (c && typeof c === "object") {
        rows.push([`Queue ${name}`, `${fmtNumber(c.waiting ?? 0)} waiting, ${fmtNumber(c.active ?? 0)} active, ${fmtNumber(c.failed ?? 0)} failed`]);
      }
    }
  }
  const workers = details.workers;
  if (Array.isArray(workers)) {
    const healthy = workers.filter((w) => w && (w.status === "healthy" || w.healthy === true)).length;
    rows.push(["Workers", `${healthy} of ${workers.length} healthy`]);
  }
  const database = details.database;
  if (database) {
    const latency = pick(database, "latencyMs", "latency_ms");
    rows.push(["Database", database.connected ? `connected${latency !== undefined && latency !== null ? `, ${Number(latency).toFixed(1)} ms` : ""}` : "not connected"]);
  }
  for (const problem of details.problems || []) rows.push(["Problem", String(problem)]);
  const when = pick(details, "timestamp") || pick(data, "timestamp");
  if (when) rows.push(["Checked", fmtDate(when)]);
  return rows;
}

export function startHealth() {
  const badge = document.getElementById("health-badge");
  const panel = document.getElementById("health-panel");
  const show = (state, text, rows) => {
    badge.className = `badge badge-${state === "healthy" ? "ok" : state === "unhealthy" ? "bad" : "unknown"}`;
    badge.textContent = text;
    badge.title = text;
    replace(panel, h("dl", { class: "kv" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
  };
  every(async () => {
    try {
      const body = await request("GET", "/api/health/detailed", { allowStatus: [503] });
      const data = body.data || {};
      const status = data.status || (body.httpStatus === 503 ? "unhealthy" : "healthy");
      show(status, status === "healthy" ? "Healthy" : "Unhealthy", describe(data));
    } catch (err) {
      const unhealthy = err && err.status === 503;
      show("unhealthy", unhealthy ? "Unhealthy" : "Unreachable", [["Problem", err.message]]);
      throw err;
    }
  }, REFRESH_MS, 60000);
}
