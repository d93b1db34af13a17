"""The KV plugin of go-plugin's examples/grpc, on pyvider-rpcplugin.

Wire-compatible with go-plugin's KV example (cookie BASIC_PLUGIN=hello,
protocol version 1, service proto.KV): Put writes the file kv_<key> in the
current directory, Get returns that file's bytes. It listens on a unix socket
unless PLUGIN_SERVER_TRANSPORTS (pyvider's own variable, comma-separated:
unix, tcp) is set; pyvider prefers unix when both are listed. The benchmarks
(bench/run.ts) launch it from a venv they create under .cache/ with
pyvider-rpcplugin pinned (bench/python/requirements.txt).

The modules kv_pb2 and kv_pb2_grpc are generated from examples/kv/proto/kv.proto
with grpcio-tools when the benchmarks run (never committed): their directory
must be on PYTHONPATH.
"""

import asyncio
import os
from pathlib import Path

import grpc
import kv_pb2
import kv_pb2_grpc
from pyvider.rpcplugin import RPCPluginProtocol, RPCPluginServer

SERVICE = "proto.KV"
SUFFIX = b"\n\nWritten from plugin-python-pyvider"


class KV(kv_pb2_grpc.KVServicer):
    """The KV service on files, as the Go and Deno examples do it."""

    async def Get(self, request, context):
        try:
            data = Path(f"kv_{request.key}").read_bytes()
        except FileNotFoundError:
            await context.abort(grpc.StatusCode.NOT_FOUND, f'no value stored for key "{request.key}"')
        return kv_pb2.GetResponse(value=data)

    async def Put(self, request, context):
        Path(f"kv_{request.key}").write_bytes(request.value + SUFFIX)
        return kv_pb2.Empty()


class KVProtocol(RPCPluginProtocol):
    """Tells pyvider which service we register and at which protocol version."""

    service_name = SERVICE
    protocol_version = 1

    async def get_grpc_descriptors(self):
        return kv_pb2.DESCRIPTOR, SERVICE

    async def add_to_server(self, server, handler):
        kv_pb2_grpc.add_KVServicer_to_server(handler, server)


async def main() -> None:
    config = {
        "PLUGIN_MAGIC_COOKIE_KEY": "BASIC_PLUGIN",
        "PLUGIN_MAGIC_COOKIE_VALUE": "hello",
    }
    # An instance setting wins over the environment: set it only when the
    # environment does not choose.
    if not os.environ.get("PLUGIN_SERVER_TRANSPORTS"):
        config["PLUGIN_SERVER_TRANSPORTS"] = ["unix"]
    server = RPCPluginServer(protocol=KVProtocol(), handler=KV(), config=config)
    await server.serve()


if __name__ == "__main__":
    asyncio.run(main())
