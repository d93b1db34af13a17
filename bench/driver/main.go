// Command driver is the benchmark host of rpcplugin: a real HashiCorp
// go-plugin v1.8 host that launches KV plugins (go-plugin's
// examples/grpc interface) and measures them side by side.
//
// It reads one JSON configuration (see Config) from the file named by
// -config, prints progress on stderr and one JSON object (see Output) on
// stdout. bench/run.ts builds it, writes the configuration and turns the
// output into a table.
//
// The run has two phases:
//
//  1. start: for each AutoMTLS mode, Launches rounds; each round launches
//     every target once (round robin, so that a noisy neighbour hurts all
//     plugins alike) and every reference process once.
//  2. sessions: for each mode, one long-lived plugin per target: RSS after
//     start; then Rounds rounds, each the sequential latency run and every
//     concurrency level of every target in turn (interleaved, so that drift
//     on the machine hits all plugins alike; figures are medians over the
//     rounds); then per target the RSS after that load, payload transfer
//     rates, peak RSS.
//
// A target that fails to start or to answer its first call is marked failed
// for that mode and skipped from then on; the other targets go on.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Target is one plugin under test.
type Target struct {
	// ID names the plugin in the output.
	ID string `json:"id"`
	// Argv is the command, run directly (no shell), so the process the host
	// starts is the plugin itself and its pid is the one measured.
	Argv []string `json:"argv"`
	// Dir is the plugin's working directory; its kv_<key> files live there.
	Dir string `json:"dir"`
	// Env is added to the driver's environment (PLUGIN_* variables of the
	// driver's own environment are dropped).
	Env map[string]string `json:"env"`
	// StartOnly runs the target in the start phase only (no session): a
	// stand-in that answers the first Get and nothing more
	// (bench/fixtures/first_call_floor.js).
	StartOnly bool `json:"startOnly,omitempty"`
	// PlainOnly runs the target with AutoMTLS off only.
	PlainOnly bool `json:"plainOnly,omitempty"`
}

// Reference is a process that is no plugin, timed for comparison.
type Reference struct {
	ID   string            `json:"id"`
	Argv []string          `json:"argv"`
	Dir  string            `json:"dir"`
	Env  map[string]string `json:"env"`
	// Until is "exit" (time from spawn to exit) or "line" (time from spawn
	// to the first stdout line; then its RSS is read and it is killed).
	Until string `json:"until"`
}

// Config is the driver's input.
type Config struct {
	Targets    []Target    `json:"targets"`
	References []Reference `json:"references"`
	// AutoMTLS lists the modes to run: false, true or both.
	AutoMTLS []bool `json:"automtls"`
	// Launches per target and mode in the start phase.
	Launches int `json:"launches"`
	// WarmupCalls are made before the latency run and before each
	// throughput level; they are not measured.
	WarmupCalls int `json:"warmupCalls"`
	// LatencyCalls is the number of sequential Get calls timed one by one.
	LatencyCalls int `json:"latencyCalls"`
	// ThroughputCalls is the number of Get calls per concurrency level and
	// round, unless ThroughputMs is set.
	ThroughputCalls int `json:"throughputCalls"`
	// ThroughputMs, when above 0, makes each round of a concurrency level
	// last this long (the calls started within it are counted) instead of
	// ThroughputCalls calls: every plugin gets the same time, slow or fast.
	ThroughputMs int `json:"throughputMs,omitempty"`
	// Rounds repeats the sequential latency run (LatencyCalls each) and each
	// concurrency level, interleaved across the targets of a mode (see
	// runSessions); the figures are medians over the rounds. At least 1.
	Rounds int `json:"rounds,omitempty"`
	// Concurrency levels of the throughput runs.
	Concurrency []int `json:"concurrency"`
	// Payloads are the value sizes of the Put/Get transfer runs, in bytes.
	Payloads []int `json:"payloads"`
	// PayloadReps is the number of Puts and of Gets per payload size.
	PayloadReps int `json:"payloadReps"`
	// StartTimeoutSec bounds one plugin start (ClientConfig.StartTimeout).
	StartTimeoutSec int `json:"startTimeoutSec"`
	// CallTimeoutSec bounds one call.
	CallTimeoutSec int `json:"callTimeoutSec"`
	// StartOnly skips the sessions: only the start phase and the references run.
	StartOnly bool `json:"startOnly,omitempty"`
}

// Output is what the driver prints on stdout.
type Output struct {
	Host       HostInfo          `json:"host"`
	Results    []*Result         `json:"results"`
	References []*RefResult      `json:"references"`
	Seconds    float64           `json:"seconds"`
	Config     *Config           `json:"config"`
	Notes      map[string]string `json:"notes,omitempty"`
}

// HostInfo describes the driver and the machine.
type HostInfo struct {
	GoVersion string `json:"goVersion"`
	GoPlugin  string `json:"goPlugin"`
	GRPCGo    string `json:"grpcGo"`
	// CPUs is runtime.NumCPU(): the CPUs this process may use, as nproc.
	CPUs int `json:"cpus"`
	// CPUModel is the first "model name" of /proc/cpuinfo.
	CPUModel string `json:"cpuModel"`
	// MemTotalKB is MemTotal of /proc/meminfo.
	MemTotalKB int64 `json:"memTotalKB"`
	// Kernel is /proc/sys/kernel/osrelease.
	Kernel string `json:"kernel"`
}

func main() {
	configPath := flag.String("config", "", "JSON configuration file (see Config)")
	flag.Parse()
	if *configPath == "" {
		fmt.Fprintln(os.Stderr, "usage: driver -config FILE")
		os.Exit(2)
	}
	cfg, err := readConfig(*configPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(2)
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-signals
		fmt.Fprintf(os.Stderr, "driver: %v: killing the plugins and exiting\n", sig)
		killLive()
		os.Exit(130)
	}()

	began := time.Now()
	out := &Output{Host: hostInfo(), Config: cfg}
	results := run(cfg)
	out.Results = results.targets
	out.References = results.refs
	out.Seconds = time.Since(began).Seconds()

	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "driver:", err)
		os.Exit(1)
	}
}

// readConfig reads and checks the configuration.
func readConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("bad configuration %s: %w", path, err)
	}
	if len(cfg.Targets) == 0 && len(cfg.References) == 0 {
		return nil, errors.New("the configuration has no targets and no references")
	}
	for _, t := range cfg.Targets {
		if t.ID == "" || len(t.Argv) == 0 || t.Dir == "" {
			return nil, fmt.Errorf("target %q needs id, argv and dir", t.ID)
		}
	}
	for _, r := range cfg.References {
		if r.ID == "" || len(r.Argv) == 0 || (r.Until != "exit" && r.Until != "line") {
			return nil, fmt.Errorf("reference %q needs id, argv and until (exit or line)", r.ID)
		}
	}
	if len(cfg.AutoMTLS) == 0 {
		cfg.AutoMTLS = []bool{false}
	}
	if cfg.Launches < 1 {
		cfg.Launches = 1
	}
	if cfg.StartTimeoutSec < 1 {
		cfg.StartTimeoutSec = 60
	}
	if cfg.CallTimeoutSec < 1 {
		cfg.CallTimeoutSec = 60
	}
	if cfg.Rounds < 1 {
		cfg.Rounds = 1
	}
	if cfg.PayloadReps < 1 {
		cfg.PayloadReps = 1
	}
	return &cfg, nil
}

// hostInfo reports the Go, go-plugin and grpc-go versions compiled in.
func hostInfo() HostInfo {
	info := HostInfo{GoVersion: runtime.Version(), CPUs: runtime.NumCPU()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				info.CPUModel = strings.TrimSpace(value)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if fields := strings.Fields(rest); len(fields) > 0 {
					info.MemTotalKB, _ = strconv.ParseInt(fields[0], 10, 64)
				}
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		info.Kernel = strings.TrimSpace(string(data))
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			switch dep.Path {
			case "github.com/hashicorp/go-plugin":
				info.GoPlugin = dep.Version
			case "google.golang.org/grpc":
				info.GRPCGo = dep.Version
			}
		}
	}
	return info
}

// progress prints one progress line on stderr.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "  "+format+"\n", args...)
}
