// Throughput of the wasm module in headless Chromium (the real page and worker, File.stream()
// chunks) beside the native CLI, on the same generated TSVWithNames file; prints the figures.
// Also reports peak memory: the Chromium process tree's PSS (sampled) and the wasm linear
// memory, against the file size — the streaming check. Run by hand, never in CI:
//
//   node scripts/bench-browser.mjs [SIZE_MB=200] [RUNS=3]
//   node scripts/bench-browser.mjs 1024 1        # the 1 GB stream-through check
//
// Needs scripts/build-wasm.sh done; builds the release CLI if it is missing.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { ROOT, launch, serve } from "../tests-browser/harness.mjs";

const sizeMb = Number(process.argv[2] ?? 200);
const runs = Number(process.argv[3] ?? 3);
const file = join(ROOT, "target", "bench", `query_log-${sizeMb}MiB.tsv`);
const cli = join(ROOT, "target", "release", "chaudit");
const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;

mkdirSync(dirname(file), { recursive: true }); // a clean clone has no target/bench
if (!existsSync(file)) execFileSync("node", [join(ROOT, "scripts", "gen-query-log.mjs"), file, String(sizeMb)], { stdio: "inherit" });
if (!existsSync(cli)) execFileSync("cargo", ["build", "--release", "--locked", "--bin", "chaudit"], { cwd: ROOT, stdio: "inherit" });
if (!existsSync(join(ROOT, "www", "pkg", "chaudit_bg.wasm"))) throw new Error("run scripts/build-wasm.sh first");
const bytes = statSync(file).size;

// Native: best of `runs`, wall clock, peak RSS from /usr/bin/time; on one thread (as the
// page's single worker runs) and on all cores.
function runNative(threads) {
  const out = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const args = [cli, "scan", "--format", "json", "-o", "/dev/null", ...(threads ? ["--threads", String(threads)] : []), file];
    const r = spawnSync("/usr/bin/time", ["-f", "%M", ...args], { encoding: "utf8" });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0 && r.status !== 1) throw new Error(r.stderr);
    out.push({ s, rssKb: Number(r.stderr.trim().split("\n").pop()) });
  }
  return out;
}
const native1 = runNative(1);
const native = runNative(0);

// The Chromium process tree's proportional set size (PSS, so pages shared between its
// processes are counted once), in KiB.
function treePss(rootPid) {
  const procs = execFileSync("ps", ["-eo", "pid=,ppid="], { encoding: "utf8" }).trim().split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number));
  const kids = new Map();
  for (const [pid, ppid] of procs) kids.set(ppid, [...(kids.get(ppid) ?? []), pid]);
  let total = 0;
  const stack = [rootPid];
  while (stack.length) {
    const p = stack.pop();
    try {
      total += Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, "utf8"))?.[1] ?? 0);
    } catch { /* the process ended */ }
    stack.push(...(kids.get(p) ?? []));
  }
  return total;
}

const server = await serve();
const browser = await launch({ allowedOrigin: server.base });
const browserPid = Number(execFileSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" }).split("\n")
  .find((l) => l.includes("--user-data-dir=") && l.includes("chaudit-pw-") && !l.includes("--type="))?.trim().split(/\s+/)[0]);
const wasm = [];
try {
  for (let i = 0; i < runs; i++) {
    const page = browser.page;
    await page.goto(`${server.base}/index.html`);
    await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("ready"));
    const base = treePss(browserPid);
    let peak = base;
    const timer = setInterval(() => { peak = Math.max(peak, treePss(browserPid)); }, 200);
    // Responsiveness: the longest gap between animation frames while the worker reads (the
    // final render of the report is left out: it happens once, after reading).
    await page.evaluate(() => {
      const gaps = (window.benchGaps = { max: 0, frames: 0 });
      let last = performance.now();
      const frame = (t) => {
        if (document.getElementById("status").textContent.startsWith("done")) return;
        gaps.max = Math.max(gaps.max, t - last);
        gaps.frames++;
        last = t;
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
    });
    const t0 = process.hrtime.bigint();
    await page.setInputFiles("#file", file);
    await page.waitForFunction(() => Number(document.getElementById("status").dataset.runs ?? 0) > 0, null, { timeout: 3_600_000, polling: 500 });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    clearInterval(timer);
    const status = await page.textContent("#status");
    if (!status.startsWith("done")) throw new Error(status);
    const worker = Number(/in ([\d.]+) s/.exec(status)[1]);
    const memory = /wasm memory ([\d.]+ \w+)/.exec(status)[1];
    const findings = await page.textContent("#sum-findings");
    const gaps = await page.evaluate(() => window.benchGaps);
    wasm.push({ s, worker, baseKb: base, peakKb: peak, memory, findings, gaps });
  }
} finally {
  await browser.close();
  await server.close();
}

const best = (xs, k) => xs.reduce((a, b) => (b[k] < a[k] ? b : a));
const n = best(native, "s");
const n1 = best(native1, "s");
const w = best(wasm, "worker");
const rate = (s) => `${(bytes / 1e6 / s).toFixed(1)} MB/s`;
console.log(`file: ${file} (${mib(bytes)}, generated from fixtures/query_log/26.9/incident.TSVWithNames.tsv)`);
console.log(`runs: ${runs} each, best shown; machine: ${(await import("node:os")).cpus().length} cores shared`);
console.log(`native CLI, one thread       : ${n1.s.toFixed(2)} s  ${rate(n1.s)}  peak RSS ${mib(n1.rssKb * 1024)}`);
console.log(`native CLI, all cores        : ${n.s.toFixed(2)} s  ${rate(n.s)}  peak RSS ${mib(n.rssKb * 1024)}`);
console.log(`wasm in Chromium, worker     : ${w.worker.toFixed(2)} s  ${rate(w.worker)}  (File.stream() → feed → finishReport → render("json"))`);
console.log(`wasm in Chromium, end to end : ${w.s.toFixed(2)} s  ${rate(w.s)}  (setInputFiles → table shown)`);
console.log(`wasm / native                : ${(n1.s / w.worker).toFixed(2)}× one native thread, ${(n.s / w.worker).toFixed(2)}× all cores`);
console.log(`memory: wasm linear memory ${w.memory}; Chromium tree PSS ${mib(w.baseKb * 1024)} idle → peak ${mib(w.peakKb * 1024)} for a ${mib(bytes)} file`);
console.log(`page responsiveness while reading: longest frame gap ${w.gaps.max.toFixed(0)} ms over ${w.gaps.frames} frames`);
console.log(`findings: ${w.findings}`);
