/**
 * The start-up rows: handshake and first call of every plugin, as ratios to
 * go-plugin's Go plugin in the same AutoMTLS mode of the same run, and the
 * issue's start-up targets (first call with AutoMTLS ≤ 2.0× Go, plain first
 * call ≤ 3×, the bundle's handshake ≤ 10 ms after an idle `deno run` prints
 * its line).
 *
 * @module
 */

import { type DriverOutput, type DriverResult, ratio, type TargetInfo } from "./_table.ts";

/** The issue's targets, as ratios to the Go plugin's first call. */
const FIRST_CALL_TARGET = { plain: 3.0, automtls: 2.0 } as const;
/** The bundle's handshake over the idle deno run's first line, ms. */
const HANDSHAKE_OVER_IDLE_TARGET_MS = 10;

const fmtMs = (v: number) => v >= 100 ? v.toFixed(0) : v.toFixed(1);

/**
 * Renders the start-up table and the target lines.
 *
 * @param out The driver's output.
 * @param info Labels of the targets; the Go plugin's role is `go`.
 * @param floor bench/fixtures/first_call_floor.js's result (plain), when it ran.
 * @returns Markdown lines.
 */
export function startupRows(
  out: DriverOutput,
  info: Record<string, TargetInfo>,
  floor?: DriverResult,
): string[] {
  const results = out.results ?? [];
  const goOf = (automtls: boolean) =>
    results.find((r) => info[r.target]?.role === "go" && r.automtls === automtls && r.ok);
  const idle = out.references?.find((r) => r.id === "deno-idle" && r.ok)?.ms?.median;
  const tlsFloor = out.references?.find((r) => r.id === "deno-tls-floor" && r.ok)?.ms?.median;
  const lines = [
    "Start-up under go-plugin's Go host (median of the launches; ratios to go-plugin's Go " +
    "plugin in the same mode and run):",
    "",
    "| plugin | engine | AutoMTLS | handshake p50 | first call p50 | first call p90 | spawn → line over the idle deno run |",
    "| --- | --- | --- | --: | --: | --: | --: |",
  ];
  const targets: string[] = [];
  for (const r of results) {
    const about = info[r.target];
    if (!about || about.role === "python") continue;
    const go = goOf(r.automtls);
    const cell = (v: number | undefined, g: number | undefined) =>
      v === undefined
        ? "n/a"
        : `${fmtMs(v)} ms${about.role !== "go" && g ? ` (${ratio(v / g)}× Go)` : ""}`;
    if (!r.ok || !r.startMs || !r.handshakeMs) {
      lines.push(`| ${about.label} | ${about.engine} | ${onOff(r)} | n/a | n/a | n/a | n/a |`);
      continue;
    }
    const fromSpawn = spawnToLine(r) - (idle ?? 0);
    const over = about.role === "deno" && idle !== undefined
      ? `${fromSpawn >= 0 ? "+" : ""}${fromSpawn.toFixed(1)} ms`
      : "";
    lines.push(
      `| ${about.label} | ${about.engine} | ${onOff(r)} | ${
        cell(r.handshakeMs.median, go?.handshakeMs?.median)
      } | ${cell(r.startMs.median, go?.startMs?.median)} | ${
        cell(r.startMs.p90, go?.startMs?.p90)
      } | ${over} |`,
    );
    if (about.role === "deno" && about.engine === "native" && go?.startMs) {
      targets.push(...targetLines(r, about, go, idle));
    }
  }
  if (idle !== undefined) {
    lines.push(
      "",
      `Idle deno run (spawn → first line): ${
        fmtMs(idle)
      } ms, the floor the handshake is measured from. Handshake and first call are timed from ` +
        "go-plugin's client.Start(), which with AutoMTLS first makes the host's certificate " +
        "(for the Go plugin as for ours); the last column is timed from the spawn itself " +
        `(go-plugin's "starting plugin" log line), as the idle deno run is.`,
    );
  }
  if (tlsFloor !== undefined) {
    lines.push(
      `AutoMTLS floor (bench/fixtures/tls_floor.ts: an Ed25519 key, its public key exported ` +
        `and one signature, then a line): ${fmtMs(tlsFloor)} ms${
          idle !== undefined ? `, ${(tlsFloor - idle).toFixed(1)} ms over the idle deno run` : ""
        }; no AutoMTLS plugin on Deno 2.9 can print its handshake sooner.`,
    );
  }
  const goPlain = goOf(false);
  if (floor?.ok && floor.startMs && goPlain?.startMs) {
    const x = floor.startMs.median / goPlain.startMs.median;
    const room = FIRST_CALL_TARGET.plain * goPlain.startMs.median - floor.startMs.median;
    lines.push(
      `Plain first-call floor (bench/fixtures/first_call_floor.js: one JavaScript module that ` +
        `answers the first Get with canned HTTP/2 frames, no gRPC stack): handshake ${
          fmtMs(floor.handshakeMs!.median)
        } ms, first call ${fmtMs(floor.startMs.median)} ms (${ratio(x)}× Go); the ` +
        `${FIRST_CALL_TARGET.plain.toFixed(1)}× target leaves ${
          room.toFixed(1)
        } ms above it for everything a plugin does beyond that.`,
    );
  }
  return [...lines, "", ...targets];
}

function targetLines(
  r: DriverResult,
  about: TargetInfo,
  go: DriverResult,
  idle: number | undefined,
): string[] {
  const lines: string[] = [];
  const limit = r.automtls ? FIRST_CALL_TARGET.automtls : FIRST_CALL_TARGET.plain;
  const x = r.startMs!.median / go.startMs!.median;
  lines.push(
    `Target: ${about.label} (AutoMTLS ${onOff(r)}): first call ${ratio(x)}× Go ` +
      `(target ≤ ${limit.toFixed(1)}×: ${x <= limit ? "met" : "missed"}).`,
  );
  if (about.label.includes("bundle") && idle !== undefined) {
    const over = spawnToLine(r) - idle;
    lines.push(
      `Target: ${about.label} (AutoMTLS ${onOff(r)}): handshake ${over.toFixed(1)} ms after ` +
        `the idle deno run's line, both from the spawn (target ≤ ${HANDSHAKE_OVER_IDLE_TARGET_MS} ms: ${
          over <= HANDSHAKE_OVER_IDLE_TARGET_MS ? "met" : "missed"
        }).`,
    );
  }
  return lines;
}

/**
 * Spawn → handshake line, ms: from the spawn when the driver saw it (go-plugin's
 * "starting plugin" line), else from client.Start() (an older driver's output).
 */
function spawnToLine(r: DriverResult): number {
  return (r.spawnToLineMs ?? r.handshakeMs!).median;
}

function onOff(r: DriverResult): string {
  return r.automtls ? "on" : "off";
}
