// The module's JS contract (pkg/chaudit.js) in a real headless Chromium, without the page:
// records cut at every possible place (chunks of 1 to 13 bytes) give the CLI's JSON byte for
// byte; finish() is the same report as a plain object; config errors and use after finish
// throw; several files in one Analyzer; and dropping files on the page starts a run.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { basename, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { spawnSync } from "node:child_process";
import { CLI, ROOT, cliJson, fixtureConfig, launch, serve } from "./harness.mjs";

const FIXTURES = join(ROOT, "fixtures", "query_log");
const fixtures = readdirSync(FIXTURES, { recursive: true })
  .map((p) => join(FIXTURES, p))
  .filter((p) => /\.(tsv|csv|jsonl|txt)$/.test(p))
  .sort();

describe("pkg/chaudit.js", () => {
  let server;
  let browser;
  before(async () => {
    server = await serve();
    browser = await launch({ allowedOrigin: server.base });
    await browser.page.goto(`${server.base}/index.html`);
    await browser.page.evaluate(async () => {
      const mod = await import("./pkg/chaudit.js");
      await mod.default();
      window.chaudit = mod;
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  for (const path of fixtures) {
    test(`tiny chunks: ${path.slice(FIXTURES.length + 1)}`, async () => {
      const config = fixtureConfig(path);
      const want = cliJson([path], config);
      const got = await browser.page.evaluate(({ name, b64, config }) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const a = new window.chaudit.Analyzer(config);
        a.beginFile(name);
        for (let i = 0, n = 1; i < bytes.length; i += n, n = (n % 13) + 1) a.feed(bytes.subarray(i, i + n));
        return a.finishJson();
      }, { name: basename(path), b64: readFileSync(path).toString("base64"), config });
      assert.equal(got, want);
    });
  }

  test("finish() is the CLI's report as a plain object; several files in one Analyzer", async () => {
    const paths = ["incident.CSVWithNames.csv", "tricky.Vertical.txt"].map((p) => join(FIXTURES, "18.16", p));
    const want = JSON.parse(cliJson(paths));
    const got = await browser.page.evaluate((files) => {
      const a = new window.chaudit.Analyzer({});
      for (const [name, b64] of files) {
        a.beginFile(name);
        a.feed(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
      }
      const report = a.finish();
      return { report, proto: Object.getPrototypeOf(report) === Object.prototype };
    }, paths.map((p) => [basename(p), readFileSync(p).toString("base64")]));
    assert.deepEqual(got.report, want);
    assert.ok(got.proto, "a plain object, not a Map or class instance");
  });

  test("finishReport().render(format, minLevel) is the CLI's output in every format", async () => {
    const dir = join(FIXTURES, "26.9");
    const names = ["incident.TSVWithNames.tsv", "tricky.JSONEachRow.jsonl"];
    const files = names.map((n) => [n, readFileSync(join(dir, n)).toString("base64")]);
    const cases = [];
    for (const format of ["text", "json", "jsonl", "csv", "html", "timesketch"]) {
      for (const level of [null, "critical"]) cases.push([format, level]);
    }
    const got = await browser.page.evaluate(({ files, cases }) => {
      const a = new window.chaudit.Analyzer({});
      for (const [name, b64] of files) {
        a.beginFile(name);
        a.feed(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
      }
      const r = a.finishReport();
      const out = cases.map(([f, l]) => (l ? r.render(f, l) : r.render(f)));
      let bad;
      try { r.render("pdf"); bad = "no error"; } catch (e) { bad = e.message; }
      let badLevel;
      try { r.render("json", "severe"); badLevel = "no error"; } catch (e) { badLevel = e.message; }
      r.free();
      return { out, bad, badLevel };
    }, { files, cases });
    cases.forEach(([format, level], i) => {
      const args = ["scan", "--format", format, "--color", "never", ...(level ? ["--min-level", level] : []), ...names];
      const cli = spawnSync(CLI, args, { cwd: dir, encoding: "utf8", maxBuffer: 1 << 28 });
      assert.ok(cli.status === 0 || cli.status === 1, cli.stderr);
      assert.equal(got.out[i], cli.stdout, `--format ${format}${level ? ` --min-level ${level}` : ""}`);
    });
    assert.notEqual(got.out[8], got.out[9], "--min-level changes the HTML report");
    assert.match(got.bad, /unknown format "pdf"/);
    assert.match(got.badLevel, /unknown severity "severe"/);
  });

  test("errors: bad config, use after finish; defaults for {} and undefined", async () => {
    const r = await browser.page.evaluate(() => {
      const { Analyzer } = window.chaudit;
      const err = (f) => { try { f(); return "no error"; } catch (e) { return `${e.constructor.name}: ${e.message}`; } };
      const a = new Analyzer(undefined);
      a.finish();
      return {
        unknown: err(() => new Analyzer({ thresholds: { bulk_row: 1 } })),
        badCidr: err(() => new Analyzer({ internal: ["10.0.0.0/33"] })),
        badType: err(() => new Analyzer({ strict: "yes" })),
        afterFinish: err(() => a.feed(new Uint8Array([1]))),
        finishTwice: err(() => a.finish()),
        empty: new Analyzer({}).finish().summary.events,
      };
    });
    assert.match(r.unknown, /^Error: invalid config: unknown field `bulk_row`/);
    assert.match(r.badCidr, /^Error: /);
    assert.notEqual(r.badCidr, "no error");
    assert.match(r.badType, /^Error: invalid config: invalid type/);
    assert.match(r.afterFinish, /^Error: this Analyzer has finished/);
    assert.match(r.finishTwice, /^Error: this Analyzer has finished/);
    assert.equal(r.empty, 0);
  });

  test("dropping files on the page starts a run", async () => {
    const page = browser.page;
    const path = join(FIXTURES, "26.9", "incident.JSONEachRow.jsonl");
    const dt = await page.evaluateHandle(([name, text]) => {
      const d = new DataTransfer();
      d.items.add(new File([text], name));
      return d;
    }, [basename(path), readFileSync(path, "utf8")]);
    await page.dispatchEvent("#drop", "drop", { dataTransfer: dt });
    await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("done"));
    assert.equal(await page.textContent("#sum-findings"), String(JSON.parse(cliJson([path])).summary.findings));
    assert.deepEqual(browser.foreign(), []);
    assert.deepEqual(browser.errors, []);
  });
});
