// The runs table: the runs selected for comparison (kept in the address as selected=), the
// Compare button, and the column picker over GET /api/experiments/{id}/columns. The table itself
// is swapped by htmx; the address each swap stands for comes back in HX-Push-Url.
(function () {
  "use strict";
  const PART = "runs-part";
  const PLAIN_KEY = /^[A-Za-z_][\p{L}\p{N}_\-:/]*(\.[A-Za-z_][\p{L}\p{N}_\-:/]*)*$/u;  // as pages_runs.quote_key

  function part() { return document.getElementById(PART); }
  function selectedFromUrl() {
    const value = new URLSearchParams(window.location.search).get("selected") || "";
    return value.split(",").filter(Boolean);
  }
  let selected = new Set();

  function writeSelection() {
    const url = new URL(window.location.href);
    if (selected.size) url.searchParams.set("selected", Array.from(selected).join(","));
    else url.searchParams.delete("selected");
    window.history.replaceState(window.history.state, "", url.pathname + url.search.replace(/%2C/g, ","));
  }
  function syncPage() {
    const root = part();
    if (!root) return;
    const boxes = Array.from(root.querySelectorAll('tbody input[type=checkbox][name=run]'));
    for (const box of boxes) {
      box.checked = selected.has(box.value);
      box.closest("tr").setAttribute("aria-selected", box.checked ? "true" : "false");
    }
    const all = root.querySelector("#select-page");
    if (all) {
      const on = boxes.filter((b) => b.checked).length;
      all.checked = boxes.length > 0 && on === boxes.length;
      all.indeterminate = on > 0 && on < boxes.length;
    }
    const button = root.querySelector("#compare");
    if (button) {
      button.disabled = selected.size < 2;
      button.textContent = selected.size ? `Compare ${selected.size}` : "Compare";
      button.title = selected.size < 2 ? "Select two or more runs to compare" : `Compare the ${selected.size} selected runs`;
    }
  }

  function onChange(event) {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== "checkbox" || !box.closest("#" + PART)) return;
    if (box.id === "select-page") {
      part().querySelectorAll('tbody input[type=checkbox][name=run]').forEach((b) => {
        if (box.checked) selected.add(b.value); else selected.delete(b.value);
      });
    } else if (box.name === "run") {
      if (box.checked) selected.add(box.value); else selected.delete(box.value);
    } else {
      return;
    }
    writeSelection();
    syncPage();
  }

  function onClick(event) {
    const button = event.target.closest && event.target.closest("#compare");
    if (!button || button.disabled) return;
    const url = "/compare?runs=" + Array.from(selected).join(",");
    if (window.modelcycle && window.modelcycle.openView) window.modelcycle.openView(url);
    else window.location.assign(url);
  }

  // A page, a sort or a filter of the table carries the selection along.
  function onConfigRequest(event) {
    const detail = event.detail;
    if (!detail.target || detail.target.id !== PART) return;
    const url = new URL(detail.path, window.location.href);
    url.searchParams.delete("selected");
    detail.path = url.pathname + url.search;
    if (detail.parameters && typeof detail.parameters.delete === "function") detail.parameters.delete("selected");
    if (selected.size) {
      if (detail.parameters instanceof FormData) detail.parameters.set("selected", Array.from(selected).join(","));
      else detail.parameters.selected = Array.from(selected).join(",");
    }
    // A view too long for an address (a long filter, many columns) is saved and opened by its id.
    const form = detail.formData instanceof FormData ? detail.formData : null;
    const params = new URLSearchParams(form ? Array.from(form.entries()).filter(([, v]) => typeof v === "string")
                                            : Object.entries(detail.parameters || {}));
    for (const [key, value] of Array.from(params.entries())) if (value === "") params.delete(key);
    const query = params.toString();
    const full = detail.path + (query ? (detail.path.includes("?") ? "&" : "?") + query : "");
    if (full.length > 2000 && window.modelcycle && window.modelcycle.openView) {
      event.preventDefault();
      window.modelcycle.openView(full);
    }
  }

  // A malformed filter answers 400 with the table part that shows where: swap it in like any other.
  function onBeforeSwap(event) {
    const detail = event.detail;
    if (detail.target && detail.target.id === PART && (detail.xhr.status === 400 || detail.xhr.status === 404)) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  }

  // ---------------------------------------------------------------------------- columns
  function quoteKey(key) {
    if (PLAIN_KEY.test(key)) return key;
    if (!key.includes("`")) return "`" + key + "`";
    return '"' + key.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  }
  function currentColumns() {
    const root = part();
    try { return JSON.parse(root.dataset.columns || "[]"); } catch (e) { return []; }
  }
  function showColumns(columns) {
    const root = part();
    const url = new URL(root.dataset.url, window.location.href);
    url.searchParams.set("columns", columns.map((c) => c.text).join(","));
    htmx.ajax("GET", url.pathname + url.search, { target: "#" + PART, swap: "outerHTML" });
  }
  function toggleColumn(kind, key, on) {
    const columns = currentColumns().filter((c) => !(c.kind === kind && c.key === key));
    if (on) columns.push({ kind, key, text: kind + "." + quoteKey(key) });
    showColumns(columns);
  }

  let searchTimer = null, searchTicket = 0;
  async function searchColumns() {
    const root = part();
    const input = document.getElementById("column-search");
    const list = document.getElementById("column-list");
    if (!root || !input || !list) return;
    const ticket = ++searchTicket;
    const q = input.value.trim();
    let found;
    try {
      const params = new URLSearchParams({ limit: "50" });
      if (q) params.set("q", q);
      const response = await fetch(`/api/experiments/${root.dataset.experiment}/columns?${params}`);
      const body = await response.json();
      if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
      found = body;
    } catch (error) {
      if (ticket !== searchTicket) return;
      list.replaceChildren(Object.assign(document.createElement("div"), { className: "muted", textContent: "Could not load the columns: " + error.message }));
      return;
    }
    if (ticket !== searchTicket) return;
    const chosen = new Set(currentColumns().map((c) => c.kind + "\u0000" + c.key));
    const groups = [["metrics", "Metrics"], ["params", "Params"], ["tags", "Tags"]];
    const nodes = [];
    let count = 0;
    for (const [kind, title] of groups) {
      const keys = found[kind] || [];
      if (!keys.length) continue;
      nodes.push(Object.assign(document.createElement("h4"), { textContent: title }));
      for (const key of keys) {
        const label = document.createElement("label");
        const box = document.createElement("input");
        box.type = "checkbox";
        box.checked = chosen.has(kind + "\u0000" + key);
        box.dataset.kind = kind;
        box.dataset.key = key;
        label.append(box, document.createTextNode(key));
        nodes.push(label);
        count++;
      }
    }
    if (!count) nodes.push(Object.assign(document.createElement("div"), { className: "muted", textContent: q ? `No key contains “${q}”.` : "No params, metrics or tags in this experiment." }));
    list.replaceChildren(...nodes);
  }
  function onPickerInput(event) {
    if (event.target.id !== "column-search") return;
    clearTimeout(searchTimer);
    searchTimer = setTimeout(searchColumns, 150);
  }
  function onPickerChange(event) {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || !box.closest("#column-list")) return;
    toggleColumn(box.dataset.kind, box.dataset.key, box.checked);
  }
  function onPickerToggle(event) {
    const picker = event.target;
    if (picker.id !== "column-picker" || !picker.open) return;
    searchColumns();
    const input = document.getElementById("column-search");
    if (input) input.focus();
  }
  function onPickerKey(event) {
    const picker = document.getElementById("column-picker");
    if (!picker || !picker.open) return;
    if (event.key === "Escape") { picker.open = false; picker.querySelector("summary").focus(); }
    if (event.key === "Enter" && event.target.id === "column-search") {
      event.preventDefault(); // not the filter form's submit
      const first = document.querySelector("#column-list input[type=checkbox]");
      if (first) first.click();
    }
  }
  function onDocumentClick(event) {
    const picker = document.getElementById("column-picker");
    if (picker && picker.open && !picker.contains(event.target)) picker.open = false;
  }

  document.addEventListener("DOMContentLoaded", () => { selected = new Set(selectedFromUrl()); syncPage(); });
  document.addEventListener("change", (event) => { onChange(event); onPickerChange(event); });
  document.addEventListener("click", (event) => { onClick(event); onDocumentClick(event); });
  document.addEventListener("input", onPickerInput);
  document.addEventListener("toggle", onPickerToggle, true);
  document.addEventListener("keydown", onPickerKey);
  document.addEventListener("htmx:configRequest", onConfigRequest);
  document.addEventListener("htmx:beforeSwap", onBeforeSwap);
  document.addEventListener("htmx:afterSwap", (event) => {
    if (!event.detail.target || event.detail.target.id !== PART) return;
    syncPage();
    const picker = document.getElementById("column-picker");
    if (picker && picker.open) searchColumns();
  });
  const restore = () => { selected = new Set(selectedFromUrl()); syncPage(); };
  window.addEventListener("popstate", restore);
  document.addEventListener("htmx:historyRestore", restore);
})();
