// A collection's results: summary, search and paging over posts (each with its
// comments), and export downloads.  Post and comment text is user content: text nodes only.

import { get, url } from "./api.js";
import { debounce, fmtDate, fmtNumber, h, messageArea, pager, pick, replace, table, truncate } from "./dom.js";

const FORMATS = [["csv", "CSV"], ["xlsx", "Excel (XLSX)"], ["json", "JSON"], ["jsonl", "JSON Lines"]];

function postLink(ownerId, postId) {
  return `https://vk.com/wall${ownerId}_${postId}`;
}

/** Comments as a nested list: replies (parent_comment_id set) under their thread. */
function commentTree(comments) {
  const byParent = new Map();
  for (const c of comments) {
    const parent = pick(c, "parent_comment_id", "parentCommentId", "parentId") ?? null;
    if (!byParent.has(parent)) byParent.set(parent, []);
    byParent.get(parent).push(c);
  }
  const ids = new Set(comments.map((c) => pick(c, "comment_id", "commentId", "id")));
  // Replies whose thread is not on this page are shown at the top level.
  const roots = [...(byParent.get(null) || [])];
  for (const [parent, list] of byParent) if (parent !== null && !ids.has(parent)) roots.push(...list);
  const render = (c) => {
    const id = pick(c, "comment_id", "commentId", "id");
    const deleted = pick(c, "deleted");
    const replies = byParent.get(id) || [];
    return h("li", { class: "comment" },
      h("div", { class: "comment-meta" },
        h("span", { class: "comment-author", title: `id${pick(c, "author_id", "authorId", "from_id", "fromId") ?? "?"}` },
          pick(c, "author_name", "authorName") || `id${pick(c, "author_id", "authorId", "from_id", "fromId") ?? "?"}`),
        h("span", { class: "muted" }, fmtDate(pick(c, "date"))),
        h("span", { class: "muted" }, `♥ ${fmtNumber(pick(c, "likes") ?? 0)}`)),
      h("p", { class: deleted ? "comment-text muted" : "comment-text" }, deleted ? "(deleted)" : String(pick(c, "text") ?? "")),
      replies.length ? h("ul", { class: "comments replies" }, replies.map(render)) : null);
  };
  return h("ul", { class: "comments" }, roots.map(render));
}

export function mountResults(root, taskId) {
  const messages = messageArea();
  const summarySlot = h("div", { class: "summary" });
  const search = h("input", { id: "results-search", type: "search", placeholder: "Text in the post", autocomplete: "off" });
  const groupFilter = h("input", { id: "results-group", type: "number", inputmode: "numeric", placeholder: "any", min: "1" });
  const postFilter = h("input", { id: "results-post", type: "number", inputmode: "numeric", placeholder: "any", min: "1" });
  const sizeSelect = h("select", { id: "results-size" }, [10, 25, 50].map((n) => h("option", { value: String(n) }, String(n))));
  const results = table(["Date", "Community", "Post", "Text", "Likes", "Comments"], {
    caption: "Collected posts", empty: "No posts match.",
  });
  results.root.id = "results-table";
  let page = 1;
  let disposed = false;
  let seq = 0;
  const pages = pager((p) => { page = p; load(); }, "Result pages");

  const exportLinks = h("div", { class: "exports", role: "group", "aria-label": "Export results" },
    h("span", { class: "muted" }, "Export all:"),
    FORMATS.map(([format, label]) => h("a", {
      class: "btn btn-small", href: url(`/api/results/${taskId}/export`, { format }), download: "",
      dataset: { format },
    }, label)));

  function postRow(post) {
    const ownerId = pick(post, "owner_id", "ownerId");
    const postId = pick(post, "post_id", "postId");
    const comments = pick(post, "comments") || [];
    const count = pick(post, "commentsTotal", "comments_total", "commentsCount", "comments_count") ?? comments.length;
    const groupName = pick(post, "group_name", "groupName");
    const detailRow = h("tr", { class: "detail-row", hidden: true },
      h("td", { colspan: "6" },
        h("p", { class: "post-text" }, String(pick(post, "text") ?? "")),
        comments.length ? commentTree(comments) : h("p", { class: "muted" }, "No comments collected."),
        count > comments.length ? h("p", { class: "muted small" }, `Showing ${fmtNumber(comments.length)} of ${fmtNumber(count)} comments; the export has all of them.`) : null));
    const toggle = h("button", {
      type: "button", class: "btn btn-small btn-ghost", "aria-expanded": "false",
      onclick: () => {
        detailRow.hidden = !detailRow.hidden;
        toggle.setAttribute("aria-expanded", String(!detailRow.hidden));
        toggle.textContent = detailRow.hidden ? `Show ${fmtNumber(comments.length)}` : "Hide";
      },
    }, `Show ${fmtNumber(comments.length)}`);
    const row = h("tr", { dataset: { post: `${ownerId}_${postId}` } },
      h("td", { class: "nowrap" }, fmtDate(pick(post, "date"))),
      h("td", {}, groupName ? String(groupName) : h("a", { href: `https://vk.com/club${Math.abs(Number(ownerId))}`, target: "_blank", rel: "noopener noreferrer" }, `club${Math.abs(Number(ownerId))}`)),
      h("td", { class: "nowrap" }, h("a", { href: pick(post, "url") || postLink(ownerId, postId), target: "_blank", rel: "noopener noreferrer" }, `${ownerId}_${postId}`)),
      h("td", { class: "cell-text" }, truncate(pick(post, "text"), 160)),
      h("td", { class: "num" }, fmtNumber(pick(post, "likes") ?? 0)),
      h("td", { class: "nowrap" }, h("span", { class: "num" }, fmtNumber(count)), " ", toggle));
    return [row, detailRow];
  }

  async function loadSummary() {
    try {
      const { data } = await get(`/api/results/${taskId}/summary`);
      const s = (data && (data.summary || data)) || {};
      const figures = [
        ["Posts", pick(s, "totalPosts", "total_posts", "posts")],
        ["Comments", pick(s, "totalComments", "total_comments", "comments")],
        ["Communities", pick(s, "totalGroups", "total_groups", "groups")],
        ["Comments per post", pick(s, "averageCommentsPerPost", "average_comments_per_post")],
      ].filter(([, v]) => v !== undefined);
      replace(summarySlot, h("dl", { class: "stats" }, figures.map(([k, v]) =>
        h("div", { class: "stat" }, h("dt", {}, k), h("dd", {}, typeof v === "number" && !Number.isInteger(v) ? v.toFixed(1) : fmtNumber(v))))));
    } catch (err) {
      if (err.status !== 404) messages.error(err);
    }
  }

  async function load() {
    const mine = ++seq;
    const limit = Number(sizeSelect.value);
    try {
      const body = await get(`/api/results/${taskId}`, {
        limit, offset: (page - 1) * limit, search: search.value.trim(),
        groupId: groupFilter.value, postId: postFilter.value,
      });
      if (disposed || mine !== seq) return;
      const data = body.data || {};
      const posts = data.posts || [];
      const p = data.pagination || body.pagination || {};
      const total = pick(p, "total") ?? pick(data, "total") ?? posts.length;
      results.set(posts.flatMap(postRow));
      pages.update({ page, limit, total });
      messages.clear();
    } catch (err) {
      if (!disposed && mine === seq) messages.error(err);
    }
  }

  const reload = debounce(() => { page = 1; load(); }, 300);
  search.addEventListener("input", reload);
  groupFilter.addEventListener("input", reload);
  postFilter.addEventListener("input", reload);
  sizeSelect.addEventListener("change", () => { page = 1; load(); });

  replace(root, h("section", { class: "card", "aria-labelledby": "results-title" },
    h("div", { class: "card-head" }, h("h2", { id: "results-title" }, "Results"), exportLinks),
    summarySlot,
    h("form", { class: "toolbar", role: "search", onsubmit: (e) => { e.preventDefault(); page = 1; load(); } },
      h("label", { for: "results-search" }, "Search"), search,
      h("label", { for: "results-group" }, "Community id"), groupFilter,
      h("label", { for: "results-post" }, "Post id"), postFilter,
      h("label", { for: "results-size" }, "Per page"), sizeSelect),
    messages.root, results.root, pages.root));
  loadSummary();
  load();
  return () => { disposed = true; };
}
