// Hash router: #/tasks, #/tasks/<id>, #/collect, #/groups, #/upload, #/queues.
// Each view mounts into <main> and returns a function that stops its timers and streams.

import { askApiKey, getApiKey } from "./api.js";
import { mountCollect } from "./collect.js";
import { h, toast } from "./dom.js";
import { mountGroups } from "./groups.js";
import { startHealth } from "./health.js";
import { mountQueues } from "./queues.js";
import { mountTaskDetail } from "./task-detail.js";
import { mountTasks } from "./tasks.js";
import { mountUpload } from "./upload.js";

const TITLES = { tasks: "Tasks", collect: "New collection", groups: "Communities", upload: "Upload", queues: "Queues" };

let unmount = null;

function parseHash() {
  const raw = window.location.hash.replace(/^#\/?/, "");
  const [path, search = ""] = raw.split("?");
  const parts = path.split("/").filter(Boolean);
  return { view: parts[0] || "tasks", param: parts[1], query: new URLSearchParams(search) };
}

function route() {
  if (unmount) {
    try { unmount(); } catch { /* a view that failed to stop must not block the next one */ }
    unmount = null;
  }
  const main = document.getElementById("main");
  main.replaceChildren();
  const { view, param, query } = parseHash();
  for (const link of document.querySelectorAll("[data-nav]")) {
    const active = link.dataset.nav === view || (view === "collect" && link.dataset.nav === "tasks");
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  let title = TITLES[view];
  if (view === "tasks" && param) {
    unmount = mountTaskDetail(main, param);
    title = `Task #${param}`;
  } else if (view === "tasks") unmount = mountTasks(main);
  else if (view === "collect") unmount = mountCollect(main, query);
  else if (view === "groups") unmount = mountGroups(main);
  else if (view === "upload") unmount = mountUpload(main);
  else if (view === "queues") unmount = mountQueues(main);
  else {
    main.append(h("section", { class: "card" }, h("h1", {}, "Not found"),
      h("p", {}, "No such page. ", h("a", { href: "#/tasks" }, "Go to the tasks"), ".")));
    title = "Not found";
  }
  document.title = `${title} · vk-collector`;
}

function updateKeyButton(button) {
  button.textContent = getApiKey() ? "API key ✓" : "API key";
}

function start() {
  const keyButton = document.getElementById("api-key-button");
  updateKeyButton(keyButton);
  keyButton.addEventListener("click", async () => {
    await askApiKey("Enter the server's API key. It is kept in this browser tab only (sessionStorage).");
    updateKeyButton(keyButton);
    toast(getApiKey() ? "API key saved for this tab" : "No API key set", "info");
  });
  document.addEventListener("apikeychange", () => updateKeyButton(keyButton));
  window.addEventListener("hashchange", route);
  startHealth();
  route();
}

start();
