// Command tlsprobe checks that a plugin's TLS server refuses the clients it
// must refuse. It plays a go-plugin host that turns AutoMTLS on: it makes a
// host certificate like go-plugin hosts do, launches the plugin with it in
// PLUGIN_CLIENT_CERT, reads the handshake line, and then connects to the
// advertised address with a series of clients:
//
//	plaintext  gRPC without TLS                            must fail
//	nocert     TLS trusting the plugin, no client cert     must fail
//	othercert  TLS with an impostor self-signed cert       must fail
//	garbage    random bytes on a raw connection            plugin keeps serving
//	http1      "GET / HTTP/1.1" on a raw connection        plugin keeps serving
//	good       TLS with the host certificate               must answer SERVING
//
// Every gRPC client calls grpc.health.v1.Health/Check{service:"plugin"}.
// Each refused client also calls KV.Put (go-plugin's examples/grpc service,
// which the test plugin serves), and the good client then checks with KV.Get
// that nothing was stored: a refused client must get no call through at all.
// nocert and othercert are also tried on a bare TLS connection that speaks
// the HTTP/2 preface: the plugin must not read it (no acknowledgement of its
// SETTINGS, nothing but the plugin's own SETTINGS and WINDOW_UPDATE, which
// it may send as TLS 1.3 0.5-RTT data before it checks the client).
// A bare TLS connection with the host certificate records the negotiated
// ALPN protocol and TLS version. Finally the plugin gets SIGTERM and must
// exit 0 (and remove its unix socket) within -kill-timeout.
//
// With -no-automtls the plugin is expected to serve a TLS certificate of its
// own (go-plugin's TLSProvider): PLUGIN_CLIENT_CERT is not set, handshake
// field 6 must be empty, -tls-ca is trusted and -client-cert/-client-key is
// what "good" presents. -client-auth=false says the plugin was given no
// client CA, so nocert and othercert must then succeed.
//
// Usage:
//
//	tlsprobe -cmd 'deno run ... plugin.ts' [-min-port N -max-port M]
//	tlsprobe -cmd '...' -tls12                    (every TLS client limited to TLS 1.2)
//	tlsprobe -cmd '...' -host-key p256 -host-cn NAME   (another host certificate than go-plugin's)
//	tlsprobe -cmd '...' -suite hostile [-crowd N -idle-timeout D]   (hostile.go's cases)
//	tlsprobe -cmd '...' -no-automtls -tls-ca CA.pem -client-cert C.pem -client-key C.key [-client-auth=false]
//
// It prints exactly one JSON object on stdout and exits 0 when every
// expectation held, 1 otherwise. The plugin's stderr goes to stderr.
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	kvproto "github.com/hashicorp/go-plugin/examples/grpc/proto"
)

// report is the JSON object printed on stdout.
type report struct {
	OK         bool     `json:"ok"`
	Error      string   `json:"error,omitempty"`
	Handshake  string   `json:"handshake"`
	Network    string   `json:"network"`
	Address    string   `json:"address"`
	CertKey    string   `json:"cert_key"`
	CertDNS    []string `json:"cert_dns"`
	CertIPs    []string `json:"cert_ips"`
	ALPN       string   `json:"alpn"`
	TLSVersion string   `json:"tls_version"`
	// Results holds, per client, the health status it got ("SERVING") or
	// its error. For garbage and http1 it is the status of a good client
	// that called right after them.
	Results map[string]string `json:"results"`
	// Raw holds what happened on bare connections: the plugin's reaction
	// to garbage and http1, and to nocert/othercert speaking HTTP/2.
	Raw map[string]string `json:"raw"`
	// KV holds the side-effect check: <client>_put is what KV.Put gave a
	// refused client, <client>_stored what the good client then read for
	// that key (must be NotFound); good_put/good_get are the control.
	KV map[string]string `json:"kv"`
	// Failures lists every expectation that did not hold.
	Failures []string `json:"failures"`
	// Cases holds the hostile suite's cases (-suite hostile), by name.
	Cases         map[string]*caseResult `json:"cases,omitempty"`
	ExitCode      int                    `json:"exit_code"`
	ExitSignal    string                 `json:"exit_signal,omitempty"`
	Killed        bool                   `json:"killed"`
	SocketRemoved bool                   `json:"socket_removed"`
}

type options struct {
	cmd          string
	minPort      int
	maxPort      int
	noAutoMTLS   bool
	clientAuth   bool
	tlsCA        string
	clientCert   string
	clientKey    string
	callTimeout  time.Duration
	startTimeout time.Duration
	killTimeout  time.Duration
	tls12        bool
	suite        string
	hostKey      string
	hostCN       string
	crowd        int
	idleTimeout  time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.cmd, "cmd", "", "plugin command line, run with sh -c (required)")
	flag.IntVar(&o.minPort, "min-port", 0, "PLUGIN_MIN_PORT (0: unset)")
	flag.IntVar(&o.maxPort, "max-port", 0, "PLUGIN_MAX_PORT (0: unset)")
	flag.BoolVar(&o.noAutoMTLS, "no-automtls", false, "do not send PLUGIN_CLIENT_CERT; the plugin serves its own TLS")
	flag.BoolVar(&o.clientAuth, "client-auth", true, "with -no-automtls: the plugin requires client certificates")
	flag.StringVar(&o.tlsCA, "tls-ca", "", "with -no-automtls: PEM file of the CA the plugin's certificate chains to")
	flag.StringVar(&o.clientCert, "client-cert", "", "with -no-automtls: PEM client certificate for good")
	flag.StringVar(&o.clientKey, "client-key", "", "with -no-automtls: PEM key of -client-cert")
	flag.DurationVar(&o.callTimeout, "timeout", 3*time.Second, "timeout of each client")
	flag.DurationVar(&o.startTimeout, "start-timeout", 30*time.Second, "how long to wait for the handshake line")
	flag.DurationVar(&o.killTimeout, "kill-timeout", 5*time.Second, "how long the plugin may take to exit after SIGTERM")
	flag.BoolVar(&o.tls12, "tls12", false, "limit every TLS client to TLS 1.2")
	flag.StringVar(&o.hostKey, "host-key", "p521", "curve of the host certificate: p256, p384 or p521 (go-plugin's)")
	flag.StringVar(&o.hostCN, "host-cn", "localhost", "CN of the host certificate (go-plugin's: localhost)")
	flag.StringVar(&o.suite, "suite", "refusal", "which clients: refusal (above) or hostile (hostile.go; AutoMTLS only)")
	flag.IntVar(&o.crowd, "crowd", 64, "with -suite hostile: how many idle connections crowd opens")
	flag.DurationVar(&o.idleTimeout, "idle-timeout", 180*time.Second, "with -suite hostile: how long idle connections may stay open")
	flag.Parse()

	rep := &report{Results: map[string]string{}, Raw: map[string]string{}, KV: map[string]string{}, Failures: []string{}, ExitCode: -1}
	if err := probe(o, rep); err != nil {
		rep.Error = err.Error()
	}
	rep.OK = rep.Error == "" && len(rep.Failures) == 0
	out, _ := json.Marshal(rep)
	fmt.Println(string(out))
	if !rep.OK {
		os.Exit(1)
	}
}

func (r *report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// hostCurves are the -host-key values.
var hostCurves = map[string]elliptic.Curve{"p256": elliptic.P256(), "p384": elliptic.P384(), "p521": elliptic.P521()}

// newHostCert makes a certificate the way go-plugin hosts make theirs for
// AutoMTLS (protocol.md 6.1): self-signed ECDSA P-521, CN=localhost,
// O=HashiCorp, DNS:localhost, CA:TRUE, clientAuth+serverAuth, about 30 years.
// -host-key and -host-cn change the curve and the CN (to play other hosts:
// pyvider-rpcplugin's client makes P-384, CN=pyvider.rpcplugin.autogen.client).
func newHostCert(o options) (tls.Certificate, []byte, error) {
	curve, ok := hostCurves[o.hostKey]
	if !ok {
		return tls.Certificate{}, nil, fmt.Errorf("-host-key %q: want p256, p384 or p521", o.hostKey)
	}
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.hostCN, Organization: []string{"HashiCorp"}},
		DNSNames:     []string{"localhost"},
		NotBefore:    now.Add(-30 * time.Second),
		NotAfter:     now.Add(262980 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment |
			x509.KeyUsageKeyAgreement | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, certPEM, nil
}

// impostorLike makes a fresh self-signed P-521 certificate that copies the
// subject and names of cert, so that only the key and signature differ.
func impostorLike(cert *x509.Certificate) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               cert.Subject,
		DNSNames:              cert.DNSNames,
		IPAddresses:           cert.IPAddresses,
		NotBefore:             now.Add(-30 * time.Second),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// describeKey names a public key the way the report does: "ECDSA P-521", "Ed25519", "RSA 2048".
func describeKey(pub any) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	default:
		return fmt.Sprintf("%T", pub)
	}
}

// plugin is the launched plugin process.
type plugin struct {
	cmd    *exec.Cmd
	waited chan struct{}
	err    error // from Wait, once waited is closed
}

// pluginEnv is our environment without any PLUGIN_* or cookie variable,
// plus the ones given.
func pluginEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PLUGIN_") || strings.HasPrefix(kv, "BASIC_PLUGIN=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// start launches the plugin and returns it with its first stdout line.
func start(o options, env []string) (*plugin, string, error) {
	// "exec" makes sh replace itself with the plugin (dash would otherwise
	// fork it and stay as its parent), so SIGTERM reaches the plugin.
	cmd := exec.Command("sh", "-c", "exec "+o.cmd)
	cmd.Env = env
	cmd.Stdin = nil
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	p := &plugin{cmd: cmd, waited: make(chan struct{})}

	lines := make(chan string, 1)
	readErr := make(chan error, 1)
	go func() {
		br := bufio.NewReader(stdout)
		line, err := br.ReadString('\n')
		if err != nil && line == "" {
			readErr <- err
		} else {
			lines <- line
		}
		// The plugin checks that its stdout is still read: keep reading.
		_, _ = io.Copy(io.Discard, br)
		p.err = cmd.Wait()
		close(p.waited)
	}()

	select {
	case line := <-lines:
		return p, strings.TrimSpace(line), nil
	case err := <-readErr:
		p.stop(time.Second)
		return p, "", fmt.Errorf("plugin closed stdout before the handshake line: %v", err)
	case <-time.After(o.startTimeout):
		p.stop(time.Second)
		return p, "", fmt.Errorf("no handshake line within %s", o.startTimeout)
	}
}

// stop sends SIGTERM and waits up to grace; then SIGKILLs the process group.
// It reports whether the plugin had to be killed.
func (p *plugin) stop(grace time.Duration) (killed bool) {
	select {
	case <-p.waited:
		return false
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.waited:
		return false
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.waited
	return true
}

// dialer connects to the plugin's advertised address.
func dialer(network, address string) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
}

// withConn opens a gRPC client connection with the given transport
// credentials and runs call on it within timeout.
func withConn(network, address string, creds credentials.TransportCredentials, timeout time.Duration,
	call func(context.Context, *grpc.ClientConn) (string, bool)) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := grpc.DialContext(ctx, "passthrough:///localhost",
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(dialer(network, address)),
	)
	if err != nil {
		return "dial: " + err.Error(), false
	}
	defer conn.Close()
	return call(ctx, conn)
}

// healthCheck calls Health/Check{service:"plugin"} and returns the status
// name, or the error text.
func healthCheck(network, address string, creds credentials.TransportCredentials, timeout time.Duration) (string, bool) {
	return withConn(network, address, creds, timeout, func(ctx context.Context, conn *grpc.ClientConn) (string, bool) {
		resp, err := grpc_health_v1.NewHealthClient(conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"})
		if err != nil {
			return err.Error(), false
		}
		return resp.GetStatus().String(), true
	})
}

// kvPut calls the example KV service's Put: a call with a side effect (the
// plugin writes kv_<key> in its working directory).
func kvPut(network, address string, creds credentials.TransportCredentials, timeout time.Duration, key, value string) (string, bool) {
	return withConn(network, address, creds, timeout, func(ctx context.Context, conn *grpc.ClientConn) (string, bool) {
		if _, err := kvproto.NewKVClient(conn).Put(ctx, &kvproto.PutRequest{Key: key, Value: []byte(value)}); err != nil {
			return err.Error(), false
		}
		return "stored", true
	})
}

// kvGet calls the example KV service's Get and returns the value, or the
// gRPC status code name and message.
func kvGet(network, address string, creds credentials.TransportCredentials, timeout time.Duration, key string) (string, bool) {
	return withConn(network, address, creds, timeout, func(ctx context.Context, conn *grpc.ClientConn) (string, bool) {
		resp, err := kvproto.NewKVClient(conn).Get(ctx, &kvproto.GetRequest{Key: key})
		if err != nil {
			return status.Code(err).String() + ": " + status.Convert(err).Message(), false
		}
		return string(resp.GetValue()), true
	})
}

// h2Preface is what an HTTP/2 client sends first: the connection preface
// and an empty SETTINGS frame.
var h2Preface = append([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 0, 0, 0, 4, 0, 0, 0, 0, 0)

// rawTLS opens a bare TLS connection, speaks the HTTP/2 preface and reports
// what came back. accepted is true when the plugin showed it read our
// preface: it acknowledged our SETTINGS, or sent any frame other than what
// an HTTP/2 server sends before it has read anything (SETTINGS, not an ACK,
// and WINDOW_UPDATE). Those it may send as TLS 1.3 0.5-RTT data, before it
// has checked our certificate; a refused client then gets them, then the
// alert, and never an acknowledgement.
func rawTLS(network, address string, cfg *tls.Config, timeout time.Duration) (desc string, accepted bool, state *tls.ConnectionState) {
	d := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(d, network, address, cfg)
	if err != nil {
		return "handshake: " + err.Error(), false, nil
	}
	defer conn.Close()
	st := conn.ConnectionState()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(h2Preface); err != nil {
		return "write: " + err.Error(), false, &st
	}
	var got []byte
	buf := make([]byte, 4096)
	for len(got) < 1<<16 {
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		for at := 0; at+9 <= len(got); at += 9 + (int(got[at])<<16 | int(got[at+1])<<8 | int(got[at+2])) {
			typ, flags := got[at+3], got[at+4]
			if !(typ == 4 && flags&1 == 0) && typ != 8 {
				return fmt.Sprintf("plugin read our preface: it sent %d bytes of application data, frame type %d flags %d among them", len(got), typ, flags), true, &st
			}
		}
		if err != nil {
			if len(got) > 0 {
				return fmt.Sprintf("only the plugin's own SETTINGS and WINDOW_UPDATE (%d bytes: 0.5-RTT data), then read: %v", len(got), err), false, &st
			}
			return "read: " + err.Error(), false, &st
		}
	}
	return fmt.Sprintf("plugin read our preface? it sent %d bytes of SETTINGS and WINDOW_UPDATE frames alone", len(got)), true, &st
}

// rawSend writes payload on a bare connection and reports how the plugin
// reacted (what it sent back, then how the connection ended).
func rawSend(network, address string, payload []byte, timeout time.Duration) string {
	conn, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(payload); err != nil {
		return "write: " + err.Error()
	}
	if c, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = c.CloseWrite()
	}
	got, err := io.ReadAll(io.LimitReader(conn, 4096))
	end := "closed"
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		end = "still open after " + timeout.String()
	} else if err != nil {
		end = err.Error()
	}
	return fmt.Sprintf("plugin replied %q, then %s", got, end)
}

func readKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return c, err
	}
	c.Leaf, err = x509.ParseCertificate(c.Certificate[0])
	return c, err
}

func probe(o options, rep *report) error {
	if o.cmd == "" {
		return errors.New("-cmd is required")
	}

	// 1. The certificates: the host's (AutoMTLS) or the given client's.
	env := []string{"BASIC_PLUGIN=hello", "PLUGIN_PROTOCOL_VERSIONS=1"}
	if o.minPort != 0 {
		env = append(env, fmt.Sprintf("PLUGIN_MIN_PORT=%d", o.minPort))
	}
	if o.maxPort != 0 {
		env = append(env, fmt.Sprintf("PLUGIN_MAX_PORT=%d", o.maxPort))
	}
	var clientCert tls.Certificate
	roots := x509.NewCertPool()
	if o.noAutoMTLS {
		if o.tlsCA == "" || o.clientCert == "" || o.clientKey == "" {
			return errors.New("-no-automtls needs -tls-ca, -client-cert and -client-key")
		}
		caPEM, err := os.ReadFile(o.tlsCA)
		if err != nil {
			return err
		}
		if !roots.AppendCertsFromPEM(caPEM) {
			return fmt.Errorf("no certificate in %s", o.tlsCA)
		}
		if clientCert, err = readKeyPair(o.clientCert, o.clientKey); err != nil {
			return fmt.Errorf("client certificate: %v", err)
		}
	} else {
		var certPEM []byte
		var err error
		if clientCert, certPEM, err = newHostCert(o); err != nil {
			return fmt.Errorf("host certificate: %v", err)
		}
		env = append(env, "PLUGIN_CLIENT_CERT="+string(certPEM))
	}
	impostor, err := impostorLike(clientCert.Leaf)
	if err != nil {
		return fmt.Errorf("impostor certificate: %v", err)
	}

	// 2. Launch and read the handshake line.
	p, line, err := start(o, pluginEnv(env...))
	rep.Handshake = line
	if err != nil {
		return err
	}
	defer p.stop(time.Second) // on early returns
	fields := strings.Split(line, "|")
	if len(fields) < 6 {
		return fmt.Errorf("handshake line has %d fields, want at least 6: %q", len(fields), line)
	}
	if fields[0] != "1" || fields[1] != "1" || fields[4] != "grpc" {
		rep.fail("handshake fields 1, 2, 5 are %q, %q, %q; want 1, 1, grpc", fields[0], fields[1], fields[4])
	}
	rep.Network, rep.Address = fields[2], fields[3]
	if rep.Network != "unix" && rep.Network != "tcp" {
		return fmt.Errorf("unknown network %q in the handshake line", rep.Network)
	}
	if o.noAutoMTLS {
		if fields[5] != "" {
			rep.fail("handshake field 6 is %q without AutoMTLS; it must be empty (a go-plugin host would panic)", fields[5])
		}
	} else {
		if len(fields[5]) <= 50 {
			return fmt.Errorf("handshake field 6 is %q; AutoMTLS needs the plugin certificate there", fields[5])
		}
		der, err := base64.RawStdEncoding.DecodeString(fields[5])
		if err != nil {
			return fmt.Errorf("handshake field 6 is not unpadded standard base64: %v", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("handshake field 6 is not an X.509 certificate: %v", err)
		}
		roots.AddCert(cert)
	}

	// The host-style client settings (go-plugin: ServerName "localhost",
	// MinVersion TLS 1.2, RootCAs = the plugin certificate).
	tlsConfig := func(certs ...tls.Certificate) *tls.Config {
		cfg := &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12, Certificates: certs}
		if o.tls12 {
			cfg.MaxVersion = tls.VersionTLS12
		}
		return cfg
	}
	network, address, timeout := rep.Network, rep.Address, o.callTimeout

	if o.suite == "hostile" {
		if o.noAutoMTLS {
			return errors.New("-suite hostile needs AutoMTLS")
		}
		hostile(o, rep, rep.Network, rep.Address, roots, clientCert)
		return stopPlugin(o, rep, p)
	} else if o.suite != "refusal" {
		return fmt.Errorf("-suite %q: want refusal or hostile", o.suite)
	}

	// 3a. ALPN and version, and the certificate the plugin presents.
	cfg := tlsConfig(clientCert)
	cfg.NextProtos = []string{"h2"}
	desc, _, st := rawTLS(network, address, cfg, timeout)
	if st == nil {
		rep.fail("bare TLS connection with the good certificate failed: %s", desc)
	} else {
		rep.ALPN = st.NegotiatedProtocol
		rep.TLSVersion = tls.VersionName(st.Version)
		if len(st.PeerCertificates) > 0 {
			leaf := st.PeerCertificates[0]
			rep.CertKey = describeKey(leaf.PublicKey)
			rep.CertDNS = leaf.DNSNames
			for _, ip := range leaf.IPAddresses {
				rep.CertIPs = append(rep.CertIPs, ip.String())
			}
		}
		if rep.ALPN != "h2" {
			rep.fail("ALPN is %q, want h2 (grpc-go >= 1.67 refuses servers without it)", rep.ALPN)
		}
	}

	// 3b. The clients, in order.
	mustFail := func(name, got string, ok bool) {
		rep.Results[name] = got
		if ok {
			rep.fail("%s: the plugin answered %s; it must refuse this client", name, got)
		}
	}
	mustServe := func(name, got string, ok bool) {
		rep.Results[name] = got
		if !ok || got != "SERVING" {
			rep.fail("%s: got %q, want SERVING", name, got)
		}
	}
	var refusedKeys []string
	good := func() (string, bool) {
		return healthCheck(network, address, credentials.NewTLS(tlsConfig(clientCert)), timeout)
	}

	// A refused client must not get any call through, health check or not:
	// each also tries KV.Put, and the good client checks below that nothing
	// was stored.
	refused := func(name string, creds credentials.TransportCredentials) {
		got, ok := healthCheck(network, address, creds, timeout)
		mustFail(name, got, ok)
		put, ok := kvPut(network, address, creds, timeout, "refused-"+name, "written by a refused client")
		rep.KV[name+"_put"] = put
		if ok {
			rep.fail("%s: KV.Put went through (%s); the plugin must refuse this client", name, put)
		}
		refusedKeys = append(refusedKeys, name)
	}

	refused("plaintext", insecure.NewCredentials())

	for _, c := range []struct {
		name  string
		certs []tls.Certificate
	}{{"nocert", nil}, {"othercert", []tls.Certificate{impostor}}} {
		creds := credentials.NewTLS(tlsConfig(c.certs...))
		cfg := tlsConfig(c.certs...)
		cfg.NextProtos = []string{"h2"}
		raw, accepted, _ := rawTLS(network, address, cfg, timeout)
		rep.Raw[c.name] = raw
		if o.clientAuth {
			refused(c.name, creds)
			if accepted {
				rep.fail("%s: on a bare TLS connection %s; it must refuse this client", c.name, raw)
			}
		} else {
			got, ok := healthCheck(network, address, creds, timeout)
			mustServe(c.name, got, ok)
		}
	}

	junk := make([]byte, 1024)
	_, _ = rand.Read(junk)
	rep.Raw["garbage"] = rawSend(network, address, junk, timeout)
	got, ok := good()
	mustServe("garbage", got, ok)

	rep.Raw["http1"] = rawSend(network, address, []byte("GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"), timeout)
	got, ok = good()
	mustServe("http1", got, ok)

	got, ok = good()
	mustServe("good", got, ok)

	// Nothing a refused client sent was stored; what the good client stores is.
	goodCreds := credentials.NewTLS(tlsConfig(clientCert))
	for _, name := range refusedKeys {
		stored, ok := kvGet(network, address, goodCreds, timeout, "refused-"+name)
		rep.KV[name+"_stored"] = stored
		if ok || !strings.HasPrefix(stored, "NotFound") {
			rep.fail("%s: KV.Get of its key gave %q, want NotFound", name, stored)
		}
	}
	rep.KV["good_put"], _ = kvPut(network, address, goodCreds, timeout, "accepted", "written by the good client")
	rep.KV["good_get"], ok = kvGet(network, address, goodCreds, timeout, "accepted")
	if !ok || !strings.HasPrefix(rep.KV["good_get"], "written by the good client") {
		rep.fail("good: KV.Put then Get gave %q (put: %s)", rep.KV["good_get"], rep.KV["good_put"])
	}

	return stopPlugin(o, rep, p)
}

// stopPlugin sends SIGTERM: the plugin must exit 0 in time and remove its socket.
func stopPlugin(o options, rep *report, p *plugin) error {
	network, address := rep.Network, rep.Address
	rep.Killed = p.stop(o.killTimeout)
	if rep.Killed {
		rep.fail("the plugin did not exit within %s of SIGTERM; it was killed", o.killTimeout)
	}
	state := p.cmd.ProcessState
	rep.ExitCode = state.ExitCode()
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		rep.ExitSignal = ws.Signal().String()
	}
	if rep.ExitCode != 0 {
		rep.fail("the plugin exited with %s after SIGTERM, want exit status 0", state)
	}
	rep.SocketRemoved = true
	if network == "unix" {
		if _, err := os.Lstat(address); !errors.Is(err, os.ErrNotExist) {
			rep.SocketRemoved = false
			rep.fail("the socket %s is still there after the plugin exited", address)
		}
	}
	return nil
}
