// Stored communities: stats, search, status filter, sort, paging, delete one or many,
// and "collect selected".

import { del, get } from "./api.js";
import {
  confirmDialog, debounce, fmtDate, fmtNumber, h, messageArea, pager, pick, replace, statusBadge,
  table, toast,
} from "./dom.js";

const SORTS = [
  ["createdAt:desc", "Newest first"], ["createdAt:asc", "Oldest first"],
  ["name:asc", "Name A–Z"], ["name:desc", "Name Z–A"],
  ["membersCount:desc", "Most members"], ["vkId:asc", "VK id"],
];

export function mountGroups(root) {
  const messages = messageArea();
  const statsSlot = h("div", { class: "summary" });
  const search = h("input", { id: "groups-search", type: "search", placeholder: "Name, screen name or id", autocomplete: "off" });
  const status = h("select", { id: "groups-status" },
    [["", "All"], ["valid", "Valid"], ["invalid", "Invalid"], ["duplicate", "Duplicate"]].map(([v, l]) => h("option", { value: v }, l)));
  const sort = h("select", { id: "groups-sort" }, SORTS.map(([v, l]) => h("option", { value: v }, l)));
  const size = h("select", { id: "groups-size" }, [10, 25, 50, 100].map((n) => h("option", { value: String(n), selected: n === 25 }, String(n))));
  const selectAll = h("input", { type: "checkbox", id: "groups-select-all", "aria-label": "Select all on this page" });
  const deleteSelected = h("button", { type: "button", class: "btn btn-small btn-danger", id: "groups-delete-selected", disabled: true }, "Delete selected");
  const collectSelected = h("button", { type: "button", class: "btn btn-small btn-primary", id: "groups-collect-selected", disabled: true }, "Collect selected");
  const list = table([selectAll, "VK id", "Name", "Screen name", "Type", "Members", "Status", "Added", ""], {
    caption: "Communities", empty: "No communities. Upload a file of ids, screen names or links.",
  });
  list.root.id = "groups-table";
  const selected = new Set();
  let rows = [];
  let page = 1;
  let seq = 0;
  const pages = pager((p) => { page = p; load(); }, "Community pages");

  function updateSelection() {
    const n = selected.size;
    deleteSelected.disabled = n === 0;
    collectSelected.disabled = n === 0;
    deleteSelected.textContent = n ? `Delete selected (${n})` : "Delete selected";
    collectSelected.textContent = n ? `Collect selected (${n})` : "Collect selected";
    const onPage = rows.filter((g) => selected.has(g.id)).length;
    selectAll.checked = rows.length > 0 && onPage === rows.length;
    selectAll.indeterminate = onPage > 0 && onPage < rows.length;
  }

  async function loadStats() {
    try {
      const { data } = await get("/api/stats/groups");
      const figures = [["Total", data.total], ["Valid", data.valid], ["Invalid", data.invalid], ["Duplicate", data.duplicate], ["Closed", data.closed]]
        .filter(([, v]) => v !== undefined);
      replace(statsSlot, h("dl", { class: "stats" }, figures.map(([k, v]) => h("div", { class: "stat" }, h("dt", {}, k), h("dd", {}, fmtNumber(v))))));
    } catch {
      replace(statsSlot);
    }
  }

  async function remove(ids, label) {
    const ok = await confirmDialog(`Delete ${label}? Collected posts and comments stay.`, "Delete");
    if (!ok) return;
    try {
      if (ids.length === 1) await del(`/api/groups/${ids[0]}`);
      else await del("/api/groups", { groupIds: ids });
      for (const id of ids) selected.delete(id);
      toast(`Deleted ${label}`, "ok");
      await Promise.all([load(), loadStats()]);
    } catch (err) {
      messages.error(err);
    }
  }

  function row(g) {
    const vkId = pick(g, "vkId", "vk_id");
    const screen = pick(g, "screenName", "screen_name");
    const name = String(g.name || `club${vkId}`);
    const box = h("input", {
      type: "checkbox", checked: selected.has(g.id), "aria-label": `Select ${name}`, dataset: { groupId: String(g.id) },
      onchange: () => { if (box.checked) selected.add(g.id); else selected.delete(g.id); updateSelection(); },
    });
    return h("tr", { dataset: { groupId: String(g.id) } },
      h("td", {}, box),
      h("td", { class: "num" }, String(vkId ?? "")),
      h("td", {}, h("a", { href: `https://vk.com/${screen || `club${vkId}`}`, target: "_blank", rel: "noopener noreferrer" }, name)),
      h("td", { class: "mono" }, screen ? String(screen) : "—"),
      h("td", {}, String(pick(g, "type") ?? "—")),
      h("td", { class: "num" }, fmtNumber(pick(g, "membersCount", "members_count"))),
      h("td", {}, statusBadge(pick(g, "status") ?? "valid"), pick(g, "deactivated") ? h("span", { class: "muted small" }, ` ${g.deactivated}`) : null),
      h("td", { class: "nowrap" }, fmtDate(pick(g, "uploadedAt", "createdAt", "created_at"))),
      h("td", { class: "actions" }, h("button", {
        type: "button", class: "btn btn-small btn-danger-ghost", "aria-label": `Delete ${name}`,
        onclick: () => remove([g.id], name),
      }, "Delete")));
  }

  async function load() {
    const mine = ++seq;
    const [sortBy, sortOrder] = sort.value.split(":");
    try {
      const body = await get("/api/groups", {
        page, limit: size.value, search: search.value.trim(), status: status.value, sortBy, sortOrder,
      });
      if (mine !== seq) return;
      rows = Array.isArray(body.data) ? body.data : (body.data && body.data.items) || [];
      list.set(rows.map(row));
      pages.update(body.pagination || { page, limit: Number(size.value), total: rows.length });
      updateSelection();
      messages.clear();
    } catch (err) {
      if (mine === seq) messages.error(err);
    }
  }

  selectAll.addEventListener("change", () => {
    for (const g of rows) {
      if (selectAll.checked) selected.add(g.id);
      else selected.delete(g.id);
    }
    list.tbody.querySelectorAll("input[type=checkbox]").forEach((b) => { b.checked = selectAll.checked; });
    updateSelection();
  });
  deleteSelected.addEventListener("click", () => remove([...selected], `${selected.size} communities`));
  collectSelected.addEventListener("click", () => { window.location.hash = `#/collect?ids=${[...selected].join(",")}`; });
  search.addEventListener("input", debounce(() => { page = 1; load(); }, 300));
  for (const el of [status, sort, size]) el.addEventListener("change", () => { page = 1; load(); });

  root.append(h("section", { class: "card", "aria-labelledby": "groups-title" },
    h("div", { class: "card-head" }, h("h1", { id: "groups-title" }, "Communities"),
      h("div", { class: "actions" }, h("a", { class: "btn", href: "#/upload" }, "Upload file"), collectSelected, deleteSelected)),
    statsSlot,
    h("form", { class: "toolbar", role: "search", onsubmit: (e) => { e.preventDefault(); page = 1; load(); } },
      h("label", { for: "groups-search" }, "Search"), search,
      h("label", { for: "groups-status" }, "Status"), status,
      h("label", { for: "groups-sort" }, "Sort"), sort,
      h("label", { for: "groups-size" }, "Per page"), size),
    messages.root, list.root, pages.root));
  loadStats();
  load();
  return () => { seq += 1; };
}
