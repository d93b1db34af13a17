//go:build !unix

package main

import (
	"os"
	"os/exec"
)

// Process groups are a Unix concept. Elsewhere only the direct child of
// the host (the shell) can be killed.

func setProcessGroup(*exec.Cmd) {}

func killProcessGroup(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func processGroupAlive(int) bool { return false }
