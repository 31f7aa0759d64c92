// The page in a real headless Chromium (Debian chromium via playwright-core): every query_log
// fixture through the file input gives byte for byte the CLI's `--format json`, the table
// shows those findings, nothing leaves the page's origin, and the single-file build works
// from file://. Needs scripts/build-wasm.sh and a debug CLI build (scripts/test.d/50-browser.sh
// does both). Screenshots land in target/browser/.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { ROOT, SHOTS, cliJson, cliReport, exported, fixtureConfig, launch, runPage, screenshot, serve } from "./harness.mjs";

const FIXTURES = join(ROOT, "fixtures", "query_log");
const fixtures = readdirSync(FIXTURES, { recursive: true })
  .map((p) => join(FIXTURES, p))
  .filter((p) => /\.(tsv|csv|jsonl|txt)$/.test(p))
  .sort();

/** The table row the page should show for a finding of the CLI's report. */
function expectedRow(f) {
  return [f.severity, f.rule, f.user, f.client_ip ?? "–", f.client_class, String(f.count)];
}

describe("served page", () => {
  let server;
  let browser;
  before(async () => {
    server = await serve();
    browser = await launch({ allowedOrigin: server.base });
    await browser.page.goto(`${server.base}/index.html`);
    await browser.page.waitForFunction(() => document.getElementById("status").textContent.startsWith("ready"));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test("there are fixtures to check", () => assert.ok(fixtures.length >= 20, `${fixtures.length} fixtures`));

  for (const path of fixtures) {
    test(`parity: ${path.slice(FIXTURES.length + 1)}`, async () => {
      const config = fixtureConfig(path);
      const want = cliJson([path], config);
      const got = await runPage(browser.page, [path], config);
      assert.match(got.status, /^done/);
      assert.equal(got.json, want, "exported JSON differs from the CLI's");
      const cli = JSON.parse(want);
      assert.deepEqual(got.rows.map((r) => [r[0], r[1], r[2], r[3], r[4], r[7].replaceAll(",", "")]),
        cli.findings.map(expectedRow), "findings table differs from the CLI's findings");
      assert.equal(await browser.page.textContent("#sum-findings"), String(cli.summary.findings));
      // The HTML report, rendered by the library in the worker: byte for byte the CLI's.
      const html = await exported(browser.page, "#export-html");
      assert.equal(html.name, "chaudit-report.html");
      assert.equal(html.text, cliReport([path], "html", config), "exported HTML differs from the CLI's");
    });
  }

  test("CSV export and HTML of several files equal the CLI's", async () => {
    const dir = join(FIXTURES, "18.16");
    const paths = ["incident.CSVWithNames.csv", "tricky.Vertical.txt"].map((p) => join(dir, p));
    await runPage(browser.page, paths);
    assert.equal((await exported(browser.page, "#export-html")).text, cliReport(paths, "html"));
    const csv = await exported(browser.page, "#export-csv");
    assert.equal(csv.name, "chaudit-findings.csv");
    assert.equal(csv.text, cliReport(paths, "csv"));
  });

  test("several files in one run, as the CLI scans them", async () => {
    const dir = join(FIXTURES, "26.9");
    const paths = ["incident.TSVWithNames.tsv", "incident.JSONEachRow.jsonl", "tricky.CSVWithNames.csv"].map((p) => join(dir, p));
    const want = cliJson(paths);
    const got = await runPage(browser.page, paths);
    assert.equal(got.json, want);
    assert.equal(JSON.parse(got.json).summary.sources.length, 3);
  });

  test("query_log, server log and proxy log together are joined as the CLI joins them", async () => {
    const dir = join(ROOT, "fixtures", "rules", "recon");
    const paths = ["flags.18.16.TSVWithNames.tsv", "flags.18.16.clickhouse-server.log", "flags.18.16.access.log"].map((p) => join(dir, p));
    const want = cliJson(paths);
    const got = await runPage(browser.page, paths);
    assert.equal(got.json, want);
    // The copies across sources were recognised, not counted twice.
    assert.ok(JSON.parse(got.json).summary.duplicates > 0);
  });

  test("filters, evidence, replay and keyboard", async () => {
    const page = browser.page;
    const path = join(FIXTURES, "26.9", "incident.TSVWithNames.tsv");
    const cli = JSON.parse(cliJson([path]));
    await runPage(page, [path]);
    assert.ok(cli.findings.length >= 2, "the incident has several findings");
    // Severity filter: only critical rows remain.
    await page.selectOption("#f-severity", "critical");
    const sev = await page.$$eval("#findings tbody tr[data-index] td:first-child", (tds) => tds.map((t) => t.textContent));
    assert.deepEqual(sev, cli.findings.filter((f) => f.severity === "critical").map((f) => f.severity));
    await page.selectOption("#f-severity", "");
    // Rule filter.
    const rule = cli.findings[cli.findings.length - 1].rule;
    await page.selectOption("#f-rule", rule);
    assert.equal(await page.locator("#findings tbody tr[data-index]").count(), cli.findings.filter((f) => f.rule === rule).length);
    await page.selectOption("#f-rule", "");
    // Text search on an evidence excerpt ("/" focuses the box).
    await page.keyboard.press("/");
    await page.keyboard.type("log_stream");
    const hits = cli.findings.filter((f) => JSON.stringify(f).includes("log_stream")).length;
    assert.ok(hits > 0 && hits < cli.findings.length);
    // The text filter applies once typing pauses.
    const shown = (n) => page.waitForFunction((n) => document.querySelectorAll("#findings tbody tr[data-index]").length === n, n);
    await shown(hits);
    await page.fill("#f-text", "no-such-thing-anywhere");
    await shown(0);
    await page.fill("#f-text", "");
    await shown(cli.findings.length);
    // Keyboard: focus the first row, Enter selects it, ArrowDown moves to the next.
    await page.focus("#findings tbody tr[data-index]");
    await page.keyboard.press("Enter");
    const first = cli.findings[0];
    const evidence = await page.textContent("#evidence");
    assert.ok(evidence.includes(`${first.evidence[0].path}:${first.evidence[0].line}`), evidence);
    await page.keyboard.press("ArrowDown");
    assert.equal(await page.getAttribute(`#findings tbody tr[data-index="1"]`, "aria-selected"), "true");
    assert.equal(await page.evaluate(() => document.activeElement.dataset.index), "1", "focus follows the selection");
    const second = cli.findings[1];
    assert.ok((await page.textContent("#evidence")).includes(`${second.evidence[0].path}:${second.evidence[0].line}`));
    // Replay: at the start no finding has happened yet; at the end all have.
    await page.fill("#replay", "0");
    const firstTime = Math.min(...cli.findings.map((f) => Date.parse(f.first_seen)));
    const startOfLogs = Date.parse(cli.summary.first_event);
    const before0 = cli.findings.filter((f) => Date.parse(f.first_seen) <= startOfLogs).length;
    assert.match(await page.textContent("#replay-time"), new RegExp(`— ${before0} of ${cli.findings.length} findings so far`));
    assert.ok(firstTime >= startOfLogs);
    await page.fill("#replay", "1000");
    assert.match(await page.textContent("#replay-time"), new RegExp(`— ${cli.findings.length} of ${cli.findings.length} findings`));
    assert.equal(await page.locator("#story li").count(), cli.findings.length);
    assert.equal(await page.locator("#timeline .mark").count(), cli.findings.length);
    // The chart: one bar group per active window of every series (and of the other clients),
    // from the report's timeline; replaying to the start greys every window after it.
    const tl = cli.timeline;
    assert.ok(tl.window_secs > 0 && tl.series.length > 0, "the report has a per-client timeline");
    const windows = tl.series.reduce((n, s) => n + s.windows.length, 0) + tl.other.length;
    assert.equal(await page.locator("#timeline .win").count(), windows);
    assert.equal(await page.locator("#timeline .bars .base").count(), tl.series.length + (tl.other.length ? 1 : 0));
    await page.fill("#replay", "0");
    const t0 = Math.min(...[...tl.series.flatMap((x) => x.windows), ...tl.other].map((w) => Date.parse(w[0])));
    const later = [...tl.series.flatMap((x) => x.windows), ...tl.other].filter((w) => Date.parse(w[0]) > t0).length;
    assert.equal(await page.locator("#timeline .win.future").count(), later);
    await page.fill("#replay", "500");
    const mid = await page.locator("#timeline .win.future").count();
    assert.ok(mid > 0 && mid < later, `half way, ${mid} of ${later} later windows are still to come`);
    await page.fill("#replay", "1000");
    assert.equal(await page.locator("#timeline .win.future").count(), 0);
    // A click on a finding's mark selects it.
    await page.dispatchEvent(`#timeline .mark[data-index="${cli.findings.length - 1}"]`, "click");
    assert.equal(await page.getAttribute(`#findings tbody tr[data-index="${cli.findings.length - 1}"]`, "aria-selected"), "true");
    await page.focus("#findings tbody tr[data-index]");
    await page.keyboard.press("Enter");
    await page.setViewportSize({ width: 1280, height: 900 });
    await screenshot(page, "incident-wide.png");
    await page.setViewportSize({ width: 420, height: 900 });
    // The chart redraws at the narrow width (after the resize settles) instead of overflowing.
    await page.waitForFunction(() => Number(document.getElementById("timeline").getAttribute("width")) <= window.innerWidth - 16);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px in a narrow window`);
    await screenshot(page, "incident-narrow.png");
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test("20,000 findings and clients: windowed tables stay small, scroll and select by keyboard", async () => {
    const page = browser.page;
    // One unauthenticated read from each of 20,000 external addresses: 20,000 critical findings.
    const N = 20_000;
    const lines = ["type\tevent_time\tuser\taddress\tquery\tresult_bytes\tresult_rows\tread_rows"];
    for (let i = 0; i < N; i++) {
      const t = new Date(Date.UTC(2026, 10, 25, 10) + i * 1000).toISOString().slice(0, 19).replace("T", " ");
      lines.push(`QueryFinish\t${t}\tdefault\t203.0.${Math.floor(i / 250)}.${(i % 250) + 1}\tSELECT * FROM default.t${i % 7}\t${1000 + i}\t${10 + (i % 50)}\t${100 + i}`);
    }
    const fs = await import("node:fs");
    fs.mkdirSync(SHOTS, { recursive: true });
    const big = join(SHOTS, "many-clients.TSVWithNames.tsv");
    fs.writeFileSync(big, `${lines.join("\n")}\n`);
    const want = cliJson([big]);
    const cli = JSON.parse(want);
    assert.equal(cli.findings.length, N);
    assert.equal(cli.clients.length, N);
    const t0 = Date.now();
    const got = await runPage(page, [big], {}, { timeout: 180_000 });
    assert.equal(got.json, want);
    const shownMs = Date.now() - t0;
    assert.equal(await page.textContent("#findings-count"), String(N));
    const rows = () => page.locator("#findings tbody tr[data-index]").count();
    const rendered = await rows();
    assert.ok(rendered > 0 && rendered <= 200, `${rendered} finding rows in the DOM for ${N} findings`);
    assert.ok(await page.locator("#clients tbody tr:not(.spacer)").count() <= 200, "the clients table is windowed too");
    // The scroll height still stands for every row.
    const { scrollHeight, rowH } = await page.$eval("#findings-wrap", (w) => ({
      scrollHeight: w.scrollHeight, rowH: w.querySelector("tr[data-index]").getBoundingClientRect().height }));
    assert.ok(scrollHeight >= N * rowH, `scroll height ${scrollHeight} for ${N} rows of ${rowH}px`);
    // Keyboard: Tab from the search box lands on the table's one tab stop (the first row);
    // Enter selects it, ↓ the next, End the last (scrolled into view), Space re-selects.
    await page.focus("#f-text");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.dataset.pos), "0");
    await page.keyboard.press("Enter");
    const evidenceOf = (f) => `${f.evidence[0].path}:${f.evidence[0].line}`;
    assert.ok((await page.textContent("#evidence")).includes(evidenceOf(cli.findings[0])));
    await page.keyboard.press("ArrowDown");
    assert.equal(await page.evaluate(() => document.activeElement.dataset.index), "1");
    assert.ok((await page.textContent("#evidence")).includes(evidenceOf(cli.findings[1])));
    await page.keyboard.press("End");
    await page.waitForFunction((n) => document.activeElement?.dataset?.index === String(n - 1), N);
    assert.ok((await page.textContent("#evidence")).includes(evidenceOf(cli.findings[N - 1])));
    assert.equal(await page.getAttribute(`#findings tbody tr[data-index="${N - 1}"]`, "aria-selected"), "true");
    assert.ok(await rows() <= 200);
    await page.keyboard.press("PageUp");
    const up = Number(await page.evaluate(() => document.activeElement.dataset.pos));
    assert.ok(up < N - 1 && up > N - 100, `PageUp moved to ${up}`);
    await page.keyboard.press("Home");
    await page.waitForFunction(() => document.activeElement?.dataset?.pos === "0");
    // Shift+Tab leaves the table; Tab comes back to the row that was active.
    await page.keyboard.press("ArrowDown");
    await page.keyboard.press("Shift+Tab");
    assert.notEqual(await page.evaluate(() => document.activeElement.dataset.pos), "1");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.dataset.pos), "1");
    await page.keyboard.press("Space");
    assert.equal(await page.getAttribute(`#findings tbody tr[data-index="1"]`, "aria-selected"), "true");
    // Scrolling by mouse wheel renders the rows that come into view.
    await page.$eval("#findings-wrap", (w) => { w.scrollTop = w.scrollHeight / 2; });
    await page.waitForFunction((n) => [...document.querySelectorAll("#findings tbody tr[data-index]")]
      .some((tr) => Math.abs(Number(tr.dataset.pos) - n / 2) < 40), N);
    // Filtering 20,000 rows by text stays quick and exact.
    const tf = Date.now();
    await page.fill("#f-text", "203.0.79.250");
    await page.waitForFunction(() => document.getElementById("findings-count").textContent === "1 of 20000 shown");
    const filterMs = Date.now() - tf;
    assert.equal(await rows(), 1);
    await page.fill("#f-text", "");
    await page.waitForFunction((n) => document.getElementById("findings-count").textContent === String(n), N);
    // The clients table scrolls to its last client.
    await page.$eval("#clients-wrap", (w) => { w.scrollTop = w.scrollHeight; });
    const last = cli.clients[N - 1];
    await page.waitForFunction((ip) => [...document.querySelectorAll("#clients tbody td")].some((td) => td.textContent === ip), last.client_ip);
    await screenshot(page, "many-findings.png");
    console.log(`# 20,000 findings: shown ${shownMs} ms after the file was chosen; text filter ${filterMs} ms; ${rendered} rows rendered`);
  });

  test("a bad setting is reported, not thrown", async () => {
    const got = await runPage(browser.page, [fixtures[0]], { interal: [] });
    assert.match(got.status, /^error: .*unknown field `interal`/);
  });

  test("cancel stops a run", async () => {
    const page = browser.page;
    const runs = Number(await page.getAttribute("#status", "data-runs"));
    // A file of some size (about 17 MB, on disk), so that the run has reading left to stop.
    const fs = await import("node:fs");
    const text = fs.readFileSync(join(FIXTURES, "26.9", "incident.TSVWithNames.tsv"));
    const body = text.subarray(text.indexOf(10) + 1);
    const big = join(SHOTS, "cancel-big.tsv");
    fs.mkdirSync(SHOTS, { recursive: true });
    fs.writeFileSync(big, Buffer.concat([text, ...Array(100).fill(body)]));
    await page.$eval("#config", (e) => { e.value = "{}"; });
    // Cancel is pressed the moment the run starts, in the task that started it: a click from
    // outside the page would race the run, and lose on a fast machine (CI once saw 600 copies
    // of this file read in 0.65 s).
    const pressed = page.evaluate(() => new Promise((resolve) => {
      const status = document.getElementById("status");
      new MutationObserver((_, observer) => {
        if (!status.textContent.startsWith("reading")) return;
        observer.disconnect();
        const cancel = document.getElementById("cancel");
        const enabled = !cancel.disabled;
        cancel.click();
        resolve(enabled);
      }).observe(status, { childList: true, characterData: true, subtree: true });
    }));
    await page.setInputFiles("#file", big);
    assert.equal(await pressed, true, "Cancel was enabled while reading");
    await page.waitForFunction((n) => Number(document.getElementById("status").dataset.runs) > n, runs);
    assert.equal(await page.textContent("#status"), "cancelled");
    fs.rmSync(big);
  });

  test("the Content-Security-Policy refuses a foreign request", async () => {
    const page = await browser.context.newPage();
    await page.goto(`${server.base}/index.html`);
    assert.equal(await tryForeignFetch(page), "connect-src http://192.0.2.1/exfil");
    await page.close();
  });

  test("no request left the page's origin", () => {
    assert.deepEqual(browser.foreign(), []);
    assert.ok(browser.requests.some((u) => u.endsWith("/pkg/chaudit_bg.wasm")), "the wasm came from the origin");
    assert.deepEqual(browser.errors, []);
  });
});

/** Asks the page to fetch a foreign URL; resolves to the CSP violation it raised, if any. */
function tryForeignFetch(page) {
  return page.evaluate(() => new Promise((resolve) => {
    document.addEventListener("securitypolicyviolation", (e) => resolve(`${e.effectiveDirective} ${e.blockedURI}`), { once: true });
    fetch("http://192.0.2.1/exfil").then(() => resolve("fetched"), () => setTimeout(() => resolve("no violation"), 500));
  }));
}

describe("single-file build", () => {
  test("works from file:// with no network at all", async () => {
    const browser = await launch();
    try {
      const page = browser.page;
      await page.goto(pathToFileURL(join(ROOT, "dist", "chaudit.html")).href);
      await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("ready"));
      const path = join(FIXTURES, "18.16", "incident.JSONEachRow.jsonl");
      const got = await runPage(page, [path]);
      assert.match(got.status, /^done/);
      assert.equal(got.json, cliJson([path]));
      await screenshot(page, "single-file.png");
      const fileUrl = pathToFileURL(join(ROOT, "dist", "chaudit.html")).href;
      assert.deepEqual(browser.requests.filter((u) => u !== fileUrl && !u.startsWith("blob:") && !u.startsWith("data:")), []);
      assert.deepEqual(browser.errors, []);
      assert.equal(await tryForeignFetch(page), "connect-src http://192.0.2.1/exfil");
    } finally {
      await browser.close();
    }
  });
});
