package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Dist summarises samples.
type Dist struct {
	N       int       `json:"n"`
	Median  float64   `json:"median"`
	P90     float64   `json:"p90"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Samples []float64 `json:"samples"`
}

// distOf summarises samples; nil when there are none.
func distOf(samples []float64) *Dist {
	if len(samples) == 0 {
		return nil
	}
	sorted := append([]float64(nil), samples...)
	sort.Float64s(sorted)
	return &Dist{
		N:       len(sorted),
		Median:  percentile(sorted, 50),
		P90:     percentile(sorted, 90),
		Min:     sorted[0],
		Max:     sorted[len(sorted)-1],
		Samples: samples,
	}
}

// percentile is the nearest-rank percentile of sorted samples.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// procStatus holds the memory figures of /proc/<pid>/status.
type procStatus struct {
	rssKB int64 // VmRSS: resident set now
	hwmKB int64 // VmHWM: peak resident set
}

// readProcStatus reads VmRSS and VmHWM of a process.
func readProcStatus(pid int) (procStatus, error) {
	var st procStatus
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			st.rssKB = v
		case "VmHWM":
			st.hwmKB = v
		}
	}
	if err := sc.Err(); err != nil {
		return st, err
	}
	if st.rssKB == 0 {
		return st, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return st, nil
}
