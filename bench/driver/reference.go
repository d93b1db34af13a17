package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// RefResult holds the figures of one reference process.
type RefResult struct {
	ID    string `json:"id"`
	Until string `json:"until"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Ms is spawn -> exit ("exit") or spawn -> first stdout line ("line").
	Ms *Dist `json:"ms,omitempty"`
	// RSSKB is the median VmRSS right after the first line ("line" only).
	RSSKB int64 `json:"rssKB,omitempty"`
}

// runReference starts a reference process the way launch() starts a plugin
// (same environment handling, no shell) and times it.
func runReference(ref Reference, timeout time.Duration) (time.Duration, int64, error) {
	cmd := exec.Command(ref.Argv[0], ref.Argv[1:]...)
	cmd.Dir = ref.Dir
	cmd.Env = childEnv(ref.Env)
	track(cmd)
	defer untrack(cmd)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf

	if ref.Until == "exit" {
		timer := time.AfterFunc(timeout, func() {
			if cmd.Process != nil {
				_ = cmd.Process.Kill()
			}
		})
		defer timer.Stop()
		began := time.Now()
		err := cmd.Run()
		took := time.Since(began)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: %s", err, strings.TrimSpace(errBuf.String()))
		}
		return took, 0, nil
	}

	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return 0, 0, err
	}
	began := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	lineCh := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(stdout).ReadString('\n')
		lineCh <- err
	}()
	select {
	case err := <-lineCh:
		took := time.Since(began)
		if err != nil {
			return 0, 0, fmt.Errorf("no line on stdout (%w): %s", err, strings.TrimSpace(errBuf.String()))
		}
		st, err := readProcStatus(cmd.Process.Pid)
		if err != nil {
			return took, 0, err
		}
		return took, st.rssKB, nil
	case <-time.After(timeout):
		return 0, 0, errors.New("no line on stdout before the start timeout")
	}
}
