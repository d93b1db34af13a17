/**
 * What a module costs Deno before a program's first line, measured on
 * synthetic module graphs (bench/README.md, "Start-up", eighth round): spawn →
 * the first stdout line of `deno run --no-config` on each generated entry
 * point, launched round robin, medians and the difference to an entry that
 * imports nothing. The graphs are written to a temporary directory (removed
 * afterwards) and each is run once before the timed rounds, so Deno's caches
 * (emits, dependency analysis, V8 code cache) are warm, as in a plugin's
 * every launch after the first.
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run bench/module_cost.ts [--launches=31]
 * ```
 *
 * @module
 */

const MODULES = 90;
const DOC_BYTES = 6000;
const LAZY_FUNCTIONS = 150;
const DENO = Deno.execPath();

/** One generated program: its label and the entry point's file name. */
interface Probe {
  label: string;
  entry: string;
}

const launchesArg = Deno.args.find((a) => a.startsWith("--launches="));
const launches = launchesArg ? Number(launchesArg.slice("--launches=".length)) : 31;
if (!Number.isInteger(launches) || launches < 3) {
  throw new Error(`--launches must be an integer of at least 3, got "${launchesArg}"`);
}

const dir = await Deno.makeTempDir({ prefix: "rpcplugin-module-cost-" });
try {
  const probes = await writeProbes(dir);
  for (const p of probes) await firstLine(`${dir}/${p.entry}`); // warm the caches
  const times = new Map<string, number[]>(probes.map((p) => [p.label, []]));
  for (let round = 0; round < launches; round++) {
    const order = round % 2 ? [...probes].reverse() : probes;
    for (const p of order) times.get(p.label)!.push(await firstLine(`${dir}/${p.entry}`));
  }
  const base = median(times.get(probes[0].label)!);
  console.log(
    `spawn → first line, ${launches} launches each, ms (p50 / p25 / over "${probes[0].label}")`,
  );
  for (const p of probes) {
    const t = [...times.get(p.label)!].sort((a, b) => a - b);
    const p50 = median(t);
    const p25 = t[Math.floor(t.length / 4)];
    console.log(
      `${p.label.padEnd(72)} ${p50.toFixed(1).padStart(6)} ${p25.toFixed(1).padStart(6)} ${
        (p50 - base >= 0 ? "+" : "") + (p50 - base).toFixed(1)
      }`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}

/** Writes every probe's modules and entry point; returns them, the empty one first. */
async function writeProbes(root: string): Promise<Probe[]> {
  const probes: Probe[] = [];
  const add = async (label: string, name: string, files: Record<string, string>) => {
    await Deno.mkdir(`${root}/${name}`);
    for (const [file, text] of Object.entries(files)) {
      await Deno.writeTextFile(`${root}/${name}/${file}`, text);
    }
    probes.push({ label, entry: `${name}/entry.ts` });
  };
  const ready = 'console.log("ready");\nsetTimeout(() => {}, 60_000);\n';
  await add("nothing imported", "empty", { "entry.ts": ready });
  const graphs: [string, string, (i: number) => number[], boolean][] = [
    [`${MODULES} modules, all imported by the entry point`, "fan", () => [], false],
    [
      `${MODULES} modules imported by the entry point, a ${DOC_BYTES / 1000} KB doc comment each`,
      "fan_doc",
      () => [],
      true,
    ],
    [`${MODULES} modules, each importing the next 8`, "dag", next8, false],
    [
      `${MODULES} modules importing the next 8, a ${DOC_BYTES / 1000} KB doc comment each`,
      "dag_doc",
      next8,
      true,
    ],
  ];
  for (const [label, name, edges, doc] of graphs) {
    for (const ext of ["ts", "js"]) {
      const files: Record<string, string> = {};
      for (let i = 0; i < MODULES; i++) files[`m${i}.${ext}`] = moduleText(i, edges(i), doc, ext);
      files["entry.ts"] = (name.startsWith("fan")
        ? Array.from({ length: MODULES }, (_, i) =>
          `import "./m${i}.${ext}";\n`).join("")
        : `import "./m0.${ext}";\n`) + ready;
      await add(`${label} (.${ext})`, `${name}_${ext}`, files);
    }
  }
  const functions = Array.from({ length: LAZY_FUNCTIONS }, (_, i) => lazyFunction(i)).join("");
  const names = Array.from({ length: LAZY_FUNCTIONS }, (_, i) => `f${i}`);
  await add(`${LAZY_FUNCTIONS} functions (73 KB), not called`, "lazy_idle", {
    "fns.ts": functions,
    "entry.ts": `import "./fns.ts";\n` + ready,
  });
  await add(`${LAZY_FUNCTIONS} functions (73 KB), each called once at start-up`, "lazy_called", {
    "fns.ts": functions,
    "entry.ts": `import { ${names.join(", ")} } from "./fns.ts";\nlet t = 0;\n` +
      names.map((n) => `t += ${n}(3);\n`).join("") + `if (t < 0) throw new Error("never");\n` +
      ready,
  });
  return probes;
}

/** Module `i`: a function calling the ones it imports, optionally under a doc comment. */
function moduleText(i: number, imports: number[], doc: boolean, ext: string): string {
  const types = ext === "ts";
  const head = imports.map((j) => `import { f${j} } from "./m${j}.${ext}";\n`).join("");
  const docs = doc
    ? "/**\n" +
      " * Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n"
        .repeat(DOC_BYTES / 80) +
      " */\n"
    : "";
  const calls = imports.map((j) => `f${j}(x)`).join(" + ") || "0";
  const sig = types ? `f${i}(x: number): number` : `f${i}(x)`;
  return `${head}${docs}export function ${sig} {\n  return x > 100 ? ${calls} : x;\n}\n`;
}

/** About 500 bytes of ordinary code. */
function lazyFunction(i: number): string {
  return `export function f${i}(x: number): number {
  const out: number[] = [];
  for (let k = 0; k < (x % 3) + 1; k++) {
    const v = (x * ${i} + k) ^ 0x5bd1e995;
    if (v % 7 === 0) out.push(v >>> 1);
    else if (v % 5 === 0) out.push(v << 2);
    else out.push(v & 0xffff);
    const s = \`item-\${v}-${i}\`;
    if (s.length > 40) throw new Error("unexpected " + s);
  }
  const m = new Map<number, string>();
  for (const v of out) m.set(v, String(v));
  return out.reduce((a, b) => a + b, 0) + m.size;
}
`;
}

/** Modules i+1 .. i+8 (those that exist). */
function next8(i: number): number[] {
  return Array.from({ length: 8 }, (_, k) => i + 1 + k).filter((j) => j < MODULES);
}

/** Spawns `deno run --no-config <entry>` and returns the ms until its first stdout bytes. */
async function firstLine(entry: string): Promise<number> {
  const start = performance.now();
  const child = new Deno.Command(DENO, {
    args: ["run", "--no-config", "--no-prompt", entry],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { done } = await reader.read();
  const ms = performance.now() - start;
  reader.releaseLock();
  child.kill("SIGKILL");
  await child.stdout.cancel();
  const status = await child.status;
  if (done && !status.success) throw new Error(`${entry} failed before its first line`);
  return ms;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
