// Command certcheck reads a PEM certificate the way a go-plugin host reads a
// plugin's certificate and prints one JSON line with what Go made of it.
//
// Usage:
//
//	certcheck [-roots ROOTS.pem] CERT.pem [KEY.pem]
//
// The certificate is parsed with crypto/x509 and verified with the options a
// go-plugin host's TLS client uses: a CertPool holding only that certificate
// as root, the DNS name "localhost" and the serverAuth extended key usage. It
// is also verified for clientAuth, which the host checks when the plugin dials
// a broker callback; that result is reported but does not affect "ok". The
// signature of a self-issued certificate is checked with its own key, because
// Verify skips it for a leaf that is itself a root. With -roots the pool holds
// the certificates of that file instead (to check a leaf issued by a CA). With
// KEY.pem, tls.X509KeyPair must load the pair.
//
// The exit status is 0 when every check passed and 1 otherwise; the JSON line
// is printed in both cases.
package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"
)

type result struct {
	OK                 bool     `json:"ok"`
	KeyAlgorithm       string   `json:"keyAlgorithm,omitempty"`
	Bits               int      `json:"bits,omitempty"`
	Curve              string   `json:"curve,omitempty"`
	SignatureAlgorithm string   `json:"signatureAlgorithm,omitempty"`
	Subject            string   `json:"subject,omitempty"`
	DNSNames           []string `json:"dnsNames"`
	IPs                []string `json:"ips"`
	IsCA               bool     `json:"isCA"`
	NotAfter           string   `json:"notAfter,omitempty"`
	ServerAuthOK       bool     `json:"serverAuthOk"`
	ClientAuthOK       bool     `json:"clientAuthOk"`
	ClientAuthError    string   `json:"clientAuthError,omitempty"`
	SelfSignatureOK    *bool    `json:"selfSignatureOk,omitempty"`
	KeyPairOK          *bool    `json:"keyPairOk,omitempty"`
	Error              string   `json:"error,omitempty"`
}

func main() {
	rootsPath := flag.String("roots", "", "PEM file with the trusted roots (default: the certificate itself)")
	flag.Parse()
	if flag.NArg() < 1 || flag.NArg() > 2 {
		fmt.Fprintln(os.Stderr, "usage: certcheck [-roots ROOTS.pem] CERT.pem [KEY.pem]")
		os.Exit(2)
	}
	res := check(flag.Arg(0), flag.Arg(1), *rootsPath)
	line, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(string(line))
	if !res.OK {
		os.Exit(1)
	}
}

func check(certPath, keyPath, rootsPath string) result {
	res := result{DNSNames: []string{}, IPs: []string{}}
	fail := func(err error) result {
		res.OK = false
		res.Error = err.Error()
		return res
	}

	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return fail(err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return fail(errors.New("no CERTIFICATE PEM block"))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fail(err)
	}

	switch key := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		res.KeyAlgorithm = "ECDSA"
		res.Curve = key.Curve.Params().Name
		res.Bits = key.Curve.Params().BitSize
	case *rsa.PublicKey:
		res.KeyAlgorithm = "RSA"
		res.Bits = key.N.BitLen()
	case ed25519.PublicKey:
		res.KeyAlgorithm = "Ed25519"
		res.Bits = 256
	default:
		res.KeyAlgorithm = cert.PublicKeyAlgorithm.String()
	}
	res.SignatureAlgorithm = cert.SignatureAlgorithm.String()
	res.Subject = cert.Subject.String()
	res.DNSNames = append(res.DNSNames, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		res.IPs = append(res.IPs, ip.String())
	}
	res.IsCA = cert.IsCA
	res.NotAfter = cert.NotAfter.UTC().Format(time.RFC3339)

	// go-plugin's host: RootCAs = ClientCAs = a pool with the plugin's cert.
	roots := x509.NewCertPool()
	if rootsPath == "" {
		roots.AddCert(cert)
	} else {
		rootsPEM, err := os.ReadFile(rootsPath)
		if err != nil {
			return fail(err)
		}
		if !roots.AppendCertsFromPEM(rootsPEM) {
			return fail(errors.New("no certificate in the roots file"))
		}
	}
	verify := func(usage x509.ExtKeyUsage) error {
		_, err := cert.Verify(x509.VerifyOptions{
			DNSName:   "localhost",
			Roots:     roots,
			KeyUsages: []x509.ExtKeyUsage{usage},
		})
		return err
	}
	var errs []error
	// Verify does not check the signature of a leaf that is itself a root, so
	// check a self-issued certificate's signature explicitly.
	if bytes.Equal(cert.RawIssuer, cert.RawSubject) {
		err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature)
		ok := err == nil
		res.SelfSignatureOK = &ok
		if err != nil {
			errs = append(errs, fmt.Errorf("self-signature: %w", err))
		}
	}
	if err := verify(x509.ExtKeyUsageServerAuth); err != nil {
		errs = append(errs, fmt.Errorf("verify for serverAuth: %w", err))
	} else {
		res.ServerAuthOK = true
	}
	// Reported, but not part of "ok": only broker callbacks need clientAuth.
	if err := verify(x509.ExtKeyUsageClientAuth); err != nil {
		res.ClientAuthError = err.Error()
	} else {
		res.ClientAuthOK = true
	}

	if keyPath != "" {
		keyPEM, err := os.ReadFile(keyPath)
		if err != nil {
			return fail(err)
		}
		_, err = tls.X509KeyPair(certPEM, keyPEM)
		ok := err == nil
		res.KeyPairOK = &ok
		if err != nil {
			errs = append(errs, fmt.Errorf("tls.X509KeyPair: %w", err))
		}
	}

	res.OK = len(errs) == 0
	if err := errors.Join(errs...); err != nil {
		res.Error = err.Error()
	}
	return res
}
