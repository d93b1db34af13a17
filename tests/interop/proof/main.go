// Command proof is the go-plugin v1.8 host of the issue-11 proof
// (tests/interop/proof_test.ts): it launches a plugin written from
// proto/proof.proto the way a plugin author would (ClientConfig.Cmd runs
// `deno run ...`), and checks every call kind, response headers and
// trailers, a deadline, a cancellation, throwing handlers, a method
// without a handler, and a handler's signal when its call fails.
//
//	proof [-dir DIR] -- <plugin command...>
//
// It prints "ok <check>" per check, then "PASS" and exits 0; on the first
// failure it prints "error: ..." and exits 1. The plugin is killed either way.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	pb "github.com/rpcplugin/rpcplugin/tests/interop/proof/proofpb"
)

// The handshake the plugin's serve() call names.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "PROOF_PLUGIN",
	MagicCookieValue: "issue-11",
}

// proofPlugin is the go-plugin glue: the host side only.
type proofPlugin struct{ plugin.Plugin }

func (proofPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("host only")
}

func (proofPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return pb.NewProofClient(c), nil
}

// big is above 2^53: a float64 cannot hold it, so it proves int64 is exact.
const big int64 = 9007199254740993

func main() {
	dir := flag.String("dir", "", "the plugin's working directory")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		fmt.Println("error: usage: proof [-dir DIR] -- <plugin command...>")
		os.Exit(1)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = *dir
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          plugin.PluginSet{"proof": proofPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "host", Output: os.Stderr, Level: hclog.Debug}),
		StartTimeout:     2 * time.Minute, // the first run downloads npm packages
	})
	err := run(client)
	client.Kill()
	if err != nil {
		fmt.Printf("error: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("PASS")
}

func run(client *plugin.Client) error {
	rpc, err := client.Client()
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	raw, err := rpc.Dispense("proof")
	if err != nil {
		return fmt.Errorf("dispense: %w", err)
	}
	p := raw.(pb.ProofClient)
	checks := []struct {
		name string
		fn   func(pb.ProofClient) error
	}{
		{"unary", unary}, {"server-stream", serverStream}, {"client-stream", clientStream},
		{"bidi-stream", bidiStream}, {"deadline", deadline}, {"cancel", cancel},
		{"signal-after-end", signalAfterEnd}, {"throw-rpc-error", throwRPC}, {"throw-error", throwPlain},
		{"unimplemented", unimplemented}, {"signal-on-failure", signalOnFailure},
	}
	for _, c := range checks {
		if err := c.fn(p); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Println("ok", c.name)
	}
	return nil
}

func ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 20*time.Second)
}

func unary(p pb.ProofClient) error {
	c, done := ctx()
	defer done()
	c = metadata.AppendToOutgoingContext(c, "x-in", "hello")
	var header, trailer metadata.MD
	res, err := p.Unary(c, &pb.Item{Name: "u", Count: big}, grpc.Header(&header), grpc.Trailer(&trailer))
	if err != nil {
		return err
	}
	if res.Count != big+1 || res.Name != "u" {
		return fmt.Errorf("got %v, want u/%d", res, big+1)
	}
	if got := header.Get("x-echo"); len(got) != 1 || got[0] != "hello" {
		return fmt.Errorf("header x-echo = %q", got)
	}
	if got := trailer.Get("x-trailer"); len(got) != 1 || got[0] != "t1" {
		return fmt.Errorf("trailer x-trailer = %q", got)
	}
	return nil
}

func serverStream(p pb.ProofClient) error {
	c, done := ctx()
	defer done()
	s, err := p.List(c, &pb.Query{Name: "l", Count: big, Repeat: 3})
	if err != nil {
		return err
	}
	for i := int64(0); ; i++ {
		it, err := s.Recv()
		if err == io.EOF {
			if i != 3 {
				return fmt.Errorf("%d items, want 3", i)
			}
			return nil
		}
		if err != nil {
			return err
		}
		if it.Count != big+i {
			return fmt.Errorf("item %d count %d", i, it.Count)
		}
	}
}

func clientStream(p pb.ProofClient) error {
	c, done := ctx()
	defer done()
	s, err := p.Sum(c)
	if err != nil {
		return err
	}
	for _, n := range []string{"a", "b", "c"} {
		if err := s.Send(&pb.Item{Name: n, Count: big}); err != nil {
			return err
		}
	}
	res, err := s.CloseAndRecv()
	if err != nil {
		return err
	}
	if res.Name != "abc" || res.Count != 3*big {
		return fmt.Errorf("got %v", res)
	}
	return nil
}

func bidiStream(p pb.ProofClient) error {
	c, done := ctx()
	defer done()
	s, err := p.Chat(c)
	if err != nil {
		return err
	}
	for i, n := range []string{"x", "y"} {
		if err := s.Send(&pb.Item{Name: n, Count: int64(i) + 1}); err != nil {
			return err
		}
		it, err := s.Recv()
		if err != nil {
			return err
		}
		if it.Name != strings.ToUpper(n) || it.Count != 2*(int64(i)+1) {
			return fmt.Errorf("got %v", it)
		}
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	if _, err := s.Recv(); err != io.EOF {
		return fmt.Errorf("after close: %v, want EOF", err)
	}
	return nil
}

// probe asks the plugin what the Wait call `name` saw.
func probe(p pb.ProofClient, name, mode string) (*pb.Item, error) {
	c, done := ctx()
	defer done()
	return p.Probe(c, &pb.Query{Name: name, Mode: mode})
}

func deadline(p pb.ProofClient) error {
	c, done := context.WithTimeout(context.Background(), 2*time.Second)
	defer done()
	errc := make(chan error, 1)
	go func() { _, err := p.Wait(c, &pb.Query{Name: "d"}); errc <- err }()
	left, err := probe(p, "d", "started")
	if err != nil {
		return err
	}
	if left.Count <= 0 || left.Count > 2000 {
		return fmt.Errorf("time left at start %d ms, want in (0, 2000]", left.Count)
	}
	if err := <-errc; status.Code(err) != codes.DeadlineExceeded {
		return fmt.Errorf("Wait: %v, want DeadlineExceeded", err)
	}
	r, err := probe(p, "d", "aborted")
	if err != nil {
		return err
	}
	// grpc-go resets the stream (RST_STREAM CANCEL) when its own deadline
	// passes, which is a little before the plugin's (counted from when the
	// request arrived): the plugin may see that reset a few ms before its own
	// deadline, and then CANCELLED is right (a grpc-go server says Canceled
	// too); from its deadline on, the reason must be DEADLINE_EXCEEDED.
	if r.Name != "DEADLINE_EXCEEDED" && !(r.Name == "CANCELLED" && r.Count > 0 && r.Count <= 100) {
		return fmt.Errorf("the plugin's signal reason %q with %d ms left, want DEADLINE_EXCEEDED (or CANCELLED at the deadline)", r.Name, r.Count)
	}
	fmt.Printf("deadline: the plugin saw %s with %d ms left\n", r.Name, r.Count)
	return nil
}

func cancel(p pb.ProofClient) error {
	c, stop := context.WithCancel(context.Background())
	defer stop()
	errc := make(chan error, 1)
	go func() { _, err := p.Wait(c, &pb.Query{Name: "c"}); errc <- err }()
	left, err := probe(p, "c", "started")
	if err != nil {
		return err
	}
	if left.Count != -1 {
		return fmt.Errorf("a call without a deadline has %d ms left, want -1 (none)", left.Count)
	}
	stop()
	if err := <-errc; status.Code(err) != codes.Canceled {
		return fmt.Errorf("Wait: %v, want Canceled", err)
	}
	r, err := probe(p, "c", "aborted")
	if err != nil {
		return err
	}
	if r.Name != "CANCELLED" {
		return fmt.Errorf("the plugin's signal reason %q, want CANCELLED", r.Name)
	}
	return nil
}

func signalAfterEnd(p pb.ProofClient) error {
	r, err := probe(p, "", "unary-after")
	if err != nil {
		return err
	}
	if r.Name != "not aborted" {
		return fmt.Errorf("the last Unary call's signal after it ended: %q", r.Name)
	}
	return nil
}

func throwRPC(p pb.ProofClient) error {
	c, done := ctx()
	defer done()
	var trailer metadata.MD
	_, err := p.Fail(c, &pb.Query{Mode: "rpc"}, grpc.Trailer(&trailer))
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition || st.Message() != "not ready" {
		return fmt.Errorf("got %v, want FailedPrecondition \"not ready\"", err)
	}
	if got := trailer.Get("x-why"); len(got) != 1 || got[0] != "because" {
		return fmt.Errorf("trailer x-why = %q", got)
	}
	// RpcError's details: a google.rpc.Status whose one detail is an Item.
	if d := st.Details(); len(d) != 1 {
		return fmt.Errorf("details %v, want one Item", d)
	} else if it, ok := d[0].(*pb.Item); !ok || it.Count != big {
		return fmt.Errorf("detail %v, want Item with count %d", d[0], big)
	}
	return nil
}

func throwPlain(p pb.ProofClient) error {
	c, done := ctx()
	defer done()
	_, err := p.Fail(c, &pb.Query{Mode: "plain"})
	if status.Code(err) != codes.Unknown {
		return fmt.Errorf("got %v, want Unknown", err)
	}
	return nil
}

// unimplemented calls the method the plugin gave no handler: go-plugin's
// host must see codes.Unimplemented with a message naming it, as from a
// grpc-go plugin embedding UnimplementedProofServer.
func unimplemented(p pb.ProofClient) error {
	c, done := ctx()
	defer done()
	_, err := p.Missing(c, &pb.Query{Name: "m"})
	st := status.Convert(err)
	want := "method Missing of service proof.v1.Proof is not implemented by this plugin"
	if st.Code() != codes.Unimplemented || st.Message() != want {
		return fmt.Errorf("got %v, want Unimplemented %q", err, want)
	}
	return nil
}

// signalOnFailure has the plugin's Chat handler yield a response over the
// 1 MiB limit (its maxMessageBytes): the call fails with ResourceExhausted while the handler
// still runs, and its signal must abort with that code.
func signalOnFailure(p pb.ProofClient) error {
	c, done := ctx()
	defer done()
	s, err := p.Chat(c)
	if err != nil {
		return err
	}
	if err := s.Send(&pb.Item{Name: "flood"}); err != nil {
		return err
	}
	if _, err := s.Recv(); status.Code(err) != codes.ResourceExhausted {
		return fmt.Errorf("Chat: %v, want ResourceExhausted", err)
	}
	r, err := probe(p, "flood", "aborted")
	if err != nil {
		return err
	}
	if r.Name != "RESOURCE_EXHAUSTED" {
		return fmt.Errorf("the plugin's signal reason %q, want RESOURCE_EXHAUSTED", r.Name)
	}
	return nil
}
