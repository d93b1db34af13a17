/**
 * h2spec (github.com/summerwind/h2spec, pinned in peers.ts) against our
 * native engine: the KV fixture plugin on a TCP listener, h2c, launched by
 * our host. Both runs (normal, and strict with `-S`) must fail exactly the
 * cases in {@linkcode ALLOWED_FAILURES}: each is an artefact of a gRPC server
 * answering h2spec's `GET /` (or a `POST /` without a gRPC content type) at
 * once with 405 (or 415) and no body. A case that starts passing must leave
 * the list too.
 *
 * Runs on the native engine only (`RPCPLUGIN_TEST_ENGINE=grpc-js` skips it):
 * it tests our HTTP/2 core, which grpc-js does not use.
 */

import { launch } from "../../host/mod.ts";
import { createLogger } from "../../log/logger.ts";
import { h2spec } from "../_util/peers.ts";
import { DENO, pluginFlags, ROOT } from "../_util/plugin.ts";
import { assert, withTempDir } from "../_util/host.ts";
import { TEST_ENGINE } from "../_util/fixture.ts";

/**
 * The h2spec cases (`<spec>/<section>/<number>`, as h2spec numbers them)
 * that fail for a reason that is not a protocol violation of ours.
 */
const ALLOWED_FAILURES: Record<string, string> = {
  // Both send WINDOW_UPDATE (or PRIORITY) after `GET /` with END_STREAM and
  // expect a DATA frame of the response body: ours is a bodiless 405.
  "generic/2/2": "expects a response body; gRPC answers GET with a bodiless 405",
  "generic/2/3": "expects a response body; gRPC answers GET with a bodiless 405",
  // It opens MAX_CONCURRENT_STREAMS + 1 streams, but each is answered (405,
  // END_STREAM) and closed before the next arrives, so none is over the limit.
  "http2/5.1.2/1": "every GET is answered and closed at once, so the limit is never reached",
  // `GET /` without END_STREAM is answered 405 and ended with RST_STREAM
  // NO_ERROR (RFC 9113 8.1) before the WINDOW_UPDATEs arrive; frames after
  // our RST_STREAM must be ignored (RFC 9113 5.1), so the overflow is moot.
  "http2/6.9.1/3": "the stream is answered (405) and reset with NO_ERROR before the overflow",
  // `POST /` without a gRPC content type is answered 415 and ended with
  // RST_STREAM NO_ERROR before its body and trailers arrive: what follows
  // (a bad second HEADERS, a pseudo-header in trailers, DATA that does not
  // match content-length) comes after our RST_STREAM and must be ignored.
  "http2/8.1/1": "the second HEADERS comes after our 415 and RST_STREAM NO_ERROR",
  "http2/8.1.2.1/3": "the trailers come after our 415 and RST_STREAM NO_ERROR",
  "http2/8.1.2.6/1": "the DATA comes after our 415 and RST_STREAM NO_ERROR",
  "http2/8.1.2.6/2": "the DATA comes after our 415 and RST_STREAM NO_ERROR",
};

const KV_HANDSHAKE = {
  magicCookieKey: "BASIC_PLUGIN",
  magicCookieValue: "hello",
  protocolVersion: 1,
} as const;

interface Report {
  /** Every case id, in order. */
  cases: string[];
  /** Failed case ids with h2spec's description and what it expected. */
  failed: Map<string, string>;
  skipped: string[];
}

function unescapeXml(text: string): string {
  return text.replace(/&(#\d+|#x[0-9a-f]+|lt|gt|amp|quot|apos);/gi, (_, e: string) => {
    if (e[0] === "#") {
      return String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
    }
    return { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" }[e.toLowerCase()]!;
  });
}

/**
 * Reads h2spec's JUnit report: one testsuite per section (`package`, e.g.
 * `http2/6.9.1`), its testcases in h2spec's order, numbered from 1.
 */
function parseReport(xml: string): Report {
  const report: Report = { cases: [], failed: new Map(), skipped: [] };
  const counts = new Map<string, number>();
  const re = /<testcase package="([^"]+)" classname="([^"]*)"[^>]*>([\s\S]*?)<\/testcase>/g;
  for (const [, pkg, name, body] of xml.matchAll(re)) {
    const n = (counts.get(pkg) ?? 0) + 1;
    counts.set(pkg, n);
    const id = `${pkg}/${n}`;
    report.cases.push(id);
    const error = /<(error|failure)[^>]*>([\s\S]*?)<\/\1>/.exec(body);
    if (error) {
      report.failed.set(id, `${unescapeXml(name)}: expected ${unescapeXml(error[2]).trim()}`);
    } else if (body.includes("<skipped")) report.skipped.push(id);
  }
  return report;
}

async function runH2spec(bin: string, port: string, dir: string, strict: boolean): Promise<Report> {
  const xml = `${dir}/h2spec${strict ? "-strict" : ""}.xml`;
  const res = await new Deno.Command(bin, {
    args: ["-h", "127.0.0.1", "-p", port, "-j", xml, ...(strict ? ["-S"] : [])],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(res.stdout);
  // h2spec exits 1 when any case fails; a report is what counts.
  let report: Report;
  try {
    report = parseReport(await Deno.readTextFile(xml));
  } catch (err) {
    throw new Error(`h2spec wrote no report (exit ${res.code}): ${err}\n${text}`);
  }
  assert(report.cases.length >= 145, `h2spec ran ${report.cases.length} cases:\n${text}`);
  return report;
}

Deno.test({
  name: "h2spec: the native engine fails only the cases gRPC's 405/415 answers explain",
  ignore: TEST_ENGINE !== "native",
  async fn() {
    const bin = await h2spec();
    await withTempDir(async (dir) => {
      const lines: string[] = [];
      const plugin = await launch({
        logger: createLogger({ level: "trace", write: (l) => lines.push(l) }),
        cmd: [
          DENO,
          "run",
          ...pluginFlags([dir, Deno.env.get("TMPDIR") ?? "/tmp"]),
          ROOT + "tests/fixtures/plugin.ts",
          "--transport=tcp",
        ],
        cwd: dir,
        autoMtls: false,
        handshake: KV_HANDSHAKE,
      });
      try {
        assert(plugin.network === "tcp", `the plugin listens on ${plugin.network}`);
        const port = plugin.address.slice(plugin.address.lastIndexOf(":") + 1);
        const [normal, strict] = await Promise.all([
          runH2spec(bin, port, dir, false),
          runH2spec(bin, port, dir, true),
        ]);
        for (const [mode, report] of [["normal", normal], ["strict (-S)", strict]] as const) {
          const unexpected = [...report.failed].filter(([id]) => !(id in ALLOWED_FAILURES));
          const fixed = Object.keys(ALLOWED_FAILURES).filter((id) => !report.failed.has(id));
          assert(
            unexpected.length === 0 && fixed.length === 0,
            `h2spec ${mode}: ${report.cases.length} cases, ${report.failed.size} failed, ` +
              `${report.skipped.length} skipped\n` +
              (unexpected.length
                ? `failed, not allowed:\n${
                  unexpected.map(([id, why]) => `  ${id} ${why}`).join("\n")
                }\n`
                : "") +
              (fixed.length ? `allowed but passed (remove them): ${fixed.join(", ")}\n` : ""),
          );
        }
        // The plugin is still healthy after all that, and said what it refused.
        await plugin.ping();
        const refusals = lines.filter((l) => l.includes("refused a peer's HTTP/2 behaviour"));
        assert(
          refusals.some((l) => l.includes('"@level":"warn"') && l.includes("connection-error")),
          `no WARN refusal in the plugin's log:\n${lines.slice(0, 20).join("\n")}`,
        );
      } finally {
        await plugin.kill();
      }
    });
  },
});
