// The UI's own script: the theme button, keyboard navigation of tables, local times, and
// views whose address would be too long (saved, then linked by a short id).
(function () {
  "use strict";
  const root = document.documentElement;

  function setupTheme() {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    const order = [null, "dark", "light"]; // follow the system, then the two overrides
    const label = () => "Theme: " + (root.dataset.theme || "follows the system") + " (click to change)";
    button.title = label();
    button.addEventListener("click", () => {
      const next = order[(order.indexOf(root.dataset.theme || null) + 1) % order.length];
      if (next) { root.dataset.theme = next; localStorage.setItem("mc-theme", next); }
      else { delete root.dataset.theme; localStorage.removeItem("mc-theme"); }
      button.title = label();
      document.dispatchEvent(new CustomEvent("mc:theme"));
    });
  }

  // Tables with class "nav": j/k or the arrows move between rows, Enter opens the row's first
  // link, x or space toggles its checkbox. "/" focuses the page's search box.
  function rows(table) { return Array.from(table.tBodies[0] ? table.tBodies[0].rows : []); }
  function focusRow(row) {
    if (!row) return;
    row.tabIndex = 0;
    row.focus();
    row.scrollIntoView({ block: "nearest" });
  }
  function onKey(event) {
    const target = event.target;
    const typing = target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement ||
      target instanceof HTMLSelectElement;
    if (event.key === "/" && !typing) {
      const search = document.querySelector("[data-search]");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const row = target.closest && target.closest("table.nav tbody tr");
    const table = row ? row.closest("table") : document.querySelector("table.nav");
    if (!table) return;
    const all = rows(table);
    if (!all.length) return;
    const at = row ? all.indexOf(row) : -1;
    if (event.key === "j" || event.key === "ArrowDown") {
      event.preventDefault(); focusRow(all[Math.min(at + 1, all.length - 1)]);
    } else if (event.key === "k" || event.key === "ArrowUp") {
      event.preventDefault(); focusRow(all[Math.max(at - 1, 0)]);
    } else if (event.key === "Enter" && row) {
      const link = row.querySelector("a[href]");
      if (link) { event.preventDefault(); link.click(); }
    } else if ((event.key === "x" || event.key === " ") && row) {
      const box = row.querySelector("input[type=checkbox]");
      if (box) { event.preventDefault(); box.click(); }
    }
  }

  function localTimes(scope) {
    scope.querySelectorAll("time[datetime]").forEach((t) => {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) { t.title = t.textContent + " UTC"; t.textContent = d.toLocaleString(); }
    });
  }

  // A GET form whose address would pass 2,000 characters is saved through the API and opened
  // by its short id, so the view still has a permalink.
  const LONG_URL = 2000;
  async function openView(url) {
    if (url.length <= LONG_URL) { window.location.assign(url); return; }
    const u = new URL(url, window.location.href);
    const response = await fetch("/api/views", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: u.pathname + u.search }),
    });
    if (!response.ok) { window.location.assign(url); return; }
    const saved = await response.json();
    window.location.assign("/v/" + saved.id);
  }
  function onSubmit(event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || (form.method || "get").toLowerCase() !== "get" ||
        form.hasAttribute("hx-get")) return;
    const params = new URLSearchParams(new FormData(form));
    for (const [key, value] of Array.from(params.entries())) if (value === "") params.delete(key);
    const action = form.getAttribute("action") || window.location.pathname;
    const query = params.toString();
    const url = action + (query ? "?" + query : "");
    if (url.length > LONG_URL) { event.preventDefault(); openView(url); }
  }

  window.modelcycle = Object.assign(window.modelcycle || {}, { openView: openView, localTimes: localTimes });
  document.addEventListener("keydown", onKey);
  document.addEventListener("submit", onSubmit);
  document.addEventListener("DOMContentLoaded", () => { setupTheme(); localTimes(document); });
  document.addEventListener("htmx:afterSwap", (event) => localTimes(event.target));
})();
