"""The benchmark host on pyvider-rpcplugin's client: bench/driver's phases, with
pyvider's RPCPluginClient (grpcio's aio channel) in place of go-plugin's Go host.

It reads the same JSON configuration as bench/driver and bench/host_driver.ts
(`-config FILE`), runs the same two phases in the same order with the same
counts, and prints the same JSON on stdout (progress on stderr), so
bench/run.ts and bench/_table.ts treat the three hosts alike:

1. start: for each AutoMTLS mode, `launches` rounds; each round launches every
   target once. The clock starts just before `RPCPluginClient.start()` (which,
   with AutoMTLS, first makes the client's certificate, then spawns the plugin,
   reads the handshake line and opens the channel) and stops when the first
   `KV.Get` has answered; the handshake time is when pyvider has parsed the
   handshake line. Then the stop is timed: `shutdown_plugin()`
   (GRPCController.Shutdown and pyvider's fixed 50 ms pause) and `close()`
   (SIGTERM, SIGKILL after 5 s), as pyvider's `async with` exit does it.
2. sessions: for each mode and target, one long-lived plugin: warm-up,
   sequential latency, warm-up and throughput per concurrency level (N asyncio
   tasks sharing the one grpcio channel, as N goroutines share the Go host's
   connection), payload rates.

Run from the bench venv (bench/_setup.ts), with the generated KV stubs on
PYTHONPATH:

    PYTHONPATH=.cache/bench/python-gen .cache/bench/venv/bin/python \\
        bench/python/host_driver.py -config $WORK/host-config.json

What pyvider's client cannot do is reported, never measured as zero (see
tests/interop/pyvider_host.py for what it does and does not):

- AutoMTLS against a go-plugin Go plugin: go-plugin's plugin certificate has a
  P-521 key and grpcio's BoringSSL does not offer ecdsa_secp521r1_sha512, so the
  TLS handshake fails. A target with `"pyviderMtls": false` gets its AutoMTLS
  rows as n/a with that reason (`notApplicable` in the JSON).
- pyvider's channel keeps grpcio's 4 MiB receive limit, so a larger Get fails
  with RESOURCE_EXHAUSTED; the error is recorded like any other call's.
- No plugin RSS (the figures are the same plugin's under every host): 0, as in
  bench/host_driver.ts.
"""

import asyncio
import json
import math
import os
import platform
import signal
import sys
import time

# pyvider logs every stdio stream ending and its own stderr relay's traceback
# on each stop; the rows carry every failure, so keep its log to the critical
# (PROVIDE_LOG_LEVEL=DEBUG in the environment shows it all). Read at import.
os.environ.setdefault("PROVIDE_LOG_LEVEL", "CRITICAL")

import grpc  # noqa: E402
import kv_pb2  # noqa: E402
import kv_pb2_grpc  # noqa: E402
from pyvider.rpcplugin.client import RPCPluginClient  # noqa: E402
from pyvider.rpcplugin.config import rpcplugin_config  # noqa: E402

# go-plugin's examples/grpc handshake (shared.Handshake).
COOKIE_KEY = "BASIC_PLUGIN"
COOKIE_VALUE = "hello"
# The key every plugin directory holds a small value for (plugin.go seedKey).
SEED_KEY = "bench"

P521_REASON = (
    "pyvider-rpcplugin's client cannot use go-plugin's P-521 plugin certificate "
    "(grpcio's BoringSSL offers no ecdsa_secp521r1_sha512: handshake_failure), "
    "so AutoMTLS against go-plugin's Go plugin is impossible"
)


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def first_line(s: str) -> str:
    return s.split("\n")[0]


def error_text(err: BaseException) -> str:
    """grpc-go's spelling of a status error, so the three drivers' notes match."""
    if isinstance(err, grpc.RpcError) and hasattr(err, "code"):
        name = "".join(w.capitalize() for w in err.code().name.split("_"))
        return f"rpc error: code = {name} desc = {err.details()}"
    return f"{type(err).__name__}: {err}"


def percentile(sorted_samples: list[float], p: float) -> float:
    """Nearest rank, as bench/_stats.ts and driver/stats.go compute it."""
    if not sorted_samples:
        return 0.0
    return sorted_samples[max(1, math.ceil(p / 100 * len(sorted_samples))) - 1]


def dist_of(samples: list[float]) -> dict | None:
    if not samples:
        return None
    s = sorted(samples)
    return {
        "n": len(s),
        "median": percentile(s, 50),
        "p90": percentile(s, 90),
        "min": s[0],
        "max": s[-1],
        "samples": list(samples),
    }


def now_ms() -> float:
    return time.perf_counter() * 1000


class TimedClient(RPCPluginClient):
    """pyvider's client, noting when the handshake line has been parsed."""

    handshake_at = math.nan

    async def _perform_handshake(self) -> None:
        await super()._perform_handshake()
        self.handshake_at = now_ms()


def seed_small_value(directory: str) -> None:
    path = os.path.join(directory, f"kv_{SEED_KEY}")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("hello from the bench driver")


class Running:
    """One launched, connected plugin (plugin.go `running`)."""

    def __init__(self, client: TimedClient, call_timeout: float) -> None:
        self.client = client
        self.kv = kv_pb2_grpc.KVStub(client.grpc_channel)
        self.call_timeout = call_timeout
        process = client._process
        self.pid = (process.pid if process else None) or 0
        self.handshake_ms = math.nan
        self.first_call_ms = math.nan

    async def get(self, key: str) -> bytes:
        return (await self.kv.Get(kv_pb2.GetRequest(key=key), timeout=self.call_timeout)).value

    async def put(self, key: str, value: bytes) -> None:
        await self.kv.Put(kv_pb2.PutRequest(key=key, value=value), timeout=self.call_timeout)

    async def stop(self) -> float:
        """pyvider's stop as its `async with` exit does it, timed in ms."""
        began = now_ms()
        try:
            await self.client.shutdown_plugin()
        finally:
            await self.client.close()
        return now_ms() - began


async def start(t: dict, auto_mtls: bool, start_timeout: float, call_timeout: float) -> Running:
    seed_small_value(t["dir"])
    rpcplugin_config.plugin_auto_mtls = auto_mtls
    # pyvider has no working-directory option: the plugin inherits ours.
    os.chdir(t["dir"])
    client = TimedClient(command=list(t["argv"]), config={"env": dict(t.get("env") or {})})
    began = now_ms()
    try:
        await asyncio.wait_for(client.start(), start_timeout)
    except BaseException as err:
        await client.close()
        raise RuntimeError(f"start: {error_text(err)}") from err
    r = Running(client, call_timeout)
    try:
        await r.get(SEED_KEY)
    except Exception as err:
        await r.stop()
        raise RuntimeError(f"first Get: {error_text(err)}") from err
    r.first_call_ms = now_ms() - began
    r.handshake_ms = client.handshake_at - began
    if r.pid == 0:
        await r.stop()
        raise RuntimeError("pyvider reports no pid for the plugin")
    return r


async def measure_throughput(r: Running, n: int, c: int) -> dict:
    state = {"next": 0, "errors": 0, "first": None}

    async def worker() -> None:
        while True:
            state["next"] += 1
            if state["next"] > n:
                return
            try:
                await r.get(SEED_KEY)
            except Exception as err:  # noqa: BLE001 - counted and reported
                state["errors"] += 1
                if state["first"] is None:
                    state["first"] = error_text(err)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(c)))
    seconds = time.perf_counter() - began
    errors = state["errors"]
    out = {"concurrency": c, "calls": n, "errors": errors, "seconds": seconds}
    if state["first"] is not None:
        out["firstError"] = state["first"]
    out["perSecond"] = (n - errors) / seconds if errors < n else 0
    return out


async def warm(r: Running, n: int, c: int) -> None:
    if n > 0:
        await measure_throughput(r, n, c)


async def measure_latency(r: Running, n: int) -> dict | None:
    if n <= 0:
        return None
    lat = {"calls": n, "errors": 0, "p50us": 0, "p90us": 0, "p99us": 0, "meanUs": 0, "maxUs": 0}
    samples: list[float] = []
    for _ in range(n):
        began = time.perf_counter()
        try:
            await r.get(SEED_KEY)
        except Exception as err:  # noqa: BLE001 - counted and reported
            lat["errors"] += 1
            lat.setdefault("firstError", error_text(err))
            continue
        samples.append((time.perf_counter() - began) * 1e6)
    if samples:
        s = sorted(samples)
        lat.update(
            p50us=percentile(s, 50),
            p90us=percentile(s, 90),
            p99us=percentile(s, 99),
            maxUs=s[-1],
            meanUs=sum(s) / len(s),
        )
    return lat


def rate(size: int, seconds: list[float]) -> float:
    med = percentile(sorted(seconds), 50)
    return size / med / 1e6 if med > 0 else 0


async def measure_payload(r: Running, directory: str, size: int, reps: int) -> dict:
    p: dict = {"bytes": size}
    value = os.urandom(size)
    key = f"payload{size}"
    path = os.path.join(directory, f"kv_{key}")
    puts: list[float] = []
    for _ in range(reps):
        began = time.perf_counter()
        try:
            await r.put(key, value)
        except Exception as err:  # noqa: BLE001 - reported
            p["putError"] = error_text(err)
            break
        puts.append(time.perf_counter() - began)
    if "putError" not in p:
        p["putMBps"] = rate(size, puts)
    else:
        # Let Get be measured anyway, on a file of the same size.
        try:
            with open(path, "wb") as f:
                f.write(value)
        except OSError as err:
            p["getError"] = f"seeding the value file: {err}"
            return p
        p["seeded"] = True
    gets: list[float] = []
    got = 0
    for _ in range(reps):
        began = time.perf_counter()
        try:
            got = len(await r.get(key))
        except Exception as err:  # noqa: BLE001 - reported
            p["getError"] = error_text(err)
            break
        gets.append(time.perf_counter() - began)
    if "getError" not in p:
        if got < size:
            p["getError"] = f"Get returned {got} bytes, fewer than the {size} stored"
        else:
            p["getMBps"] = rate(got, gets)
    try:
        os.remove(path)
    except OSError:
        pass
    return p


def size_name(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n >> 10} KiB"


def rate_or_err(mbps: float | None, err: str | None) -> str:
    return f"FAILED ({first_line(err)})" if err is not None else f"{mbps or 0:.0f} MB/s"


async def run_session(cfg: dict, t: dict, mode: bool, start_timeout: float, call_timeout: float) -> dict:
    r = await start(t, mode, start_timeout, call_timeout)
    try:
        s: dict = {"rssStartKB": 0, "rssAfterThroughputKB": 0, "peakRssKB": 0}
        await warm(r, cfg["warmupCalls"], 1)
        lat = await measure_latency(r, cfg["latencyCalls"])
        if lat:
            s["latency"] = lat
            progress(
                f"latency: {lat['calls']} calls, p50 {lat['p50us']:.0f} µs, "
                f"p99 {lat['p99us']:.0f} µs, {lat['errors']} errors"
            )
        for c in cfg["concurrency"]:
            await warm(r, cfg["warmupCalls"], c)
            tp = await measure_throughput(r, cfg["throughputCalls"], c)
            s.setdefault("throughput", []).append(tp)
            progress(
                f"throughput: concurrency {c:>2}: {tp['perSecond']:>8.0f} calls/s "
                f"({tp['calls']} calls, {tp['errors']} errors)"
            )
        for size in cfg["payloads"]:
            p = await measure_payload(r, t["dir"], size, cfg["payloadReps"])
            s.setdefault("payload", []).append(p)
            progress(
                f"payload {size_name(size)}: Put {rate_or_err(p.get('putMBps'), p.get('putError'))}, "
                f"Get {rate_or_err(p.get('getMBps'), p.get('getError'))}"
            )
        return s
    finally:
        await r.stop()


def on_off(mode: bool) -> str:
    return "on" if mode else "off"


async def run(cfg: dict) -> list[dict]:
    start_timeout = cfg["startTimeoutSec"]
    call_timeout = cfg["callTimeoutSec"]
    results: list[dict] = []
    by_key: dict[tuple[str, bool], dict] = {}
    starts: dict[tuple[str, bool], list[float]] = {}
    handshakes: dict[tuple[str, bool], list[float]] = {}
    stops: dict[tuple[str, bool], list[float]] = {}
    for mode in cfg["automtls"]:
        for t in cfg["targets"]:
            r = {"target": t["id"], "automtls": mode, "ok": True}
            if mode and t.get("pyviderMtls") is False:
                r.update(ok=False, notApplicable=True, error=P521_REASON)
            by_key[(t["id"], mode)] = r
            results.append(r)

    # Phase 1: start-up, round robin.
    for mode in cfg["automtls"]:
        print(f"== start: {cfg['launches']} launches per plugin, AutoMTLS {on_off(mode)}", file=sys.stderr)
        for i in range(1, cfg["launches"] + 1):
            for t in cfg["targets"]:
                k = (t["id"], mode)
                r = by_key[k]
                if not r["ok"]:
                    continue
                tag = f"[{i}/{cfg['launches']}] {t['id']:<24} AutoMTLS {on_off(mode):<3}"
                try:
                    l = await start(t, mode, start_timeout, call_timeout)
                except Exception as err:  # noqa: BLE001 - the row's reason
                    r.update(ok=False, error=str(err))
                    progress(f"{tag} FAILED: {first_line(r['error'])}")
                    continue
                r["exe"] = os.path.basename(t["argv"][0])
                stop_ms = await l.stop()
                for m, v in ((starts, l.first_call_ms), (handshakes, l.handshake_ms), (stops, stop_ms)):
                    if math.isfinite(v):
                        m.setdefault(k, []).append(v)
                progress(
                    f"{tag} start {l.first_call_ms:7.1f} ms (handshake {l.handshake_ms:7.1f})"
                    f"  stop {stop_ms:6.1f} ms"
                )
    for k, r in by_key.items():
        for name, m in (("startMs", starts), ("handshakeMs", handshakes), ("stopMs", stops)):
            d = dist_of(m.get(k, []))
            if d:
                r[name] = d

    # Phase 2: one long-lived plugin per target and mode.
    for mode in cfg["automtls"]:
        for t in cfg["targets"]:
            r = by_key[(t["id"], mode)]
            if not r["ok"]:
                continue
            print(f"== session: {t['id']}, AutoMTLS {on_off(mode)}", file=sys.stderr)
            try:
                r["session"] = await run_session(cfg, t, mode, start_timeout, call_timeout)
            except Exception as err:  # noqa: BLE001 - the row's reason
                r.update(ok=False, error=str(err))
                progress(f"FAILED: {first_line(r['error'])}")
    return results


def read_config(path: str) -> dict:
    with open(path) as f:
        cfg = json.load(f)
    if not cfg.get("targets"):
        raise ValueError("the configuration has no targets")
    if cfg.get("references"):
        raise ValueError("references are timed by the Go driver only; give this driver none")
    for t in cfg["targets"]:
        if not t.get("id") or not t.get("argv") or not t.get("dir"):
            raise ValueError(f"target \"{t.get('id')}\" needs id, argv and dir")
        t["dir"] = os.path.abspath(t["dir"])
    return {
        "targets": cfg["targets"],
        "references": [],
        "automtls": cfg.get("automtls") or [False],
        "launches": max(1, cfg.get("launches") or 1),
        "warmupCalls": cfg.get("warmupCalls") or 0,
        "latencyCalls": cfg.get("latencyCalls") or 0,
        "throughputCalls": cfg.get("throughputCalls") or 0,
        "concurrency": cfg.get("concurrency") or [],
        "payloads": cfg.get("payloads") or [],
        "payloadReps": max(1, cfg.get("payloadReps") or 1),
        "startTimeoutSec": cfg["startTimeoutSec"] if (cfg.get("startTimeoutSec") or 0) >= 1 else 60,
        "callTimeoutSec": cfg["callTimeoutSec"] if (cfg.get("callTimeoutSec") or 0) >= 1 else 60,
    }


def configure_pyvider() -> None:
    rpcplugin_config.plugin_magic_cookie_key = COOKIE_KEY
    rpcplugin_config.plugin_magic_cookie_value = COOKIE_VALUE
    # One handshake attempt: a failure is the row's reason, not a relaunch.
    rpcplugin_config.plugin_client_retry_enabled = False


def main() -> int:
    args = sys.argv[1:]
    if len(args) != 2 or args[0] != "-config":
        print("usage: host_driver.py -config FILE", file=sys.stderr)
        return 2
    try:
        cfg = read_config(args[1])
    except (OSError, ValueError) as err:
        print(f"host_driver.py: {err}", file=sys.stderr)
        return 2
    configure_pyvider()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    began = time.perf_counter()
    results = asyncio.run(run(cfg))
    out = {
        "host": {
            "goVersion": "",
            "goPlugin": "",
            "grpcGo": "",
            "python": f"Python {platform.python_version()}",
            "grpcio": grpc.__version__,
            "cpus": os.cpu_count() or 0,
            "cpuModel": "",
            "memTotalKB": 0,
            "kernel": "",
        },
        "results": results,
        "references": [],
        "seconds": time.perf_counter() - began,
        "config": cfg,
    }
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
