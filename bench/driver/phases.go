package main

import (
	"fmt"
	"time"
)

// Result holds every figure of one target in one AutoMTLS mode.
type Result struct {
	Target   string `json:"target"`
	AutoMTLS bool   `json:"automtls"`
	// OK is false when the plugin failed outright: it did not start or did
	// not answer its first call. Error says why.
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Exe is /proc/<pid>/exe of the process measured: the plugin itself,
	// never a shell around it.
	Exe string `json:"exe,omitempty"`

	// Start is client.Start() -> handshake line -> first successful Get, in ms.
	Start *Dist `json:"startMs,omitempty"`
	// Handshake is client.Start() -> handshake line parsed by the host, in ms.
	Handshake *Dist `json:"handshakeMs,omitempty"`
	// Start and Handshake are timed from client.Start(), so with AutoMTLS
	// they include the host making its certificate before the spawn.
	// SpawnToLine and SpawnToCall are timed from the spawn itself (go-plugin's
	// "starting plugin" log line): what the plugin's own start-up costs.
	SpawnToLine *Dist `json:"spawnToLineMs,omitempty"`
	SpawnToCall *Dist `json:"spawnToCallMs,omitempty"`
	// Stop is the host's Kill(): Shutdown call until the process is gone, in ms.
	Stop *Dist `json:"stopMs,omitempty"`

	Session *Session `json:"session,omitempty"`
}

// Session holds the figures of the long-lived plugin.
type Session struct {
	Error string `json:"error,omitempty"`
	// RSSStartKB is VmRSS after the first successful call.
	RSSStartKB int64 `json:"rssStartKB"`
	// RSSAfterThroughputKB is VmRSS after the last throughput level.
	RSSAfterThroughputKB int64 `json:"rssAfterThroughputKB"`
	// PeakRSSKB is VmHWM at the end of the session (after the payloads).
	PeakRSSKB  int64         `json:"peakRssKB"`
	Latency    *Latency      `json:"latency,omitempty"`
	Throughput []*Throughput `json:"throughput,omitempty"`
	Payload    []*Payload    `json:"payload,omitempty"`
}

// results collects everything the two phases measured.
type results struct {
	targets []*Result
	refs    []*RefResult
}

// run runs the start phase, then the sessions.
func run(cfg *Config) results {
	startTimeout := time.Duration(cfg.StartTimeoutSec) * time.Second
	callTimeout := time.Duration(cfg.CallTimeoutSec) * time.Second

	var res results
	byKey := map[string]*Result{}
	starts := map[string][]float64{}
	handshakes := map[string][]float64{}
	stops := map[string][]float64{}
	spawnLines := map[string][]float64{}
	spawnCalls := map[string][]float64{}
	for _, mode := range cfg.AutoMTLS {
		for _, t := range cfg.Targets {
			if t.PlainOnly && mode {
				continue
			}
			r := &Result{Target: t.ID, AutoMTLS: mode, OK: true}
			byKey[key(t.ID, mode)] = r
			res.targets = append(res.targets, r)
		}
	}
	refSamples := map[string][]float64{}
	refRSS := map[string][]float64{}
	refErrors := map[string]string{}

	// Phase 1: start-up, round robin.
	for _, mode := range cfg.AutoMTLS {
		fmt.Fprintf(stderr, "== start: %d launches per plugin, AutoMTLS %s\n", cfg.Launches, onOff(mode))
		for i := 1; i <= cfg.Launches; i++ {
			for _, t := range cfg.Targets {
				r := byKey[key(t.ID, mode)]
				if r == nil || !r.OK {
					continue
				}
				l, err := launch(t, mode, startTimeout, callTimeout)
				if err != nil {
					r.OK = false
					r.Error = err.Error()
					progress("[%d/%d] %-24s AutoMTLS %-3s FAILED: %s", i, cfg.Launches, t.ID, onOff(mode), firstLine(err.Error()))
					continue
				}
				r.Exe = l.exe
				stopMs := l.stop()
				k := key(t.ID, mode)
				starts[k] = append(starts[k], ms(l.firstCall))
				handshakes[k] = append(handshakes[k], ms(l.handshake))
				stops[k] = append(stops[k], stopMs)
				spawnLines[k] = append(spawnLines[k], ms(l.spawnToLine))
				spawnCalls[k] = append(spawnCalls[k], ms(l.spawnToCall))
				progress("[%d/%d] %-24s AutoMTLS %-3s start %7.1f ms (handshake %7.1f)  stop %6.1f ms",
					i, cfg.Launches, t.ID, onOff(mode), ms(l.firstCall), ms(l.handshake), stopMs)
			}
			for _, ref := range cfg.References {
				if refErrors[ref.ID] != "" {
					continue
				}
				took, rssKB, err := runReference(ref, startTimeout)
				if err != nil {
					refErrors[ref.ID] = err.Error()
					progress("[%d/%d] %-24s FAILED: %s", i, cfg.Launches, ref.ID, firstLine(err.Error()))
					continue
				}
				refSamples[ref.ID] = append(refSamples[ref.ID], ms(took))
				if rssKB > 0 {
					refRSS[ref.ID] = append(refRSS[ref.ID], float64(rssKB))
				}
				progress("[%d/%d] %-24s %7.1f ms", i, cfg.Launches, ref.ID, ms(took))
			}
		}
	}
	for k, r := range byKey {
		r.Start = distOf(starts[k])
		r.Handshake = distOf(handshakes[k])
		r.Stop = distOf(stops[k])
		r.SpawnToLine = distOf(spawnLines[k])
		r.SpawnToCall = distOf(spawnCalls[k])
	}
	for _, ref := range cfg.References {
		rr := &RefResult{ID: ref.ID, Until: ref.Until, OK: refErrors[ref.ID] == "", Error: refErrors[ref.ID]}
		rr.Ms = distOf(refSamples[ref.ID])
		if d := distOf(refRSS[ref.ID]); d != nil {
			rr.RSSKB = int64(d.Median)
		}
		res.refs = append(res.refs, rr)
	}

	// Phase 2: per mode, one long-lived plugin per target, measured in
	// interleaved rounds (runSessions).
	if cfg.StartOnly {
		return res
	}
	var sessionTargets []Target
	for _, t := range cfg.Targets {
		if !t.StartOnly {
			sessionTargets = append(sessionTargets, t)
		}
	}
	for _, mode := range cfg.AutoMTLS {
		var inMode []Target
		for _, t := range sessionTargets {
			if !(t.PlainOnly && mode) {
				inMode = append(inMode, t)
			}
		}
		runSessions(cfg, inMode, byKey, mode, startTimeout, callTimeout)
	}
	return res
}

// key identifies a target in one mode.
func key(id string, mode bool) string {
	return fmt.Sprintf("%s/%t", id, mode)
}

// onOff spells an AutoMTLS mode.
func onOff(mode bool) string {
	if mode {
		return "on"
	}
	return "off"
}

// ms converts a duration to fractional milliseconds.
func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}
