// Shared pieces of the browser tests and the bench: a static server for www/ on 127.0.0.1,
// Debian chromium through playwright-core (never a downloaded browser), a record of every
// request the page makes, the native CLI's JSON for the same files, and "run these files
// through the page and return what it exported".
import { spawnSync } from "node:child_process";
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { basename, dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const WWW = join(ROOT, "www");
export const SHOTS = join(ROOT, "target", "browser");
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const CLI = process.env.CHAUDIT_CLI ?? join(ROOT, "target", "debug", "chaudit");

// The same policy as the page's <meta>, also sent as a header so it covers the worker script.
const CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; " +
  "style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'";
const MIME = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".css": "text/css", ".wasm": "application/wasm", ".json": "application/json" };

/** Serves `dir` on 127.0.0.1 (a free port); resolves to {base, close}. */
export async function serve(dir = WWW) {
  const server = createServer((req, res) => {
    const path = normalize(join(dir, decodeURIComponent(new URL(req.url, "http://x").pathname)));
    const file = path.endsWith(sep) ? join(path, "index.html") : path;
    if (!file.startsWith(dir) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": MIME[extname(file)] ?? "application/octet-stream",
      "content-security-policy": CSP, "cache-control": "no-store" });
    createReadStream(file).pipe(res);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const base = `http://127.0.0.1:${server.address().port}`;
  return { base, close: () => new Promise((ok) => server.close(ok)) };
}

/** Launches headless Debian chromium with a fresh profile; records requests and errors. */
export async function launch({ allowedOrigin } = {}) {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} missing: run scripts/setup.d/50-wasm.sh`);
  const profile = await mkdtemp(join(tmpdir(), "chaudit-pw-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, acceptDownloads: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-features=Translate,MediaRouter"],
  });
  const requests = [];
  const errors = [];
  context.on("request", (r) => requests.push(r.url()));
  // Anything that is not the page's own origin (or a local blob:/data: URL) is recorded and refused.
  await context.route("**/*", (route) => {
    const url = route.request().url();
    const local = url.startsWith("blob:") || url.startsWith("data:") ||
      (allowedOrigin ? url.startsWith(`${allowedOrigin}/`) : url.startsWith("file:"));
    return local ? route.continue() : route.abort("blockedbyclient");
  });
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(`pageerror: ${e}`));
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  page.on("response", (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.url()}`); });
  const foreign = () => requests.filter((u) => !(u.startsWith("blob:") || u.startsWith("data:") ||
    (allowedOrigin ? u.startsWith(`${allowedOrigin}/`) : u.startsWith("file:"))));
  return {
    context, page, requests, errors, foreign,
    close: async () => { await context.close(); await rm(profile, { recursive: true, force: true }); },
  };
}

/** The config a fixture needs: headerless TabSeparated names its columns in a sibling file. */
export function fixtureConfig(path) {
  const columns = path.replace(/\.TabSeparated\.tsv$/, ".TabSeparated.columns");
  if (columns === path || !existsSync(columns)) return {};
  const names = readFileSync(columns, "utf8").split("\n").filter(Boolean).map((l) => l.split("\t")[0]);
  return { columns: names };
}

/** The CLI's `--format json` for `paths` (run beside the files, so paths are bare names as in the browser). */
export function cliJson(paths, config = {}) {
  return cliReport(paths, "json", config);
}

/** The CLI's report in `format` for `paths` (run beside the files, as cliJson). */
export function cliReport(paths, format, config = {}) {
  const cwd = dirname(paths[0]);
  const args = ["scan", "--format", format];
  if (config.columns) args.push("--columns", config.columns.join(","));
  args.push(...paths.map((p) => basename(p)));
  const r = spawnSync(CLI, args, { cwd, encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0 && r.status !== 1) throw new Error(`chaudit exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Runs `paths` through the page; resolves to {json, status, rows} once the run has ended. */
export async function runPage(page, paths, config = {}, { timeout = 60_000 } = {}) {
  const runs = Number(await page.getAttribute("#status", "data-runs") ?? 0);
  // The settings box sits in a closed <details>; set it as a script would, not by typing.
  await page.$eval("#config", (e, v) => { e.value = v; }, JSON.stringify(config));
  await page.setInputFiles("#file", paths);
  await page.waitForFunction((n) => Number(document.getElementById("status").dataset.runs ?? 0) > n, runs, { timeout });
  const status = await page.textContent("#status");
  if (!status.startsWith("done")) return { status };
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-json")]);
  const json = await readFile(await download.path(), "utf8");
  const rows = await page.$$eval("#findings tbody tr[data-index]", (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  return { json, status, rows };
}

/** Clicks an export button of the page; resolves to the downloaded file's name and text. */
export async function exported(page, button) {
  const [download] = await Promise.all([page.waitForEvent("download"), page.click(button)]);
  return { name: download.suggestedFilename(), text: await readFile(await download.path(), "utf8") };
}

export async function screenshot(page, name) {
  await mkdir(SHOTS, { recursive: true });
  const path = join(SHOTS, name);
  await page.screenshot({ path, fullPage: true });
  return path;
}
