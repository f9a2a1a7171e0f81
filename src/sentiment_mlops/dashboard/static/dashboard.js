// sentiment-mlops dashboard: each page fetches its JSON from /api/ and draws it with Plotly.
// User-supplied strings (texts, reasons, messages) only ever reach the page through textContent.
"use strict";

const COLORS = ["#2f6fde", "#e8743b", "#19a979", "#945ecf", "#ed4a7b", "#13a4b4", "#525df4", "#bf399e"];
const LABEL_COLORS = { negative: "#d9534f", neutral: "#9aa5b1", positive: "#2e8b57" };
const TOKEN_KEY = "sentiment-mlops-admin-token";

// ---- small helpers -------------------------------------------------------------------------------
const $ = (id) => document.getElementById(id);

async function api(path, headers) {
  const response = await fetch(path, { headers: headers || {} });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || body);
    const error = new Error(`${path}: ${response.status} ${detail}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

// GET as the admin when a token is saved; a refused (stale) token is forgotten and the request made without it.
async function apiAsAdmin(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return { data: await api(path), refused: false };
  try {
    return { data: await api(path, { Authorization: `Bearer ${token}` }), refused: false };
  } catch (error) {
    if (error.status !== 401) throw error;
    sessionStorage.removeItem(TOKEN_KEY);
    return { data: await api(path), refused: true };
  }
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const fmt = {
  num: (v, digits = 3) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits)),
  pct: (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)}%`),
  int: (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en")),
  time: (v) => (v ? new Date(v).toISOString().replace("T", " ").slice(0, 19) : "–"),
};

function badge(text, kind) { return el("span", { class: `badge ${kind || text}`, text }); }

// columns: [{title, value: row => string|Node, class}]
function renderTable(table, columns, rows, emptyText) {
  table.replaceChildren();
  const head = el("tr", {}, ...columns.map((c) => el("th", { text: c.title })));
  table.append(el("thead", {}, head));
  const body = el("tbody");
  if (!rows.length) {
    body.append(el("tr", {}, el("td", { colspan: String(columns.length), class: "muted", text: emptyText || "nothing yet" })));
  }
  for (const row of rows) {
    const tr = el("tr");
    for (const c of columns) {
      const value = c.value(row);
      tr.append(el("td", { class: c.class || "" }, value === null || value === undefined ? "–" : value));
    }
    if (columns.rowClass) tr.className = columns.rowClass(row);
    body.append(tr);
  }
  table.append(body);
}

const BASE_LAYOUT = {
  margin: { l: 56, r: 16, t: 8, b: 44 }, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
  font: { family: "system-ui, sans-serif", size: 12, color: "#1f2933" }, hovermode: "closest",
  legend: { orientation: "h", y: -0.2 }, xaxis: { gridcolor: "#eef1f4" }, yaxis: { gridcolor: "#eef1f4" },
};

function plot(id, traces, layout, emptyText) {
  const node = $(id);
  if (!traces.length || traces.every((t) => !(t.x || t.y || t.z || []).length)) {
    if (window.Plotly) Plotly.purge(node);
    node.replaceChildren(el("div", { class: "placeholder", text: emptyText || "no data yet" }));
    return;
  }
  node.replaceChildren();
  const merged = { ...BASE_LAYOUT, ...layout,
    xaxis: { ...BASE_LAYOUT.xaxis, ...(layout || {}).xaxis }, yaxis: { ...BASE_LAYOUT.yaxis, ...(layout || {}).yaxis } };
  Plotly.react(node, traces, merged, { displaylogo: false, responsive: true });
}

function groupBy(rows, key) {
  const groups = new Map();
  for (const row of rows) {
    const k = row[key];
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k).push(row);
  }
  return groups;
}

// ---- Experiments -----------------------------------------------------------------------------------
const experiments = {
  runs: [],
  selected: new Set(),

  async load() {
    const data = await api(`/api/experiments?include_trials=${$("include-trials").checked}`);
    $("experiment-name").textContent = data.experiment;
    this.runs = data.runs;
    const empty = !this.runs.length;
    $("empty").hidden = !empty;
    $("content").hidden = empty;
    if (empty) return;
    if (!this.selected.size) {
      this.runs.filter((r) => r.metrics.accuracy !== undefined).slice(0, 2).forEach((r) => this.selected.add(r.run_id));
    }
    this.drawOverTime();
    this.drawRunsTable();
    await this.compare([...this.selected], null);
  },

  drawOverTime() {
    const runs = this.runs.filter((r) => r.metrics.accuracy !== undefined).slice().reverse();
    const label = (r) => `${r.run_name}${r.versions.length ? ` (v${r.versions.join(", v")})` : ""}`;
    const traces = ["accuracy", "macro_f1"].map((metric, i) => ({
      type: "scatter", mode: "lines+markers", name: metric, x: runs.map((r) => r.start_time),
      y: runs.map((r) => r.metrics[metric]), text: runs.map(label), marker: { size: 8, color: COLORS[i] },
      hovertemplate: `%{text}<br>${metric} %{y:.4f}<extra></extra>`,
    }));
    plot("chart-metrics-time", traces, { yaxis: { title: "held-out score", tickformat: ".2f" } }, "no evaluated runs");
  },

  drawRunsTable() {
    const classes = [...new Set(this.runs.flatMap((r) => Object.keys(r.per_class)))];
    const columns = [
      { title: "", value: (r) => {
        const box = el("input", { type: "checkbox", "data-run": r.run_id });
        box.checked = this.selected.has(r.run_id);
        box.addEventListener("change", () => {
          if (box.checked) this.selected.add(r.run_id); else this.selected.delete(r.run_id);
          box.closest("tr").className = box.checked ? "selected" : "";
        });
        return box;
      } },
      { title: "started", value: (r) => fmt.time(r.start_time) },
      { title: "run", value: (r) => r.run_name },
      { title: "version", value: (r) => (r.versions.length ? r.versions.map((v) => `v${v}`).join(", ") : "–") },
      { title: "status", value: (r) => r.status },
      { title: "accuracy", class: "num", value: (r) => fmt.num(r.metrics.accuracy, 4) },
      { title: "macro-F1", class: "num", value: (r) => fmt.num(r.metrics.macro_f1, 4) },
      ...classes.map((c) => ({ title: `${c} F1`, class: "num", value: (r) => fmt.num((r.per_class[c] || {}).f1, 3) })),
      { title: "model", value: (r) => r.params.model_type || "–" },
      { title: "rows", class: "num", value: (r) => fmt.int(r.params.dataset_size) },
    ];
    columns.rowClass = (r) => (this.selected.has(r.run_id) ? "selected" : "");
    renderTable($("runs-table"), columns, this.runs, "no runs");
  },

  async compare(runIds, versions) {
    const query = [];
    if (runIds && runIds.length) query.push(`ids=${runIds.slice(0, 20).join(",")}`);
    if (versions) query.push(`versions=${encodeURIComponent(versions)}`);
    if (!query.length) {
      plot("chart-compare", [], {}, "select runs to compare");
      renderTable($("compare-table"), [{ title: "metric", value: () => "" }], [], "select runs to compare");
      renderTable($("params-table"), [{ title: "parameter", value: () => "" }], [], "select runs to compare");
      return;
    }
    const { runs } = await api(`/api/runs?${query.join("&")}`);
    const name = (r) => (r.versions.length ? `v${r.versions.join("/v")} · ${r.run_name}` : `${r.run_name} ${r.run_id.slice(0, 7)}`);
    const classes = [...new Set(runs.flatMap((r) => Object.keys(r.per_class)))].sort();
    const metrics = [["accuracy", (r) => r.metrics.accuracy], ["macro-F1", (r) => r.metrics.macro_f1]];
    for (const c of classes) {
      for (const s of ["precision", "recall", "f1"]) metrics.push([`${c} ${s}`, (r) => (r.per_class[c] || {})[s]]);
    }
    const traces = runs.map((r, i) => ({
      type: "bar", name: name(r), x: metrics.map((m) => m[0]), y: metrics.map((m) => m[1](r)),
      marker: { color: COLORS[i % COLORS.length] }, hovertemplate: "%{x}: %{y:.4f}<extra>%{fullData.name}</extra>",
    }));
    $("compare-label").textContent = `(${runs.length} run${runs.length === 1 ? "" : "s"})`;
    plot("chart-compare", traces, { barmode: "group", yaxis: { tickformat: ".2f", range: [0, 1] }, xaxis: { tickangle: -35 },
      margin: { l: 48, r: 8, t: 8, b: 110 }, legend: { orientation: "h", y: 1.12 } }, "select runs to compare");
    const metricRows = metrics.map(([title, get]) => ({ title, values: runs.map(get) }));
    $("compare-table").className = "data compact";
    renderTable($("compare-table"), [{ title: "metric", value: (m) => m.title },
      ...runs.map((r, i) => ({ title: name(r), class: "num", value: (m) => {
        const best = Math.max(...m.values.filter((v) => v !== undefined));
        const cell = el("span", { text: fmt.num(m.values[i], 4) });
        if (runs.length > 1 && m.values[i] === best) cell.style.fontWeight = "700";
        return cell;
      } }))], metricRows);
    const keys = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort();
    const paramRows = keys.map((key) => ({ key, values: runs.map((r) => r.params[key]) }));
    const columns = [{ title: "parameter", value: (p) => p.key },
      ...runs.map((r, i) => ({ title: name(r), value: (p) => p.values[i] }))];
    columns.rowClass = (p) => (new Set(p.values).size > 1 ? "diff" : "");
    renderTable($("params-table"), columns, paramRows);
  },

  init() {
    $("include-trials").addEventListener("change", () => this.load().catch((e) => showError(e.message)));
    $("compare-button").addEventListener("click", () => {
      const versions = $("compare-versions").value.replace(/\s+/g, "").replace(/v/gi, "");
      this.compare([...this.selected], versions || null).catch((e) => showError(e.message));
    });
    return this.load();
  },
};

// ---- Models ----------------------------------------------------------------------------------------
const models = {
  async init() {
    const [versions, history, loop] = await Promise.all([api("/api/versions"), api("/api/deployments"),
      api("/api/loop")]);
    $("model-name").textContent = versions.model;
    const empty = !versions.versions.length && !history.events.length;
    $("empty").hidden = !empty;
    $("content").hidden = empty;
    this.drawAliases(versions);
    if (empty) return;
    this.drawTimeline(versions.versions, history.events);
    renderTable($("versions-table"), [
      { title: "version", value: (v) => `v${v.version}` },
      { title: "registered", value: (v) => fmt.time(v.created) },
      { title: "aliases", value: (v) => (v.aliases.length ? el("span", {}, ...v.aliases.map((a) => badge(a))) : "–") },
      { title: "accuracy", class: "num", value: (v) => fmt.num(v.metrics.accuracy, 4) },
      { title: "macro-F1", class: "num", value: (v) => fmt.num(v.metrics.macro_f1, 4) },
      { title: "model", value: (v) => v.tags.model_type || "–" },
      { title: "run", value: (v) => (v.run_id || "–").slice(0, 12) },
    ], versions.versions, "no versions");
    renderTable($("events-table"), [
      { title: "when", value: (e) => fmt.time(e.created_at) },
      { title: "environment", value: (e) => badge(e.environment) },
      { title: "action", value: (e) => badge(e.action) },
      { title: "from", value: (e) => (e.from_version ? `v${e.from_version}` : "–") },
      { title: "to", value: (e) => (e.to_version ? `v${e.to_version}` : "–") },
      { title: "actor", value: (e) => e.actor || "–" },
      { title: "reason", value: (e) => e.reason || "–" },
    ], history.events.slice().reverse(), "no promotions or rollbacks yet");
    const steps = loop.loops.flatMap((l) => l.steps.map((step) => ({ ...step, loop: l.loop, status: l.status })));
    renderTable($("loop-table"), [
      { title: "loop", value: (s) => `#${s.loop} · ${s.status}` },
      { title: "when", value: (s) => fmt.time(s.created_at) },
      { title: "step", value: (s) => badge(s.action) },
      { title: "event", class: "num", value: (s) => String(s.id) },
      { title: "version", value: (s) => (s.to_version ? `v${s.to_version}` : "–") },
      { title: "reason", value: (s) => s.reason || "–" },
    ], steps, "the retraining loop has not run (it is opt-in: monitor --watch --retrain POLICY.yml)");
  },

  drawAliases(data) {
    const box = $("aliases");
    box.replaceChildren();
    for (const alias of ["production", "staging", "canary"]) {
      const version = data.aliases[alias];
      let value = version ? `v${version}` : "not set";
      if (alias === "canary" && version && data.canary_percent !== null) value += ` · ${data.canary_percent}%`;
      box.append(el("div", { class: "tile" }, el("div", { class: "label", text: alias }), el("div", { class: "value", text: value })));
    }
  },

  drawTimeline(versions, events) {
    const now = new Date().toISOString();
    const traces = [{
      type: "scatter", mode: "markers+text", name: "registered", x: versions.map((v) => v.created),
      y: versions.map((v) => Number(v.version)), text: versions.map((v) => `v${v.version}`), textposition: "top center",
      marker: { size: 11, color: "#9aa5b1", symbol: "circle-open", line: { width: 2 } },
      hovertemplate: "v%{y} registered %{x}<extra></extra>",
    }];
    // A step line per environment: the version it served over time. A canary lane ends when the canary
    // is aborted, rolled back or finished (those events name the version production keeps).
    const symbol = (action) => (action.includes("rollback") || action.includes("abort") ? "triangle-down"
      : action.includes("canary") ? "diamond" : "triangle-up");
    const lanes = groupBy(events.filter((e) => e.environment !== "loop" && e.to_version && /^[0-9]+$/.test(e.to_version)),
      "environment");
    // Lanes sit slightly apart so that two environments on one version stay visible.
    const offsets = { production: -0.08, staging: 0, canary: 0.08 };
    for (const [environment, rows] of lanes) {
      const color = environment === "production" ? "#2e8b57" : environment === "staging" ? "#2f6fde" : "#d98e04";
      const offset = offsets[environment] || 0.04;
      const x = [], y = [], text = [], symbols = [], sizes = [];
      let current = null;
      for (const e of rows) {
        const ends = environment === "canary" && e.action !== "canary-start";
        const version = ends ? current : Number(e.to_version);
        x.push(e.created_at); y.push(version); symbols.push(symbol(e.action)); sizes.push(12);
        text.push(`${e.action}${e.reason ? `: ${e.reason}` : ""}`);
        if (ends) { x.push(e.created_at); y.push(null); text.push(""); symbols.push("circle"); sizes.push(0); }
        current = ends ? null : version;
      }
      if (current !== null) { x.push(now); y.push(current); text.push("now"); symbols.push("circle"); sizes.push(0); }
      traces.push({ type: "scatter", mode: "lines+markers", name: environment, x, y: y.map((v) => (v === null ? null : v + offset)),
        customdata: y, text, connectgaps: false, line: { shape: "hv", width: 3, color }, marker: { size: sizes, color, symbol: symbols },
        hovertemplate: `${environment}: v%{customdata}<br>%{text}<br>%{x}<extra></extra>` });
    }
    const maxVersion = Math.max(1, ...versions.map((v) => Number(v.version)));
    plot("chart-timeline", traces, { yaxis: { title: "model version", dtick: 1, range: [0.5, maxVersion + 0.7] },
      legend: { orientation: "h", y: 1.08 }, margin: { l: 56, r: 16, t: 30, b: 40 } });
  },
};

// ---- Live ------------------------------------------------------------------------------------------
const live = {
  filled: false,

  params() {
    const p = new URLSearchParams({ hours: $("f-hours").value });
    if ($("f-environment").value) p.set("environment", $("f-environment").value);
    if ($("f-version").value) p.set("version", $("f-version").value);
    return p;
  },

  fillSelectors(slices) {
    const fill = (select, values) => {
      const current = select.value;
      select.replaceChildren(el("option", { value: "", text: "all" }), ...values.map((v) => el("option", { value: v, text: v })));
      select.value = values.includes(current) ? current : "";
    };
    // Shadow rows (environment "shadow") have their own panel; /api/live filters by serving environment only.
    fill($("f-environment"), [...new Set(slices.map((s) => s.environment))].filter((e) => e !== "shadow").sort());
    fill($("f-version"), [...new Set(slices.map((s) => s.model_version))].sort((a, b) => Number(b) - Number(a)));
  },

  async load() {
    const data = await api(`/api/live?${this.params()}`);
    if (!this.filled) { this.fillSelectors(data.slices); this.filled = true; }
    const empty = data.total_predictions === 0;
    $("empty").hidden = !empty;
    this.drawTiles(data);
    const time = { xaxis: { type: "date" } };
    const volume = [...groupBy(data.volume, "model_version")].map(([version, rows], i) => ({
      type: "bar", name: `v${version}`, x: rows.map((r) => r.t), y: rows.map((r) => r.count), marker: { color: COLORS[i % COLORS.length] },
    }));
    plot("chart-volume", volume, { ...time, barmode: "stack", yaxis: { title: `predictions per ${data.bucket}` } }, "no predictions yet");
    const labels = [...groupBy(data.labels, "sentiment")].map(([label, rows]) => ({
      type: "scatter", mode: "lines", stackgroup: "labels", groupnorm: "percent", name: label, x: rows.map((r) => r.t),
      y: rows.map((r) => r.count), line: { color: LABEL_COLORS[label] || "#555", width: 1 },
    }));
    plot("chart-labels", labels, { ...time, yaxis: { title: "% of predictions", range: [0, 100] } }, "no predictions yet");
    const hist = data.confidence_histogram;
    plot("chart-confidence", hist.length ? [{ type: "bar", name: "predictions", x: hist.map((b) => (b.bin_start + b.bin_end) / 2),
      y: hist.map((b) => b.count), width: hist.map((b) => b.bin_end - b.bin_start), marker: { color: "#2f6fde" },
      hovertemplate: "confidence %{x:.2f}: %{y}<extra></extra>" }] : [],
    { xaxis: { title: "confidence", range: [0, 1] }, yaxis: { title: "predictions" }, bargap: 0.05 }, "no predictions yet");
    const lat = data.latency_over_time;
    plot("chart-latency", lat.length ? [
      { type: "scatter", mode: "lines+markers", name: "mean", x: lat.map((r) => r.t), y: lat.map((r) => r.mean_ms), line: { color: "#2f6fde" } },
      { type: "scatter", mode: "lines", name: "max", x: lat.map((r) => r.t), y: lat.map((r) => r.max_ms), line: { color: "#e8743b", dash: "dot" } },
    ] : [], { ...time, yaxis: { title: "ms", rangemode: "tozero" } }, "no latencies logged");
    this.drawAccuracy(data);
    await this.drawShadow();
  },

  async drawShadow() {
    const data = await api("/api/shadow");
    const c = data.comparison;
    $("shadow-note").textContent = data.shadow_version
      ? `shadow v${data.shadow_version}${data.shadow_percent ? ` at ${data.shadow_percent}% of requests` : " (not running)"}` +
        ` vs production v${(data.live_versions || []).join(", v") || data.production_version || "–"}: ${data.note}`
      : data.note;
    const tiles = c ? [["requests shadowed", fmt.int(c.n)], ["agreement", fmt.pct(c.agreement)],
      ["labelled", fmt.int(c.labelled)], ["live accuracy", fmt.pct(c.incumbent_accuracy)],
      ["shadow accuracy", fmt.pct(c.candidate_accuracy)],
      ["mean latency live / shadow", data.latency_ms ? `${fmt.num(data.latency_ms.live_mean, 3)} / ${fmt.num(data.latency_ms.shadow_mean, 3)} ms` : "–"]] : [];
    $("shadow-tiles").replaceChildren(...tiles.map(([label, value]) => el("div", { class: "tile" },
      el("div", { class: "label", text: label }), el("div", { class: "value", text: value }))));
    const labels = c ? Object.keys(c.flips) : [];
    renderTable($("shadow-flips"), [{ title: "live \\ shadow", value: (r) => r.label },
      ...labels.map((l) => ({ title: l, class: "num", value: (r) => fmt.int(c.flips[r.label][l]) }))],
    labels.map((label) => ({ label })), "no shadowed requests yet");
  },

  drawTiles(data) {
    const predictions = data.total_predictions;
    const estimated = predictions ? data.versions.reduce((s, v) => s + v.estimated_accuracy * v.predictions, 0) / predictions : null;
    const labelled = data.versions.filter((v) => v.feedback);
    const correct = labelled.reduce((s, v) => s + v.live_accuracy * v.feedback, 0);
    const tiles = [["predictions", fmt.int(predictions)], ["feedback", fmt.int(data.total_feedback)],
      ["live accuracy", data.total_feedback ? fmt.pct(correct / data.total_feedback) : "–"],
      ["estimated accuracy", fmt.pct(estimated)], ["p95 latency", data.latency.p95_ms === null ? "–" : `${fmt.num(data.latency.p95_ms, 1)} ms`]];
    $("tiles").replaceChildren(...tiles.map(([label, value]) => el("div", { class: "tile" },
      el("div", { class: "label", text: label }), el("div", { class: "value", text: value }))));
  },

  drawAccuracy(data) {
    const traces = [];
    [...groupBy(data.accuracy_over_time, "model_version")].forEach(([version, rows], i) => {
      const color = COLORS[i % COLORS.length];
      const labelled = rows.filter((r) => r.live_accuracy !== null);
      traces.push({ type: "scatter", mode: "lines+markers", name: `v${version} live`, x: labelled.map((r) => r.t),
        y: labelled.map((r) => r.live_accuracy), text: labelled.map((r) => `${r.feedback} labelled`), line: { color },
        hovertemplate: "%{y:.1%} (%{text})<extra>%{fullData.name}</extra>" });
      traces.push({ type: "scatter", mode: "lines", name: `v${version} estimated`, x: rows.map((r) => r.t),
        y: rows.map((r) => r.estimated_accuracy), line: { color, dash: "dash" }, hovertemplate: "%{y:.1%}<extra>%{fullData.name}</extra>" });
    });
    plot("chart-accuracy", traces, { xaxis: { type: "date" }, yaxis: { title: "accuracy", tickformat: ".0%", range: [0, 1.02] } }, "no predictions yet");
    renderTable($("versions-table"), [
      { title: "environment", value: (v) => badge(v.environment) },
      { title: "version", value: (v) => `v${v.model_version}` },
      { title: "predictions", class: "num", value: (v) => fmt.int(v.predictions) },
      { title: "feedback", class: "num", value: (v) => fmt.int(v.feedback) },
      { title: "live accuracy", class: "num", value: (v) => fmt.pct(v.live_accuracy) },
      { title: "estimated accuracy", class: "num", value: (v) => fmt.pct(v.estimated_accuracy) },
      { title: "last prediction", value: (v) => fmt.time(v.last_seen) },
    ], data.versions, "no predictions in this window");
  },

  async loadRecent() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const p = this.params();
    p.delete("hours");
    p.set("limit", "25");
    const { data, refused } = await apiAsAdmin(`/api/predictions/recent?${p}`);
    if (refused) $("text-status").textContent = "that token was refused; texts stay hidden";
    const status = { shown: "raw texts shown (admin)", hidden: "texts hidden: enter the admin token to see them",
      not_logged: "texts are not logged on this server (SENTIMENT_MLOPS_LOG_TEXT=false)" };
    if (data.texts !== "hidden" || !token) $("text-status").textContent = status[data.texts];
    const columns = [
      { title: "when", value: (r) => fmt.time(r.created_at) },
      { title: "env", value: (r) => r.environment },
      { title: "version", value: (r) => `v${r.model_version}` },
      { title: "sentiment", value: (r) => badge(r.sentiment, "") },
      { title: "confidence", class: "num", value: (r) => fmt.num(r.confidence, 3) },
      { title: "latency", class: "num", value: (r) => (r.latency_ms === null ? "–" : `${fmt.num(r.latency_ms, 2)} ms`) },
      { title: "length", class: "num", value: (r) => r.text_length },
    ];
    if (data.texts === "shown") columns.push({ title: "text", class: "text", value: (r) => r.text });
    renderTable($("recent-table"), columns, data.predictions, "no predictions yet");
  },

  init() {
    $("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = $("admin-token").value.trim();
      if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
      $("admin-token").value = "";
      this.loadRecent().catch((e) => showError(e.message));
    });
    for (const id of ["f-environment", "f-version", "f-hours"]) {
      $(id).addEventListener("change", () => Promise.all([this.load(), this.loadRecent()]).catch((e) => showError(e.message)));
    }
    return Promise.all([this.load(), this.loadRecent()]);
  },
};

// ---- Drift -----------------------------------------------------------------------------------------
const drift = {
  async load() {
    const { data } = await apiAsAdmin(`/api/drift?window=${$("f-window").value}`);
    const box = $("environments");
    box.replaceChildren();
    $("empty").hidden = data.environments.length > 0;
    data.environments.forEach((env, i) => box.append(this.card(env, i)));
    data.environments.forEach((env, i) => this.drawHistory(env, i));
  },

  card(env, i) {
    const card = el("div", { class: "card" });
    const status = { drift: "drift detected", ok: "no drift", no_traffic: "no traffic", too_few: "too few predictions", unavailable: "unavailable" };
    card.append(el("div", { class: "env-head" }, el("h2", { text: env.environment }), badge(status[env.status] || env.status, env.status),
      env.model_version ? el("span", { class: "muted", text: `version v${env.model_version}` }) : ""));
    if (!env.latest) {
      card.append(el("p", { class: "muted", text: env.message || "" }));
      return card;
    }
    const latest = env.latest;
    card.append(el("p", { class: "muted", text: `latest window: ${fmt.int(latest.current_size)} predictions from ${fmt.time(latest.start)} to ${fmt.time(latest.end)}, reference ${fmt.int(latest.reference_size)} held-out texts` }));
    const grid = el("div", { class: "grid two" });
    const table = el("table", { class: "data" });
    renderTable(table, [
      { title: "check", value: (c) => c.name },
      { title: "test", value: (c) => c.test || "–" },
      { title: "statistic", class: "num", value: (c) => fmt.num(c.statistic, 4) },
      { title: "p-value", class: "num", value: (c) => (c.p_value === null || c.p_value === undefined ? "–" : Number(c.p_value).toExponential(2)) },
      { title: "threshold", class: "num", value: (c) => fmt.num(c.threshold, 4) },
      { title: "verdict", value: (c) => badge(c.drift ? "drift" : "ok") },
    ], latest.checks);
    const latestReport = el("div", {}, el("h3", { text: "Latest report" }), el("div", { class: "table-wrap" }, table));
    const wordChecks = { new_terms: "words the model never saw", known_terms: "words the model knows, far more common than in the reference" };
    Object.entries(wordChecks).forEach(([name, label]) => {
      const check = latest.checks.find((c) => c.name === name && c.drift);
      const words = (check && check.details) || {};
      if (words.top_words && words.top_words.length) {
        latestReport.append(el("p", { class: "muted", text: `${label}, most significant first (texts): ${words.top_words.map((w) => `${w.word} (${fmt.int(w.texts)})`).join(", ")}` }));
      } else if (words.top_words_hidden) {
        latestReport.append(el("p", { class: "muted", text: `${label} recur far more than in the reference; enter the admin token (Live page) to see them` }));
      }
    });
    const drivers = latest.drivers || [];
    if (drivers.length) {
      const list = el("ol", { class: "drivers" });
      drivers.forEach((d) => {
        const words = Array.isArray(d.drifting_words) ? d.drifting_words.join(", ") : `${d.drifting_words} drifting words`;
        const what = d.text !== undefined ? d.text : `text ${d.text_digest}`;
        list.append(el("li", { text: `${what} — ${words || "no drifting word"}, ${fmt.num(100 * d.oov_rate, 0)}% unseen tokens${d.repeats > 1 ? `, ×${d.repeats}` : ""}` }));
      });
      latestReport.append(el("h3", { text: "Texts furthest from the reference" }), list);
      if (drivers[0].text === undefined) {
        latestReport.append(el("p", { class: "muted", text: "keyed digests (equal texts, equal digests); enter the admin token (Live page) to read the texts" }));
      }
    }
    grid.append(latestReport);
    grid.append(el("div", {}, el("h3", { text: "Drift status over time (red: drift)" }),
      el("div", { id: `chart-drift-${i}`, class: "chart" })));
    card.append(grid);
    return card;
  },

  drawHistory(env, i) {
    if (!env.history) return;
    const names = env.history[0].checks.map((c) => c.name);
    // Windows as categories (one column each, however uneven their times), labelled by their last prediction.
    const x = env.history.map((r, k) => `#${k + 1} · ${fmt.time(r.end).slice(5, 16)}`);
    const z = names.map((name) => env.history.map((r) => Number((r.checks.find((c) => c.name === name) || {}).drift ? 1 : 0)));
    const overall = env.history.map((r) => (r.drift_detected ? 1 : 0));
    plot(`chart-drift-${i}`, [{
      type: "heatmap", x, y: [...names, "overall"], z: [...z, overall], zmin: 0, zmax: 1, xgap: 2, ygap: 2, showscale: false,
      colorscale: [[0, "#dff3e8"], [1, "#e05a55"]],
      hovertemplate: "%{y}<br>window %{x}<br>%{z}<extra></extra>",
    }], { xaxis: { type: "category", title: "window (oldest → newest), last prediction", tickangle: 0 },
      yaxis: { automargin: true }, margin: { l: 150, r: 8, t: 8, b: 52 } });
  },

  init() {
    $("f-window").addEventListener("change", () => this.load().catch((e) => showError(e.message)));
    return this.load();
  },
};

// ---- Alerts ----------------------------------------------------------------------------------------
const alerts = {
  async init() {
    const data = await api("/api/alerts");
    $("tiles").replaceChildren(...[["firing", data.firing], ["resolved", data.resolved]].map(([label, value]) =>
      el("div", { class: "tile" }, el("div", { class: "label", text: label }), el("div", { class: "value", text: fmt.int(value) }))));
    const empty = !data.alerts.length;
    $("empty").hidden = !empty;
    $("content").hidden = empty;
    if (empty) return;
    // One segment per alert, from when it fired to when it resolved (or now, while it still fires).
    const now = new Date().toISOString();
    const traces = [...groupBy(data.alerts, "status")].map(([status, rows]) => {
      const color = status === "firing" ? "#c9302c" : "#2e8b57";
      const x = [], y = [], text = [];
      for (const a of rows) {
        x.push(a.created_at, a.resolved_at || now, null);
        y.push(a.rule, a.rule, null);
        text.push(a.message, a.message, null);
      }
      return { type: "scatter", mode: "lines+markers", name: status, x, y, text, connectgaps: false,
        line: { color, width: 8 }, marker: { size: 10, color },
        hovertemplate: "%{y}<br>%{x}<br>%{text}<extra>%{fullData.name}</extra>" };
    });
    plot("chart-alerts", traces, { xaxis: { type: "date" }, yaxis: { automargin: true, type: "category" },
      margin: { l: 150, r: 16, t: 8, b: 44 } });
    const columns = (resolved) => [
      { title: "raised", value: (a) => fmt.time(a.created_at) },
      ...(resolved ? [{ title: "resolved", value: (a) => fmt.time(a.resolved_at) }] : []),
      { title: "rule", value: (a) => a.rule },
      { title: "severity", value: (a) => badge(a.severity, "") },
      { title: "environment", value: (a) => a.environment || "–" },
      { title: "version", value: (a) => (a.model_version ? `v${a.model_version}` : "–") },
      { title: "message", class: "text", value: (a) => a.message },
    ];
    renderTable($("open-table"), columns(false), data.alerts.filter((a) => a.status === "firing"), "nothing firing");
    renderTable($("resolved-table"), columns(true), data.alerts.filter((a) => a.status === "resolved"), "nothing resolved yet");
  },
};

const PAGES = { experiments, models, live, drift, alerts };

document.addEventListener("DOMContentLoaded", () => {
  const page = PAGES[document.body.dataset.page];
  if (page) Promise.resolve(page.init()).then(() => { document.body.dataset.ready = "true"; })
    .catch((error) => { showError(error.message); document.body.dataset.ready = "error"; });
});
