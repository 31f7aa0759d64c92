// chaudit page: reads files through a Web Worker (worker.js) and shows the library's JSON
// report — findings with filters and evidence, clients, a timeline with a replay scrubber.
// No detection logic lives here: every number and verdict comes from the wasm library; this
// file only filters, sorts for display and draws. It imports nothing, so the single-file
// build can inline it as is.

const SEVERITIES = ["info", "low", "medium", "high", "critical"];
const $ = (id) => document.getElementById(id);

const state = {
  report: null, // the parsed CLI-shaped JSON report
  json: "", // the report exactly as the library wrote it (exported as is)
  worker: null,
  selected: -1, // index into report.findings
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
      finishRun(w);
      state.json = m.json;
      show(JSON.parse(m.json));
      const mb = files.reduce((n, f) => n + f.size, 0) / 1e6;
      setStatus(`done: ${fmtCount(state.report.summary.events)} events from ${files.length} file${files.length > 1 ? "s" : ""} in ${m.seconds.toFixed(2)} s (${(mb / Math.max(m.seconds, 1e-6)).toFixed(1)} MB/s, wasm memory ${fmtBytes(m.memory)})`);
    } else if (m.type === "error") {
      finishRun(w);
      setStatus(`error: ${m.message}`);
    }
  };
  w.onerror = (e) => { finishRun(w); setStatus(`error: ${e.message || "worker failed"}`); };
  w.postMessage({ type: "start", config, files, wasm: wasmBytes() });
}

function finishRun(w) {
  w.terminate();
  // Counts finished runs (done, error or cancelled), so a test can wait for "the next one".
  $("status").dataset.runs = String(Number($("status").dataset.runs ?? 0) + 1);
  if (state.worker === w) state.worker = null;
  $("cancel").disabled = true;
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
  const times = [];
  for (const f of report.findings) times.push(ms(f.first_seen), ms(f.last_seen));
  for (const c of report.clients) times.push(ms(c.first_seen), ms(c.last_seen));
  times.push(ms(report.summary.first_event), ms(report.summary.last_event));
  const ok = times.filter(Number.isFinite);
  state.t0 = ok.reduce((a, b) => Math.min(a, b), ok[0] ?? 0);
  state.t1 = ok.reduce((a, b) => Math.max(a, b), ok[0] ?? 0);
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

function renderFindings() {
  const body = $("findings").tBodies[0];
  const rows = [];
  let shown = 0;
  state.report.findings.forEach((f, i) => {
    if (!matches(f)) return;
    shown++;
    const tr = el("tr", { tabindex: "0", "data-index": String(i), "aria-selected": String(i === state.selected) },
      el("td", {}, el("span", { class: `sev sev-${f.severity}`, text: f.severity })),
      el("td", { text: f.rule }),
      el("td", { text: f.user }),
      el("td", { text: client(f) }),
      el("td", { text: f.client_class }),
      el("td", { class: "time", text: fmtTime(ms(f.first_seen)) }),
      el("td", { class: "time", text: fmtTime(ms(f.last_seen)) }),
      el("td", { class: "num", text: fmtCount(f.count) }),
      el("td", { text: f.summary }));
    if (isFuture(f)) tr.classList.add("future");
    rows.push(tr);
  });
  body.replaceChildren(...rows);
  const total = state.report.findings.length;
  $("findings-count").textContent = shown === total ? `${total}` : `${shown} of ${total} shown`;
}

function renderClients() {
  const rows = state.report.clients.map((c) => el("tr", {},
    el("td", { text: c.user }), el("td", { text: client(c) }), el("td", { text: c.client_class }),
    el("td", { class: "num", text: fmtCount(c.queries) }), el("td", { class: "num", text: fmtBytes(c.result_bytes) }),
    el("td", { class: "num", text: fmtCount(c.read_rows) }),
    el("td", { class: "time", text: fmtTime(ms(c.first_seen)) }), el("td", { class: "time", text: fmtTime(ms(c.last_seen)) })));
  $("clients").tBodies[0].replaceChildren(...rows);
}

function renderEvidence() {
  const box = $("evidence");
  const f = state.report?.findings[state.selected];
  if (!f) {
    box.replaceChildren(el("p", { class: "note", text: "Select a finding (click, or Enter on a row; ↑/↓ move) to see its evidence lines." }));
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

function select(i, focus) {
  state.selected = i;
  for (const tr of $("findings").tBodies[0].rows) {
    const on = Number(tr.dataset.index) === i;
    tr.setAttribute("aria-selected", String(on));
    if (on && focus) tr.focus();
  }
  for (const m of $("timeline").querySelectorAll(".mark")) m.classList.toggle("selected", Number(m.dataset.index) === i);
  renderEvidence();
}

// ---------- timeline and replay ----------

const LANES = 14;
// The chart is drawn at the container's pixel width (at least 560) so text keeps its size;
// narrower windows scroll it sideways.
let W = 1000;
const LEFT = 210, RIGHT = 12, LANE_H = 22, TOP = 8, AXIS = 26;

// Axis labels: the time of day when the logs span under a day, else the date and minute.
function tick(t, span) {
  const iso = new Date(t).toISOString();
  return span < 86_400_000 ? iso.slice(11, 19) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

function laneKey(x) { return `${x.user}@${client(x)}`; }

function renderTimeline() {
  const r = state.report;
  const chart = $("timeline");
  const lanes = r.clients.slice(0, LANES).map(laneKey);
  // A client with findings but outside the heaviest lanes still gets a lane, up to twice as many.
  for (const f of r.findings) if (!lanes.includes(laneKey(f)) && lanes.length < LANES * 2) lanes.push(laneKey(f));
  const hasOther = r.clients.length > lanes.length;
  const nLanes = lanes.length + (hasOther ? 1 : 0);
  const H = TOP + nLanes * LANE_H + AXIS;
  W = Math.max(560, chart.parentElement.clientWidth);
  chart.setAttribute("viewBox", `0 0 ${W} ${H}`);
  chart.setAttribute("width", W);
  chart.setAttribute("height", H);
  chart.replaceChildren();
  const span = Math.max(state.t1 - state.t0, 1);
  const x = (t) => LEFT + ((t - state.t0) / span) * (W - LEFT - RIGHT);
  const laneOf = (k) => { const i = lanes.indexOf(k); return i >= 0 ? i : lanes.length; };
  const y = (i) => TOP + i * LANE_H;

  // Axis: five ticks.
  const axis = svg("g", { class: "axis" });
  for (let k = 0; k <= 4; k++) {
    const t = state.t0 + (span * k) / 4;
    const xx = x(t);
    axis.append(svg("line", { class: "grid", x1: xx, x2: xx, y1: TOP, y2: H - AXIS + 4 }));
    axis.append(svg("text", { x: xx, y: H - 8, "text-anchor": k === 0 ? "start" : k === 4 ? "end" : "middle" }, tick(t, span)));
  }
  chart.append(axis);

  const maxBytes = r.clients.reduce((a, c) => Math.max(a, c.result_bytes), 1);
  lanes.forEach((k, i) => chart.append(svg("text", { x: 4, y: y(i) + 15 }, k.length > 32 ? `${k.slice(0, 31)}…` : k)));
  if (hasOther) chart.append(svg("text", { x: 4, y: y(lanes.length) + 15 }, `${r.clients.length - lanes.length} other clients`));

  // Lane bars: each client's active span, darker with more result bytes sent to it.
  for (const c of r.clients) {
    const i = laneOf(laneKey(c));
    const x0 = x(ms(c.first_seen));
    const bar = svg("rect", { class: "lane", x: x0, y: y(i) + 6, width: Math.max(2, x(ms(c.last_seen)) - x0), height: 10, rx: 2,
      "data-t": ms(c.first_seen), "fill-opacity": (0.25 + 0.75 * Math.log1p(c.result_bytes) / Math.log1p(maxBytes)).toFixed(2) });
    bar.append(svg("title", {}, `${laneKey(c)}: ${fmtCount(c.queries)} queries, ${fmtBytes(c.result_bytes)} sent, ${fmtCount(c.read_rows)} rows read`));
    chart.append(bar);
  }
  // Findings: a mark over each finding's span, sized by the result bytes it covers.
  const maxF = r.findings.reduce((a, f) => Math.max(a, f.metrics.result_bytes ?? 0), 1);
  // Most severe drawn last, so it stays on top where findings overlap.
  const order = r.findings.map((f, idx) => [f, idx]).sort(([a], [b]) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity));
  for (const [f, idx] of order) {
    const i = laneOf(laneKey(f));
    const x0 = x(ms(f.first_seen));
    const h = 8 + 10 * Math.log1p(f.metrics.result_bytes ?? 0) / Math.log1p(maxF);
    const m = svg("rect", { class: `mark ${f.severity}`, x: x0 - 3, y: y(i) + 11 - h / 2, width: Math.max(6, x(ms(f.last_seen)) - x0 + 6),
      height: h, rx: 2, "data-index": idx, "data-t": ms(f.first_seen) });
    m.append(svg("title", {}, `${f.severity} ${f.rule} — ${f.summary}`));
    if (idx === state.selected) m.classList.add("selected");
    m.addEventListener("click", () => select(idx, true));
    chart.append(m);
  }
  chart.append(svg("line", { id: "cursor", class: "cursor", x1: W - RIGHT, x2: W - RIGHT, y1: TOP - 4, y2: H - AXIS + 4 }));
  applyReplay();
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
  for (const m of $("timeline").querySelectorAll("[data-t]")) m.classList.toggle("future", Number(m.dataset.t) > at);
  const past = r.findings.map((f, i) => [f, i]).filter(([f]) => ms(f.first_seen) <= at)
    .sort(([a], [b]) => ms(a.first_seen) - ms(b.first_seen));
  $("replay-time").textContent = `${fmtTime(at)} — ${past.length} of ${r.findings.length} findings so far`;
  const story = past.map(([f, i]) => {
    const li = el("li", {}, el("span", { class: "time", text: fmtTime(ms(f.first_seen)) }), " ",
      el("span", { class: `sev sev-${f.severity}`, text: f.severity }), ` ${f.user}@${client(f)}: ${f.summary}`);
    li.addEventListener("click", () => select(i, true));
    return li;
  });
  $("story").replaceChildren(...story);
  $("story").scrollTop = $("story").scrollHeight;
  for (const tr of $("findings").tBodies[0].rows) tr.classList.toggle("future", isFuture(r.findings[Number(tr.dataset.index)]));
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

function exportJson() {
  if (!state.json) return;
  const a = el("a", { href: URL.createObjectURL(new Blob([state.json], { type: "application/json" })), download: "chaudit-report.json" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
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
for (const id of ["f-severity", "f-rule", "f-text"]) $(id).addEventListener("input", () => { renderFindings(); applyReplay(); });
$("replay").addEventListener("input", applyReplay);
let resizing = 0;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => { if (state.report) renderTimeline(); }, 150);
});
$("play").addEventListener("click", togglePlay);
$("findings").tBodies[0].addEventListener("click", (e) => {
  const tr = e.target.closest("tr");
  if (tr) select(Number(tr.dataset.index), false);
});
$("findings").tBodies[0].addEventListener("keydown", (e) => {
  const tr = e.target.closest("tr");
  if (!tr) return;
  if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(Number(tr.dataset.index), false); }
  else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    const next = e.key === "ArrowDown" ? tr.nextElementSibling : tr.previousElementSibling;
    if (next) select(Number(next.dataset.index), true);
  }
});
document.addEventListener("keydown", (e) => {
  if (e.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) { e.preventDefault(); $("f-text").focus(); }
  else if (e.key === "Escape" && state.worker) cancel(true);
});
setStatus("ready: open or drop files");
