// Generates a large TSVWithNames query_log export by repeating a real fixture with
// perturbations: each repetition shifts every time column by one more minute, and every 256th repetition
// moves the external client to a new address, so windows, clients and findings keep growing
// the way a long real log would (about 1,000 repetitions per 170 MiB). Streams to disk; never holds the
// output in memory.
//
//   node scripts/gen-query-log.mjs OUT.tsv SIZE_MB [FIXTURE]
import { createWriteStream, readFileSync } from "node:fs";
import { once } from "node:events";

const [out, sizeMb = "100", fixture = new URL("../fixtures/query_log/26.9/incident.TSVWithNames.tsv", import.meta.url).pathname] =
  process.argv.slice(2);
if (!out) {
  console.error("usage: gen-query-log.mjs OUT.tsv SIZE_MB [FIXTURE.TSVWithNames.tsv]");
  process.exit(2);
}
const target = Number(sizeMb) * 1024 * 1024;
const lines = readFileSync(fixture, "utf8").split("\n");
const header = lines[0];
const cols = header.split("\t");
const rows = lines.slice(1).filter((l) => l.length).map((l) => l.split("\t"));
const TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?$/;
const DATE = /^\d{4}-\d\d-\d\d$/;
const ADDR = new Set(["address", "initial_address", "client_address", "connection_address"]);

function shift(value, minutes) {
  if (TIME.test(value)) {
    const [base, frac] = value.split(".");
    const t = new Date(Date.parse(`${base.replace(" ", "T")}Z`) + minutes * 60_000).toISOString();
    return `${t.slice(0, 10)} ${t.slice(11, 19)}${frac ? `.${frac}` : ""}`;
  }
  if (DATE.test(value)) {
    return new Date(Date.parse(`${value}T00:00:00Z`) + minutes * 60_000).toISOString().slice(0, 10);
  }
  return value;
}

function move(addr, rep) {
  // The external 198.51.100.x client becomes 198.51.100.(rep / 256 % 256); internal ones stay.
  const m = /^(::ffff:)?198\.51\.100\.(\d+)$/.exec(addr);
  return m ? `${m[1] ?? ""}198.51.100.${Math.floor(rep / 256) % 256}` : addr;
}

const stream = createWriteStream(out);
let written = 0;
const put = async (s) => {
  written += Buffer.byteLength(s);
  if (!stream.write(s)) await once(stream, "drain");
};
await put(`${header}\n`);
for (let rep = 0; written < target; rep++) {
  let chunk = "";
  for (const row of rows) {
    chunk += row.map((v, i) => (ADDR.has(cols[i]) ? move(v, rep) : shift(v, rep))).join("\t") + "\n";
  }
  await put(chunk);
}
stream.end();
await once(stream, "finish");
console.log(`${out}: ${(written / 1048576).toFixed(1)} MiB`);
