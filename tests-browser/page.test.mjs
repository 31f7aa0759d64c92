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
import { ROOT, SHOTS, cliJson, fixtureConfig, launch, runPage, screenshot, serve } from "./harness.mjs";

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
    });
  }

  test("several files in one run, as the CLI scans them", async () => {
    const dir = join(FIXTURES, "26.9");
    const paths = ["incident.TSVWithNames.tsv", "incident.JSONEachRow.jsonl", "tricky.CSVWithNames.csv"].map((p) => join(dir, p));
    const want = cliJson(paths);
    const got = await runPage(browser.page, paths);
    assert.equal(got.json, want);
    assert.equal(JSON.parse(got.json).summary.sources.length, 3);
  });

  test("filters, evidence, replay and keyboard", async () => {
    const page = browser.page;
    const path = join(FIXTURES, "26.9", "incident.TSVWithNames.tsv");
    const cli = JSON.parse(cliJson([path]));
    await runPage(page, [path]);
    assert.ok(cli.findings.length >= 2, "the incident has several findings");
    // Severity filter: only critical rows remain.
    await page.selectOption("#f-severity", "critical");
    const sev = await page.$$eval("#findings tbody tr td:first-child", (tds) => tds.map((t) => t.textContent));
    assert.deepEqual(sev, cli.findings.filter((f) => f.severity === "critical").map((f) => f.severity));
    await page.selectOption("#f-severity", "");
    // Rule filter.
    const rule = cli.findings[cli.findings.length - 1].rule;
    await page.selectOption("#f-rule", rule);
    assert.equal(await page.locator("#findings tbody tr").count(), cli.findings.filter((f) => f.rule === rule).length);
    await page.selectOption("#f-rule", "");
    // Text search on an evidence excerpt ("/" focuses the box).
    await page.keyboard.press("/");
    await page.keyboard.type("log_stream");
    const hits = cli.findings.filter((f) => JSON.stringify(f).includes("log_stream")).length;
    assert.ok(hits > 0);
    assert.equal(await page.locator("#findings tbody tr").count(), hits);
    await page.fill("#f-text", "no-such-thing-anywhere");
    assert.equal(await page.locator("#findings tbody tr").count(), 0);
    await page.fill("#f-text", "");
    // Keyboard: focus the first row, Enter selects it, ArrowDown moves to the next.
    await page.focus("#findings tbody tr:first-child");
    await page.keyboard.press("Enter");
    const first = cli.findings[0];
    const evidence = await page.textContent("#evidence");
    assert.ok(evidence.includes(`${first.evidence[0].path}:${first.evidence[0].line}`), evidence);
    await page.keyboard.press("ArrowDown");
    assert.equal(await page.getAttribute("#findings tbody tr:nth-child(2)", "aria-selected"), "true");
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
    await page.focus("#findings tbody tr:first-child");
    await page.keyboard.press("Enter");
    await page.setViewportSize({ width: 1280, height: 900 });
    await screenshot(page, "incident-wide.png");
    await page.setViewportSize({ width: 420, height: 900 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px in a narrow window`);
    await screenshot(page, "incident-narrow.png");
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test("a bad setting is reported, not thrown", async () => {
    const got = await runPage(browser.page, [fixtures[0]], { interal: [] });
    assert.match(got.status, /^error: .*unknown field `interal`/);
  });

  test("cancel stops a run", async () => {
    const page = browser.page;
    const runs = Number(await page.getAttribute("#status", "data-runs"));
    // A file big enough to still be reading when Cancel is pressed (about 100 MB, on disk).
    const fs = await import("node:fs");
    const text = fs.readFileSync(join(FIXTURES, "26.9", "incident.TSVWithNames.tsv"));
    const body = text.subarray(text.indexOf(10) + 1);
    const big = join(SHOTS, "cancel-big.tsv");
    fs.mkdirSync(SHOTS, { recursive: true });
    fs.writeFileSync(big, Buffer.concat([text, ...Array(600).fill(body)]));
    await page.$eval("#config", (e) => { e.value = "{}"; });
    await page.setInputFiles("#file", big);
    await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("reading"));
    await page.click("#cancel");
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
