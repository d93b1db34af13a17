//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// setProcessGroup makes the plugin command the leader of a new process
// group, so that the host can reach every process the command line starts
// (for example the real plugin behind a "sh -c" that did not exec it).
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcessGroup sends SIGKILL to every process in the process group
// whose leader is pid.
func killProcessGroup(pid int) error {
	return syscall.Kill(-pid, syscall.SIGKILL)
}

// processGroupAlive reports whether any process is left in the process
// group whose leader is pid.
func processGroupAlive(pid int) bool {
	return syscall.Kill(-pid, 0) == nil
}
