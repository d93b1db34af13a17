package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/examples/grpc/proto"
	"github.com/hashicorp/go-plugin/examples/grpc/shared"
)

// spawnMessage is what go-plugin's command runner logs (at debug level) just
// before it starts the plugin's process, after an AutoMTLS host has made its
// certificate (go-plugin v1.8.0, internal/cmdrunner).
const spawnMessage = "starting plugin"

// stderr is where progress goes.
var stderr = os.Stderr

// seedKey is the key every plugin's working directory holds a small value
// for (see seedSmallValue): the Get of the start phase and of the latency
// and throughput runs reads it.
const seedKey = "bench"

// running is one launched, connected plugin.
type running struct {
	cmd    *exec.Cmd
	client *plugin.Client
	kv     proto.KVClient
	pid    int
	exe    string
	// handshake is client.Start() -> handshake line parsed; firstCall is
	// client.Start() -> first successful Get. With AutoMTLS both include the
	// host making its own certificate, before it spawns the plugin.
	handshake, firstCall time.Duration
	// spawnToLine and spawnToCall are the same from the spawn itself: the
	// moment go-plugin logs "starting plugin", just before exec.
	spawnToLine, spawnToCall time.Duration
	callTimeout              time.Duration
	logs                     *tailBuffer
}

// launch starts a plugin the way a go-plugin host does, waits for its
// handshake line, connects and makes one Get. The clock starts just before
// client.Start(), which (with AutoMTLS) first makes the host's certificate
// and then spawns the process.
func launch(t Target, autoMTLS bool, startTimeout, callTimeout time.Duration) (*running, error) {
	if err := seedSmallValue(t.Dir); err != nil {
		return nil, err
	}
	logs := &tailBuffer{max: 16 << 10}
	// When go-plugin logged the spawn: its offset from base plus one (zero: not yet), on the
	// monotonic clock.
	base := time.Now()
	var spawned atomic.Int64
	cmd := exec.Command(t.Argv[0], t.Argv[1:]...)
	cmd.Dir = t.Dir
	cmd.Env = childEnv(t.Env)
	track(cmd)

	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  shared.Handshake,
		Plugins:          plugin.PluginSet{"kv": &shared.KVGRPCPlugin{}},
		Cmd:              cmd,
		SkipHostEnv:      true,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         autoMTLS,
		StartTimeout:     startTimeout,
		Stderr:           logs,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   "host",
			Level:  hclog.Debug,
			Output: logs,
			// Warnings and errors are written; debug lines are only looked at, for
			// the one that marks the spawn, and dropped before they are formatted.
			Exclude: func(level hclog.Level, msg string, _ ...interface{}) bool {
				if msg == spawnMessage {
					spawned.Store(int64(time.Since(base)) + 1)
				}
				return level < hclog.Warn
			},
		}),
	})
	r := &running{cmd: cmd, client: client, callTimeout: callTimeout, logs: logs}

	began := time.Now()
	if _, err := client.Start(); err != nil {
		r.stop()
		return nil, r.failure("start", err)
	}
	r.handshake = time.Since(began)
	if spawned.Load() == 0 {
		r.stop()
		return nil, fmt.Errorf("go-plugin logged no %q line before the handshake, so the "+
			"spawn cannot be timed: update spawnMessage in bench/driver/plugin.go to what "+
			"this go-plugin version's command runner logs just before it starts the process",
			spawnMessage)
	}
	sinceSpawn := func() time.Duration { return time.Since(base) - time.Duration(spawned.Load()-1) }
	r.spawnToLine = sinceSpawn()
	rpcClient, err := client.Client()
	if err != nil {
		r.stop()
		return nil, r.failure("connect", err)
	}
	grpcClient, ok := rpcClient.(*plugin.GRPCClient)
	if !ok {
		r.stop()
		return nil, fmt.Errorf("the plugin did not negotiate gRPC (%T)", rpcClient)
	}
	r.kv = proto.NewKVClient(grpcClient.Conn)
	if _, err := r.get(seedKey); err != nil {
		r.stop()
		return nil, r.failure("first Get", err)
	}
	r.firstCall = time.Since(began)
	r.spawnToCall = sinceSpawn()

	if rc := client.ReattachConfig(); rc != nil {
		r.pid = rc.Pid
	}
	if r.pid == 0 {
		r.stop()
		return nil, fmt.Errorf("go-plugin reports no pid for the plugin")
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", r.pid))
	if err != nil {
		r.stop()
		return nil, fmt.Errorf("reading the plugin's executable: %w", err)
	}
	r.exe = filepath.Base(exe)
	if r.exe == "sh" || r.exe == "dash" || r.exe == "bash" {
		r.stop()
		return nil, fmt.Errorf("pid %d is a shell (%s), not the plugin", r.pid, exe)
	}
	return r, nil
}

// get makes one Get call with the call timeout.
func (r *running) get(key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.callTimeout)
	defer cancel()
	resp, err := r.kv.Get(ctx, &proto.GetRequest{Key: key})
	if err != nil {
		return nil, err
	}
	return resp.Value, nil
}

// put makes one Put call with the call timeout.
func (r *running) put(key string, value []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), r.callTimeout)
	defer cancel()
	_, err := r.kv.Put(ctx, &proto.PutRequest{Key: key, Value: value})
	return err
}

// stop kills the plugin as a host does (client.Kill(): Shutdown call, then
// up to 2 s for the process to exit, then SIGKILL) and returns how long
// that took in ms. If Kill() hangs, the process is SIGKILLed directly.
func (r *running) stop() float64 {
	began := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.client.Kill()
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		fmt.Fprintf(stderr, "  Kill() has not returned after 15 s, sending SIGKILL to pid %d\n", r.pid)
		if r.pid > 0 {
			_ = syscall.Kill(r.pid, syscall.SIGKILL)
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	untrack(r.cmd)
	return ms(time.Since(began))
}

// failure wraps an error with the tail of the plugin's stderr and the
// host's warnings.
func (r *running) failure(step string, err error) error {
	tail := strings.TrimSpace(r.logs.String())
	if tail == "" {
		return fmt.Errorf("%s: %w", step, err)
	}
	return fmt.Errorf("%s: %w\n--- plugin stderr / host log (tail) ---\n%s", step, err, tail)
}

// seedSmallValue writes kv_bench in a plugin's directory, so that its Get
// succeeds from the first call on.
func seedSmallValue(dir string) error {
	path := filepath.Join(dir, "kv_"+seedKey)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return os.WriteFile(path, []byte("hello from the bench driver"), 0o644)
}

// childEnv is the driver's environment without PLUGIN_* variables, plus
// extra. go-plugin adds the cookie and its PLUGIN_* variables itself.
func childEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "PLUGIN_") {
			continue
		}
		if _, overridden := extra[name]; overridden {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	return env
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// firstLine returns the first line of s.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// live holds the processes the driver has started and not yet stopped, so
// that SIGINT or SIGTERM (Ctrl-C, a CI timeout) leaves none behind: plugins
// ignore SIGINT, as go-plugin plugins must.
var live = struct {
	sync.Mutex
	cmds map[*exec.Cmd]bool
}{cmds: map[*exec.Cmd]bool{}}

func track(cmd *exec.Cmd) {
	live.Lock()
	defer live.Unlock()
	live.cmds[cmd] = true
}

func untrack(cmd *exec.Cmd) {
	live.Lock()
	defer live.Unlock()
	delete(live.cmds, cmd)
}

// killLive SIGKILLs every tracked process that has started.
func killLive() {
	live.Lock()
	defer live.Unlock()
	for cmd := range live.cmds {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	}
}
