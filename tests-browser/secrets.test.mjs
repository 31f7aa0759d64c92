// Secrets planted in every kind of input (query_log, session_log, server text log, access
// logs with password= parameters, userinfo and encoded query text) never reach what the
// browser build produces: Analyzer.finish() and finishJson() of pkg/chaudit.js, the page's
// exported JSON, and the page itself (summary, findings table, each finding's evidence).
// The same inputs through the CLI with --no-redact do show the query secrets, so the test
// would see a leak. tests/secrets.rs checks every CLI output format the same way.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { CLI, launch, runPage, serve } from "./harness.mjs";

const QUERY_SECRETS = [
  "Pw-Url-Secret-1", "sk-PlantedKey0123456789abcdef", "Pw-Where-Secret-2",
  "AKIAPLANTED12345678", "Pw-Param-Secret-3", "Pw-Ident-Secret-4",
];
const REQUEST_SECRETS = ["Pw-UrlParam-Secret-5", "Pw-Userinfo-Secret-6", "Pw-Setting-Secret-8"];
const SECRETS = [...QUERY_SECRETS, ...REQUEST_SECRETS];

const QUERIES = [
  "SELECT * FROM url('http://admin:Pw-Url-Secret-1@203.0.113.9/x', 'TSV', 'a String')",
  "SELECT 'sk-PlantedKey0123456789abcdef' AS k FROM log_stream",
  "SELECT * FROM app.users WHERE password = 'Pw-Where-Secret-2'",
  "SELECT * FROM s3('https://b.s3.amazonaws.com/k.csv', 'AKIAPLANTED12345678', 'x')",
  "SELECT 'http://h:8123/?user=bob&password=Pw-Param-Secret-3' FROM log_stream",
  "SELECT 1 FROM system.one WHERE 'CREATE USER u IDENTIFIED WITH plaintext_password BY ''Pw-Ident-Secret-4''' != ''",
];

const sec = (i) => String(10 + i).padStart(2, "0");
const tsvEscape = (s) => s.replaceAll("\\", "\\\\").replaceAll("'", "\\'");

/** name → text: one file per input kind. */
function inputs() {
  const files = {};
  files["planted.TSVWithNames.tsv"] = "type\tevent_time\tuser\taddress\tquery\tresult_bytes\n" +
    QUERIES.map((q, i) => `QueryFinish\t2025-01-29 10:11:${sec(i)}\tdefault\t::ffff:198.51.100.7\t${tsvEscape(q)}\t2000000\n`).join("");
  files["planted.JSONEachRow.jsonl"] = QUERIES.map((q, i) => JSON.stringify({
    type: "QueryFinish", event_time: `2025-01-29 10:11:${sec(i)}`, user: "default",
    address: "::ffff:198.51.100.7", query: q, result_bytes: "2000000",
  }) + "\n").join("");
  files["planted.session_log.tsv"] = "type\tevent_time_microseconds\tuser\tauth_type\tsettings\tclient_address\tinterface\tfailure_reason\n" +
    Array.from({ length: 8 }, (_, i) => `LoginFailure\t2025-01-29 10:12:${sec(i)}.000000\tadmin\tNO_PASSWORD\t` +
      `[('s3_secret_access_key',\\'Pw-Setting-Secret-8\\')]\t::ffff:198.51.100.7\tHTTP\tadmin: Authentication failed\n`).join("");
  files["planted.clickhouse-server.log"] = QUERIES.map((q, i) => {
    const t = `2025.01.29 10:11:${sec(i)}.000100 [ 76 ]`;
    const id = `0000000${i}-aaaa-bbbb-cccc-dddddddddddd`;
    return `${t} {} <Trace> HTTPHandler: Request URI: /?user=default&password=Pw-UrlParam-Secret-5&query=SELECT%201\n` +
      `${t} {${id}} <Debug> executeQuery: (from 198.51.100.7:57708) ${q} (stage: Complete)\n` +
      `${t} {${id}} <Debug> executeQuery: Read 100000 rows, 16.10 MiB in 0.100 sec., 1000000 rows/sec., 161.00 MiB/sec.\n`;
  }).join("");
  files["planted.access.log"] = QUERIES.flatMap((q, i) => {
    const enc = encodeURIComponent(q).replaceAll("'", "%27").replaceAll("*", "%2A");
    return [`/?user=default&password=Pw-UrlParam-Secret-5&query=${enc}`,
      `http://admin:Pw-Userinfo-Secret-6@203.0.113.5:8123/?query=${enc}`]
      .map((target) => `198.51.100.7 - admin [29/Jan/2025:10:11:${sec(i)} +0000] "GET ${target} HTTP/1.1" 200 2000000 "-" "curl/8.5.0"\n`);
  }).join("");
  return files;
}

function leaks(text) {
  return SECRETS.filter((s) => text.includes(s));
}

describe("no planted secret in the browser build's output", () => {
  let server;
  let browser;
  let dir;
  let files;
  before(async () => {
    files = inputs();
    dir = await mkdtemp(join(tmpdir(), "chaudit-secrets-"));
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    server = await serve();
    browser = await launch({ allowedOrigin: server.base });
    await browser.page.goto(`${server.base}/index.html`);
    await browser.page.waitForFunction(() => document.getElementById("status").textContent.startsWith("ready"));
    await browser.page.evaluate(async () => {
      const mod = await import("./pkg/chaudit.js");
      await mod.default();
      window.chaudit = mod;
    });
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("the planted files are not harmless: the CLI shows the query secrets with --no-redact", () => {
    for (const name of Object.keys(files)) {
      if (name.includes("session_log")) continue; // no query text there
      const r = spawnSync(CLI, ["scan", "--format", "json", "--no-redact", name], { cwd: dir, encoding: "utf8" });
      assert.ok(r.status === 0 || r.status === 1, r.stderr);
      assert.ok(QUERY_SECRETS.some((s) => r.stdout.includes(s)), `${name}: no secret even unredacted`);
    }
  });

  for (const name of Object.keys(inputs())) {
    test(`Analyzer.finish() and finishJson(): ${name}`, async () => {
      const got = await browser.page.evaluate(([name, text]) => {
        const run = () => {
          const a = new window.chaudit.Analyzer({});
          a.beginFile(name);
          const bytes = new TextEncoder().encode(text);
          for (let i = 0; i < bytes.length; i += 7) a.feed(bytes.subarray(i, i + 7));
          return a;
        };
        return { object: JSON.stringify(run().finish()), json: run().finishJson() };
      }, [name, files[name]]);
      const report = JSON.parse(got.json);
      assert.ok(report.findings.length > 0, `${name}: no finding, so nothing was quoted`);
      assert.deepEqual(leaks(got.object), [], `${name}: finish() leaks`);
      assert.deepEqual(leaks(got.json), [], `${name}: finishJson() leaks`);
    });
  }

  test("the page: exported JSON, findings table and every finding's evidence", async () => {
    const page = browser.page;
    const got = await runPage(page, Object.keys(files).map((n) => join(dir, n)));
    assert.match(got.status, /^done/);
    assert.ok(JSON.parse(got.json).findings.length >= 5);
    assert.deepEqual(leaks(got.json), [], "exported JSON leaks");
    const rows = page.locator("#findings tbody tr");
    const n = await rows.count();
    assert.ok(n >= 5, `${n} findings shown`);
    let redacted = 0;
    for (let i = 0; i < n; i++) {
      await rows.nth(i).click();
      const html = await page.content();
      if (html.includes("[REDACTED]")) redacted++;
      assert.deepEqual(leaks(html), [], `the page leaks with finding ${i + 1} selected`);
    }
    assert.ok(redacted > 0, "no evidence was shown redacted: the check saw no quoted query");
  });
});
