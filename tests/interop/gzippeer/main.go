// Command gzippeer is a grpc-go peer for the gRPC interop compression cases
// (grpc/grpc doc/interop-test-descriptions.md), which grpc-go's own interop
// client and server leave out: the client has no compression cases, and the
// server has no gzip compressor registered and ignores expect_compressed and
// response_compressed.
//
//	gzippeer -mode=client -server_host=H -server_port=N -test_case=CASE
//	    runs client_compressed_unary, server_compressed_unary or
//	    server_compressed_streaming against a TestService; exits 1 on failure.
//	gzippeer -mode=server -port=0
//	    serves UnaryCall with CompressedRequest and CompressedResponse on
//	    127.0.0.1, printing "gzippeer listening on 127.0.0.1:PORT".
//
// grpc-go shows neither side a message's compressed flag. Both sides learn
// it from the stats handler: a received payload whose wire length differs
// from its decoded length was compressed. That is exact for the payloads of
// these cases (zeros, hundreds of kilobytes, which gzip shrinks a thousand
// times). client_compressed_streaming is not offered: grpc-go compresses
// every message of a stream or none, and the case needs one of each.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

var (
	mode       = flag.String("mode", "client", "client or server")
	serverHost = flag.String("server_host", "127.0.0.1", "client: the server's host")
	serverPort = flag.Int("server_port", 0, "client: the server's port")
	testCase   = flag.String("test_case", "", "client: the case to run")
	port       = flag.Int("port", 0, "server: the port to listen on (0: any)")
	useTLS     = flag.Bool("use_tls", false, "must be false: plaintext only")
)

// received records, per call, whether each received message was compressed.
type received struct {
	mu         sync.Mutex
	compressed []bool
}

func (r *received) add(compressed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.compressed = append(r.compressed, compressed)
}

func (r *received) all() []bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bool(nil), r.compressed...)
}

type receivedKey struct{}

// recorder is the stats handler that fills in a call's *received. The
// server makes one per call; a client call brings its own in its context.
type recorder struct{ server bool }

func (h recorder) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	if h.server {
		return context.WithValue(ctx, receivedKey{}, &received{})
	}
	return ctx
}

func (recorder) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if p, ok := s.(*stats.InPayload); ok {
		if r, ok := ctx.Value(receivedKey{}).(*received); ok {
			r.add(p.CompressedLength != p.Length)
		}
	}
}

func (recorder) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (recorder) HandleConn(context.Context, stats.ConnStats) {}

// --- server

type testServer struct {
	testpb.UnimplementedTestServiceServer
}

func (testServer) UnaryCall(ctx context.Context, in *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	if in.GetExpectCompressed().GetValue() {
		r, _ := ctx.Value(receivedKey{}).(*received)
		if got := r.all(); len(got) != 1 || !got[0] {
			return nil, status.Error(codes.InvalidArgument,
				"expect_compressed is set, but the request message was not compressed")
		}
	}
	// grpc-go answers in the request's encoding unless told otherwise.
	send := "identity"
	if in.GetResponseCompressed().GetValue() {
		send = gzip.Name
	}
	if err := grpc.SetSendCompressor(ctx, send); err != nil {
		return nil, status.Errorf(codes.Internal, "SetSendCompressor(%q): %v", send, err)
	}
	if in.GetResponseType() != testpb.PayloadType_COMPRESSABLE || in.GetResponseSize() < 0 {
		return nil, status.Error(codes.InvalidArgument, "unsupported response type or size")
	}
	return &testpb.SimpleResponse{Payload: zeros(in.GetResponseSize())}, nil
}

func serve() error {
	lis, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		return err
	}
	s := grpc.NewServer(grpc.StatsHandler(recorder{server: true}))
	testpb.RegisterTestServiceServer(s, testServer{})
	fmt.Fprintf(os.Stderr, "gzippeer listening on %s\n", lis.Addr())
	return s.Serve(lis)
}

// --- client

func zeros(n int32) *testpb.Payload {
	return &testpb.Payload{Type: testpb.PayloadType_COMPRESSABLE, Body: make([]byte, n)}
}

func bv(v bool) *testpb.BoolValue { return &testpb.BoolValue{Value: v} }

// call runs one RPC with a fresh record of what it received.
func call(f func(ctx context.Context) error) ([]bool, error) {
	r := &received{}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), receivedKey{}, r), 20*time.Second)
	defer cancel()
	err := f(ctx)
	return r.all(), err
}

func checkPayload(p *testpb.Payload, size int, what string) error {
	if got := len(p.GetBody()); got != size {
		return fmt.Errorf("%s: payload of %d bytes, want %d", what, got, size)
	}
	for _, b := range p.GetBody() {
		if b != 0 {
			return fmt.Errorf("%s: the payload is not all zeros", what)
		}
	}
	return nil
}

func clientCompressedUnary(tc testpb.TestServiceClient) error {
	req := func(expect bool) *testpb.SimpleRequest {
		return &testpb.SimpleRequest{
			ResponseType:     testpb.PayloadType_COMPRESSABLE,
			ResponseSize:     314159,
			Payload:          zeros(271828),
			ExpectCompressed: bv(expect),
		}
	}
	// The probe: expect_compressed, sent uncompressed.
	_, err := call(func(ctx context.Context) error {
		_, err := tc.UnaryCall(ctx, req(true))
		return err
	})
	if status.Code(err) != codes.InvalidArgument {
		return fmt.Errorf("probe (uncompressed, expect_compressed): got %v, want InvalidArgument", err)
	}
	for _, compressed := range []bool{true, false} {
		var opts []grpc.CallOption
		if compressed {
			opts = append(opts, grpc.UseCompressor(gzip.Name))
		}
		var res *testpb.SimpleResponse
		_, err := call(func(ctx context.Context) (err error) {
			res, err = tc.UnaryCall(ctx, req(compressed), opts...)
			return err
		})
		what := fmt.Sprintf("request compressed=%v", compressed)
		if err != nil {
			return fmt.Errorf("%s: %v", what, err)
		}
		if err := checkPayload(res.GetPayload(), 314159, what); err != nil {
			return err
		}
	}
	return nil
}

func serverCompressedUnary(tc testpb.TestServiceClient) error {
	for _, compressed := range []bool{true, false} {
		var res *testpb.SimpleResponse
		got, err := call(func(ctx context.Context) (err error) {
			res, err = tc.UnaryCall(ctx, &testpb.SimpleRequest{
				ResponseType:       testpb.PayloadType_COMPRESSABLE,
				ResponseSize:       314159,
				Payload:            zeros(271828),
				ResponseCompressed: bv(compressed),
			})
			return err
		})
		what := fmt.Sprintf("response_compressed=%v", compressed)
		if err != nil {
			return fmt.Errorf("%s: %v", what, err)
		}
		if len(got) != 1 || got[0] != compressed {
			return fmt.Errorf("%s: received messages compressed %v, want [%v]", what, got, compressed)
		}
		if err := checkPayload(res.GetPayload(), 314159, what); err != nil {
			return err
		}
	}
	return nil
}

func serverCompressedStreaming(tc testpb.TestServiceClient) error {
	sizes := []int32{31415, 92653}
	want := []bool{true, false}
	var payloads []*testpb.Payload
	got, err := call(func(ctx context.Context) error {
		stream, err := tc.StreamingOutputCall(ctx, &testpb.StreamingOutputCallRequest{
			ResponseType: testpb.PayloadType_COMPRESSABLE,
			ResponseParameters: []*testpb.ResponseParameters{
				{Size: sizes[0], Compressed: bv(want[0])},
				{Size: sizes[1], Compressed: bv(want[1])},
			},
		})
		if err != nil {
			return err
		}
		for {
			res, err := stream.Recv()
			if err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			payloads = append(payloads, res.GetPayload())
		}
	})
	if err != nil {
		return err
	}
	if len(payloads) != 2 {
		return fmt.Errorf("%d responses, want 2", len(payloads))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("responses compressed %v, want %v", got, want)
	}
	for i, p := range payloads {
		if err := checkPayload(p, int(sizes[i]), fmt.Sprintf("response %d", i)); err != nil {
			return err
		}
	}
	return nil
}

func runClient() error {
	cases := map[string]func(testpb.TestServiceClient) error{
		"client_compressed_unary":     clientCompressedUnary,
		"server_compressed_unary":     serverCompressedUnary,
		"server_compressed_streaming": serverCompressedStreaming,
	}
	run, ok := cases[*testCase]
	if !ok {
		return fmt.Errorf("unknown -test_case %q", *testCase)
	}
	conn, err := grpc.Dial(
		net.JoinHostPort(*serverHost, strconv.Itoa(*serverPort)),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(recorder{}),
	)
	if err != nil {
		return err
	}
	defer conn.Close()
	return run(testpb.NewTestServiceClient(conn))
}

func main() {
	flag.Parse()
	var err error
	switch {
	case *useTLS:
		err = fmt.Errorf("-use_tls is not supported: plaintext only")
	case *mode == "client":
		err = runClient()
	case *mode == "server":
		err = serve()
	default:
		err = fmt.Errorf("unknown -mode %q: client or server", *mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "gzippeer: %s: %v\n", *testCase, err)
		os.Exit(1)
	}
	if *mode == "client" {
		fmt.Fprintf(os.Stderr, "gzippeer: %s passed\n", *testCase)
	}
}
