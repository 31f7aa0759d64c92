// Builds dist/chaudit.html: the page, its styles, its script, the worker, the wasm-bindgen
// glue and the wasm module (base64) in one file that works when opened from file:// — for
// air-gapped analysts. Run by scripts/build-wasm.sh after pkg/ is built.
//
// file:// pages may not load workers or modules from files, so the worker becomes a classic
// script in a blob: URL (the ES-module glue with its `export`s removed) and receives the wasm
// bytes in its start message. The Content-Security-Policy is rebuilt from hashes of the
// inline script and style: still no network at all (connect-src 'none').
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const read = (p) => readFileSync(join(root, p), "utf8");
const fail = (msg) => { console.error(`build-single: ${msg}`); process.exit(1); };
function replaceOnce(text, from, to, what) {
  const i = text.indexOf(from);
  if (i < 0 || text.indexOf(from, i + 1) >= 0) fail(`expected exactly one ${what}`);
  return text.slice(0, i) + to + text.slice(i + from.length);
}

// The glue as a classic script: the pinned wasm-bindgen writes `export class`, `export
// function` and one closing `export { … }` line; anything else means the pin moved.
let glue = read("pkg/chaudit.js")
  .replace(/^export (class|function|const|let) /gm, "$1 ")
  .replace(/^export \{ initSync, __wbg_init as default \};$/m, "")
  .replaceAll("import.meta.url", "self.location.href");
if (/^\s*(export|import)\b/m.test(glue) || glue.includes("import.meta")) fail("unexpected module syntax left in pkg/chaudit.js");

const workerModule = read("www/worker.js");
const worker = glue + "\n" + replaceOnce(workerModule,
  'import init, { Analyzer, version } from "./pkg/chaudit.js";', "const init = __wbg_init;", "worker import line");

const wasm = readFileSync(join(root, "pkg/chaudit_bg.wasm")).toString("base64");
const css = read("www/style.css");
const app = read("www/app.js");
for (const [name, text] of [["worker", worker], ["app.js", app], ["style.css", css]]) {
  if (/<\/(script|style)/i.test(text)) fail(`${name} contains a closing tag and cannot be inlined`);
}

const sha = (text) => `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
const csp = [
  "default-src 'none'",
  `script-src ${sha(app)} 'wasm-unsafe-eval'`,
  "worker-src blob:",
  `style-src ${sha(css)}`,
  "img-src data:",
  "connect-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

let html = read("www/index.html");
html = html.replace(/<meta http-equiv="Content-Security-Policy" content="[^"]*">/, `<meta http-equiv="Content-Security-Policy" content="${csp}">`);
if (!html.includes(csp)) fail("no CSP meta tag in www/index.html");
html = replaceOnce(html, '<link rel="stylesheet" href="style.css">', `<style>${css}</style>`, "stylesheet link");
html = replaceOnce(html, '<script type="module" src="app.js"></script>',
  `<script type="text/plain" id="worker-src">${worker}</script>\n` +
  `<script type="application/octet-stream" id="wasm-b64">${wasm}</script>\n` +
  `<script type="module">${app}</script>`, "app.js script tag");

mkdirSync(join(root, "dist"), { recursive: true });
writeFileSync(join(root, "dist/chaudit.html"), html);
