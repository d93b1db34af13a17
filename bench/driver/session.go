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

// Latency is the distribution of sequential Get calls, in µs.
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
}

// Throughput is one concurrency level: Calls Gets spread over Concurrency
// goroutines sharing the host's one connection.
type Throughput struct {
	Concurrency int     `json:"concurrency"`
	Calls       int     `json:"calls"`
	Errors      int     `json:"errors"`
	FirstError  string  `json:"firstError,omitempty"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"perSecond"`
	// RSSAfterKB is the plugin's VmRSS right after this level.
	RSSAfterKB int64 `json:"rssAfterKB,omitempty"`
	// CPUUsPerCall is the plugin's CPU time (user+system) per call, in µs:
	// steadier than the rate on a shared machine.
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
	// Seeded is true when Put failed and the driver wrote the value file
	// itself so that Get could still be measured.
	Seeded bool `json:"seeded,omitempty"`
}

// runSession launches one plugin and measures it at length. A nil Session
// with an error means the plugin failed outright; a Session with Error set
// means a step failed after a good start.
func runSession(cfg *Config, t Target, mode bool, startTimeout, callTimeout time.Duration) (*Session, error) {
	r, err := launch(t, mode, startTimeout, callTimeout)
	if err != nil {
		return nil, err
	}
	defer r.stop()

	s := &Session{}
	st, err := readProcStatus(r.pid)
	if err != nil {
		s.Error = err.Error()
		return s, err
	}
	s.RSSStartKB = st.rssKB
	progress("RSS after start: %.1f MB", float64(st.rssKB)/1024)

	warm(r, cfg.WarmupCalls, 1)
	s.Latency = measureLatency(r, cfg.LatencyCalls)
	if s.Latency != nil {
		progress("latency: %d calls, p50 %.0f µs, p99 %.0f µs, %d errors",
			s.Latency.Calls, s.Latency.P50us, s.Latency.P99us, s.Latency.Errors)
	}

	for _, c := range cfg.Concurrency {
		warm(r, cfg.WarmupCalls, c)
		tp := measureThroughput(r, cfg.ThroughputCalls, c)
		if st, err := readProcStatus(r.pid); err == nil {
			tp.RSSAfterKB = st.rssKB
		}
		s.Throughput = append(s.Throughput, tp)
		progress("throughput: concurrency %2d: %8.0f calls/s (%d calls, %d errors), RSS %.1f MB",
			c, tp.PerSecond, tp.Calls, tp.Errors, float64(tp.RSSAfterKB)/1024)
	}
	if st, err := readProcStatus(r.pid); err == nil {
		s.RSSAfterThroughputKB = st.rssKB
		progress("RSS after throughput: %.1f MB", float64(st.rssKB)/1024)
	}

	for _, size := range cfg.Payloads {
		p := measurePayload(r, t.Dir, size, cfg.PayloadReps)
		s.Payload = append(s.Payload, p)
		progress("payload %s: Put %s, Get %s", sizeName(size), rateOrErr(p.PutMBps, p.PutError), rateOrErr(p.GetMBps, p.GetError))
	}
	if st, err := readProcStatus(r.pid); err == nil {
		s.PeakRSSKB = st.hwmKB
	}
	return s, nil
}

// warm makes n unmeasured Get calls over c goroutines.
func warm(r *running, n, c int) {
	if n <= 0 {
		return
	}
	_ = measureThroughput(r, n, c)
}

// measureLatency times n sequential Get calls one by one.
func measureLatency(r *running, n int) *Latency {
	if n <= 0 {
		return nil
	}
	samples := make([]float64, 0, n)
	l := &Latency{Calls: n}
	var sum float64
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
		sum += us
	}
	if len(samples) == 0 {
		return l
	}
	l.CPUUsPerCall = perCall(cpu0, cpuMicros(r.pid), n)
	sort.Float64s(samples)
	l.P50us = percentile(samples, 50)
	l.P90us = percentile(samples, 90)
	l.P99us = percentile(samples, 99)
	l.MaxUs = samples[len(samples)-1]
	l.MeanUs = sum / float64(len(samples))
	return l
}

// measureThroughput makes n Get calls over c goroutines and times the lot.
func measureThroughput(r *running, n, c int) *Throughput {
	var (
		next     atomic.Int64
		failures atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	cpu0 := cpuMicros(r.pid)
	began := time.Now()
	for i := 0; i < c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := r.get(seedKey); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(began)
	tp := &Throughput{
		Concurrency:  c,
		Calls:        n,
		Errors:       int(failures.Load()),
		Seconds:      took.Seconds(),
		CPUUsPerCall: perCall(cpu0, cpuMicros(r.pid), n),
	}
	if e, ok := firstErr.Load().(string); ok {
		tp.FirstError = e
	}
	if tp.Errors < n {
		tp.PerSecond = float64(n-tp.Errors) / took.Seconds()
	}
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
