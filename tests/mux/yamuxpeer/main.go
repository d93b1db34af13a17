// Command yamuxpeer is hashicorp/yamux on one side of a unix socket, for
// tests/mux/yamux_go_test.ts: our yamux session talks to it.
//
//	yamuxpeer -role server -sock PATH   listen on PATH, run a yamux server on the first connection
//	yamuxpeer -role client -sock PATH   dial PATH, run a yamux client
//
// It serves every stream the other side opens; the stream's first byte says how:
//
//	'e' echo until EOF, then Close (FIN)
//	's' sink: read until EOF, then write the byte count as decimal text and Close
//	'g' generate: read an 8-byte big-endian count N, write N pattern bytes, Close
//	'p' ping the other side 50 times, write "ok", Close
//	'w' send go-away, write "ok", Close
//	'c' Close at once, then never read (the stream close timeout resets it)
//
// With -open N it also opens N streams of its own at once; on each it writes
// -size pattern bytes, closes, reads the echo to EOF and checks it; then prints
// "open ok N" (or "open FAIL ..."). It prints "ready" once listening or
// connected, and "closed" and exits 0 when the session ends.
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func main() {
	role := flag.String("role", "server", "server or client")
	sock := flag.String("sock", "", "unix socket path")
	keepalive := flag.Duration("keepalive", 0, "keepalive interval (0: yamux's default of 30s)")
	closeTimeout := flag.Duration("closetimeout", 0, "stream close timeout (0: yamux's default)")
	backlog := flag.Int("backlog", 0, "accept backlog (0: yamux's default)")
	noAccept := flag.Bool("noaccept", false, "never accept streams")
	open := flag.Int("open", 0, "streams to open")
	size := flag.Int("size", 1<<20, "bytes per opened stream")
	flag.Parse()

	var conn net.Conn
	var err error
	if *role == "server" {
		ln, lerr := net.Listen("unix", *sock)
		if lerr != nil {
			fail(lerr)
		}
		fmt.Println("ready")
		conn, err = ln.Accept()
		ln.Close()
	} else {
		conn, err = net.Dial("unix", *sock)
		if err == nil {
			fmt.Println("ready")
		}
	}
	if err != nil {
		fail(err)
	}

	// go-plugin's settings: yamux.DefaultConfig() with its own logger.
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = os.Stderr
	if *keepalive > 0 {
		cfg.KeepAliveInterval = *keepalive
	}
	if *closeTimeout > 0 {
		cfg.StreamCloseTimeout = *closeTimeout
	}
	if *backlog > 0 {
		cfg.AcceptBacklog = *backlog
	}
	var sess *yamux.Session
	if *role == "server" {
		sess, err = yamux.Server(conn, cfg)
	} else {
		sess, err = yamux.Client(conn, cfg)
	}
	if err != nil {
		fail(err)
	}

	if !*noAccept {
		go func() {
			for {
				st, err := sess.AcceptStream()
				if err != nil {
					return
				}
				go handle(sess, st)
			}
		}()
	}
	if *open > 0 {
		go openStreams(sess, *open, *size)
	}
	<-sess.CloseChan()
	fmt.Println("closed")
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "yamuxpeer:", err)
	os.Exit(1)
}

func handle(sess *yamux.Session, st *yamux.Stream) {
	defer st.Close()
	cmd := make([]byte, 1)
	if _, err := io.ReadFull(st, cmd); err != nil {
		return
	}
	switch cmd[0] {
	case 'e':
		io.Copy(st, st)
	case 's':
		n, _ := io.Copy(io.Discard, st)
		st.Write([]byte(strconv.FormatInt(n, 10)))
	case 'g':
		var n uint64
		if err := binary.Read(st, binary.BigEndian, &n); err != nil {
			return
		}
		chunk := pattern(251 * 256)
		for n > 0 {
			k := uint64(len(chunk))
			if n < k {
				k = n
			}
			if _, err := st.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	case 'p':
		for i := 0; i < 50; i++ {
			if _, err := sess.Ping(); err != nil {
				st.Write([]byte("ping failed: " + err.Error()))
				return
			}
		}
		st.Write([]byte("ok"))
	case 'w':
		if err := sess.GoAway(); err != nil {
			st.Write([]byte("go away failed: " + err.Error()))
			return
		}
		st.Write([]byte("ok"))
	case 'c':
		st.Close()
		select {} // never read again; yamux's close timeout resets the stream
	}
}

func openStreams(sess *yamux.Session, n, size int) {
	start := time.Now()
	want := pattern(size)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := sess.OpenStream()
			if err != nil {
				errs <- err
				return
			}
			go func() {
				st.Write(want)
				st.Close()
			}()
			got, err := io.ReadAll(st)
			if err != nil {
				errs <- fmt.Errorf("stream %d: %w", st.StreamID(), err)
				return
			}
			if !bytes.Equal(got, want) {
				errs <- fmt.Errorf("stream %d: echo of %d bytes differs (got %d)", st.StreamID(), size, len(got))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Println("open FAIL", err)
		return
	}
	fmt.Printf("open ok %d %dms\n", n, time.Since(start).Milliseconds())
}
