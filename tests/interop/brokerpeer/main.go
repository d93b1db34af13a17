// Command brokerpeer is a go-plugin v1.8 program of ours for the broker's
// "other direction": the plugin serves a service through the broker and the
// host dials it. It uses the protocol of go-plugin's examples/bidirectional
// (package proto: Counter, AddHelper).
//
//	brokerpeer plugin
//	    a plugin whose Counter.Get answers with a broker id on which it
//	    serves AddHelper (Sum = a+b); Counter.Put dials the id in add_server
//	    and calls Sum(0, value) there, answering with nothing (the result is
//	    logged), as the bidirectional example's plugin does. Counter.Get("!status")
//	    fails instead: FAILED_PRECONDITION "not ready" with a google.rpc.ErrorInfo
//	    detail (reason COLD, domain brokerpeer.test, metadata k=v) and the
//	    trailers x-why: "warming up" and x-why-bin: 00 01 ff. Counter.Get
//	    with key "!flood N" announces N broker ids one after the other
//	    (plain mode, without TLS), each serving AddHelper, none dialled
//	    yet, and answers with the last.
//	brokerpeer host -cmd "<plugin command>" [-automtls] [-mux] [-op get|put]
//	    a host that launches the plugin and, with -op get (the default), calls
//	    Counter.Get("!serve"), dials the id it got back and calls
//	    AddHelper.Sum(2, 3), printing the sum; with -op put, serves AddHelper
//	    (a+b) through the broker and calls Counter.Put{add_server, "hello", 1}
//	    twice, then prints Counter.Get("hello"). It exits 0, or prints
//	    "error: ..." and exits 1, and kills the plugin either way.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/bidirectional/proto"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "BASIC_PLUGIN",
	MagicCookieValue: "hello",
}

// counterPlugin is the go-plugin glue of the Counter service, for both sides.
type counterPlugin struct {
	plugin.Plugin
}

func (counterPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	proto.RegisterCounterServer(s, &counterServer{broker: broker})
	return nil
}

func (counterPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &counterClient{broker: broker, client: proto.NewCounterClient(c)}, nil
}

type adder struct {
	proto.UnimplementedAddHelperServer
}

func (adder) Sum(_ context.Context, req *proto.SumRequest) (*proto.SumResponse, error) {
	return &proto.SumResponse{R: req.A + req.B}, nil
}

type counterServer struct {
	proto.UnimplementedCounterServer
	broker *plugin.GRPCBroker
}

// Get serves AddHelper on a new broker id and answers with that id; for the
// key "!status", it fails with a status that has details and trailers; for
// "!flood N", it announces N ids.
func (s *counterServer) Get(ctx context.Context, req *proto.GetRequest) (*proto.GetResponse, error) {
	if n, ok := strings.CutPrefix(req.Key, "!flood "); ok {
		return s.flood(n)
	}
	if req.Key == "!status" {
		if err := grpc.SetTrailer(ctx, metadata.Pairs("x-why", "warming up", "x-why-bin", "\x00\x01\xff")); err != nil {
			return nil, err
		}
		st, err := status.New(codes.FailedPrecondition, "not ready").WithDetails(&errdetails.ErrorInfo{
			Reason: "COLD", Domain: "brokerpeer.test", Metadata: map[string]string{"k": "v"},
		})
		if err != nil {
			return nil, err
		}
		return nil, st.Err()
	}
	id := s.broker.NextId()
	go s.broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		srv := grpc.NewServer(opts...)
		proto.RegisterAddHelperServer(srv, adder{})
		return srv
	})
	return &proto.GetResponse{Value: int64(id)}, nil
}

// flood announces n broker ids in order: Accept returns once its ConnInfo
// went on the broker stream, so the host gets them in this order.
func (s *counterServer) flood(n string) (*proto.GetResponse, error) {
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 {
		return nil, fmt.Errorf("!flood wants a positive count, got %q", n)
	}
	var id uint32
	for i := 0; i < count; i++ {
		id = s.broker.NextId()
		l, err := s.broker.Accept(id)
		if err != nil {
			return nil, fmt.Errorf("accept broker id %d: %w", id, err)
		}
		srv := grpc.NewServer()
		proto.RegisterAddHelperServer(srv, adder{})
		go func() { _ = srv.Serve(l) }()
	}
	return &proto.GetResponse{Value: int64(id)}, nil
}

// Put dials the host's AddHelper at add_server and calls it.
func (s *counterServer) Put(ctx context.Context, req *proto.PutRequest) (*proto.Empty, error) {
	conn, err := s.broker.Dial(req.AddServer)
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	res, err := proto.NewAddHelperClient(conn).Sum(ctx, &proto.SumRequest{A: 0, B: req.Value})
	if err != nil {
		return nil, err
	}
	hclog.Default().Info("sum from the host", "r", res.R)
	return &proto.Empty{}, nil
}

type counterClient struct {
	broker *plugin.GRPCBroker
	client proto.CounterClient
}

func runHost(cmd string, autoMTLS, mux bool, op string) (int64, error) {
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:     handshake,
		Plugins:             map[string]plugin.Plugin{"counter": counterPlugin{}},
		Cmd:                 exec.Command("sh", "-c", cmd),
		AllowedProtocols:    []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:            autoMTLS,
		GRPCBrokerMultiplex: mux,
		Logger:              hclog.New(&hclog.LoggerOptions{Name: "host", Level: hclog.Debug, Output: os.Stderr}),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		return 0, err
	}
	raw, err := rpc.Dispense("counter")
	if err != nil {
		return 0, err
	}
	c := raw.(*counterClient)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if op == "put" {
		return putTwice(ctx, c)
	}
	got, err := c.client.Get(ctx, &proto.GetRequest{Key: "!serve"})
	if err != nil {
		return 0, fmt.Errorf("Counter.Get: %w", err)
	}
	conn, err := c.broker.Dial(uint32(got.Value))
	if err != nil {
		return 0, fmt.Errorf("dial broker id %d: %w", got.Value, err)
	}
	defer func() { _ = conn.Close() }()
	res, err := proto.NewAddHelperClient(conn).Sum(ctx, &proto.SumRequest{A: 2, B: 3})
	if err != nil {
		return 0, fmt.Errorf("AddHelper.Sum: %w", err)
	}
	return res.R, nil
}

// putTwice serves AddHelper for each Put, as go-plugin's bidirectional example host does.
func putTwice(ctx context.Context, c *counterClient) (int64, error) {
	for i := 0; i < 2; i++ {
		id := c.broker.NextId()
		var srv *grpc.Server
		ready := make(chan struct{})
		go c.broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
			srv = grpc.NewServer(opts...)
			proto.RegisterAddHelperServer(srv, adder{})
			close(ready)
			return srv
		})
		if _, err := c.client.Put(ctx, &proto.PutRequest{AddServer: id, Key: "hello", Value: 1}); err != nil {
			return 0, fmt.Errorf("Counter.Put: %w", err)
		}
		<-ready
		srv.Stop()
	}
	got, err := c.client.Get(ctx, &proto.GetRequest{Key: "hello"})
	if err != nil {
		return 0, fmt.Errorf("Counter.Get: %w", err)
	}
	return got.Value, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: brokerpeer plugin | brokerpeer host -cmd CMD [-automtls] [-mux]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "plugin":
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: handshake,
			Plugins:         map[string]plugin.Plugin{"counter": counterPlugin{}},
			GRPCServer:      plugin.DefaultGRPCServer,
		})
	case "host":
		fs := flag.NewFlagSet("host", flag.ExitOnError)
		cmd := fs.String("cmd", "", "the plugin's command line (run with sh -c)")
		autoMTLS := fs.Bool("automtls", false, "turn AutoMTLS on")
		mux := fs.Bool("mux", false, "ask for broker multiplexing")
		op := fs.String("op", "get", "get: dial what the plugin serves; put: serve what the plugin dials")
		_ = fs.Parse(os.Args[2:])
		r, err := runHost(*cmd, *autoMTLS, *mux, *op)
		if err != nil {
			fmt.Printf("error: %v\n", err)
			os.Exit(1)
		}
		fmt.Println(r)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
