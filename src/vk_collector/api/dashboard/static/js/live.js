// Live progress of one task: server-sent events when possible, polling with backoff
// otherwise.  Browsers allow only ~6 HTTP/1.1 connections per host, and each open
// EventSource holds one, so at most MAX_STREAMS tasks stream at a time; the rest poll.
// A stream that stays quiet for QUIET_MS is not trusted blindly: the task is read once
// more, so a lost event (a proxy, a restarted event consumer) never freezes the bar.

import { get } from "./api.js";
import { pick } from "./dom.js";

const MAX_STREAMS = 3;
const POLL_BASE_MS = 1500;
const POLL_MAX_MS = 30000;
const POLL_GROWTH = 1.5;
const QUIET_MS = 4000;
const FINISHED = new Set(["completed", "failed", "cancelled"]);

let openStreams = 0;

export function isFinished(status) {
  return FINISHED.has(String(status));
}

/** One shape for a task row, a task snapshot or a job-progress event. */
export function progressState(source) {
  if (!source || typeof source !== "object") return {};
  const percentage = pick(source, "percentage", "progress");
  return {
    status: pick(source, "status"),
    percentage: typeof percentage === "object" ? pick(percentage, "percentage") : percentage,
    stage: pick(source, "stage"),
    currentGroup: pick(source, "currentGroup", "current_group"),
    stats: pick(source, "stats"),
  };
}

/**
 * Watch a task until it completes or fails.
 * `onUpdate(state, task?)` gets a progressState (and the full task when one was read);
 * `onEnd(task)` once at the end with the final task; `onError(err)` on failed polls.
 * Returns a function that stops watching.
 */
export function watchTask(taskId, { onUpdate, onEnd, onError, preferStream = true } = {}) {
  let stopped = false;
  let source = null;
  let timer = null;
  let delay = POLL_BASE_MS;
  let ended = false;
  let watchdog = null;
  let lastEventAt = 0;

  const end = (task) => {
    if (ended) return;
    ended = true;
    stop();
    if (onEnd) onEnd(task);
  };

  const handleTask = (task) => {
    if (!task) return;
    onUpdate?.(progressState(task), task);
    if (isFinished(task.status)) end(task);
  };

  async function readTask() {
    const { data } = await get(`/api/tasks/${taskId}`);
    if (!stopped) handleTask(data);
  }

  async function poll() {
    timer = null;
    if (stopped) return;
    try {
      await readTask();
      delay = POLL_BASE_MS;
    } catch (err) {
      if (stopped) return;
      delay = Math.min(delay * POLL_GROWTH, POLL_MAX_MS);
      onError?.(err);
      if (err && err.status === 404) { stop(); return; }
    }
    if (!stopped && !ended) timer = setTimeout(poll, delay);
  }

  function closeStream() {
    if (watchdog !== null) clearInterval(watchdog);
    watchdog = null;
    if (source) {
      source.close();
      source = null;
      openStreams -= 1;
    }
  }

  function fallBackToPolling() {
    closeStream();
    if (!stopped && !ended && timer === null) poll();
  }

  function parse(event) {
    try { return JSON.parse(event.data); } catch { return null; }
  }

  function handleEvent(kind, payload) {
    lastEventAt = Date.now();
    if (!payload) return;
    if (kind === "completed" || kind === "failed") {
      closeStream();
      // The final event carries the job result, not the task: read the task once more.
      poll();
      return;
    }
    const task = payload.task && typeof payload.task === "object" ? payload.task : null;
    if (task) handleTask(task);
    else if (payload.status && payload.id !== undefined) handleTask(payload);
    const progress = payload.progress && typeof payload.progress === "object" ? payload.progress : null;
    if (progress && pick(progress, "percentage") !== undefined) onUpdate?.(progressState(progress));
    else if (!task && payload.percentage !== undefined) onUpdate?.(progressState(payload));
  }

  function startStream() {
    openStreams += 1;
    source = new EventSource(`/api/tasks/${encodeURIComponent(taskId)}/events`);
    for (const kind of ["snapshot", "progress", "completed", "failed"]) {
      source.addEventListener(kind, (event) => handleEvent(kind, parse(event)));
    }
    source.addEventListener("message", (event) => {
      const payload = parse(event);
      handleEvent(payload && (payload.event || payload.type), payload);
    });
    // A dropped or refused stream (or one closed by a proxy) is not retried: poll instead.
    source.onerror = fallBackToPolling;
    lastEventAt = Date.now();
    watchdog = setInterval(() => {
      if (!source || Date.now() - lastEventAt < QUIET_MS) return;
      lastEventAt = Date.now();
      readTask().catch((err) => onError?.(err));
    }, QUIET_MS / 2);
  }

  function stop() {
    stopped = true;
    closeStream();
    if (timer !== null) clearTimeout(timer);
    timer = null;
  }

  if (preferStream && typeof EventSource !== "undefined" && openStreams < MAX_STREAMS) startStream();
  else poll();
  return stop;
}

/**
 * Call `fn` now and then again every `intervalMs` while it succeeds; on failure the
 * interval grows ×1.5 up to `maxMs`.  Pauses while the tab is hidden.  Returns stop().
 */
export function every(fn, intervalMs, maxMs = POLL_MAX_MS) {
  let stopped = false;
  let timer = null;
  let delay = intervalMs;
  const run = async () => {
    timer = null;
    if (stopped) return;
    if (document.hidden) { timer = setTimeout(run, intervalMs); return; }
    try {
      await fn();
      delay = intervalMs;
    } catch {
      delay = Math.min(delay * POLL_GROWTH, maxMs);
    }
    if (!stopped) timer = setTimeout(run, delay);
  };
  run();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
  };
}
