// The "new collection" form: all communities or a chosen few, posts per community,
// replies, filter words.  POST /api/tasks/collect, then open the new task.

import { get, post } from "./api.js";
import { debounce, fmtNumber, h, messageArea, pager, pick, replace } from "./dom.js";

const PICKER_PAGE = 25;

export function mountCollect(root, query) {
  const messages = messageArea();
  const selected = new Map();
  for (const id of (query.get("ids") || "").split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0)) {
    selected.set(id, `#${id}`);
  }
  const preselected = selected.size > 0;

  const allRadio = h("input", { type: "radio", name: "scope", id: "scope-all", value: "all", checked: !preselected });
  const someRadio = h("input", { type: "radio", name: "scope", id: "scope-some", value: "some", checked: preselected });
  const limit = h("input", { id: "collect-limit", name: "limit", type: "number", min: "1", max: "1000", value: "10", required: true });
  const replies = h("input", { id: "collect-replies", name: "includeReplies", type: "checkbox", checked: true });
  const words = h("textarea", { id: "collect-words", name: "filterWords", rows: "2", placeholder: "Only keep comments containing any of these words (comma or line separated). Leave empty to keep all." });
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "collect-submit" }, "Start collection");
  const selectedCount = h("span", { class: "muted", id: "collect-selected-count" });

  const pickerSearch = h("input", { id: "collect-search", type: "search", placeholder: "Search communities", autocomplete: "off" });
  const pickerList = h("ul", { class: "picker", id: "collect-picker", "aria-label": "Communities" });
  let pickerPage = 1;
  const pickerPager = pager((p) => { pickerPage = p; loadPicker(); }, "Community pages");
  const picker = h("fieldset", { class: "picker-box", id: "collect-picker-box" },
    h("legend", { class: "sr-only" }, "Choose communities"),
    h("div", { class: "toolbar" }, h("label", { for: "collect-search" }, "Find"), pickerSearch,
      h("button", { type: "button", class: "btn btn-small", onclick: () => toggleAllOnPage(true) }, "Select page"),
      h("button", { type: "button", class: "btn btn-small btn-ghost", onclick: () => { selected.clear(); loadPicker(); updateCount(); } }, "Clear")),
    pickerList, pickerPager.root);

  let pageGroups = [];
  function updateCount() {
    selectedCount.textContent = `${fmtNumber(selected.size)} selected`;
    picker.hidden = !someRadio.checked;
  }

  function toggleAllOnPage(on) {
    for (const g of pageGroups) {
      if (on) selected.set(g.id, g.name || `club${pick(g, "vkId", "vk_id")}`);
      else selected.delete(g.id);
    }
    loadPicker();
    updateCount();
  }

  async function loadPicker() {
    try {
      const body = await get("/api/groups", { page: pickerPage, limit: PICKER_PAGE, search: pickerSearch.value.trim() });
      pageGroups = Array.isArray(body.data) ? body.data : (body.data && body.data.items) || [];
      replace(pickerList, pageGroups.length ? pageGroups.map((g) => {
        const vkId = pick(g, "vkId", "vk_id");
        const id = `pick-${g.id}`;
        const box = h("input", {
          type: "checkbox", id, checked: selected.has(g.id), dataset: { groupId: String(g.id) },
          onchange: () => {
            if (box.checked) selected.set(g.id, g.name || `club${vkId}`);
            else selected.delete(g.id);
            updateCount();
          },
        });
        return h("li", {}, box, h("label", { for: id }, String(g.name || `club${vkId}`), h("span", { class: "muted" }, ` · ${vkId}`)));
      }) : h("li", { class: "muted" }, "No communities found. Upload some first."));
      pickerPager.update(body.pagination || { page: pickerPage, limit: PICKER_PAGE, total: pageGroups.length });
    } catch (err) {
      messages.error(err);
    }
  }

  const form = h("form", { class: "form", id: "collect-form", novalidate: true },
    h("fieldset", {},
      h("legend", {}, "Communities"),
      h("div", { class: "radio-line" }, allRadio, h("label", { for: "scope-all" }, "All stored communities")),
      h("div", { class: "radio-line" }, someRadio, h("label", { for: "scope-some" }, "Chosen communities "), selectedCount),
      picker),
    h("div", { class: "field" }, h("label", { for: "collect-limit" }, "Recent posts per community"), limit,
      h("p", { class: "hint" }, "1 to 1000. Every comment of these posts is collected.")),
    h("div", { class: "field field-inline" }, replies, h("label", { for: "collect-replies" }, "Include replies to comments")),
    h("div", { class: "field" }, h("label", { for: "collect-words" }, "Filter words (optional)"), words),
    h("div", { class: "form-actions" }, submit));

  allRadio.addEventListener("change", updateCount);
  someRadio.addEventListener("change", () => { updateCount(); loadPicker(); });
  pickerSearch.addEventListener("input", debounce(() => { pickerPage = 1; loadPicker(); }, 300));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    messages.clear();
    const n = Number(limit.value);
    if (!Number.isInteger(n) || n < 1 || n > 1000) {
      messages.error(new Error("Posts per community must be a whole number from 1 to 1000."));
      limit.focus();
      return;
    }
    if (someRadio.checked && selected.size === 0) {
      messages.error(new Error("Choose at least one community, or collect from all of them."));
      return;
    }
    const filterWords = words.value.split(/[,\n]/).map((w) => w.trim()).filter(Boolean);
    const payload = {
      groups: someRadio.checked ? [...selected.keys()] : "all",
      limit: n,
      includeReplies: replies.checked,
    };
    if (filterWords.length) payload.filterWords = filterWords;
    submit.disabled = true;
    submit.textContent = "Starting…";
    try {
      const { data } = await post("/api/tasks/collect", payload);
      const id = pick(data, "id", "taskId", "task_id");
      window.location.hash = `#/tasks/${id}`;
    } catch (err) {
      messages.error(err);
    } finally {
      submit.disabled = false;
      submit.textContent = "Start collection";
    }
  });

  root.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/tasks" }, "‹ All tasks")),
    h("section", { class: "card narrow", "aria-labelledby": "collect-title" },
      h("h1", { id: "collect-title" }, "New collection"),
      h("p", { class: "muted" }, "Fetches the most recent posts of each community and every comment on them."),
      messages.root, form));
  updateCount();
  if (preselected) loadPicker();
  return () => {};
}
