package main

// The hostile suite (-suite hostile): clients that a TLS server written by
// hand gets wrong. It launches the plugin like the refusal suite does (a
// go-plugin host with AutoMTLS), keeps one good gRPC connection open for
// the whole run (the witness), and runs the cases in order. After every
// case the witness and a fresh good connection must both answer SERVING:
// a bad client never takes the plugin, or its other connections, down.
//
//	baseline   mTLS, ALPN h2, one health check                 SERVING
//	nocert     TLS 1.3, no client certificate                   refused, nothing of ours read
//	othercert  TLS 1.3, a self-signed impostor                  refused, nothing of ours read
//	wrongkey   the host's certificate, signed with another key  refused, nothing of ours read
//	tls12      MaxVersion TLS 1.2 (gRPC and bare)               SERVING, TLS 1.2, ALPN h2
//	noalpn     TLS 1.3 without ALPN, then HTTP/2                served (the plugin's SETTINGS)
//	http11     TLS 1.3 with ALPN http/1.1 only                  refused, no application data
//
// "Nothing of ours read": no acknowledgement of our HTTP/2 SETTINGS and no
// frame but the plugin's own SETTINGS and WINDOW_UPDATE, which our TLS 1.3
// server sends as 0.5-RTT data, before it checks the client (see rawTLS).
//	garbage    random bytes, then close                         closed by the plugin
//	truncated  the first half of a real ClientHello, then EOF   closed by the plugin
//	corrupt    after a good handshake and exchange, one byte of
//	           an encrypted record flipped                      closed by the plugin (an alert or EOF)
//	idle       a connection that sends nothing                  closed by the plugin (its handshake timeout)
//	stalled    a ClientHello's first 10 bytes, then nothing     closed by the plugin (its handshake timeout)
//	stalled12  a whole TLS 1.2-only ClientHello, then nothing   closed by the plugin (a server that hands
//	           TLS 1.2 to another stack must bound that one too)
//	crowd      -crowd idle connections at once                  while open: the witness and a new client
//	           are SERVING; each is closed by the plugin
//
// idle, stalled, stalled12 and crowd are opened before the other cases and waited on
// (their close, not a sleep) at the end, up to -idle-timeout; the report
// gives how long the plugin took to close them.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// caseResult is one case of the hostile suite in the report.
type caseResult struct {
	// Want is what the plugin must do; Got what it did.
	Want string `json:"want"`
	Got  string `json:"got"`
	OK   bool   `json:"ok"`
	// Witness and Fresh are the health statuses of the long-lived good
	// connection and of a new good connection right after the case.
	Witness string `json:"witness"`
	Fresh   string `json:"fresh"`
	// CloseMs is how long the plugin took to close the connection(s) of
	// idle, stalled and crowd (the slowest of the crowd).
	CloseMs int64 `json:"close_ms,omitempty"`
}

// hostile runs the hostile suite once the plugin is up; roots trusts the
// plugin's certificate and host is the certificate go-plugin's host presents.
func hostile(o options, rep *report, network, address string, roots *x509.CertPool, host tls.Certificate) {
	rep.Cases = map[string]*caseResult{}
	timeout := o.callTimeout
	cfg := func(certs ...tls.Certificate) *tls.Config {
		return &tls.Config{
			RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12,
			Certificates: certs, NextProtos: []string{"h2"},
		}
	}
	goodCreds := credentials.NewTLS(cfg(host))

	// The witness: one gRPC connection, open from start to end.
	wctx, wcancel := context.WithCancel(context.Background())
	defer wcancel()
	witness, err := grpc.DialContext(wctx, "passthrough:///localhost",
		grpc.WithTransportCredentials(goodCreds), grpc.WithContextDialer(dialer(network, address)))
	if err != nil {
		rep.fail("witness: %v", err)
		return
	}
	defer witness.Close()
	witnessCheck := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		resp, err := grpc_health_v1.NewHealthClient(witness).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"})
		if err != nil {
			return err.Error()
		}
		return resp.GetStatus().String()
	}
	if got := witnessCheck(); got != "SERVING" {
		rep.fail("witness: first health check gave %q", got)
		return
	}

	record := func(name, want, got string, ok bool) *caseResult {
		c := &caseResult{Want: want, Got: got, OK: ok}
		c.Witness = witnessCheck()
		c.Fresh, _ = healthCheck(network, address, goodCreds, timeout)
		rep.Cases[name] = c
		if !ok {
			rep.fail("%s: want %s, got %s", name, want, got)
		}
		if c.Witness != "SERVING" || c.Fresh != "SERVING" {
			rep.fail("%s: afterwards the witness gave %q and a new good client %q, want SERVING", name, c.Witness, c.Fresh)
		}
		return c
	}

	// The slow ones first: opened now, their close awaited at the end.
	idle := openIdle(network, address, nil, timeout)
	hello := clientHello(roots, tls.VersionTLS13)
	stalled := openIdle(network, address, hello[:10], timeout)
	stalled12 := openIdle(network, address, clientHello(roots, tls.VersionTLS12), timeout)
	crowd := make([]*idleConn, o.crowd)
	for i := range crowd {
		crowd[i] = openIdle(network, address, nil, timeout)
	}
	crowdOpen := 0
	for _, c := range crowd {
		if c.err == nil {
			crowdOpen++
		}
	}

	// (a) The baseline.
	got, ok := healthCheck(network, address, goodCreds, timeout)
	record("baseline", "SERVING", got, ok && got == "SERVING")

	// (b, c, d) Refused client certificates.
	impostor, err := impostorLike(host.Leaf)
	if err != nil {
		rep.fail("impostor certificate: %v", err)
		return
	}
	otherKey, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		rep.fail("other key: %v", err)
		return
	}
	wrongKey := tls.Certificate{Certificate: host.Certificate, PrivateKey: otherKey}
	for _, c := range []struct {
		name  string
		certs []tls.Certificate
	}{{"nocert", nil}, {"othercert", []tls.Certificate{impostor}}, {"wrongkey", []tls.Certificate{wrongKey}}} {
		cc := cfg(c.certs...)
		cc.MinVersion = tls.VersionTLS13
		desc, accepted, _ := rawTLS(network, address, cc, timeout)
		record(c.name, "refused, nothing of ours read", desc, !accepted)
	}

	// (e) TLS 1.2 must still work, over gRPC and bare.
	c12 := cfg(host)
	c12.MaxVersion = tls.VersionTLS12
	got, ok = healthCheck(network, address, credentials.NewTLS(c12), timeout)
	desc, accepted, st := rawTLS(network, address, c12, timeout)
	if st != nil {
		desc = fmt.Sprintf("gRPC %s; bare: %s, %s, ALPN %q", got, desc, tls.VersionName(st.Version), st.NegotiatedProtocol)
	}
	record("tls12", "SERVING over TLS 1.2 with ALPN h2", desc,
		ok && got == "SERVING" && accepted && st.Version == tls.VersionTLS12 && st.NegotiatedProtocol == "h2")

	// (f) No ALPN is served as HTTP/2 (as node:tls does); http/1.1 only is refused.
	cn := cfg(host)
	cn.MinVersion, cn.NextProtos = tls.VersionTLS13, nil
	desc, accepted, st = rawTLS(network, address, cn, timeout)
	record("noalpn", "served: the plugin's SETTINGS after our preface", desc,
		accepted && st.Version == tls.VersionTLS13 && st.NegotiatedProtocol == "")
	ch := cfg(host)
	ch.MinVersion, ch.NextProtos = tls.VersionTLS13, []string{"http/1.1"}
	desc, accepted, _ = rawTLS(network, address, ch, timeout)
	record("http11", "refused, no application data", desc, !accepted)

	// (g) Garbage and a truncated ClientHello, then EOF: the plugin closes.
	junk := make([]byte, 1024)
	_, _ = rand.Read(junk)
	desc, closed := sendAndWaitClose(network, address, junk, timeout)
	record("garbage", "closed by the plugin", desc, closed)
	desc, closed = sendAndWaitClose(network, address, hello[:len(hello)/2], timeout)
	record("truncated", "closed by the plugin", desc, closed)

	// (j) A flipped byte in an encrypted record after a good exchange.
	desc, closed = corruptRecord(network, address, cfg(host), timeout)
	record("corrupt", "closed by the plugin", desc, closed)

	// (h, i) The idle connections: while they are open the plugin serves
	// (checked by record), and it closes each of them.
	wait := func(c *idleConn) (string, bool) {
		if c.err != nil {
			return "dial or write: " + c.err.Error(), false
		}
		select {
		case <-c.closed:
			return fmt.Sprintf("closed by the plugin after %d ms (%s)", c.after.Milliseconds(), c.how), true
		case <-time.After(time.Until(c.opened.Add(o.idleTimeout))):
			c.conn.Close()
			return fmt.Sprintf("still open after %s", o.idleTimeout), false
		}
	}
	got = fmt.Sprintf("%d of %d open", crowdOpen, len(crowd))
	crowdCase := record("crowd", "the plugin serves while they are open, then closes each", got, crowdOpen == len(crowd))
	desc, closed = wait(idle)
	record("idle", "closed by the plugin", desc, closed).CloseMs = idle.after.Milliseconds()
	desc, closed = wait(stalled)
	record("stalled", "closed by the plugin", desc, closed).CloseMs = stalled.after.Milliseconds()
	desc, closed = wait(stalled12)
	record("stalled12", "closed by the plugin", desc, closed).CloseMs = stalled12.after.Milliseconds()
	var times []int64
	var failed []string
	for i, c := range crowd {
		if d, ok := wait(c); ok {
			times = append(times, c.after.Milliseconds())
		} else {
			failed = append(failed, fmt.Sprintf("#%d %s", i, d))
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	if len(times) > 0 {
		crowdCase.CloseMs = times[len(times)-1]
		crowdCase.Got += fmt.Sprintf("; %d closed by the plugin after %d-%d ms", len(times), times[0], times[len(times)-1])
	}
	if len(failed) > 0 {
		crowdCase.OK = false
		crowdCase.Got += fmt.Sprintf("; %d not closed by the plugin (%s)", len(failed), failed[0])
		rep.fail("crowd: %d connections not closed by the plugin", len(failed))
	}
	if got := witnessCheck(); got != "SERVING" {
		rep.fail("witness: last health check gave %q", got)
	}
}

// idleConn is a raw connection that sent only its prefix, watched for the
// plugin's close.
type idleConn struct {
	conn   net.Conn
	err    error
	opened time.Time
	closed chan struct{}
	after  time.Duration // set before closed is closed
	how    string
}

// openIdle dials, writes prefix (if any) and then only reads, until the
// plugin closes the connection.
func openIdle(network, address string, prefix []byte, timeout time.Duration) *idleConn {
	c := &idleConn{closed: make(chan struct{}), opened: time.Now()}
	c.conn, c.err = net.DialTimeout(network, address, timeout)
	if c.err != nil {
		return c
	}
	if len(prefix) > 0 {
		if _, err := c.conn.Write(prefix); err != nil {
			c.err = err
			return c
		}
	}
	go func() {
		n, err := io.Copy(io.Discard, c.conn)
		c.after = time.Since(c.opened)
		c.how = fmt.Sprintf("%d bytes, then %v", n, endOf(err))
		close(c.closed)
	}()
	return c
}

// endOf names how a read ended.
func endOf(err error) string {
	if err == nil {
		return "EOF"
	}
	return err.Error()
}

// clientHello is the first flight of a Go TLS client (up to maxVersion)
// with ALPN h2, captured from a connection to nowhere.
func clientHello(roots *x509.CertPool, maxVersion uint16) []byte {
	client, server := net.Pipe()
	go func() {
		conn := tls.Client(client, &tls.Config{RootCAs: roots, ServerName: "localhost", NextProtos: []string{"h2"}, MaxVersion: maxVersion})
		_ = conn.Handshake()
	}()
	buf := make([]byte, 16<<10)
	n, _ := server.Read(buf)
	server.Close()
	client.Close()
	return buf[:n]
}

// sendAndWaitClose writes payload, half-closes, and reports whether the
// plugin then closed the connection within timeout.
func sendAndWaitClose(network, address string, payload []byte, timeout time.Duration) (string, bool) {
	conn, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return "dial: " + err.Error(), false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(payload); err != nil {
		return "write: " + err.Error(), false
	}
	if c, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = c.CloseWrite()
	}
	got, err := io.ReadAll(io.LimitReader(conn, 4096))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("plugin replied %x, and was still open after %s", got, timeout), false
	}
	return fmt.Sprintf("plugin replied %x, then %s", got, endOf(err)), true
}

// corrupter flips the last byte (in the AEAD tag) of the next write once armed.
type corrupter struct {
	net.Conn
	mu    sync.Mutex
	armed bool
}

func (c *corrupter) Write(b []byte) (int, error) {
	c.mu.Lock()
	if c.armed && len(b) > 5 {
		c.armed = false
		b = append([]byte(nil), b...)
		b[len(b)-1] ^= 0x01
	}
	c.mu.Unlock()
	return c.Conn.Write(b)
}

// corruptRecord does a good handshake, sends the HTTP/2 preface and reads
// the plugin's SETTINGS, then sends a PING in a record with one byte
// flipped. The plugin must close the connection (with bad_record_mac, or
// just a close) and send no PING ACK.
func corruptRecord(network, address string, cfg *tls.Config, timeout time.Duration) (string, bool) {
	raw, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return "dial: " + err.Error(), false
	}
	cw := &corrupter{Conn: raw}
	conn := tls.Client(cw, cfg)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if err := conn.Handshake(); err != nil {
		return "handshake: " + err.Error(), false
	}
	if _, err := conn.Write(h2Preface); err != nil {
		return "write: " + err.Error(), false
	}
	buf := make([]byte, 64)
	if n, err := conn.Read(buf); n == 0 {
		return "no SETTINGS from the plugin: " + endOf(err), false
	}
	cw.mu.Lock()
	cw.armed = true
	cw.mu.Unlock()
	ping := []byte{0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8}
	if _, err := conn.Write(ping); err != nil {
		return "write: " + err.Error(), false
	}
	// Read until the connection ends; a PING ACK (type 6, flag 1) would mean
	// the plugin accepted the corrupted record.
	var got []byte
	for {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Sprintf("read %d more bytes, still open after %s", len(got), timeout), false
			}
			for i := 0; i+9 <= len(got); {
				l := int(got[i])<<16 | int(got[i+1])<<8 | int(got[i+2])
				if got[i+3] == 6 && got[i+4]&1 == 1 {
					return "the plugin answered the corrupted PING", false
				}
				i += 9 + l
			}
			return fmt.Sprintf("read %d more bytes, then %v", len(got), err), true
		}
	}
}
