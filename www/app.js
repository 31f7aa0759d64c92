// chaudit page: reads files through a Web Worker (worker.js) and shows the library's JSON
// report — findings with filters and evidence, clients, a timeline with a replay scrubber.
// No detection logic lives here: every number and verdict comes from the wasm library; this
// file only filters, sorts for display and draws. Exports (JSON, HTML, CSV) are rendered by
// the library in the worker, exactly as the CLI writes them. It imports nothing, so the
// single-file build can inline it as is.

const SEVERITIES = ["info", "low", "medium", "high", "critical"];
const $ = (id) => document.getElementById(id);

const state = {
  report: null, // the parsed CLI-shaped JSON report
  json: "", // the report exactly as the library wrote it (exported as is)
  worker: null, // the worker of the run in progress
  done: null, // the worker holding the last finished scan (renders exports)
  renders: new Map(), // pending export renders: id → {resolve, reject}
  nextRender: 0,
  selected: -1, // index into report.findings
  shown: [], // indices into report.findings that pass the filters, in table order
  active: 0, // position in `shown` of the row that holds the table's tab stop
  timed: [], // [element, ms, greyed] of the chart's windows and marks, for the replay
  byTime: [], // [first_seen ms, index] of every finding, in time order (the replay's story)
  replayAt: null, // ms since epoch, or null = end of the logs
  playing: null,
  t0: 0,
  t1: 0,
};

// ---------- formatting ----------

const ms = (ts) => (ts ? Date.parse(ts) : NaN);
function fmtTime(t) {
  if (!Number.isFinite(t)) return "–";
  return new Date(t).toISOString().replace("T", " ").replace(".000Z", "Z");
}
function fmtBytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${u[i]}`;
}
const fmtCount = (n) => Number(n).toLocaleString("en-US");
const client = (x) => (x.client_ip == null ? "–" : x.client_ip);
function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}
const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text != null) e.textContent = text;
  return e;
}

// ---------- running the worker ----------

function makeWorker() {
  const inline = $("worker-src");
  if (!inline) return new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  // Single-file build: the worker and the wasm travel inside this page (blob: URL).
  const url = URL.createObjectURL(new Blob([inline.textContent], { type: "text/javascript" }));
  const w = new Worker(url);
  URL.revokeObjectURL(url);
  return w;
}

let inlineWasm = null;
function wasmBytes() {
  const b64 = $("wasm-b64");
  if (!b64) return undefined;
  if (!inlineWasm) {
    const s = atob(b64.textContent.trim());
    inlineWasm = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) inlineWasm[i] = s.charCodeAt(i);
  }
  return inlineWasm;
}

function setStatus(text) { $("status").textContent = text; }

function run(fileList) {
  const files = Array.from(fileList);
  if (!files.length) return;
  let config;
  try {
    config = JSON.parse($("config").value || "{}");
  } catch (e) {
    setStatus(`error: settings are not JSON: ${e.message}`);
    return;
  }
  cancel(false);
  dropFinished();
  for (const id of ["export-json", "export-html", "export-csv"]) $(id).disabled = true;
  const w = makeWorker();
  state.worker = w;
  $("cancel").disabled = false;
  $("progress").value = 0;
  setStatus(`reading ${files.length} file${files.length > 1 ? "s" : ""}…`);
  w.onmessage = (ev) => {
    const m = ev.data;
    if (m.type === "ready") {
      $("version").textContent = `chaudit ${m.version} (wasm)`;
    } else if (m.type === "progress") {
      $("progress").value = m.totalBytes ? m.bytes / m.totalBytes : 1;
      if (m.name) setStatus(`reading ${m.name} (${m.file + 1}/${files.length}) — ${fmtBytes(m.bytes)} of ${fmtBytes(m.totalBytes)}`);
    } else if (m.type === "done") {
      finishRun(w, true);
      for (const id of ["export-json", "export-html", "export-csv"]) $(id).disabled = false;
      state.json = m.json;
      show(JSON.parse(m.json));
      const mb = files.reduce((n, f) => n + f.size, 0) / 1e6;
      setStatus(`done: ${fmtCount(state.report.summary.events)} events from ${files.length} file${files.length > 1 ? "s" : ""} in ${m.seconds.toFixed(2)} s (${(mb / Math.max(m.seconds, 1e-6)).toFixed(1)} MB/s, wasm memory ${fmtBytes(m.memory)})`);
    } else if (m.type === "error") {
      finishRun(w);
      setStatus(`error: ${m.message}`);
    } else if (m.type === "rendered" || m.type === "render-error") {
      const p = state.renders.get(m.id);
      state.renders.delete(m.id);
      if (p && m.type === "rendered") p.resolve(m.text);
      else if (p) p.reject(new Error(m.message));
    }
  };
  w.onerror = (e) => { finishRun(w); setStatus(`error: ${e.message || "worker failed"}`); };
  w.postMessage({ type: "start", config, files, wasm: wasmBytes() });
}

// A finished scan's worker stays alive (idle) to render exports; any other end terminates it.
function finishRun(w, keep = false) {
  if (keep) state.done = w;
  else w.terminate();
  // Counts finished runs (done, error or cancelled), so a test can wait for "the next one".
  $("status").dataset.runs = String(Number($("status").dataset.runs ?? 0) + 1);
  if (state.worker === w) state.worker = null;
  $("cancel").disabled = true;
}

function dropFinished() {
  state.done?.terminate();
  state.done = null;
  for (const p of state.renders.values()) p.reject(new Error("a new scan started"));
  state.renders.clear();
}

function cancel(report = true) {
  if (!state.worker) return;
  finishRun(state.worker);
  $("progress").value = 0;
  if (report) setStatus("cancelled");
}

// ---------- rendering the report ----------

function show(report) {
  state.report = report;
  state.selected = -1;
  [state.t0, state.t1] = timeRange(report);
  state.byTime = byTime(report);
  state.replayAt = null;
  $("replay").value = $("replay").max;

  const s = report.summary;
  $("sum-events").textContent = fmtCount(s.events);
  $("sum-clients").textContent = fmtCount(s.clients);
  $("sum-findings").textContent = fmtCount(s.findings);
  $("sum-critical").textContent = fmtCount(s.by_severity.critical ?? 0);
  $("sum-rejected").textContent = fmtCount(s.rejected);
  $("sum-span").textContent = s.first_event ? `${fmtTime(ms(s.first_event))} → ${fmtTime(ms(s.last_event))}` : "–";

  const rules = [...new Set(report.findings.map((f) => f.rule))].sort();
  const sel = $("f-rule");
  const keep = sel.value;
  sel.replaceChildren(el("option", { value: "", text: "all" }), ...rules.map((r) => el("option", { value: r, text: r })));
  sel.value = rules.includes(keep) ? keep : "";

  for (const id of ["summary", "timeline-section", "findings-section", "clients-section"]) $(id).hidden = false;
  renderClients();
  renderFindings();
  renderTimeline();
  renderEvidence();
}

function matches(f) {
  const sev = $("f-severity").value;
  if (sev && SEVERITIES.indexOf(f.severity) < SEVERITIES.indexOf(sev)) return false;
  const rule = $("f-rule").value;
  if (rule && f.rule !== rule) return false;
  const q = $("f-text").value.trim().toLowerCase();
  if (q) {
    const hay = [f.rule, f.severity, f.user, client(f), f.client_class, f.summary, ...(f.tables ?? []), ...(f.targets ?? []),
      ...f.evidence.map((e) => `${e.path}:${e.line} ${e.excerpt ?? ""}`)].join("\n").toLowerCase();
    if (!hay.includes(q)) return false;
  }
  return true;
}

const isFuture = (f) => state.replayAt != null && ms(f.first_seen) > state.replayAt;

// ---------- windowed tables ----------

// Tables render only the rows in view (plus a margin): two spacer rows stand for the rest,
// so tens of thousands of findings or clients scroll as smoothly as ten. Rows have one
// fixed height (cells do not wrap; the full text is in the evidence panel and tooltips).
const OVERSCAN = 12;
const MIN_ROWS = 40; // rendered even before the table has a height (first paint, tests)

class VirtualRows {
  /** `wrap`: the scrolling box; `table`: its table; `makeRow(pos)`: the <tr> for position pos. */
  constructor(wrap, table, makeRow) {
    this.wrap = wrap;
    this.body = table.tBodies[0];
    this.cols = table.tHead.rows[0].cells.length;
    this.makeRow = makeRow;
    this.n = 0;
    this.rowH = 0;
    this.range = [0, 0];
    let queued = false;
    wrap.addEventListener("scroll", () => {
      if (queued) return;
      queued = true;
      requestAnimationFrame(() => { queued = false; this.render(); });
    });
  }

  spacer(h) {
    const tr = el("tr", { class: "spacer", "aria-hidden": "true" }, el("td", { colspan: String(this.cols) }));
    tr.style.height = `${h}px`;
    return tr;
  }

  /** Shows `n` rows (positions 0..n-1), keeping the scroll position where it can. */
  reset(n) {
    this.n = n;
    this.render(true);
  }

  render(force = false) {
    const h = this.rowH || 30;
    const top = Math.max(0, Math.floor(this.wrap.scrollTop / h) - OVERSCAN);
    const count = Math.max(MIN_ROWS, Math.ceil(this.wrap.clientHeight / h) + 2 * OVERSCAN);
    const end = Math.min(this.n, top + count);
    if (!force && top === this.range[0] && end === this.range[1]) return;
    const focused = this.body.contains(document.activeElement) ? document.activeElement.dataset.pos : undefined;
    this.range = [top, end];
    const rows = [];
    for (let pos = top; pos < end; pos++) {
      const tr = this.makeRow(pos);
      tr.dataset.pos = String(pos);
      rows.push(tr);
    }
    this.body.replaceChildren(...(top > 0 ? [this.spacer(top * h)] : []), ...rows,
      ...(end < this.n ? [this.spacer((this.n - end) * h)] : []));
    if (!this.rowH && rows.length) {
      // Measured once from a real row; the spacers are redrawn to match.
      this.rowH = rows[0].getBoundingClientRect().height || 30;
      if (this.rowH !== h) return this.render(true);
    }
    if (focused !== undefined) this.row(Number(focused))?.focus({ preventScroll: true });
  }

  /** The rendered <tr> at `pos`, if any. */
  row(pos) { return this.body.querySelector(`tr[data-pos="${pos}"]`); }

  /** Scrolls so that `pos` is in view, renders, and returns its <tr>. */
  reveal(pos) {
    const h = this.rowH || 30;
    const head = this.wrap.querySelector("thead")?.getBoundingClientRect().height ?? 0;
    const y = pos * h;
    if (y < this.wrap.scrollTop) this.wrap.scrollTop = y;
    else if (y + h > this.wrap.scrollTop + this.wrap.clientHeight - head) this.wrap.scrollTop = y + h + head - this.wrap.clientHeight;
    this.render();
    return this.row(pos);
  }
}

function findingRow(pos) {
  const i = state.shown[pos];
  const f = state.report.findings[i];
  const tr = el("tr", { "data-index": String(i), tabindex: pos === state.active ? "0" : "-1", "aria-selected": String(i === state.selected),
    "aria-rowindex": String(pos + 2) },
  el("td", {}, el("span", { class: `sev sev-${f.severity}`, text: f.severity })),
  el("td", { text: f.rule }),
  el("td", { text: f.user, title: f.user }),
  el("td", { text: client(f) }),
  el("td", { text: f.client_class }),
  el("td", { class: "time", text: fmtTime(ms(f.first_seen)) }),
  el("td", { class: "time", text: fmtTime(ms(f.last_seen)) }),
  el("td", { class: "num", text: fmtCount(f.count) }),
  el("td", { class: "summary", text: f.summary, title: f.summary }));
  if (isFuture(f)) tr.classList.add("future");
  return tr;
}

function clientRow(pos) {
  const c = state.report.clients[pos];
  return el("tr", { "aria-rowindex": String(pos + 2) },
    el("td", { text: c.user, title: c.user }), el("td", { text: client(c) }), el("td", { text: c.client_class }),
    el("td", { class: "num", text: fmtCount(c.queries) }), el("td", { class: "num", text: fmtBytes(c.result_bytes) }),
    el("td", { class: "num", text: fmtCount(c.read_rows) }),
    el("td", { class: "time", text: fmtTime(ms(c.first_seen)) }), el("td", { class: "time", text: fmtTime(ms(c.last_seen)) }));
}

const findingRows = new VirtualRows($("findings-wrap"), $("findings"), findingRow);
const clientRows = new VirtualRows($("clients-wrap"), $("clients"), clientRow);

function renderFindings() {
  const all = state.report.findings;
  $("findings-wrap").scrollTop = 0;
  state.shown = [];
  for (let i = 0; i < all.length; i++) if (matches(all[i])) state.shown.push(i);
  const at = state.shown.indexOf(state.selected);
  state.active = at >= 0 ? at : 0;
  $("findings").setAttribute("aria-rowcount", String(state.shown.length + 1));
  findingRows.reset(state.shown.length);
  const total = all.length;
  $("findings-count").textContent = state.shown.length === total ? `${total}` : `${state.shown.length} of ${total} shown`;
}

function renderClients() {
  $("clients").setAttribute("aria-rowcount", String(state.report.clients.length + 1));
  clientRows.reset(state.report.clients.length);
}

function renderEvidence() {
  const box = $("evidence");
  const f = state.report?.findings[state.selected];
  if (!f) {
    box.replaceChildren(el("p", { class: "note", text: "Select a finding (click, or Enter/Space on a row; ↑/↓, PageUp/PageDown, Home/End move) to see its evidence lines." }));
    return;
  }
  const meta = el("dl", { class: "meta" });
  const add = (k, v) => { if (v != null && v !== "") meta.append(el("dt", { text: k }), el("dd", { text: v })); };
  add("Client", `${f.user} @ ${client(f)} (${f.client_class})`);
  add("Seen", `${fmtTime(ms(f.first_seen))} → ${fmtTime(ms(f.last_seen))}, ${fmtCount(f.count)} time${f.count === 1 ? "" : "s"}`);
  add("Metrics", Object.entries(f.metrics).map(([k, v]) => `${k} = ${fmtCount(v)}`).join(", "));
  add("Tables", (f.tables ?? []).join(", "));
  add("Targets", (f.targets ?? []).join(", "));
  add("Assumes", (f.assumptions ?? []).join(" "));
  const list = el("ol", {}, ...f.evidence.map((e) => el("li", {},
    el("div", { class: "loc", text: `${e.path}:${e.line}` }), el("pre", { text: e.excerpt ?? "" }))));
  box.replaceChildren(el("h3", {}, el("span", { class: `sev sev-${f.severity}`, text: f.severity }), ` ${f.rule}: ${f.summary}`),
    meta, el("h3", { text: `Evidence (${f.evidence.length} line${f.evidence.length === 1 ? "" : "s"})` }), list);
}

/** Selects finding `i` (an index into report.findings); `focus` moves keyboard focus to its row. */
function select(i, focus) {
  state.selected = i;
  const pos = state.shown.indexOf(i);
  if (pos >= 0) moveActive(pos, focus);
  for (const tr of $("findings").tBodies[0].querySelectorAll("tr[data-index]")) {
    tr.setAttribute("aria-selected", String(Number(tr.dataset.index) === i));
  }
  for (const m of $("timeline").querySelectorAll(".mark")) m.classList.toggle("selected", Number(m.dataset.index) === i);
  renderEvidence();
}

/** Gives the row at `pos` the table's one tab stop, scrolling it into view; focuses it if asked. */
function moveActive(pos, focus) {
  state.active = pos;
  for (const tr of $("findings").tBodies[0].querySelectorAll("tr[tabindex='0']")) tr.tabIndex = -1;
  const tr = focus ? findingRows.reveal(pos) : findingRows.row(pos);
  if (tr) {
    tr.tabIndex = 0;
    if (focus) tr.focus({ preventScroll: true });
  }
}

// ---------- timeline and replay ----------

// The chart is drawn at its container's pixel width so text keeps its size; in a narrow
// window the label column shrinks instead of the page scrolling sideways.
let W = 1000;
let LEFT = 200;
const RIGHT = 12, LANE_H = 38, TOP = 6, AXIS = 26, MARK_H = 6;
const STORY_MAX = 200; // the story lists the latest findings so far, not all of a huge scan

// Axis labels: the time of day when the logs span under a day, else the date and minute.
function tick(t, span) {
  const iso = new Date(t).toISOString();
  return span < 86_400_000 ? iso.slice(11, 19) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

function fmtSpan(secs) {
  for (const [n, u] of [[604800, "week"], [86400, "day"], [3600, "hour"], [60, "minute"], [1, "second"]]) {
    if (secs % n === 0) return `${secs / n === 1 ? "" : `${secs / n} `}${u}${secs / n === 1 ? "" : "s"}`;
  }
  return `${secs} s`;
}

function laneKey(x) { return `${x.user}@${client(x)}`; }

// Times the chart and the replay run over: the logs' span, widened to whole windows.
function timeRange(r) {
  const times = [ms(r.summary.first_event), ms(r.summary.last_event)];
  for (const f of r.findings) times.push(ms(f.first_seen), ms(f.last_seen));
  const tl = r.timeline;
  const step = (tl?.window_secs ?? 0) * 1000;
  for (const s of [...(tl?.series ?? []), { windows: tl?.other ?? [] }]) {
    const ws = s.windows;
    if (ws.length) times.push(ms(ws[0][0]), ms(ws[ws.length - 1][0]) + step);
  }
  const ok = times.filter(Number.isFinite);
  return [ok.reduce((a, b) => Math.min(a, b), ok[0] ?? 0), ok.reduce((a, b) => Math.max(a, b), ok[0] ?? 0)];
}

function renderTimeline() {
  const r = state.report;
  const tl = r.timeline ?? { window_secs: 0, series: [], other: [] };
  const chart = $("timeline");
  const lanes = tl.series.map(laneKey);
  const laneIndex = new Map(lanes.map((k, i) => [k, i]));
  // Everyone else: summed windows, and the findings of clients without a lane of their own.
  const orphans = r.findings.some((f) => !laneIndex.has(laneKey(f)));
  const hasOther = tl.other.length > 0 || orphans;
  const nLanes = lanes.length + (hasOther ? 1 : 0);
  W = Math.max(300, chart.parentElement.clientWidth);
  LEFT = W < 640 ? 92 : 200;
  const H = TOP + Math.max(nLanes, 1) * LANE_H + AXIS;
  chart.setAttribute("viewBox", `0 0 ${W} ${H}`);
  chart.setAttribute("width", W);
  chart.setAttribute("height", H);
  chart.replaceChildren();
  const span = Math.max(state.t1 - state.t0, 1);
  const x = (t) => LEFT + ((t - state.t0) / span) * (W - LEFT - RIGHT);
  const y = (i) => TOP + i * LANE_H;
  const step = tl.window_secs * 1000;
  $("timeline-h").querySelector("small").textContent = tl.window_secs
    ? `result bytes per client per ${fmtSpan(tl.window_secs)} (bar height, log scale; the strip below is queries); findings marked above`
    : "no queries to chart";

  const axis = svg("g", { class: "axis" });
  const ticks = W < 640 ? 2 : 4;
  for (let k = 0; k <= ticks; k++) {
    const t = state.t0 + (span * k) / ticks;
    const xx = x(t);
    axis.append(svg("line", { class: "grid", x1: xx, x2: xx, y1: TOP, y2: H - AXIS + 4 }));
    axis.append(svg("text", { x: xx, y: H - 8, "text-anchor": k === 0 ? "start" : k === ticks ? "end" : "middle" }, tick(t, span)));
  }
  chart.append(axis);

  const chars = Math.floor((LEFT - 8) / 6.2);
  const label = (text, i, full) => {
    const t = svg("text", { x: 4, y: y(i) + LANE_H / 2 + 4 }, text.length > chars ? `${text.slice(0, chars - 1)}…` : text);
    t.append(svg("title", {}, full ?? text));
    chart.append(t);
  };
  lanes.forEach((k, i) => label(k, i));
  const others = `${fmtCount(Math.max(r.clients.length - lanes.length, 0))}${r.summary.clients_untracked ? "+" : ""}`;
  if (hasOther) label(`${others} other clients`, lanes.length, "every client without a lane of its own, summed per window");

  // Bars: one per active window; height by result bytes (log scale, one scale for the whole
  // chart), and a strip under it shaded by the number of queries.
  const all = [...tl.series.map((s) => s.windows), tl.other];
  let maxBytes = 1, maxQueries = 1;
  for (const ws of all) for (const [, q, b] of ws) { maxBytes = Math.max(maxBytes, b); maxQueries = Math.max(maxQueries, q); }
  const BAR_MAX = LANE_H - MARK_H - 9;
  const bars = svg("g", { class: "bars" });
  all.forEach((ws, i) => {
    if (i === tl.series.length && !hasOther) return;
    const base = y(i) + MARK_H + 2 + BAR_MAX;
    bars.append(svg("line", { class: "base", x1: LEFT, x2: W - RIGHT, y1: base + 0.5, y2: base + 0.5 }));
    for (const [start, q, b] of ws) {
      const t = ms(start);
      const x0 = x(t);
      const w = Math.max(1.5, x(t + step) - x0 - 0.5);
      const h = b > 0 ? 2 + (BAR_MAX - 2) * Math.log1p(b) / Math.log1p(maxBytes) : 0;
      const g = svg("g", { class: "win", "data-t": t });
      if (h > 0) g.append(svg("rect", { class: "bar", x: x0, y: base - h, width: w, height: h }));
      g.append(svg("rect", { class: "q", x: x0, y: base + 1, width: w, height: 3,
        "fill-opacity": (0.2 + 0.8 * Math.log1p(q) / Math.log1p(maxQueries)).toFixed(2) }));
      g.append(svg("title", {}, `${i < lanes.length ? lanes[i] : "other clients"}, ${fmtTime(t)} + ${fmtSpan(tl.window_secs)}: ${fmtCount(q)} quer${q === 1 ? "y" : "ies"}, ${fmtBytes(b)} sent`));
      bars.append(g);
    }
  });
  chart.append(bars);

  // Findings: a band over each finding's span at the top of its client's lane; most severe
  // drawn last so it stays on top where findings overlap.
  const marks = svg("g", { class: "marks" });
  const order = r.findings.map((f, idx) => [f, idx]).sort(([a], [b]) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity));
  for (const [f, idx] of order) {
    const i = laneIndex.get(laneKey(f)) ?? lanes.length;
    const x0 = x(ms(f.first_seen));
    const m = svg("rect", { class: `mark ${f.severity}`, x: x0 - 2, y: y(i) + 1, width: Math.max(5, x(ms(f.last_seen)) - x0 + 4),
      height: MARK_H, rx: 1.5, "data-index": idx, "data-t": ms(f.first_seen) });
    m.append(svg("title", {}, `${f.severity} ${f.rule} — ${f.summary}`));
    if (idx === state.selected) m.classList.add("selected");
    marks.append(m);
  }
  chart.append(marks);
  chart.append(svg("line", { id: "cursor", class: "cursor", x1: W - RIGHT, x2: W - RIGHT, y1: TOP - 4, y2: H - AXIS + 4 }));
  // What the replay greys out, with its time, gathered once per drawing.
  state.timed = [...chart.querySelectorAll("[data-t]")].map((e) => [e, Number(e.dataset.t), false]);
  applyReplay();
}

// Findings in time order (by first_seen), for the replay: the story is a prefix of it.
function byTime(r) {
  return r.findings.map((f, i) => [ms(f.first_seen), i]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

function applyReplay() {
  const r = state.report;
  if (!r) return;
  const v = Number($("replay").value);
  const max = Number($("replay").max);
  state.replayAt = v >= max ? null : state.t0 + ((state.t1 - state.t0) * v) / max;
  const at = state.replayAt ?? state.t1;
  const span = Math.max(state.t1 - state.t0, 1);
  const cx = LEFT + ((at - state.t0) / span) * (W - LEFT - RIGHT);
  const cur = $("cursor");
  if (cur) { cur.setAttribute("x1", cx); cur.setAttribute("x2", cx); }
  for (const item of state.timed) {
    const future = item[1] > at;
    if (future !== item[2]) { item[0].classList.toggle("future", future); item[2] = future; }
  }
  // How many findings have started by `at` (binary search over the time order).
  const order = state.byTime;
  let lo = 0, hi = order.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (order[mid][0] <= at) lo = mid + 1; else hi = mid; }
  $("replay-time").textContent = `${fmtTime(at)} — ${lo} of ${r.findings.length} findings so far`;
  const from = Math.max(0, lo - STORY_MAX);
  const story = [];
  if (from > 0) story.push(el("li", { class: "note earlier", text: `… ${fmtCount(from)} earlier findings` }));
  for (let k = from; k < lo; k++) {
    const i = order[k][1];
    const f = r.findings[i];
    story.push(el("li", { "data-index": String(i), value: String(k + 1) }, el("span", { class: "time", text: fmtTime(ms(f.first_seen)) }), " ",
      el("span", { class: `sev sev-${f.severity}`, text: f.severity }), ` ${f.user}@${client(f)}: ${f.summary}`));
  }
  $("story").replaceChildren(...story);
  $("story").scrollTop = $("story").scrollHeight;
  for (const tr of $("findings").tBodies[0].querySelectorAll("tr[data-index]")) tr.classList.toggle("future", isFuture(r.findings[Number(tr.dataset.index)]));
}

function togglePlay() {
  if (state.playing) {
    clearInterval(state.playing);
    state.playing = null;
    $("play").setAttribute("aria-pressed", "false");
    $("play").textContent = "▶ Replay";
    return;
  }
  const range = $("replay");
  if (Number(range.value) >= Number(range.max)) range.value = 0;
  $("play").setAttribute("aria-pressed", "true");
  $("play").textContent = "❚❚ Pause";
  state.playing = setInterval(() => {
    range.value = Math.min(Number(range.max), Number(range.value) + 5);
    applyReplay();
    if (Number(range.value) >= Number(range.max)) togglePlay();
  }, 50);
}

// ---------- export ----------

function download(text, type, name) {
  const a = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function exportJson() {
  if (state.json) download(state.json, "application/json", "chaudit-report.json");
}

/** Asks the worker that holds the finished scan to render it as `chaudit scan --format <format>`. */
function renderReport(format) {
  const w = state.done;
  if (!w) return Promise.reject(new Error("no finished scan"));
  const id = ++state.nextRender;
  return new Promise((resolve, reject) => {
    state.renders.set(id, { resolve, reject });
    w.postMessage({ type: "render", id, format });
  });
}

const EXPORTS = { html: ["text/html", "chaudit-report.html"], csv: ["text/csv", "chaudit-findings.csv"] };
async function exportAs(format) {
  const [type, name] = EXPORTS[format];
  try {
    download(await renderReport(format), type, name);
  } catch (e) {
    setStatus(`error: export failed: ${e.message}`);
  }
}

// ---------- wiring ----------

$("file").addEventListener("change", (e) => run(e.target.files));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); run(e.dataTransfer.files); });
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file").click(); } });
$("cancel").addEventListener("click", () => cancel(true));
$("export-json").addEventListener("click", exportJson);
$("export-html").addEventListener("click", () => exportAs("html"));
$("export-csv").addEventListener("click", () => exportAs("csv"));
for (const id of ["f-severity", "f-rule"]) $(id).addEventListener("input", () => { renderFindings(); applyReplay(); });
// Text search re-filters once typing pauses: with tens of thousands of findings each pass
// takes a noticeable moment.
let typing = 0;
$("f-text").addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(() => { if (state.report) { renderFindings(); applyReplay(); } }, 120);
});
$("replay").addEventListener("input", applyReplay);
let resizing = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => { if (state.report) renderTimeline(); }, 150);
});
$("play").addEventListener("click", togglePlay);
$("timeline").addEventListener("click", (e) => {
  const m = e.target.closest(".mark");
  if (m) select(Number(m.dataset.index), true);
});
$("story").addEventListener("click", (e) => {
  const li = e.target.closest("li[data-index]");
  if (li) select(Number(li.dataset.index), true);
});
$("findings").tBodies[0].addEventListener("click", (e) => {
  const tr = e.target.closest("tr[data-index]");
  if (tr) select(Number(tr.dataset.index), true);
});
// One tab stop for the whole table (roving tabindex): Enter/Space select the focused row;
// ↑/↓ select the previous/next one; PageUp/PageDown jump a screenful, Home/End to the ends.
$("findings").tBodies[0].addEventListener("keydown", (e) => {
  const tr = e.target.closest("tr[data-index]");
  if (!tr) return;
  const pos = Number(tr.dataset.pos);
  const page = Math.max(1, Math.floor($("findings-wrap").clientHeight / (findingRows.rowH || 30)) - 1);
  const to = { ArrowDown: pos + 1, ArrowUp: pos - 1, PageDown: pos + page, PageUp: pos - page, Home: 0, End: state.shown.length - 1 }[e.key];
  if (e.key === "Enter" || e.key === " ") {
    e.preventDefault();
    select(Number(tr.dataset.index), true);
  } else if (to !== undefined) {
    e.preventDefault();
    const next = Math.min(state.shown.length - 1, Math.max(0, to));
    select(state.shown[next], true);
  }
});
document.addEventListener("keydown", (e) => {
  if (e.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) { e.preventDefault(); $("f-text").focus(); }
  else if (e.key === "Escape" && state.worker) cancel(true);
});
setStatus("ready: open or drop files");
