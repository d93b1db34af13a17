package main

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Latency is the distribution of sequential Get calls, in µs. With several
// rounds, P50us and CPUUsPerCall are the medians of the rounds' own figures
// (Rounds holds them); P90us, P99us, MeanUs and MaxUs are of every sample of
// every round together.
type Latency struct {
	Calls      int     `json:"calls"`
	Errors     int     `json:"errors"`
	FirstError string  `json:"firstError,omitempty"`
	P50us      float64 `json:"p50us"`
	P90us      float64 `json:"p90us"`
	P99us      float64 `json:"p99us"`
	MeanUs     float64 `json:"meanUs"`
	MaxUs      float64 `json:"maxUs"`
	// CPUUsPerCall is the plugin's CPU time (user+system) per call, in µs.
	CPUUsPerCall float64 `json:"cpuUsPerCall,omitempty"`
	// Rounds are the figures of each round, in the order they ran.
	Rounds []LatencyRound `json:"rounds,omitempty"`
}

// LatencyRound is one round of sequential Gets.
type LatencyRound struct {
	Calls        int     `json:"calls"`
	Errors       int     `json:"errors"`
	P50us        float64 `json:"p50us"`
	CPUUsPerCall float64 `json:"cpuUsPerCall,omitempty"`
}

// Throughput is one concurrency level: Gets spread over Concurrency
// goroutines sharing the host's one connection. With several rounds,
// PerSecond and CPUUsPerCall are the medians of the rounds' own figures
// (Rounds holds them), Calls, Errors and Seconds their sums.
type Throughput struct {
	Concurrency int     `json:"concurrency"`
	Calls       int     `json:"calls"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"firstError,omitempty"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"perSecond"`
	// RSSAfterKB is the plugin's VmRSS right after this level (its last round).
	RSSAfterKB int64 `json:"rssAfterKB,omitempty"`
	// CPUUsPerCall is the plugin's CPU time (user+system) per call, in µs:
	// steadier than the rate on a shared machine.
	CPUUsPerCall float64 `json:"cpuUsPerCall,omitempty"`
	// Rounds are the figures of each round, in the order they ran.
	Rounds []ThroughputRound `json:"rounds,omitempty"`
}

// ThroughputRound is one round of one concurrency level.
type ThroughputRound struct {
	Calls        int     `json:"calls"`
	Errors       int     `json:"errors"`
	Seconds      float64 `json:"seconds"`
	PerSecond    float64 `json:"perSecond"`
	CPUUsPerCall float64 `json:"cpuUsPerCall,omitempty"`
}

// Payload is the transfer rate of one value size. A rate is bytes moved per
// second (median call time), in MB/s (10^6 bytes).
type Payload struct {
	Bytes    int     `json:"bytes"`
	PutMBps  float64 `json:"putMBps,omitempty"`
	PutError string  `json:"putError,omitempty"`
	GetMBps  float64 `json:"getMBps,omitempty"`
	GetError string  `json:"getError,omitempty"`
	// PutCPUUs and GetCPUUs are the plugin's CPU time per call (all its
	// threads, from schedstat: exact, and steadier than the rates on a shared
	// machine); PutHostCPUUs and GetHostCPUUs the driver's own, i.e. the
	// host's: its side of the transfer (its TLS records included).
	PutCPUUs     float64 `json:"putCpuUs,omitempty"`
	GetCPUUs     float64 `json:"getCpuUs,omitempty"`
	PutHostCPUUs float64 `json:"putHostCpuUs,omitempty"`
	GetHostCPUUs float64 `json:"getHostCpuUs,omitempty"`
	// PutFaults and GetFaults are the plugin's minor page faults per call:
	// the fresh memory it touched.
	PutFaults float64 `json:"putFaults,omitempty"`
	GetFaults float64 `json:"getFaults,omitempty"`
	// Seeded is true when Put failed and the driver wrote the value file
	// itself so that Get could still be measured.
	Seeded bool `json:"seeded,omitempty"`
}

// sessionPlugin is one target's long-lived plugin during the sessions of a mode.
type sessionPlugin struct {
	t       Target
	res     *Result
	r       *running
	s       *Session
	samples []float64 // every sequential Get's µs, all rounds
	lat     []*Latency
	tp      map[int][]*Throughput
}

// runSessions launches one long-lived plugin per target of a mode and
// measures them side by side: after the warm-up, cfg.Rounds rounds, each
// the sequential latency run of every target, then each concurrency level
// of every target (round r starts at the r-th target, so no target always
// follows the same one). A plugin's round i of a figure is thus measured
// within seconds of every other plugin's round i, and drift on the machine
// hits them all. Then, one target at a time, the RSS after the load, the
// payloads and the peak RSS. A target that fails to start is marked failed.
func runSessions(cfg *Config, targets []Target, byKey map[string]*Result, mode bool, startTimeout, callTimeout time.Duration) {
	var ls []*sessionPlugin
	defer func() {
		for _, l := range ls {
			if l.r != nil {
				l.r.stop()
			}
		}
	}()
	for _, t := range targets {
		res := byKey[key(t.ID, mode)]
		if !res.OK {
			continue
		}
		fmt.Fprintf(stderr, "== session: %s, AutoMTLS %s\n", t.ID, onOff(mode))
		r, err := launch(t, mode, startTimeout, callTimeout)
		if err != nil {
			res.OK = false
			res.Error = err.Error()
			progress("FAILED: %s", firstLine(err.Error()))
			continue
		}
		s := &Session{}
		res.Session = s
		st, err := readProcStatus(r.pid)
		if err != nil {
			s.Error = err.Error()
			r.stop()
			continue
		}
		s.RSSStartKB = st.rssKB
		progress("RSS after start: %.1f MB", float64(st.rssKB)/1024)
		ls = append(ls, &sessionPlugin{t: t, res: res, r: r, s: s, tp: map[int][]*Throughput{}})
	}
	if len(ls) == 0 {
		return
	}

	fmt.Fprintf(stderr, "== warm-up: %d calls sequentially and at each concurrency, per plugin\n", cfg.WarmupCalls)
	for _, l := range ls {
		warm(l.r, cfg.WarmupCalls, 1)
		for _, c := range cfg.Concurrency {
			warm(l.r, cfg.WarmupCalls, c)
		}
	}
	rounds := max(cfg.Rounds, 1)
	for round := 0; round < rounds; round++ {
		order := append(append([]*sessionPlugin(nil), ls[round%len(ls):]...), ls[:round%len(ls)]...)
		fmt.Fprintf(stderr, "== round %d/%d, AutoMTLS %s\n", round+1, rounds, onOff(mode))
		if cfg.LatencyCalls > 0 {
			for _, l := range order {
				lat, samples := measureLatency(l.r, cfg.LatencyCalls)
				l.lat = append(l.lat, lat)
				l.samples = append(l.samples, samples...)
				progress("%-22s latency: %d calls, p50 %.0f µs, %d errors", l.t.ID, lat.Calls, lat.P50us, lat.Errors)
			}
		}
		for _, c := range cfg.Concurrency {
			for _, l := range order {
				tp := measureThroughput(l.r, cfg, c)
				l.tp[c] = append(l.tp[c], tp)
				progress("%-22s c=%-2d %8.0f calls/s (%d calls, %d errors), CPU %.1f µs/call",
					l.t.ID, c, tp.PerSecond, tp.Calls, tp.Errors, tp.CPUUsPerCall)
			}
		}
	}

	for _, l := range ls {
		fmt.Fprintf(stderr, "== session end: %s, AutoMTLS %s\n", l.t.ID, onOff(mode))
		if cfg.LatencyCalls > 0 {
			l.s.Latency = summariseLatency(l.lat, l.samples)
		}
		for _, c := range cfg.Concurrency {
			l.s.Throughput = append(l.s.Throughput, summariseThroughput(c, l.tp[c]))
		}
		if st, err := readProcStatus(l.r.pid); err == nil {
			l.s.RSSAfterThroughputKB = st.rssKB
			if n := len(l.s.Throughput); n > 0 {
				l.s.Throughput[n-1].RSSAfterKB = st.rssKB
			}
			progress("RSS after the rounds: %.1f MB", float64(st.rssKB)/1024)
		}
		for _, size := range cfg.Payloads {
			p := measurePayload(l.r, l.t.Dir, size, cfg.PayloadReps)
			l.s.Payload = append(l.s.Payload, p)
			progress("payload %s: Put %s, Get %s", sizeName(size), rateOrErr(p.PutMBps, p.PutError), rateOrErr(p.GetMBps, p.GetError))
		}
		if st, err := readProcStatus(l.r.pid); err == nil {
			l.s.PeakRSSKB = st.hwmKB
		}
		l.r.stop()
		l.r = nil
	}
}

// warm makes n unmeasured Get calls over c goroutines.
func warm(r *running, n, c int) {
	if n <= 0 {
		return
	}
	_ = callMany(r, n, 0, c)
}

// measureLatency times n sequential Get calls one by one; it returns the
// round's figures and its samples (µs) in the order taken.
func measureLatency(r *running, n int) (*Latency, []float64) {
	samples := make([]float64, 0, n)
	l := &Latency{Calls: n}
	cpu0 := cpuMicros(r.pid)
	for i := 0; i < n; i++ {
		began := time.Now()
		_, err := r.get(seedKey)
		us := float64(time.Since(began)) / float64(time.Microsecond)
		if err != nil {
			l.Errors++
			if l.FirstError == "" {
				l.FirstError = err.Error()
			}
			continue
		}
		samples = append(samples, us)
	}
	if len(samples) == 0 {
		return l, samples
	}
	l.CPUUsPerCall = perCall(cpu0, cpuMicros(r.pid), n)
	sorted := append([]float64(nil), samples...)
	sort.Float64s(sorted)
	l.P50us = percentile(sorted, 50)
	return l, samples
}

// summariseLatency merges the rounds: P50 and CPU per call are the medians
// of the rounds', the other percentiles, mean and max those of all samples.
func summariseLatency(rounds []*Latency, samples []float64) *Latency {
	l := &Latency{}
	var p50s, cpus []float64
	for _, r := range rounds {
		l.Calls += r.Calls
		l.Errors += r.Errors
		if l.FirstError == "" {
			l.FirstError = r.FirstError
		}
		l.Rounds = append(l.Rounds, LatencyRound{Calls: r.Calls, Errors: r.Errors, P50us: r.P50us, CPUUsPerCall: r.CPUUsPerCall})
		if r.Calls > r.Errors {
			p50s = append(p50s, r.P50us)
			if r.CPUUsPerCall > 0 {
				cpus = append(cpus, r.CPUUsPerCall)
			}
		}
	}
	if len(samples) == 0 {
		return l
	}
	l.P50us = median(p50s)
	l.CPUUsPerCall = median(cpus)
	sorted := append([]float64(nil), samples...)
	sort.Float64s(sorted)
	var sum float64
	for _, v := range sorted {
		sum += v
	}
	l.P90us = percentile(sorted, 90)
	l.P99us = percentile(sorted, 99)
	l.MaxUs = sorted[len(sorted)-1]
	l.MeanUs = sum / float64(len(sorted))
	return l
}

// measureThroughput is one round of one level: cfg.ThroughputMs of calls
// over c goroutines when it is set, else cfg.ThroughputCalls calls.
func measureThroughput(r *running, cfg *Config, c int) *Throughput {
	return callMany(r, cfg.ThroughputCalls, time.Duration(cfg.ThroughputMs)*time.Millisecond, c)
}

// callMany makes Get calls over c goroutines and times the lot: n calls,
// or (d > 0) as many as start within d.
func callMany(r *running, n int, d time.Duration, c int) *Throughput {
	var (
		next     atomic.Int64
		failures atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	cpu0 := cpuMicros(r.pid)
	began := time.Now()
	deadline := began.Add(d)
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if d > 0 {
					if !time.Now().Before(deadline) {
						return
					}
					next.Add(1)
				} else if next.Add(1) > int64(n) {
					return
				}
				if _, err := r.get(seedKey); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(began)
	calls := n
	if d > 0 {
		calls = int(next.Load())
	}
	tp := &Throughput{
		Concurrency:  c,
		Calls:        calls,
		Errors:       int(failures.Load()),
		Seconds:      took.Seconds(),
		CPUUsPerCall: perCall(cpu0, cpuMicros(r.pid), calls),
	}
	if e, ok := firstErr.Load().(string); ok {
		tp.FirstError = e
	}
	if tp.Errors < calls {
		tp.PerSecond = float64(calls-tp.Errors) / took.Seconds()
	}
	return tp
}

// summariseThroughput merges the rounds of one level: the rate and the CPU
// per call are the medians of the rounds', the counts their sums.
func summariseThroughput(c int, rounds []*Throughput) *Throughput {
	tp := &Throughput{Concurrency: c}
	var rates, cpus []float64
	for _, r := range rounds {
		tp.Calls += r.Calls
		tp.Errors += r.Errors
		tp.Seconds += r.Seconds
		if tp.FirstError == "" {
			tp.FirstError = r.FirstError
		}
		tp.Rounds = append(tp.Rounds, ThroughputRound{Calls: r.Calls, Errors: r.Errors, Seconds: r.Seconds, PerSecond: r.PerSecond, CPUUsPerCall: r.CPUUsPerCall})
		if r.PerSecond > 0 {
			rates = append(rates, r.PerSecond)
		}
		if r.CPUUsPerCall > 0 {
			cpus = append(cpus, r.CPUUsPerCall)
		}
	}
	tp.PerSecond = median(rates)
	tp.CPUUsPerCall = median(cpus)
	return tp
}

// measurePayload Puts a random value of size bytes reps times, then Gets it
// reps times, and reports the rate of the median call of each.
func measurePayload(r *running, dir string, size, reps int) *Payload {
	p := &Payload{Bytes: size}
	value := make([]byte, size)
	_, _ = rand.Read(value)
	key := fmt.Sprintf("payload%d", size)

	var puts []float64
	cpu0, host0, faults0 := cpuNanos(r.pid), cpuNanos(0), minorFaults(r.pid)
	for i := 0; i < reps; i++ {
		began := time.Now()
		if err := r.put(key, value); err != nil {
			p.PutError = err.Error()
			break
		}
		puts = append(puts, time.Since(began).Seconds())
	}
	if p.PutError == "" {
		p.PutMBps = rate(size, puts)
		p.PutCPUUs = perCall(cpu0/1e3, cpuNanos(r.pid)/1e3, reps)
		p.PutHostCPUUs = perCall(host0/1e3, cpuNanos(0)/1e3, reps)
		p.PutFaults = perCall(faults0, minorFaults(r.pid), reps)
	} else {
		// Let Get be measured anyway, on a file of the same size.
		if err := os.WriteFile(filepath.Join(dir, "kv_"+key), value, 0o644); err != nil {
			p.GetError = "seeding the value file: " + err.Error()
			return p
		}
		p.Seeded = true
	}

	var gets []float64
	got := 0
	cpu0, host0, faults0 = cpuNanos(r.pid), cpuNanos(0), minorFaults(r.pid)
	for i := 0; i < reps; i++ {
		began := time.Now()
		v, err := r.get(key)
		if err != nil {
			p.GetError = err.Error()
			break
		}
		gets = append(gets, time.Since(began).Seconds())
		got = len(v)
	}
	if p.GetError == "" {
		if got < size {
			p.GetError = fmt.Sprintf("Get returned %d bytes, fewer than the %d stored", got, size)
		} else {
			p.GetMBps = rate(got, gets)
			p.GetCPUUs = perCall(cpu0/1e3, cpuNanos(r.pid)/1e3, reps)
			p.GetHostCPUUs = perCall(host0/1e3, cpuNanos(0)/1e3, reps)
			p.GetFaults = perCall(faults0, minorFaults(r.pid), reps)
		}
	}
	_ = os.Remove(filepath.Join(dir, "kv_"+key))
	return p
}

// rate is bytes per median second, in MB/s.
func rate(bytes int, seconds []float64) float64 {
	sort.Float64s(seconds)
	med := percentile(seconds, 50)
	if med <= 0 {
		return 0
	}
	return float64(bytes) / med / 1e6
}

// rateOrErr formats a rate or the first line of an error.
func rateOrErr(mbps float64, err string) string {
	if err != "" {
		return "FAILED (" + firstLine(err) + ")"
	}
	return fmt.Sprintf("%.0f MB/s", mbps)
}

// sizeName formats a byte count in KiB or MiB.
func sizeName(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
