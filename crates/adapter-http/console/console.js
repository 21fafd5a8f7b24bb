// vodsnap console: plain JavaScript against the public API with X-Auth-Token.
// The token comes from the sign-in form or, once, from the URL fragment
// (#project=P&token=T, which never reaches a server), and is kept in this
// tab's sessionStorage only; it is never put in a query string.
"use strict";

(() => {
  const MAX_SELECTED = 10;
  const PAGE = 10;
  const SNAP_PAGE = 20;
  const $ = (id) => document.getElementById(id);
  const state = {
    project: "", token: "", asset: "", offset: 0, total: 0,
    selected: new Map(), // task_id -> asset_id
    task: "", snapOffset: 0, snapTotal: 0,
    binOffset: 0, binTotal: 0,
    binSelected: new Map(), // task_id -> asset_id, in the recycle bin
  };

  // --- session ----------------------------------------------------------
  function takeFragment() {
    if (!location.hash || location.hash.length < 2) return;
    const params = new URLSearchParams(location.hash.slice(1));
    const token = params.get("token");
    const project = params.get("project");
    if (token) sessionStorage.setItem("vodsnap.token", token);
    if (project) sessionStorage.setItem("vodsnap.project", project);
    // Out of the address bar and the history at once.
    history.replaceState(null, "", location.pathname);
  }

  function signedIn() {
    state.token = sessionStorage.getItem("vodsnap.token") || "";
    state.project = sessionStorage.getItem("vodsnap.project") || "";
    return state.token !== "" && state.project !== "";
  }

  function signOut() {
    sessionStorage.removeItem("vodsnap.token");
    sessionStorage.removeItem("vodsnap.project");
    location.reload();
  }

  // --- API --------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error_msg) || `HTTP ${status}`);
      this.status = status;
      this.code = body && body.error_code;
    }
  }

  async function api(method, path, params) {
    const query = params ? "?" + params.toString() : "";
    const response = await fetch(`/v1/${encodeURIComponent(state.project)}${path}${query}`, {
      method,
      headers: { "X-Auth-Token": state.token },
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    if (response.status === 401) {
      showSignIn("The token was refused or has expired: sign in again.");
      throw new ApiError(401, body);
    }
    if (!response.ok) throw new ApiError(response.status, body);
    return { body, headers: response.headers };
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children) node.append(child);
    return node;
  }

  // --- backlog ----------------------------------------------------------
  async function loadBacklog() {
    const figures = $("backlog-figures");
    try {
      const { body } = await api("GET", "/cleanup/status");
      figures.replaceChildren(
        ...[["Waiting", body.queued], ["Being removed", body.leased], ["Parked", body.parked],
            ["Failed attempts", body.failed_attempts],
            ["Oldest waiting since", body.oldest_enqueued_at || "none"],
            ["Images in recycle bins", body.recycle_bin ?? "unknown"]]
          .map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: String(v) }))));
    } catch (e) {
      figures.replaceChildren(el("div", {}, el("dt", { text: "Backlog" }), el("dd", { text: e.message })));
    }
  }

  // --- results ----------------------------------------------------------
  async function loadResults() {
    const status = $("results-status");
    status.textContent = "Loading…";
    const params = new URLSearchParams({ offset: String(state.offset), limit: String(PAGE) });
    if (state.asset) params.set("asset_id", state.asset);
    try {
      const { body } = await api("GET", "/asset/thumbnails", params);
      state.total = body.total;
      renderResults(body.thumbnails);
      const first = body.thumbnails.length ? state.offset + 1 : 0;
      status.textContent = `${body.total} task result(s)` + (state.asset ? ` for asset ${state.asset}` : "") +
        (body.total ? `; showing ${first}–${state.offset + body.thumbnails.length}.` : ".");
    } catch (e) {
      status.textContent = `Could not list task results: ${e.message}`;
    }
    $("page-prev").disabled = state.offset === 0;
    $("page-next").disabled = state.offset + PAGE >= state.total;
    $("page-info").textContent = `Page ${Math.floor(state.offset / PAGE) + 1} of ${Math.max(1, Math.ceil(state.total / PAGE))}`;
  }

  function renderResults(items) {
    const rows = items.map((item) => {
      const box = el("input", {
        type: "checkbox", id: `select-${item.task_id}`, "data-task": item.task_id,
        "aria-label": `Select task ${item.task_id}`,
      });
      box.checked = state.selected.has(item.task_id);
      box.addEventListener("change", () => toggle(item, box));
      const open = el("button", {
        type: "button", class: "link", "data-open": item.task_id,
        "aria-label": `View snapshots of task ${item.task_id}`, text: item.task_id,
      });
      open.addEventListener("click", () => openTask(item.task_id, 0));
      const picture = el("img", {
        class: "preview", "data-preview": item.task_id, width: "64", height: "36",
        alt: `First snapshot of task ${item.task_id}`, referrerpolicy: "no-referrer",
      });
      loadPreview(item.task_id, picture);
      const row = el("tr", { "data-task": item.task_id },
        el("td", {}, box), el("td", {}, picture), el("td", {}, open), el("td", { text: item.asset_id }),
        el("td", { text: String(item.thumbnail_count) }), el("td", { text: item.created_at }));
      if (box.checked) row.classList.add("selected");
      return row;
    });
    $("results-table").tBodies[0].replaceChildren(...rows);
    syncSelection();
  }

  // The list answer has no links: one details call (limit 1) per row,
  // at most a page of them, made in parallel; a row whose call fails keeps
  // an empty picture (its alt text says what it would show).
  async function loadPreview(task, img) {
    const params = new URLSearchParams({ task_id: task, offset: "0", limit: "1" });
    try {
      const { body } = await api("GET", "/asset/thumbnail/details", params);
      const first = body.thumbnail_result[0];
      if (!first) { img.alt = `Task ${task} has no snapshot`; return; }
      img.alt = `First snapshot of task ${task}, offset ${first.offset}`;
      img.src = first.url;
    } catch (e) {
      img.alt = `No picture: ${e.message}`;
    }
  }

  // --- selection and delete ---------------------------------------------
  function toggle(item, box) {
    if (box.checked) {
      if (state.selected.size >= MAX_SELECTED) {
        box.checked = false;
        $("selection-info").textContent = `At most ${MAX_SELECTED} tasks can be deleted at once.`;
        return;
      }
      state.selected.set(item.task_id, item.asset_id);
    } else {
      state.selected.delete(item.task_id);
    }
    box.closest("tr").classList.toggle("selected", box.checked);
    $("delete-outcome").replaceChildren();
    syncSelection();
  }

  function syncSelection() {
    const n = state.selected.size;
    $("selection-info").textContent = n === 0
      ? `No task selected (at most ${MAX_SELECTED}).`
      : `${n} selected (at most ${MAX_SELECTED}): ${[...state.selected.keys()].join(", ")}`;
    for (const id of ["preview-delete", "confirm-delete", "clear-selection"]) $(id).disabled = n === 0;
    for (const box of document.querySelectorAll("#results-table input[type=checkbox]")) {
      box.disabled = !box.checked && n >= MAX_SELECTED;
    }
  }

  function deleteParams(dryRun) {
    const params = new URLSearchParams();
    for (const task of state.selected.keys()) params.append("task_id", task);
    if (dryRun) params.set("dry_run", "true");
    return params;
  }

  function outcomeTable(caption, items, id = "delete-results") {
    return el("table", { id },
      el("caption", { text: caption }),
      el("thead", {}, el("tr", {}, ...["Task", "Asset", "Status", "Detail"].map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, ...items.map((i) => el("tr", { "data-task": i.task_id, "data-status": i.status },
        el("td", { text: i.task_id }), el("td", { text: i.asset_id || "" }),
        el("td", { text: i.status }), el("td", { text: i.error_msg ? `${i.error_code}: ${i.error_msg}` : "" })))));
  }

  async function preview() {
    const out = $("delete-outcome");
    try {
      const { body, headers } = await api("DELETE", "/asset/thumbnails", deleteParams(true));
      const dry = headers.get("X-Vodsnap-Dry-Run") === "true" || body.dry_run === true;
      if (!dry) {
        // A server that ignored dry_run deleted for real: say so plainly.
        out.replaceChildren(el("p", { class: "error", role: "alert", text: "The server ignored the preview and deleted:" }),
          outcomeTable("Deleted", body.delete_result_array));
        afterDelete();
        return;
      }
      out.replaceChildren(outcomeTable("Preview: what a delete would do (nothing was deleted)", body.delete_result_array));
    } catch (e) {
      out.replaceChildren(el("p", { id: "no-preview", role: "status",
        text: e.status === 400 ? "This server offers no delete preview." : `No preview: ${e.message}` }));
    }
  }

  async function confirmDelete() {
    const out = $("delete-outcome");
    try {
      const { body } = await api("DELETE", "/asset/thumbnails", deleteParams(false));
      out.replaceChildren(outcomeTable(`Delete results (${body.remaining} task result(s) left in scope)`, body.delete_result_array));
      afterDelete();
    } catch (e) {
      out.replaceChildren(el("p", { class: "error", role: "alert", text: `Delete failed: ${e.message}` }));
    }
  }

  function afterDelete() {
    if (state.selected.has(state.task)) $("snapshots").hidden = true;
    state.selected.clear();
    if (state.offset > 0 && state.offset >= state.total - PAGE) state.offset = Math.max(0, state.offset - PAGE);
    loadResults();
    loadBacklog();
    loadBin();
  }

  // --- recycle bin ------------------------------------------------------
  // "1 hour", "7 days", "1 day 12 hours": the two largest units.
  function describeDuration(seconds) {
    const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
    const parts = [];
    let rest = seconds;
    for (const [name, size] of units) {
      const n = Math.floor(rest / size);
      if (n > 0 && parts.length < 2) parts.push(`${n} ${name}${n === 1 ? "" : "s"}`);
      rest -= n * size;
    }
    return parts.join(" ") || "0 seconds";
  }

  function binNote(retention, total) {
    const note = $("bin-note");
    note.dataset.retention = retention === undefined ? "" : String(retention);
    if (retention === undefined) {
      note.textContent = "This server does not say how long it keeps deleted task results.";
    } else if (retention === 0) {
      note.textContent = "This server runs without a recycle bin (vodsnap serve --retention is 0s): " +
        "its deletes are final, their images are removed at once, and nothing can be restored." +
        (total > 0 ? " The task results below were deleted by a server that keeps them." : "");
    } else {
      note.textContent = `A deleted task result stays here for ${describeDuration(retention)} ` +
        "(vodsnap serve --retention): until its purge time it can be restored with all its snapshots; " +
        "then its images are removed for good.";
    }
    $("bin-view").hidden = retention === 0 && total === 0;
  }

  async function loadBin() {
    const status = $("bin-status");
    status.textContent = "Loading…";
    const params = new URLSearchParams({ offset: String(state.binOffset), limit: String(PAGE) });
    try {
      const { body } = await api("GET", "/asset/thumbnails/deleted", params);
      state.binTotal = body.total;
      binNote(body.retention_seconds, body.total);
      renderBin(body.deleted);
      const first = body.deleted.length ? state.binOffset + 1 : 0;
      status.textContent = body.total
        ? `${body.total} deleted task result(s) can be restored; showing ${first}–${state.binOffset + body.deleted.length}.`
        : body.retention_seconds === 0 ? "" : "The recycle bin is empty.";
    } catch (e) {
      if (e.status === 404) {
        $("bin-note").textContent = "This server has no recycle bin: its deletes are final.";
        $("bin-view").hidden = true;
      }
      status.textContent = `Could not list the recycle bin: ${e.message}`;
    }
    $("bin-prev").disabled = state.binOffset === 0;
    $("bin-next").disabled = state.binOffset + PAGE >= state.binTotal;
    $("bin-info").textContent = `Page ${Math.floor(state.binOffset / PAGE) + 1} of ${Math.max(1, Math.ceil(state.binTotal / PAGE))}`;
  }

  function renderBin(items) {
    const rows = items.map((item) => {
      const box = el("input", {
        type: "checkbox", id: `bin-select-${item.task_id}`, "data-task": item.task_id,
        "aria-label": `Select deleted task ${item.task_id}`,
      });
      box.checked = state.binSelected.has(item.task_id);
      box.addEventListener("change", () => toggleBin(item, box));
      const row = el("tr", { "data-task": item.task_id },
        el("td", {}, box), el("td", { text: item.task_id }), el("td", { text: item.asset_id }),
        el("td", { text: String(item.thumbnail_count) }), el("td", { text: item.deleted_at }),
        el("td", { text: item.purge_at }));
      if (box.checked) row.classList.add("selected");
      return row;
    });
    $("bin-table").tBodies[0].replaceChildren(...rows);
    syncBinSelection();
  }

  function toggleBin(item, box) {
    if (box.checked) {
      if (state.binSelected.size >= MAX_SELECTED) {
        box.checked = false;
        $("bin-selection-info").textContent = `At most ${MAX_SELECTED} tasks can be restored or purged at once.`;
        return;
      }
      state.binSelected.set(item.task_id, item.asset_id);
    } else {
      state.binSelected.delete(item.task_id);
    }
    box.closest("tr").classList.toggle("selected", box.checked);
    $("bin-outcome").replaceChildren();
    syncBinSelection();
  }

  function syncBinSelection() {
    const n = state.binSelected.size;
    $("bin-selection-info").textContent = n === 0
      ? `No task selected (at most ${MAX_SELECTED}).`
      : `${n} selected (at most ${MAX_SELECTED}): ${[...state.binSelected.keys()].join(", ")}`;
    for (const id of ["bin-restore", "bin-purge", "bin-clear"]) $(id).disabled = n === 0;
    for (const box of document.querySelectorAll("#bin-table input[type=checkbox]")) {
      box.disabled = !box.checked && n >= MAX_SELECTED;
    }
    // A confirmation is for the selection it named, not a changed one.
    $("bin-confirm").hidden = true;
  }

  function binParams() {
    const params = new URLSearchParams();
    for (const task of state.binSelected.keys()) params.append("task_id", task);
    return params;
  }

  async function restoreSelected() {
    const out = $("bin-outcome");
    try {
      const { body } = await api("POST", "/asset/thumbnails/restore", binParams());
      out.replaceChildren(outcomeTable("Restore results", body.restore_result_array, "bin-results"));
      afterBinChange();
      // Restored tasks are live again: the task list shows them.
      loadResults();
    } catch (e) {
      out.replaceChildren(el("p", { class: "error", role: "alert", text: `Restore failed: ${e.message}` }));
    }
  }

  function askPurge() {
    const tasks = [...state.binSelected.keys()];
    $("bin-confirm-text").textContent = `Purge ${tasks.length} task result(s) now (${tasks.join(", ")})? ` +
      "They leave the recycle bin for good: their images are removed and they can no longer be restored.";
    $("bin-confirm").hidden = false;
    $("bin-purge-cancel").focus();
  }

  function cancelPurge() {
    $("bin-confirm").hidden = true;
    $("bin-purge").focus();
  }

  async function purgeSelected() {
    $("bin-confirm").hidden = true;
    const out = $("bin-outcome");
    try {
      const { body } = await api("DELETE", "/asset/thumbnails/deleted", binParams());
      out.replaceChildren(outcomeTable("Purge results", body.purge_result_array, "bin-results"));
      afterBinChange();
    } catch (e) {
      out.replaceChildren(el("p", { class: "error", role: "alert", text: `Purge failed: ${e.message}` }));
    }
  }

  function afterBinChange() {
    state.binSelected.clear();
    if (state.binOffset > 0 && state.binOffset >= state.binTotal - PAGE) state.binOffset = Math.max(0, state.binOffset - PAGE);
    loadBin();
    loadBacklog();
  }

  // --- snapshots --------------------------------------------------------
  async function openTask(task, offset) {
    state.task = task;
    state.snapOffset = offset;
    const section = $("snapshots");
    section.hidden = false;
    $("snapshots-title").textContent = `Snapshots of task ${task}`;
    $("snapshots-status").textContent = "Loading…";
    const params = new URLSearchParams({ task_id: task, offset: String(offset), limit: String(SNAP_PAGE) });
    try {
      const { body } = await api("GET", "/asset/thumbnail/details", params);
      state.snapTotal = body.total;
      $("snapshot-grid").replaceChildren(...body.thumbnail_result.map((s) =>
        el("li", {}, el("figure", {},
          el("img", { src: s.url, alt: `Snapshot at offset ${s.offset} of task ${task}`, loading: "lazy", referrerpolicy: "no-referrer" }),
          el("figcaption", { text: `offset ${s.offset}` })))));
      $("snapshots-status").textContent = `${body.total} snapshot(s).`;
    } catch (e) {
      $("snapshot-grid").replaceChildren();
      $("snapshots-status").textContent = `Could not load snapshots: ${e.message}`;
    }
    $("snap-prev").disabled = offset === 0;
    $("snap-next").disabled = offset + SNAP_PAGE >= state.snapTotal;
    $("snap-info").textContent = `${Math.min(state.snapTotal, offset + 1)}–${Math.min(state.snapTotal, offset + SNAP_PAGE)} of ${state.snapTotal}`;
    $("snapshots-title").focus();
  }

  // --- start ------------------------------------------------------------
  function showSignIn(message) {
    $("app").hidden = true;
    $("sign-in").hidden = false;
    $("sign-out").hidden = true;
    $("who").hidden = true;
    const error = $("sign-in-error");
    error.hidden = !message;
    error.textContent = message || "";
  }

  function showApp() {
    $("sign-in").hidden = true;
    $("app").hidden = false;
    $("sign-out").hidden = false;
    $("who").hidden = false;
    $("who").textContent = `Project ${state.project}`;
    loadBacklog();
    loadResults();
    loadBin();
  }

  function start() {
    takeFragment();
    $("sign-in-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem("vodsnap.project", $("project").value.trim());
      sessionStorage.setItem("vodsnap.token", $("token").value.trim());
      $("token").value = "";
      if (signedIn()) showApp();
    });
    $("sign-out").addEventListener("click", signOut);
    $("filter-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (!$("asset-filter").checkValidity()) { $("asset-filter").reportValidity(); return; }
      state.asset = $("asset-filter").value.trim();
      state.offset = 0;
      loadResults();
    });
    $("page-prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); loadResults(); });
    $("page-next").addEventListener("click", () => { state.offset += PAGE; loadResults(); });
    $("snap-prev").addEventListener("click", () => openTask(state.task, Math.max(0, state.snapOffset - SNAP_PAGE)));
    $("snap-next").addEventListener("click", () => openTask(state.task, state.snapOffset + SNAP_PAGE));
    $("backlog-refresh").addEventListener("click", loadBacklog);
    $("preview-delete").addEventListener("click", preview);
    $("confirm-delete").addEventListener("click", confirmDelete);
    $("clear-selection").addEventListener("click", () => {
      state.selected.clear();
      $("delete-outcome").replaceChildren();
      loadResults();
    });
    $("bin-prev").addEventListener("click", () => { state.binOffset = Math.max(0, state.binOffset - PAGE); loadBin(); });
    $("bin-next").addEventListener("click", () => { state.binOffset += PAGE; loadBin(); });
    $("bin-refresh").addEventListener("click", loadBin);
    $("bin-restore").addEventListener("click", restoreSelected);
    $("bin-purge").addEventListener("click", askPurge);
    $("bin-purge-confirm").addEventListener("click", purgeSelected);
    $("bin-purge-cancel").addEventListener("click", cancelPurge);
    $("bin-clear").addEventListener("click", () => {
      state.binSelected.clear();
      $("bin-outcome").replaceChildren();
      loadBin();
    });
    if (signedIn()) showApp(); else showSignIn("");
  }

  start();
})();
