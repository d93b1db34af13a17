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

// median is the nearest-rank median of samples in any order; 0 when there
// are none.
func median(samples []float64) float64 {
	sorted := append([]float64(nil), samples...)
	sort.Float64s(sorted)
	return percentile(sorted, 50)
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

// statFields are the fields of /proc/<pid>/stat after the command name (which
// may hold spaces): field 3 (state) is [0]; nil when it cannot be read.
func statFields(pid int) []string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(data)
	end := strings.LastIndexByte(s, ')')
	if end < 0 || end+2 > len(s) {
		return nil
	}
	return strings.Fields(s[end+2:])
}

// cpuMicros is a process's CPU time so far (user+system, all threads), in
// µs, from /proc/<pid>/stat (clock ticks of 1/100 s, as USER_HZ is on
// Linux); -1 when it cannot be read.
func cpuMicros(pid int) float64 {
	// utime and stime are fields 14 and 15.
	f := statFields(pid)
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (utime + stime) * 1e4
}

// minorFaults is a process's minor page faults so far (all threads, the
// exited ones included), from /proc/<pid>/stat: a page touched for the first
// time, what fresh memory costs; -1 when it cannot be read.
func minorFaults(pid int) float64 {
	// minflt is field 10.
	f := statFields(pid)
	if len(f) < 8 {
		return -1
	}
	n, err := strconv.ParseFloat(f[7], 64)
	if err != nil {
		return -1
	}
	return n
}

// cpuNanos is a process's CPU time so far, in ns, summed over its threads'
// /proc/<pid>/task/<tid>/schedstat (the scheduler's on-CPU time, exact where
// /proc/<pid>/stat counts 10 ms ticks): a transfer of a few milliseconds is
// measured per call. Threads that have exited are not counted, so it is for
// differences over a span in which the process keeps its threads (runtimes'
// worker pools do); -1 when it cannot be read. pid 0 is this process.
func cpuNanos(pid int) float64 {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = fmt.Sprintf("/proc/%d/task", pid)
	}
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return -1
	}
	total := 0.0
	for _, t := range tasks {
		data, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread just exited
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			continue
		}
		ns, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return -1
		}
		total += ns
	}
	return total
}

// perCall spreads what grew between two readings (cpuMicros, minorFaults)
// over n calls; 0 (omitted) when either could not be read.
func perCall(before, after float64, n int) float64 {
	if before < 0 || after < before || n <= 0 {
		return 0
	}
	return math.Round((after-before)/float64(n)*10) / 10
}
