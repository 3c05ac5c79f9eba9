// The UI's charts, drawn with uPlot on canvas.
//
// Metric histories: <div class="chart" data-run="RUN" data-key="loss"> (or data-runs="A,B,..." and
// data-names='["a","b"]' for an overlay of up to 500 runs), with data-x="step|time|relative",
// data-smooth="0..0.99" and data-title. Drawn when scrolled near the viewport, from
// GET /api/runs/{id}/metrics/history?buckets=<width> or one POST /api/metrics/history for all the
// runs: the server cuts the range into as many buckets as the chart has pixels and keeps each
// bucket's last point, least and greatest value, drawn as the line and a min/max band. Dragging
// across the chart zooms in and fetches the points of that range; a double-click zooms out.
// When drawn, the element gets data-drawn="1", data-points (points shown) and data-total
// (points in the range), and its .caption says when fewer points are shown than exist.
//
// Other pages: modelcycle.chart(el, {x: [...], series: [{label, values, color}], time: true
// (x in ms), markers: [{x, label, color}], xLabel, yLabel}) draws any series (drawn lazily too),
// and a .chart holding <script type="application/json"> with that object is drawn the same way.
// data-kind="parallel" ({names, ids, axes: [{label, kind: number|category, values}]}) and
// data-kind="scatter" ({names, ids, columns: {name: values}, x, y}) are the compare page's.
// Controls in [data-chart-controls] (select name=x, range name=smooth) set every chart of the
// page and are kept in the address. Charts follow the theme (redrawn on "mc:theme").
(function () {
  "use strict";
  const HEIGHT = 240;
  const MIN_BUCKETS = 50;
  const MAX_BUCKETS = 10000;
  const BAND_LIMIT = 10; // more runs than this on a chart: no min/max bands (they would hide the lines)
  const LEGEND_LIMIT = 12; // more than this: the readout names only the line under the cursor
  const states = new WeakMap();

  // ------------------------------------------------------------------------------ formatting
  const integer = new Intl.NumberFormat("en-US");
  function fmt(v) {
    if (v == null || Number.isNaN(v)) return "–";
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
    return String(Number(v.toPrecision(5)));
  }
  function fmtDuration(seconds) {
    if (seconds == null) return "";
    const sign = seconds < 0 ? "-" : "";
    let s = Math.abs(seconds);
    if (s < 60) return sign + (s < 10 ? Number(s.toFixed(2)) : Math.round(s)) + "s";
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s = Math.round(s - m * 60);
    return sign + (h ? h + "h" + String(m).padStart(2, "0") + "m" : m + "m" + String(s).padStart(2, "0") + "s");
  }
  function num(v) { // JSON carries NaN and infinities as strings: they are gaps on a chart
    return typeof v === "number" && Number.isFinite(v) ? v : null;
  }
  function text(tag, cls, content) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    if (content != null) el.textContent = content;
    return el;
  }

  // ---------------------------------------------------------------------------------- theme
  function palette() {
    const css = getComputedStyle(document.documentElement);
    const v = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
    const bg = v("--bg", "#ffffff");
    return { fg: v("--fg", "#1d2230"), muted: v("--muted", "#5d6475"), line: v("--line", "#dde1e8"),
             bg: bg, panel: v("--panel", "#f5f7fa"), dark: luminance(bg) < 0.4 };
  }
  function luminance(color) {
    const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})/i.exec(color);
    if (!m) return 1;
    return (0.2126 * parseInt(m[1], 16) + 0.7152 * parseInt(m[2], 16) + 0.0722 * parseInt(m[3], 16)) / 255;
  }
  function hue(i) { return (215 + i * 137.508) % 360; } // golden angle: neighbours differ, any count
  function seriesColor(i, theme, alpha) {
    const light = theme.dark ? 66 : 44;
    return alpha == null ? `hsl(${hue(i).toFixed(1)} 70% ${light}%)` : `hsl(${hue(i).toFixed(1)} 70% ${light}% / ${alpha})`;
  }
  function axis(theme, extra) {
    return Object.assign({ stroke: theme.muted, grid: { stroke: theme.line, width: 1 },
                           ticks: { stroke: theme.line, width: 1 }, font: "11px system-ui, sans-serif" }, extra || {});
  }

  // ------------------------------------------------------------------------- chart skeleton
  function frame(el) {
    el.replaceChildren();
    const head = text("div", "chart-head");
    if (el.dataset.title) head.append(text("span", "chart-title", el.dataset.title));
    const plot = text("div", "chart-plot");
    const foot = text("div", "chart-foot");
    const caption = text("span", "caption", "Loading…");
    const readout = text("span", "readout");
    foot.append(caption, readout);
    el.append(head, plot, foot);
    return { plot, caption, readout };
  }
  function plotWidth(el) { return Math.max(200, Math.floor(el.clientWidth - 14)); }
  function markDrawn(el, shown, total) {
    el.dataset.points = String(shown);
    el.dataset.total = String(total);
    el.dataset.drawn = "1";
  }

  // ---------------------------------------------------------------------- metric histories
  function metricState(el) {
    const runs = (el.dataset.runs || el.dataset.run || "").split(",").filter(Boolean);
    let names = null;
    try { names = el.dataset.names ? JSON.parse(el.dataset.names) : null; } catch (e) { names = null; }
    if (!names) names = runs.length === 1 ? [el.dataset.key] : runs.map((r) => r.slice(0, 8));
    return { el, runs, names, key: el.dataset.key,
             x: el.dataset.x || "step", smooth: parseFloat(el.dataset.smooth || "0") || 0,
             full: null, shown: null, zoom: null, t0: {}, plot: null, parts: null, request: 0, focused: null,
             layout: null, theme: null };
  }

  async function fetchSeries(state, range) {
    const axisName = state.x === "step" ? "step" : "timestamp";
    const buckets = Math.min(MAX_BUCKETS, Math.max(MIN_BUCKETS, plotWidth(state.el)));
    const one = async (run, start, end) => {
      const q = new URLSearchParams({ key: state.key, buckets: String(buckets), x: axisName });
      if (start != null) q.set("start", String(start));
      if (end != null) q.set("end", String(end));
      const body = await getJSON(`/api/runs/${encodeURIComponent(run)}/metrics/history?${q}`);
      return Object.assign({ run_id: run }, body);
    };
    const bounds = (run) => {
      if (!range) return [null, null];
      if (state.x === "step") return [Math.floor(range.min), Math.ceil(range.max)];
      const t0 = state.x === "relative" ? (state.t0[run] || 0) / 1000 : 0;
      return [Math.floor((range.min + t0) * 1000), Math.ceil((range.max + t0) * 1000)];
    };
    if (state.runs.length === 1) {
      const [start, end] = bounds(state.runs[0]);
      return [await one(state.runs[0], start, end)];
    }
    if (range && state.x === "relative") { // each run starts at its own zero: its own range
      return Promise.all(state.runs.map((run) => one(run, ...bounds(run))));
    }
    const [start, end] = bounds(state.runs[0]);
    const body = await getJSON("/api/metrics/history", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ run_ids: state.runs, key: state.key, buckets, x: axisName, start, end }),
    });
    return body.series;
  }

  async function getJSON(url, init) {
    const response = await fetch(url, init);
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) throw new Error((body && body.message) || `HTTP ${response.status}`);
    return body;
  }

  function xsOf(state, s) {
    if (state.x === "step") return s.steps;
    if (state.x === "time") return s.timestamps.map((t) => t / 1000);
    const t0 = state.t0[s.run_id] || 0;
    return s.timestamps.map((t) => (t - t0) / 1000);
  }

  // Debiased exponential moving average (as TensorBoard smooths); gaps stay gaps.
  function ema(values, weight) {
    if (!weight) return values;
    const out = new Array(values.length);
    let last = 0, n = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v == null) { out[i] = null; continue; }
      last = last * weight + (1 - weight) * v;
      n++;
      out[i] = last / (1 - Math.pow(weight, n));
    }
    return out;
  }

  // uPlot draws series over one shared x array. Runs logged at the same steps share it exactly;
  // otherwise the points go into one grid of pixel-wide buckets (keeping each one's last value,
  // least and greatest), which is what the screen can show anyway.
  function align(state, list, width, withBands, withRaw) {
    const prepared = list.map((s) => ({
      xs: xsOf(state, s), raw: s.values.map(num), low: s.min.map(num), high: s.max.map(num),
      band: withBands && s.downsampled,
    }));
    prepared.forEach((p) => { p.ys = ema(p.raw, state.smooth); });
    const columns = [];
    let xs;
    if (prepared.length === 1) {
      const p = prepared[0];
      xs = p.xs;
      columns.push([p.ys, p.raw, p.low, p.high]);
    } else {
      const unique = new Set();
      for (const p of prepared) { for (const x of p.xs) { unique.add(x); if (unique.size > 4 * width) break; } }
      if (unique.size <= 4 * width) {
        xs = Array.from(unique).sort((a, b) => a - b);
        const at = new Map(xs.map((x, i) => [x, i]));
        for (const p of prepared) {
          const cols = [0, 1, 2, 3].map(() => new Array(xs.length).fill(null));
          p.xs.forEach((x, i) => {
            const j = at.get(x);
            cols[0][j] = p.ys[i]; cols[1][j] = p.raw[i]; cols[2][j] = p.low[i]; cols[3][j] = p.high[i];
          });
          columns.push(cols);
        }
      } else {
        let lo = Infinity, hi = -Infinity;
        for (const p of prepared) for (const x of p.xs) { if (x < lo) lo = x; if (x > hi) hi = x; }
        const n = Math.max(1, width), step = (hi - lo) / n || 1;
        xs = Array.from({ length: n }, (_, i) => lo + (i + 0.5) * step);
        for (const p of prepared) {
          const cols = [0, 1, 2, 3].map(() => new Array(n).fill(null));
          p.xs.forEach((x, i) => {
            const j = Math.min(n - 1, Math.floor((x - lo) / step));
            cols[0][j] = p.ys[i]; cols[1][j] = p.raw[i];
            if (p.low[i] != null && (cols[2][j] == null || p.low[i] < cols[2][j])) cols[2][j] = p.low[i];
            if (p.high[i] != null && (cols[3][j] == null || p.high[i] > cols[3][j])) cols[3][j] = p.high[i];
          });
          columns.push(cols);
        }
      }
    }
    const data = [xs];
    const layout = [];
    prepared.forEach((p, i) => {
      const entry = { run: i, line: data.length, points: p.xs.length };
      data.push(columns[i][0]);
      if (withRaw && state.smooth > 0) { entry.raw = data.length; data.push(columns[i][1]); }
      if (p.band) { entry.low = data.length; data.push(columns[i][2]); entry.high = data.length; data.push(columns[i][3]); }
      layout.push(entry);
    });
    return { data, layout };
  }

  function metricOptions(state, layout, theme, width) {
    const series = [{ label: state.x }];
    const bands = [];
    for (const entry of layout) {
      const name = state.names[entry.run] || state.runs[entry.run];
      series[entry.line] = { label: name, stroke: seriesColor(entry.run, theme), width: 1.5,
                             points: { show: false }, spanGaps: true };
      if (entry.raw) series[entry.raw] = { label: name + " (raw)", stroke: seriesColor(entry.run, theme, 0.28),
                                           width: 1, points: { show: false }, spanGaps: true };
      if (entry.low) {
        series[entry.low] = { label: name + " min", stroke: "transparent", points: { show: false }, spanGaps: true };
        series[entry.high] = { label: name + " max", stroke: "transparent", points: { show: false }, spanGaps: true };
        bands.push({ series: [entry.high, entry.low], fill: seriesColor(entry.run, theme, 0.16) });
      }
    }
    const xAxis = state.x === "relative" ? axis(theme, { values: (u, splits) => splits.map(fmtDuration) }) : axis(theme);
    return {
      width, height: HEIGHT, series, bands, legend: { show: false },
      scales: { x: { time: state.x === "time" } },
      axes: [xAxis, axis(theme, { size: 58, values: (u, splits) => splits.map(fmt) })],
      focus: { alpha: layout.length > 1 ? 0.35 : 1 },
      cursor: {
        drag: { x: true, y: false, setScale: false }, // the selection zooms through setSelect, below
        focus: { prox: 24 },
        points: { show: layout.length <= LEGEND_LIMIT },
        bind: { dblclick: () => () => { zoomOut(state); return null; } },
      },
      hooks: {
        setSelect: [(u) => {
          const sel = u.select;
          if (sel.width < 3) return;
          const min = u.posToVal(sel.left, "x"), max = u.posToVal(sel.left + sel.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          zoomTo(state, min, max);
        }],
        setCursor: [(u) => readout(state, u)],
        setSeries: [(u, i, opts) => { if (opts && opts.focus != null) { state.focused = opts.focus ? i : null; readout(state, u); } }],
      },
    };
  }

  function xLabel(state, x) {
    if (x == null) return "";
    if (state.x === "time") return new Date(x * 1000).toLocaleString();
    if (state.x === "relative") return fmtDuration(x);
    return "step " + integer.format(Math.round(x));
  }

  function readout(state, u) {
    const out = state.parts.readout;
    const idx = u.cursor.idx;
    out.replaceChildren();
    const layout = state.layout || [];
    const item = (entry, value) => {
      const span = text("span", "item");
      const swatch = text("i", "swatch");
      swatch.style.background = seriesColor(entry.run, state.theme);
      span.append(swatch, text("span", "", state.names[entry.run] || state.runs[entry.run]));
      if (value !== undefined) span.append(text("b", "", " " + fmt(value)));
      return span;
    };
    if (idx == null) {
      if (layout.length > 1 && layout.length <= LEGEND_LIMIT) layout.filter((e) => e.points).forEach((e) => out.append(item(e)));
      else if (layout.length > LEGEND_LIMIT) out.append(text("span", "muted", "Point at a line to see its run."));
      return;
    }
    out.append(text("span", "x", xLabel(state, u.data[0][idx])));
    let shown = layout;
    if (layout.length > LEGEND_LIMIT) {
      shown = layout.filter((e) => e.line === state.focused);
    }
    for (const entry of shown) if (entry.points) out.append(item(entry, u.data[entry.line][idx]));
  }

  function caption(state) {
    const list = state.shown || [];
    let points = 0, total = 0, all = 0, sampled = false;
    for (const s of list) { points += s.values.length; total += s.total; all += s.count_all; sampled = sampled || s.downsampled; }
    const parts = [];
    if (list.length > 1) parts.push(`${integer.format(list.length)} runs`);
    const empty = list.filter((s) => s.count_all === 0).length;
    let line = sampled ? `${integer.format(points)} of ${integer.format(total)} points` : `${integer.format(points)} points`;
    if (state.zoom) line += all > total ? ` in this range (${integer.format(all)} in all)` : " in this range";
    if (sampled) line += list.length <= BAND_LIMIT ? ", min/max band" : ", downsampled";
    parts.push(line);
    if (empty && list.length > 1) parts.push(`${empty} without points`);
    state.parts.caption.textContent = parts.join(" · ");
    markDrawn(state.el, points, total);
  }

  function render(state) {
    const theme = palette();
    state.theme = theme;
    const width = plotWidth(state.el);
    const list = state.shown;
    const few = list.length <= BAND_LIMIT;
    const { data, layout } = align(state, list, width, few, few);
    state.layout = layout;
    if (state.plot) state.plot.destroy();
    state.parts.plot.replaceChildren();
    state.plot = new uPlot(metricOptions(state, layout, theme, width), data, state.parts.plot);
    if (state.zoom) state.plot.setScale("x", { min: state.zoom.min, max: state.zoom.max });
    caption(state);
    readout(state, state.plot);
  }

  async function load(state, range) {
    const ticket = ++state.request;
    try {
      const list = await fetchSeries(state, range);
      if (ticket !== state.request) return; // a newer zoom or setting won
      if (!range) {
        state.full = list;
        for (const s of list) if (s.timestamps.length) state.t0[s.run_id] = s.timestamps[0];
      }
      state.shown = list;
      render(state);
    } catch (error) {
      if (ticket !== state.request) return;
      state.parts.caption.textContent = "Could not load the points: " + error.message;
      state.el.dataset.error = error.message;
    }
  }

  // Zoomed in: the chart shows the range at once, from the points it has, then the points of
  // the range itself (at full resolution when there are few enough).
  function zoomTo(state, min, max) {
    if (!(max > min)) return;
    state.zoom = { min, max };
    state.plot.setScale("x", { min, max });
    load(state, state.zoom);
  }
  function zoomOut(state) {
    state.zoom = null;
    state.request++;
    if (state.full) { state.shown = state.full; render(state); } else load(state, null);
  }

  async function drawMetric(el) {
    const state = metricState(el);
    states.set(el, state);
    state.parts = frame(el);
    if (!state.runs.length || !state.key) { state.parts.caption.textContent = "Nothing to draw."; return; }
    await load(state, null);
  }

  // ------------------------------------------------------------------ series given by a page
  function genericState(el, spec) {
    return { el, spec, parts: frame(el), plot: null };
  }
  function drawGeneric(el, spec) {
    const state = states.get(el) && states.get(el).spec === spec ? states.get(el) : genericState(el, spec);
    states.set(el, state);
    const theme = palette();
    const width = plotWidth(el);
    const xs = (spec.x || []).map((v) => (spec.time ? v / 1000 : v));
    const series = [{ label: spec.xLabel || "x" }];
    const data = [xs];
    (spec.series || []).forEach((s, i) => {
      series.push({ label: s.label || `series ${i + 1}`, stroke: s.color || seriesColor(i, theme), width: 1.5,
                    points: { show: xs.length < 60 }, spanGaps: true });
      data.push((s.values || []).map(num));
    });
    const markers = spec.markers || [];
    if (state.plot) state.plot.destroy();
    state.parts.plot.replaceChildren();
    state.plot = new uPlot({
      width, height: spec.height || HEIGHT, series, legend: { show: false },
      scales: { x: { time: !!spec.time } },
      axes: [axis(theme), axis(theme, { size: 58, label: spec.yLabel, values: (u, splits) => splits.map(fmt) })],
      cursor: { drag: { x: true, y: false } },
      hooks: {
        draw: [(u) => drawMarkers(u, markers, spec.time, theme)],
        setCursor: [(u) => genericReadout(state, u, series, spec)],
      },
    }, data, state.parts.plot);
    genericReadout(state, state.plot, series, spec);
    let points = 0;
    for (let i = 1; i < data.length; i++) points += data[i].filter((v) => v != null).length;
    state.parts.caption.textContent = spec.caption || `${integer.format(points)} points`;
    markDrawn(el, points, points);
  }
  // Under the chart: the series' names, and their values where the cursor is.
  function genericReadout(state, u, series, spec) {
    const idx = u.cursor.idx;
    const out = state.parts.readout;
    out.replaceChildren();
    if (idx == null && series.length <= 2) return;
    if (idx != null) {
      const x = u.data[0][idx];
      out.append(text("span", "x", spec.time ? new Date(x * 1000).toLocaleString() : fmt(x)));
    }
    for (let i = 1; i < series.length; i++) {
      const span = text("span", "item");
      const swatch = text("i", "swatch");
      swatch.style.background = series[i].stroke;
      span.append(swatch, text("span", "", series[i].label));
      if (idx != null) span.append(text("b", "", " " + fmt(u.data[i][idx])));
      out.append(span);
    }
  }

  function drawMarkers(u, markers, time, theme) {
    if (!markers.length) return;
    const ctx = u.ctx;
    const { top, height, left, width } = u.bbox;
    ctx.save();
    ctx.font = `${Math.round(10 * devicePixelRatio)}px system-ui, sans-serif`;
    for (const m of markers) {
      const x = u.valToPos(time ? m.x / 1000 : m.x, "x", true);
      if (x < left || x > left + width) continue;
      ctx.strokeStyle = m.color || theme.muted;
      ctx.fillStyle = m.color || theme.muted;
      ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
      ctx.lineWidth = devicePixelRatio;
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
      if (m.label) ctx.fillText(String(m.label), x + 3 * devicePixelRatio, top + 11 * devicePixelRatio);
    }
    ctx.restore();
  }

  // -------------------------------------------------------------------------------- scatter
  function drawScatter(el, spec) {
    const section = el.closest("section") || document;
    const pick = (name, fallback) => { const s = section.querySelector(`select[name=${name}]`); return s ? s.value : fallback; };
    const state = states.get(el) || { el, spec, parts: frame(el), plot: null };
    states.set(el, state);
    const theme = palette();
    const xName = pick("sx", spec.x), yName = pick("sy", spec.y);
    const xsAll = spec.columns[xName] || [], ysAll = spec.columns[yName] || [];
    const points = [];
    for (let i = 0; i < spec.names.length; i++) {
      const x = num(xsAll[i]), y = num(ysAll[i]);
      if (x != null && y != null) points.push([x, y, i]);
    }
    points.sort((a, b) => a[0] - b[0]);
    const data = [points.map((p) => p[0]), points.map((p) => p[1])];
    if (state.plot) state.plot.destroy();
    state.parts.plot.replaceChildren();
    state.plot = new uPlot({
      width: plotWidth(el), height: 340, legend: { show: false },
      series: [{ label: xName }, { label: yName, stroke: seriesColor(0, theme), fill: seriesColor(0, theme, 0.5),
                                   paths: () => null, points: { show: true, size: 8, width: 1, stroke: seriesColor(0, theme),
                                                                fill: seriesColor(0, theme, 0.55) } }],
      scales: { x: { time: false } },
      axes: [axis(theme, { label: xName, labelSize: 18, values: (u, s) => s.map(fmt) }),
             axis(theme, { label: yName, labelSize: 18, size: 58, values: (u, s) => s.map(fmt) })],
      cursor: { drag: { x: true, y: true, uni: 20 } },
      hooks: { setCursor: [(u) => {
        const idx = u.cursor.idx;
        state.parts.readout.replaceChildren();
        if (idx == null || !points[idx]) return;
        const p = points[idx];
        state.parts.readout.append(text("b", "", spec.names[p[2]]), text("span", "", ` ${xName} ${fmt(p[0])}, ${yName} ${fmt(p[1])}`));
      }] },
    }, data, state.parts.plot);
    state.parts.caption.textContent = points.length === spec.names.length ? `${points.length} runs`
      : `${points.length} of ${spec.names.length} runs (the others lack one of the two)`;
    markDrawn(el, points.length, spec.names.length);
    const go = state.plot.over;
    go.style.cursor = "pointer";
    go.onclick = () => { const idx = state.plot.cursor.idx; if (idx != null && points[idx]) window.location.assign("/runs/" + spec.ids[points[idx][2]]); };
  }

  // ------------------------------------------------------------------- parallel coordinates
  function drawParallel(el, spec) {
    const state = states.get(el) || { el, spec, parts: frame(el), hover: null };
    states.set(el, state);
    const axes = spec.axes || [];
    if (axes.length < 2) {
      state.parts.caption.textContent = axes.length ? "No param differs between these runs: nothing to set against the metric."
        : "No params or metrics to draw.";
      markDrawn(el, 0, 0);
      return;
    }
    const theme = palette();
    const dpr = window.devicePixelRatio || 1;
    const width = plotWidth(el), height = 340;
    const canvas = state.canvas || document.createElement("canvas");
    state.canvas = canvas;
    canvas.width = width * dpr; canvas.height = height * dpr;
    canvas.style.width = width + "px"; canvas.style.height = height + "px";
    if (!canvas.parentNode) state.parts.plot.append(canvas);
    const margin = { top: 34, bottom: 22, left: 70, right: 70 };
    const inner = height - margin.top - margin.bottom;
    const gap = (width - margin.left - margin.right) / (axes.length - 1);
    const scales = axes.map((a) => {
      if (a.kind === "category") {
        const labels = Array.from(new Set(a.values.map((v) => (v == null ? "–" : String(v))))).sort();
        return { labels, y: (v) => margin.top + inner - (labels.length === 1 ? 0.5 : labels.indexOf(v == null ? "–" : String(v)) / (labels.length - 1)) * inner };
      }
      const vals = a.values.map(num).filter((v) => v != null);
      let lo = Math.min(...vals), hi = Math.max(...vals);
      if (!vals.length) { lo = 0; hi = 1; }
      if (lo === hi) { lo -= 1; hi += 1; }
      return { lo, hi, y: (v) => (num(v) == null ? null : margin.top + inner - ((v - lo) / (hi - lo)) * inner) };
    });
    const colorAxis = axes.findIndex((a) => a.metric);
    const cScale = colorAxis >= 0 ? scales[colorAxis] : null;
    const lineColor = (i, alpha) => {
      const v = cScale ? num(axes[colorAxis].values[i]) : null;
      if (v == null) return theme.dark ? `hsl(220 8% 55% / ${alpha})` : `hsl(220 8% 60% / ${alpha})`;
      const t = (v - cScale.lo) / (cScale.hi - cScale.lo);
      return `hsl(${(230 - 200 * t).toFixed(0)} 75% ${theme.dark ? 62 : 46}% / ${alpha})`;
    };
    const xAt = (j) => margin.left + j * gap;
    const paths = spec.names.map((_, i) => axes.map((a, j) => {
      const y = scales[j].y(a.values[i]);
      return y == null ? null : [xAt(j), y];
    }));
    const ctx = canvas.getContext("2d");
    const paint = () => {
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, width, height);
      const many = spec.names.length > 60;
      paths.forEach((pts, i) => {
        if (i === state.hover) return;
        stroke(ctx, pts, lineColor(i, many ? 0.35 : 0.75), 1.2);
      });
      if (state.hover != null) stroke(ctx, paths[state.hover], lineColor(state.hover, 1), 3);
      ctx.font = "12px system-ui, sans-serif";
      ctx.textAlign = "center";
      axes.forEach((a, j) => {
        const x = xAt(j);
        ctx.strokeStyle = theme.muted; ctx.lineWidth = 1;
        ctx.beginPath(); ctx.moveTo(x, margin.top); ctx.lineTo(x, margin.top + inner); ctx.stroke();
        ctx.fillStyle = theme.fg;
        ctx.font = (a.metric ? "600 " : "") + "12px system-ui, sans-serif";
        ctx.fillText(clip(a.label, gap - 8), x, 16);
        ctx.font = "11px system-ui, sans-serif";
        ctx.fillStyle = theme.muted;
        const s = scales[j];
        if (s.labels) {
          s.labels.forEach((label) => { ctx.fillText(clip(label, gap - 8), x, s.y(label === "–" ? null : label) - 4); });
        } else {
          ctx.fillText(fmt(s.hi), x, margin.top - 4);
          ctx.fillText(fmt(s.lo), x, margin.top + inner + 14);
        }
      });
    };
    const clip = (label, room) => {
      let t = String(label);
      while (t.length > 3 && ctx.measureText(t).width > room) t = t.slice(0, -2);
      return t === String(label) ? t : t + "…";
    };
    paint();
    const near = (mx, my) => {
      let best = null, bestD = 8;
      paths.forEach((pts, i) => {
        for (let j = 0; j + 1 < pts.length; j++) {
          const a = pts[j], b = pts[j + 1];
          if (!a || !b || mx < a[0] || mx > b[0]) continue;
          const d = Math.abs(a[1] + ((mx - a[0]) / (b[0] - a[0])) * (b[1] - a[1]) - my);
          if (d < bestD) { bestD = d; best = i; }
        }
      });
      return best;
    };
    canvas.onmousemove = (e) => {
      const r = canvas.getBoundingClientRect();
      const hit = near(e.clientX - r.left, e.clientY - r.top);
      if (hit === state.hover) return;
      state.hover = hit;
      canvas.style.cursor = hit == null ? "default" : "pointer";
      state.parts.readout.replaceChildren();
      if (hit != null) {
        state.parts.readout.append(text("b", "", spec.names[hit]));
        axes.forEach((a) => state.parts.readout.append(text("span", "", ` ${a.label} ${a.kind === "category" ? a.values[hit] : fmt(num(a.values[hit]))}`)));
      }
      paint();
    };
    canvas.onmouseleave = () => { state.hover = null; state.parts.readout.replaceChildren(); paint(); };
    canvas.onclick = () => { if (state.hover != null) window.location.assign("/runs/" + spec.ids[state.hover]); };
    state.parts.caption.textContent = `${spec.names.length} runs, ${axes.length - (colorAxis >= 0 ? 1 : 0)} params that differ` +
      (colorAxis >= 0 ? `, coloured by ${axes[colorAxis].label} (blue low, red high)` : "");
    markDrawn(el, spec.names.length, spec.names.length);
  }
  function stroke(ctx, pts, color, width) {
    ctx.strokeStyle = color; ctx.lineWidth = width;
    ctx.beginPath();
    let open = false;
    for (const p of pts) {
      if (!p) { open = false; continue; }
      if (open) ctx.lineTo(p[0], p[1]); else { ctx.moveTo(p[0], p[1]); open = true; }
    }
    ctx.stroke();
  }

  // ------------------------------------------------------------------------ drawing lazily
  function inlineSpec(el) {
    const script = el.querySelector(':scope > script[type="application/json"]');
    if (!script) return null;
    try { return JSON.parse(script.textContent); } catch (e) { return null; }
  }
  function draw(el) {
    if (el._mcSpec === undefined) el._mcSpec = inlineSpec(el);
    const spec = el._mcSpec;
    if (el.dataset.kind === "parallel" && spec) return drawParallel(el, spec);
    if (el.dataset.kind === "scatter" && spec) return drawScatter(el, spec);
    if (spec) return drawGeneric(el, spec);
    if (el.dataset.key) return drawMetric(el);
  }
  function redraw(el) {
    const state = states.get(el);
    if (!state) return;
    if (state.runs) { if (state.shown) render(state); return; }
    draw(el);
  }

  const observer = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      observer.unobserve(entry.target);
      draw(entry.target);
    }
  }, { rootMargin: "300px 0px" }) : null;

  function scan(root) {
    (root || document).querySelectorAll(".chart").forEach((el) => {
      if (el.dataset.drawn || el._mcObserved) return;
      el._mcObserved = true;
      if (observer) observer.observe(el); else draw(el);
    });
  }

  function chart(el, spec) {
    el._mcSpec = spec;
    delete el.dataset.drawn;
    if (states.get(el)) { draw(el); return; }
    el._mcObserved = true;
    if (observer) observer.observe(el); else draw(el);
  }

  // ------------------------------------------------------------------------------ controls
  function setParam(name, value, fallback) {
    const url = new URL(window.location.href);
    if (value === fallback) url.searchParams.delete(name); else url.searchParams.set(name, value);
    window.history.replaceState(window.history.state, "", url);
  }
  function metricCharts() {
    return Array.from(document.querySelectorAll(".chart[data-key]"));
  }
  function setupControls() {
    document.querySelectorAll("[data-chart-controls]").forEach((box) => {
      const x = box.querySelector("select[name=x]");
      const smooth = box.querySelector("input[name=smooth]");
      const output = box.querySelector("output");
      if (x) x.addEventListener("change", () => {
        setParam("x", x.value, "step");
        for (const el of metricCharts()) {
          el.dataset.x = x.value;
          const state = states.get(el);
          if (state) { state.x = x.value; state.zoom = null; state.full = null; load(state, null); }
        }
      });
      if (smooth) {
        const apply = () => {
          const weight = parseFloat(smooth.value) || 0;
          if (output) output.textContent = weight.toFixed(2);
          for (const el of metricCharts()) {
            el.dataset.smooth = String(weight);
            const state = states.get(el);
            if (state) { state.smooth = weight; if (state.shown) render(state); }
          }
        };
        smooth.addEventListener("input", apply);
        smooth.addEventListener("change", () => setParam("smooth", smooth.value, "0"));
      }
    });
    document.querySelectorAll("select[name=sx], select[name=sy]").forEach((select) => {
      select.addEventListener("change", () => {
        setParam(select.name, select.value, "");
        const el = (select.closest("section") || document).querySelector('.chart[data-kind="scatter"]');
        if (el && el.dataset.drawn) drawScatter(el, el._mcSpec);
      });
    });
  }

  let resizeTimer = null;
  function onResize() {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      document.querySelectorAll(".chart[data-drawn]").forEach((el) => {
        const state = states.get(el);
        if (state && state.plot && state.plot.width !== plotWidth(el)) redraw(el);
        else if (state && state.canvas) redraw(el);
      });
    }, 150);
  }
  function onTheme() {
    document.querySelectorAll(".chart[data-drawn]").forEach(redraw);
  }

  window.modelcycle = Object.assign(window.modelcycle || {}, { chart, drawCharts: scan, formatNumber: fmt });
  document.addEventListener("DOMContentLoaded", () => { setupControls(); scan(document); });
  document.addEventListener("htmx:afterSwap", (event) => scan(event.target));
  document.addEventListener("mc:theme", onTheme);
  if (window.matchMedia) window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", onTheme);
  window.addEventListener("resize", onResize);
})();
