"""A go-plugin host on pyvider-rpcplugin's client: the 'pyvider host' of the interop matrix.

Launches a KV plugin (go-plugin's examples/grpc protocol), calls
/proto.KV/Put then /proto.KV/Get, prints the value it got back and exits 0;
on any failure it prints "error: <what>" on stdout and exits 1.

Usage (from the venv that tests/_util/peers.ts pyviderVenv() prepares, with
its pythonPath on PYTHONPATH for the generated kv_pb2 modules):

    python pyvider_host.py [--key K] [--value V] [--plain] [--cookie KEY=VALUE] -- CMD [ARG...]
    KV_PLUGIN="shell command" python pyvider_host.py [options]     (run with sh -c)

What pyvider-rpcplugin 0.5.5's RPCPluginClient does, and so the limits of this host
(read from its installed source: pyvider/rpcplugin/client/{core,handshake,process}.py):

- Environment given to the plugin: this process's whole environment, plus
  PYTHONUNBUFFERED=1, the magic cookie (here BASIC_PLUGIN=hello unless --cookie),
  and PLUGIN_CLIENT_CERT (a fresh self-signed ECDSA client certificate, P-384 by
  default, PYVIDER_CLIENT_CERT_CURVE changes it) unless --plain. It does NOT set
  PLUGIN_PROTOCOL_VERSIONS, PLUGIN_MIN_PORT/PLUGIN_MAX_PORT, PLUGIN_UNIX_SOCKET_DIR
  or PLUGIN_MULTIPLEX_GRPC: a plugin sees them only if they are in this process's
  environment already.
- Handshake line: the first stdout line with at least 5 '|' is taken (earlier
  lines are skipped) and must split into exactly 6 fields: a 5-field line (no
  cert field) is never taken, so it times out; a 7-field line (mux) is a parse
  error. The core version must be 1; the app protocol version and the protocol
  field ('grpc') are not checked. Network must be 'unix' or 'tcp'; the channel
  target is 'unix:<path>' or the 'host:port' as printed.
- TLS: with a server cert in field 6 (the RawStd base64 DER), it re-wraps it as
  PEM, pins it as the only root, sends its own client cert (mTLS) and overrides
  the verified name to 'localhost' (go-plugin's plugin certificate names
  localhost). With --plain (auto-mTLS off) no PLUGIN_CLIENT_CERT is sent and the
  channel is insecure if field 6 is empty (it still uses TLS if the plugin sends
  a cert anyway).
- AutoMTLS does NOT work against Go plugins: go-plugin's certificate has a P-521
  key, and grpcio's BoringSSL does not offer ecdsa_secp521r1_sha512, so the Go
  server answers handshake_failure (grpcio logs "SSLV3_ALERT_HANDSHAKE_FAILURE").
  Use --plain for Go plugins.
- One handshake attempt here (the library's default relaunches the plugin up to
  4 times; we turn that off so failures are deterministic). Channel readiness is
  still retried 3 times by the library, each waiting --timeout seconds, so a
  plugin whose TLS fails costs 3 x --timeout.
- After connecting it opens GRPCStdio.StreamStdio (its errors only log); no
  GRPCBroker, no multiplexing, no health check. On exit: GRPCController.Shutdown,
  a 50 ms pause, then SIGTERM, and SIGKILL 5 s later if still running.
- The plugin's stderr is read but only logged at debug level; pyvider's own log
  lines go to stderr (level from PLUGIN_LOG_LEVEL-like foundation settings).
"""

import argparse
import asyncio
import os
import sys

import grpc
import kv_pb2
import kv_pb2_grpc
from pyvider.rpcplugin.client import RPCPluginClient
from pyvider.rpcplugin.config import rpcplugin_config


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="pyvider-rpcplugin KV host (put, then get)")
    p.add_argument("--key", default="hello")
    p.add_argument("--value", default="world")
    p.add_argument("--plain", action="store_true", help="no auto-mTLS (no PLUGIN_CLIENT_CERT)")
    p.add_argument("--cookie", default="BASIC_PLUGIN=hello", help="magic cookie KEY=VALUE")
    p.add_argument("--timeout", type=float, default=10.0, help="handshake and channel-ready timeout, seconds")
    p.add_argument("command", nargs="*", help="the plugin command (default: sh -c $KV_PLUGIN)")
    return p.parse_args()


async def run(args: argparse.Namespace) -> bytes:
    command = args.command
    if not command:
        line = os.environ.get("KV_PLUGIN")
        if not line:
            raise RuntimeError("no plugin command: pass it after -- or set KV_PLUGIN")
        command = ["sh", "-c", line]
    key, _, value = args.cookie.partition("=")
    rpcplugin_config.plugin_magic_cookie_key = key
    rpcplugin_config.plugin_magic_cookie_value = value
    rpcplugin_config.plugin_auto_mtls = not args.plain
    rpcplugin_config.plugin_client_retry_enabled = False
    rpcplugin_config.plugin_handshake_timeout = args.timeout
    rpcplugin_config.plugin_channel_ready_timeout = args.timeout

    async with RPCPluginClient(command=command) as client:
        stub = kv_pb2_grpc.KVStub(client.grpc_channel)
        await stub.Put(kv_pb2.PutRequest(key=args.key, value=args.value.encode()), timeout=10)
        got = await stub.Get(kv_pb2.GetRequest(key=args.key), timeout=10)
        return got.value


def main() -> int:
    args = parse_args()
    try:
        value = asyncio.run(run(args))
    except grpc.RpcError as err:  # the call failed: its status
        print(f"error: rpc {err.code().name}: {err.details()}", flush=True)
        return 1
    except Exception as err:  # noqa: BLE001 - any failure is the answer
        print(f"error: {type(err).__name__}: {err}", flush=True)
        return 1
    sys.stdout.buffer.write(value + b"\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
