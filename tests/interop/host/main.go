// Command host is a small HashiCorp go-plugin host used by the rpcplugin
// interop tests.
//
// It launches a plugin that implements go-plugin's example KV interface
// (github.com/hashicorp/go-plugin/examples/grpc) over gRPC, performs one
// operation against it, kills it, and prints exactly one JSON object
// describing the outcome on stdout. Everything else (the host's own hclog
// output, the plugin's re-logged stderr and the plugin's GRPCStdio data)
// goes to stderr, so that tests can parse stdout and inspect stderr.
//
// Usage:
//
//	host [flags] <op> [args...]
//
// See README.md in this directory for the flags and operations.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	kvproto "github.com/hashicorp/go-plugin/examples/grpc/proto"
	"github.com/hashicorp/go-plugin/examples/grpc/shared"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// pluginName is the name the KV gRPC plugin is registered under in every
// plugin set. go-plugin never sends it over the wire; it is only the key
// used by Dispense.
const pluginName = "kv"

// result is the JSON object printed on stdout when the host finishes.
type result struct {
	OK                bool   `json:"ok"`
	Error             string `json:"error"`
	Op                string `json:"op"`
	NegotiatedVersion int    `json:"negotiated_version"`
	Protocol          string `json:"protocol"`
	Network           string `json:"network"`
	Address           string `json:"address"`
	Value             string `json:"value"`
	Calls             int    `json:"calls"`
	Errors            int    `json:"errors"`
	FirstError        string `json:"first_error"`
	Pid               int    `json:"pid"`
	Exited            bool   `json:"exited"`
	KillMS            int64  `json:"kill_ms"`
	// GroupKilled is true when the host had to SIGKILL the plugin's
	// process group itself (see killPlugin), or did so on SIGINT/SIGTERM.
	GroupKilled bool `json:"group_killed"`
	// RSSFirstKB and RSSEndKB are the plugin's VmRSS after the first tenth
	// of the "soak" op's calls and after the last one; ElapsedMS its duration.
	RSSFirstKB int64 `json:"rss_first_kb,omitempty"`
	RSSEndKB   int64 `json:"rss_end_kb,omitempty"`
	// RSSTenthsKB is the plugin's VmRSS after each tenth of the "soak" op's
	// calls (the first is RSSFirstKB, the last RSSEndKB's moment).
	RSSTenthsKB []int64 `json:"rss_tenths_kb,omitempty"`
	ElapsedMS   int64   `json:"elapsed_ms,omitempty"`
	// Gets holds one entry per key of the "gets" op, in order.
	Gets []getResult `json:"gets,omitempty"`
	// Status is what the "status" op's call got.
	Status *statusResult `json:"status,omitempty"`
}

// statusResult is the gRPC status of one KV.Get, as grpc-go's status
// package reads it, and the trailers that came with it.
type statusResult struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	// Details are status.FromError(err).Details(), in order.
	Details []detailResult `json:"details"`
	// Trailers are the call's trailer metadata; values of -bin keys are
	// base64 (standard, padded) of the bytes grpc-go decoded.
	Trailers map[string][]string `json:"trailers"`
}

// detailResult is one detail of a status: its message type, and the fields
// of a google.rpc.ErrorInfo; Error is set when grpc-go could not decode it.
type detailResult struct {
	Type     string            `json:"type"`
	Reason   string            `json:"reason,omitempty"`
	Domain   string            `json:"domain,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// getResult is the outcome of one Get of the "gets" op.
type getResult struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Error string `json:"error"`
}

// options holds the parsed command line.
type options struct {
	cmd          string
	cookieKey    string
	cookieValue  string
	versions     []int
	minPort      uint
	maxPort      uint
	autoMTLS     bool
	startTimeout time.Duration
	killTimeout  time.Duration
	logLevel     hclog.Level
	socketGroup  string
	// callTimeout and cancelAfter are the "status" op's deadline, and when
	// it cancels the call itself (0: never).
	callTimeout time.Duration
	cancelAfter time.Duration

	op   string
	args []string
}

// opArgs is the number of positional arguments each operation expects.
var opArgs = map[string]int{
	"ping": 0,
	"put":  2,
	"get":  1,
	"wait": 1,
	// "waitfor" takes a timeout and one or more texts (see checkOpArgs).
	"waitfor": -1,
	"calls":   3,
	// "gets" takes one or more keys (see parseArgs).
	"gets":         -1,
	"roundtrip":    2,
	"killduring":   3,
	"soak":         3,
	"status":       1,
	"shutdownhold": 1,
}

// inflight tracks the calls the "killduring" op leaves running while the
// plugin is killed; run() collects them after the kill.
var inflight struct {
	wg       sync.WaitGroup
	ok       atomic.Int64
	failures atomic.Int64
	firstErr atomic.Value
}

func main() {
	res := run(os.Args[1:])

	out, err := json.Marshal(res)
	if err != nil {
		// Cannot happen with the plain field types of result, but never
		// leave stdout empty.
		out = []byte(`{"ok":false,"error":"failed to encode result"}`)
		res.OK = false
	}
	fmt.Fprintln(os.Stdout, string(out))

	if !res.OK {
		os.Exit(1)
	}
}

// run parses the arguments, launches the plugin, performs the operation and
// always kills the plugin before returning. It never calls os.Exit itself,
// so the deferred cleanup always runs.
func run(args []string) (res result) {
	opts, err := parseArgs(args)
	res.Op = opts.op
	if err != nil {
		res.Error = err.Error()
		return res
	}

	// All stderr output (host logs and plugin stdio) goes through a single
	// locked writer, so that lines from different goroutines don't interleave.
	record := opts.op == "waitfor" || opts.op == "killduring"
	stderr := &lockedWriter{w: os.Stderr, record: record, changed: make(chan struct{})}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:   "host",
		Level:  opts.logLevel,
		Output: stderr,
	})

	// SIGINT/SIGTERM cancel ctx, which makes os/exec call cmd.Cancel and
	// so kill the plugin's process group: a test runner that gives up on
	// the host must not leave plugin processes behind.
	var interrupted atomic.Value // os.Signal
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigCh := make(chan os.Signal, 1)
	signal.Notify(sigCh, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigCh)
	go func() {
		select {
		case sig := <-sigCh:
			interrupted.Store(sig)
			logger.Warn("host received signal, killing the plugin", "signal", sig)
			cancel()
		case <-ctx.Done():
		}
	}()

	// Every supported app protocol version serves the same plugin set.
	versioned := make(map[int]plugin.PluginSet, len(opts.versions))
	for _, v := range opts.versions {
		versioned[v] = plugin.PluginSet{pluginName: &shared.KVGRPCPlugin{}}
	}

	// The plugin runs as "sh -c CMD", like go-plugin's example host, in a
	// process group of its own (see killPlugin).
	var groupKilled atomic.Bool
	cmd := exec.CommandContext(ctx, "sh", "-c", opts.cmd)
	setProcessGroup(cmd)
	cmd.Cancel = func() error {
		groupKilled.Store(true)
		return killProcessGroup(cmd.Process.Pid)
	}

	config := &plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			MagicCookieKey:   opts.cookieKey,
			MagicCookieValue: opts.cookieValue,
		},
		VersionedPlugins: versioned,
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Managed:          false,
		MinPort:          opts.minPort,
		MaxPort:          opts.maxPort,
		AutoMTLS:         opts.autoMTLS,
		StartTimeout:     opts.startTimeout,
		Logger:           logger,
		SyncStdout:       &prefixWriter{prefix: "[STDIO-OUT] ", w: stderr},
		SyncStderr:       &prefixWriter{prefix: "[STDIO-ERR] ", w: stderr},
	}
	if opts.socketGroup != "" {
		config.UnixSocketConfig = &plugin.UnixSocketConfig{Group: opts.socketGroup}
	}

	client := plugin.NewClient(config)
	connected := false

	// Kill the plugin however we leave this function: normal return, error
	// or panic. A panic inside go-plugin (for example a handshake line that
	// carries a server certificate while AutoMTLS is off) is turned into an
	// error result.
	defer func() {
		if r := recover(); r != nil {
			res.OK = false
			res.Error = fmt.Sprintf("panic: %v", r)
		}

		// cmd.Process is set by client.Client() in this goroutine.
		pid := 0
		if cmd.Process != nil {
			pid = cmd.Process.Pid
		}
		if res.Pid == 0 {
			res.Pid = pid
		}

		// After a failed start go-plugin has already killed its child, so
		// anything still holding the pipes is a leftover: don't wait long.
		grace := opts.killTimeout
		if !connected {
			grace = min(grace, failedStartGrace)
		}
		killMS, err := killPlugin(client, pid, grace, logger, &groupKilled)
		res.KillMS = killMS
		res.Exited = client.Exited()
		if opts.op == "killduring" {
			inflight.wg.Wait()
			res.Calls = int(inflight.ok.Load() + inflight.failures.Load())
			res.Errors = int(inflight.failures.Load())
			if e, ok := inflight.firstErr.Load().(string); ok {
				res.FirstError = e
			}
		}
		res.GroupKilled = groupKilled.Load()
		if err != nil {
			res.OK = false
			res.Error = joinErrors(res.Error, err.Error())
		}

		if sig, ok := interrupted.Load().(os.Signal); ok {
			res.OK = false
			res.Error = joinErrors("interrupted by signal "+sig.String(), res.Error)
		}
	}()

	rpcClient, err := client.Client()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	connected = true

	// Record connection details while the plugin is alive; ReattachConfig
	// is only meaningful between a successful start and Kill. Note that
	// Protocol() must only be called after a successful start: on a failed
	// start it would try to launch the plugin again.
	res.NegotiatedVersion = client.NegotiatedVersion()
	res.Protocol = string(client.Protocol())
	if rc := client.ReattachConfig(); rc != nil {
		res.Pid = rc.Pid
		if rc.Addr != nil {
			res.Network = rc.Addr.Network()
			res.Address = rc.Addr.String()
		}
	}

	if err := doOp(ctx, rpcClient, client, opts, &res, stderr); err != nil {
		res.Error = err.Error()
		return res
	}
	res.OK = true
	return res
}

// failedStartGrace bounds the wait for Kill() after a failed start.
const failedStartGrace = 2 * time.Second

// killPlugin calls client.Kill() and returns how long it took in
// milliseconds.
//
// go-plugin's Kill() asks the plugin to shut down, waits 2 s, then SIGKILLs
// its direct child and waits until the child's stdout and stderr pipes are
// closed. When the direct child is a shell that did not exec the plugin
// (dash runs "sh -c CMD" as a fork), the SIGKILL only reaches the shell,
// the orphaned plugin keeps the pipes open and Kill() never returns. So if
// Kill() has not returned after grace, the whole process group of the
// child (pid) is SIGKILLed. Processes of that group that survive a
// successful Kill() are killed as well. Both cases set groupKilled.
func killPlugin(client *plugin.Client, pid int, grace time.Duration, logger hclog.Logger, groupKilled *atomic.Bool) (int64, error) {
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		client.Kill()
	}()

	var err error
	select {
	case <-done:
	case <-time.After(grace):
		logger.Warn("Kill() has not returned, killing the plugin's process group", "pgid", pid, "after", grace)
		groupKilled.Store(true)
		_ = killProcessGroup(pid)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			err = errors.New("Kill() did not return, even after the plugin's process group was killed")
		}
	}
	killMS := time.Since(start).Milliseconds()

	// On an ordinary system this finds nothing; where PID 1 does not reap
	// orphans it may also find zombies, which are harmless.
	if err == nil && pid != 0 && !groupKilled.Load() && processGroupAlive(pid) {
		logger.Warn("processes of the plugin's process group survived Kill(), killing them", "pgid", pid)
		groupKilled.Store(true)
		_ = killProcessGroup(pid)
	}
	return killMS, err
}

// shutdownAndHold calls GRPCController/Shutdown on the plugin's connection
// itself, as GRPCClient.Close does, but keeps the connection (and its broker
// and stdio streams) open afterwards, then waits up to TIMEOUT for the
// plugin's process to exit: a plugin must not wait for its host to hang up.
func shutdownAndHold(ctx context.Context, rpcClient plugin.ClientProtocol, client *plugin.Client, opts options, res *result) error {
	grpcClient, ok := rpcClient.(*plugin.GRPCClient)
	if !ok {
		return fmt.Errorf("not a gRPC plugin client: %T", rpcClient)
	}
	if err := grpcClient.Conn.Invoke(ctx, "/plugin.GRPCController/Shutdown", &emptypb.Empty{}, &emptypb.Empty{}); err != nil {
		return fmt.Errorf("GRPCController/Shutdown: %w", err)
	}
	timeout, _ := time.ParseDuration(opts.args[0]) // validated by parseArgs
	deadline := time.Now().Add(timeout)
	for !client.Exited() {
		if time.Now().After(deadline) {
			return fmt.Errorf("the plugin did not exit within %s of its Shutdown answer, the connection still open", timeout)
		}
		select {
		case <-ctx.Done():
			return errors.New("shutdownhold interrupted")
		case <-time.After(2 * time.Millisecond):
		}
	}
	res.Exited = true
	return nil
}

// joinErrors joins two error messages with ": ", skipping empty ones.
func joinErrors(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ": " + b
}

// doOp performs the requested operation on a connected plugin client.
// The arguments were validated by parseArgs.
func doOp(ctx context.Context, rpcClient plugin.ClientProtocol, client *plugin.Client, opts options, res *result, stderr *lockedWriter) error {
	if opts.op == "ping" {
		return rpcClient.Ping()
	}

	kv, err := dispenseKV(rpcClient)
	if err != nil {
		return err
	}

	switch opts.op {
	case "status":
		return getStatus(ctx, rpcClient, opts, res)

	case "put":
		return kv.Put(opts.args[0], []byte(opts.args[1]))

	case "gets":
		// Every Get on the same plugin process; errors are recorded, not
		// fatal, so a test can check that the plugin keeps serving.
		failed := 0
		for _, key := range opts.args {
			value, err := kv.Get(key)
			r := getResult{Key: key, Value: string(value)}
			if err != nil {
				r.Error = err.Error()
				failed++
			}
			res.Gets = append(res.Gets, r)
		}
		res.Calls, res.Errors = len(opts.args), failed
		return nil

	case "shutdownhold":
		return shutdownAndHold(ctx, rpcClient, client, opts, res)

	case "killduring":
		// N calls in flight, then return once the plugin has logged that all N
		// are in its handler (the fixture's inHandler line, with --delay-ms),
		// or fail after TIMEOUT: run() kills the plugin (Shutdown, then up to
		// 2 s) while they are still running.
		n, _ := strconv.Atoi(opts.args[0])
		timeout, _ := time.ParseDuration(opts.args[1])
		for i := 0; i < n; i++ {
			inflight.wg.Add(1)
			go func() {
				defer inflight.wg.Done()
				if _, err := kv.Get(opts.args[2]); err != nil {
					inflight.failures.Add(1)
					inflight.firstErr.CompareAndSwap(nil, err.Error())
				} else {
					inflight.ok.Add(1)
				}
			}()
		}
		return stderr.waitForCount(ctx, timeout, inHandler, n)

	case "soak":
		n, _ := strconv.Atoi(opts.args[0])
		concurrency, _ := strconv.Atoi(opts.args[1])
		return runCalls(kv, n, concurrency, opts.args[2], res, true)

	case "roundtrip":
		size, _ := strconv.Atoi(opts.args[1])
		value := make([]byte, size)
		for i := range value {
			value[i] = byte(i*131 + 7)
		}
		if err := kv.Put(opts.args[0], value); err != nil {
			return fmt.Errorf("put of %d bytes: %w", size, err)
		}
		got, err := kv.Get(opts.args[0])
		if err != nil {
			return fmt.Errorf("get of %d bytes: %w", size, err)
		}
		if !bytes.HasPrefix(got, value) {
			return fmt.Errorf("get returned %d bytes that do not start with the %d bytes put", len(got), size)
		}
		res.Value = strconv.Itoa(len(got))
		return nil

	case "get":
		value, err := kv.Get(opts.args[0])
		if err != nil {
			return err
		}
		res.Value = string(value)
		return nil

	case "wait":
		if err := rpcClient.Ping(); err != nil {
			return err
		}
		d, _ := time.ParseDuration(opts.args[0]) // validated by parseArgs
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return errors.New("wait interrupted")
		}

	case "waitfor":
		if err := rpcClient.Ping(); err != nil {
			return err
		}
		timeout, _ := time.ParseDuration(opts.args[0]) // validated by parseArgs
		return stderr.waitFor(ctx, timeout, opts.args[1:])

	case "calls":
		n, _ := strconv.Atoi(opts.args[0])           // validated by parseArgs
		concurrency, _ := strconv.Atoi(opts.args[1]) // validated by parseArgs
		return runCalls(kv, n, concurrency, opts.args[2], res, false)
	}

	return fmt.Errorf("unknown op %q", opts.op)
}

// dispenseKV dispenses the KV plugin and checks its type.
func dispenseKV(rpcClient plugin.ClientProtocol) (shared.KV, error) {
	raw, err := rpcClient.Dispense(pluginName)
	if err != nil {
		return nil, err
	}
	kv, ok := raw.(shared.KV)
	if !ok {
		return nil, fmt.Errorf("dispensed plugin has type %T, not shared.KV", raw)
	}
	return kv, nil
}

// parseArgs parses the flags and the operation with its arguments. The
// returned options carry the op name even when an error is returned, when
// it is known.
func parseArgs(args []string) (options, error) {
	var opts options
	var versions, logLevel string

	fs := flag.NewFlagSet("host", flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: host [flags] <op> [args...]\n\n"+
			"ops:\n"+
			"  ping                     connect and health-check the plugin\n"+
			"  put KEY VALUE            KV.Put\n"+
			"  get KEY                  KV.Get\n"+
			"  wait DURATION            connect, dispense, ping, then sleep DURATION\n"+
			"  waitfor TIMEOUT TEXT...  connect, dispense, ping, then wait until every TEXT was written\n"+
			"                           to stderr (logs, re-logged plugin stderr, stdio), within TIMEOUT\n"+
			"  calls N CONCURRENCY KEY  N KV.Get(KEY) calls over CONCURRENCY goroutines\n"+
			"  status KEY               KV.Get(KEY); the gRPC status, its details and trailers\n\n"+
			"flags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&opts.cmd, "cmd", "", "shell command line of the plugin, run with sh -c")
	fs.StringVar(&opts.cookieKey, "cookie-key", "BASIC_PLUGIN", "magic cookie key")
	fs.StringVar(&opts.cookieValue, "cookie-value", "hello", "magic cookie value")
	fs.StringVar(&versions, "versions", "1", "comma-separated app protocol versions supported by the host")
	fs.UintVar(&opts.minPort, "min-port", 0, "ClientConfig.MinPort (0 = go-plugin default)")
	fs.UintVar(&opts.maxPort, "max-port", 0, "ClientConfig.MaxPort (0 = go-plugin default)")
	fs.BoolVar(&opts.autoMTLS, "automtls", false, "enable ClientConfig.AutoMTLS")
	fs.DurationVar(&opts.startTimeout, "start-timeout", 20*time.Second, "ClientConfig.StartTimeout")
	fs.DurationVar(&opts.killTimeout, "kill-timeout", 10*time.Second, "kill the plugin's process group if Kill() has not returned after this")
	fs.StringVar(&logLevel, "log-level", "trace", "host log level: trace, debug, info, warn, error, off")
	fs.StringVar(&opts.socketGroup, "socket-group", "", "ClientConfig.UnixSocketConfig.Group")
	fs.DurationVar(&opts.callTimeout, "call-timeout", 10*time.Second, "status op: the call's deadline")
	fs.DurationVar(&opts.cancelAfter, "cancel-after", 0, "status op: cancel the call after this (0: never)")

	if err := fs.Parse(args); err != nil {
		return opts, err
	}

	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return opts, errors.New("missing op")
	}
	opts.op, opts.args = rest[0], rest[1:]

	want, known := opArgs[opts.op]
	if !known {
		return opts, fmt.Errorf("unknown op %q", opts.op)
	}
	if want == -1 && len(opts.args) == 0 {
		return opts, fmt.Errorf("op %q takes at least one argument", opts.op)
	}
	if want != -1 && len(opts.args) != want {
		return opts, fmt.Errorf("op %q takes %d argument(s), got %d", opts.op, want, len(opts.args))
	}
	if err := checkOpArgs(opts.op, opts.args); err != nil {
		return opts, err
	}

	if opts.cmd == "" {
		return opts, errors.New("-cmd is required")
	}

	for _, s := range strings.Split(versions, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return opts, fmt.Errorf("invalid -versions entry %q: %v", s, err)
		}
		opts.versions = append(opts.versions, v)
	}

	if opts.startTimeout <= 0 || opts.killTimeout <= 0 {
		return opts, errors.New("-start-timeout and -kill-timeout must be positive")
	}

	opts.logLevel = hclog.LevelFromString(logLevel)
	if opts.logLevel == hclog.NoLevel {
		return opts, fmt.Errorf("invalid -log-level %q", logLevel)
	}

	return opts, nil
}

// checkOpArgs validates the numeric arguments of the operations, so that a
// bad command line fails before the plugin is launched.
func checkOpArgs(op string, args []string) error {
	switch op {
	case "killduring":
		if v, err := strconv.Atoi(args[0]); err != nil || v < 1 {
			return fmt.Errorf("invalid count %q: must be a positive integer", args[0])
		}
		if d, err := time.ParseDuration(args[1]); err != nil || d <= 0 {
			return fmt.Errorf("invalid TIMEOUT %q: must be a positive duration", args[1])
		}
	case "roundtrip":
		if v, err := strconv.Atoi(args[1]); err != nil || v < 0 {
			return fmt.Errorf("invalid SIZE %q: must be a non-negative integer", args[1])
		}
	case "shutdownhold":
		if d, err := time.ParseDuration(args[0]); err != nil || d <= 0 {
			return fmt.Errorf("invalid TIMEOUT %q: must be a positive duration", args[0])
		}
	case "wait":
		if d, err := time.ParseDuration(args[0]); err != nil || d < 0 {
			return fmt.Errorf("invalid DURATION %q", args[0])
		}
	case "waitfor":
		if d, err := time.ParseDuration(args[0]); err != nil || d <= 0 {
			return fmt.Errorf("invalid TIMEOUT %q: must be a positive duration", args[0])
		}
		if len(args) < 2 {
			return errors.New("op \"waitfor\" takes a TIMEOUT and at least one TEXT")
		}
	case "calls", "soak":
		for _, a := range args[:2] {
			if v, err := strconv.Atoi(a); err != nil || v < 1 {
				return fmt.Errorf("invalid count %q: must be a positive integer", a)
			}
		}
	}
	return nil
}

// lockedWriter serialises writes to an underlying writer. With record set
// (the "waitfor" op), it also keeps what was written and closes changed (and
// makes a new one) on every write, for waitFor.
type lockedWriter struct {
	mu      sync.Mutex
	w       io.Writer
	record  bool
	seen    bytes.Buffer
	changed chan struct{}
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.record {
		l.seen.Write(p)
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return l.w.Write(p)
}

// inHandler is what the fixture plugin logs (tests/fixtures/signals.ts IN_HANDLER) as
// each KV call enters its handler, when it runs with --delay-ms.
const inHandler = "call in the handler"

// waitForCount returns once text has been written n times, or fails after
// timeout, or when ctx ends.
func (l *lockedWriter) waitForCount(ctx context.Context, timeout time.Duration, text string, n int) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		seen := bytes.Count(l.seen.Bytes(), []byte(text))
		changed := l.changed
		l.mu.Unlock()
		if seen >= n {
			return nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return fmt.Errorf("killduring: the plugin logged %q %d times of %d after %s (run it with --delay-ms)", text, seen, n, timeout)
		case <-ctx.Done():
			return errors.New("killduring interrupted")
		}
	}
}

// waitFor returns once every text has been written (in one write or across
// several), or fails naming the missing ones after timeout, or when ctx ends.
func (l *lockedWriter) waitFor(ctx context.Context, timeout time.Duration, texts []string) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		var missing []string
		for _, t := range texts {
			if !bytes.Contains(l.seen.Bytes(), []byte(t)) {
				missing = append(missing, t)
			}
		}
		changed := l.changed
		l.mu.Unlock()
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return fmt.Errorf("waitfor: stderr still lacks %q after %s", missing, timeout)
		case <-ctx.Done():
			return errors.New("waitfor interrupted")
		}
	}
}

// prefixWriter writes each chunk it receives as one write of prefix+chunk,
// adding a trailing newline when the chunk has none, so every chunk the
// plugin sends on its GRPCStdio stream shows up on its own line(s).
type prefixWriter struct {
	prefix string
	w      io.Writer
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	buf := make([]byte, 0, len(p.prefix)+len(b)+1)
	buf = append(buf, p.prefix...)
	buf = append(buf, b...)
	if len(b) == 0 || b[len(b)-1] != '\n' {
		buf = append(buf, '\n')
	}
	if _, err := p.w.Write(buf); err != nil {
		return 0, err
	}
	return len(b), nil
}

// runCalls makes n Get calls over concurrency goroutines, counting errors.
// With sampleRSS ("soak") it also records the plugin's resident memory after
// each tenth of the calls and at the end.
func runCalls(kv shared.KV, n, concurrency int, key string, res *result, sampleRSS bool) error {
	var (
		next, done atomic.Int64
		failures   atomic.Int64
		firstErr   atomic.Value
		wg         sync.WaitGroup
	)
	tenth := int64(max(n/10, 1))
	var tenths [10]int64
	start := time.Now()
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := kv.Get(key); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
				// Exactly one call is each tenth.
				if d := done.Add(1); sampleRSS && d%tenth == 0 && d/tenth <= 10 {
					tenths[d/tenth-1] = rssKB(res.Pid)
				}
			}
		}()
	}
	wg.Wait()
	if sampleRSS {
		res.RSSFirstKB = tenths[0]
		for _, kb := range tenths {
			if kb > 0 {
				res.RSSTenthsKB = append(res.RSSTenthsKB, kb)
			}
		}
	}
	res.ElapsedMS = time.Since(start).Milliseconds()
	if sampleRSS {
		res.RSSEndKB = rssKB(res.Pid)
	}
	res.Calls = n
	res.Errors = int(failures.Load())
	if e, ok := firstErr.Load().(string); ok {
		res.FirstError = e
		return fmt.Errorf("%d of %d calls failed", res.Errors, n)
	}
	return nil
}

// rssKB reads a process's resident set size from /proc (0 if unavailable).
func rssKB(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// getStatus calls KV.Get(key) on the plugin's gRPC connection itself (the
// example's KV client hides the call options), with the -call-timeout
// deadline and a cancel after -cancel-after, asking for the trailers, and
// records the status grpc-go reads from the result: code, message, details
// (status.FromError(err).Details()) and trailer metadata.
func getStatus(ctx context.Context, rpcClient plugin.ClientProtocol, opts options, res *result) error {
	gc, ok := rpcClient.(*plugin.GRPCClient)
	if !ok {
		return fmt.Errorf("the client protocol is %T, not gRPC", rpcClient)
	}
	var trailer metadata.MD
	callCtx, cancel := context.WithTimeout(ctx, opts.callTimeout)
	defer cancel()
	if opts.cancelAfter > 0 {
		stop := time.AfterFunc(opts.cancelAfter, cancel)
		defer stop.Stop()
	}
	_, err := kvproto.NewKVClient(gc.Conn).Get(callCtx, &kvproto.GetRequest{Key: opts.args[0]}, grpc.Trailer(&trailer))
	st, _ := status.FromError(err)
	out := &statusResult{
		Code:     int(st.Code()),
		Message:  st.Message(),
		Details:  []detailResult{},
		Trailers: map[string][]string{},
	}
	for _, d := range st.Details() {
		switch v := d.(type) {
		case *errdetails.ErrorInfo:
			out.Details = append(out.Details, detailResult{
				Type: string(v.ProtoReflect().Descriptor().FullName()), Reason: v.Reason, Domain: v.Domain, Metadata: v.Metadata,
			})
		case error:
			out.Details = append(out.Details, detailResult{Error: v.Error()})
		default:
			out.Details = append(out.Details, detailResult{Type: fmt.Sprintf("%T", v)})
		}
	}
	for k, vs := range trailer {
		for _, v := range vs {
			if strings.HasSuffix(k, "-bin") {
				v = base64.StdEncoding.EncodeToString([]byte(v))
			}
			out.Trailers[k] = append(out.Trailers[k], v)
		}
	}
	res.Status = out
	return nil
}
