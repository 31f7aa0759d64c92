// chaudit page worker: streams each File through the wasm Analyzer, chunk by chunk, so a
// multi-GB export never sits whole in memory and the page thread stays free. No detection
// logic here: it only moves bytes in and the library's JSON report out.
//
// Protocol (one worker per run; the page cancels by terminating it):
//   in : {type: "start", config, files: File[], wasm?: Uint8Array}
//   out: {type: "ready", version} · {type: "progress", file, name, done, total, bytes, totalBytes}
//        {type: "done", json, seconds, memory} · {type: "error", message}
// After "done" the worker keeps the finished analysis, so the page can export it in any of
// the CLI's formats (rendered by the library, exactly as `chaudit scan --format FORMAT`):
//   in : {type: "render", id, format, minLevel?}
//   out: {type: "rendered", id, format, text} · {type: "render-error", id, message}
import init, { Analyzer, version } from "./pkg/chaudit.js";

const PROGRESS_EVERY_MS = 100;
// Bytes of each file's head read to tell its kind of log: the library's HEAD_BYTES.
const HEAD_BYTES = 64 * 1024;

let report = null; // the finished scan (a wasm Report), kept for exports

function render(msg) {
  try {
    if (!report) throw new Error("no finished scan to export");
    const text = report.render(msg.format, msg.minLevel ?? undefined);
    self.postMessage({ type: "rendered", id: msg.id, format: msg.format, text });
  } catch (e) {
    self.postMessage({ type: "render-error", id: msg.id, message: String(e && e.message ? e.message : e) });
  }
}

self.onmessage = async (ev) => {
  const msg = ev.data;
  if (msg.type === "render") return render(msg);
  if (msg.type !== "start") return;
  try {
    const wasm = await init(msg.wasm ? { module_or_path: msg.wasm } : undefined);
    self.postMessage({ type: "ready", version: version() });
    const analyzer = new Analyzer(msg.config ?? {});
    // Files all of one kind need no joins across kinds: the scan then holds nothing back.
    const heads = await Promise.all(msg.files.map((f) => f.slice(0, HEAD_BYTES).arrayBuffer()));
    analyzer.setJoinsFor(heads.map((b) => new Uint8Array(b)));
    const totalBytes = msg.files.reduce((n, f) => n + f.size, 0);
    const t0 = performance.now();
    let bytes = 0;
    let last = 0;
    for (let i = 0; i < msg.files.length; i++) {
      const file = msg.files[i];
      analyzer.beginFile(file.name);
      const reader = file.stream().getReader();
      let done = 0;
      for (;;) {
        const { value, done: end } = await reader.read();
        if (end) break;
        analyzer.feed(value);
        done += value.length;
        bytes += value.length;
        const now = performance.now();
        if (now - last >= PROGRESS_EVERY_MS) {
          last = now;
          self.postMessage({ type: "progress", file: i, name: file.name, done, total: file.size, bytes, totalBytes });
        }
      }
      analyzer.endFile();
    }
    report = analyzer.finishReport();
    analyzer.free();
    const json = report.render("json");
    self.postMessage({ type: "progress", file: msg.files.length - 1, name: "", done: 0, total: 0, bytes, totalBytes });
    // Linear memory only grows, so its size now is the run's peak: the streaming claim, measured.
    const memory = wasm.memory.buffer.byteLength;
    self.postMessage({ type: "done", json, seconds: (performance.now() - t0) / 1000, memory });
  } catch (e) {
    self.postMessage({ type: "error", message: String(e && e.message ? e.message : e) });
  }
};
