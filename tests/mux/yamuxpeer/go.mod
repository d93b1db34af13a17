module github.com/rpcplugin/rpcplugin/tests/mux/yamuxpeer

go 1.24

require github.com/hashicorp/yamux v0.1.2
