// Package mailtest runs a real SMTP server on 127.0.0.1 for tests
// (github.com/emersion/go-smtp). It records every message it accepts and
// hands it over on a channel, so that a test waits for a message instead of
// sleeping; it can require AUTH PLAIN, offer STARTTLS or speak implicit TLS,
// and refuse the next messages with a chosen reply code.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is one message the server accepted.
type Received struct {
	// From is the envelope sender (MAIL FROM) and To the envelope
	// recipients (RCPT TO).
	From string
	To   []string
	// Data is the message as sent: headers, a blank line and the body, with
	// CRLF line ends.
	Data []byte
	// User is the account that authenticated, "" without AUTH.
	User string
	// TLS reports whether the message came over TLS (STARTTLS or implicit).
	TLS bool
}

// Options choose how the server behaves. The zero value is a plain server
// without AUTH or TLS.
type Options struct {
	// Users turns AUTH PLAIN on and requires it before MAIL FROM: user name
	// to password.
	Users map[string]string
	// STARTTLS offers STARTTLS, with a certificate for 127.0.0.1 made for
	// the test (see RootCAs).
	STARTTLS bool
	// ImplicitTLS speaks TLS from the first byte, as smtps:// does.
	ImplicitTLS bool
}

// Server is a running test SMTP server.
type Server struct {
	// Addr is the server's 127.0.0.1:port.
	Addr string

	opts    Options
	roots   *x509.CertPool
	msgs    chan Received
	done    chan struct{}
	mu      sync.Mutex
	refusal *smtp.SMTPError
	refuseN int
}

// Start runs a plain server (no AUTH, no TLS) until the test ends.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith runs a server with the given options until the test ends.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{opts: o, msgs: make(chan Received, 64), done: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "mailtest.localhost"
	// AUTH PLAIN without TLS is fine here: the server listens on loopback
	// only, and it lets tests check credentials without a certificate.
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	if o.STARTTLS || o.ImplicitTLS {
		cfg, roots, err := selfSigned()
		if err != nil {
			ln.Close()
			t.Fatalf("mailtest: certificate: %v", err)
		}
		s.roots = roots
		if o.STARTTLS {
			srv.TLSConfig = cfg
		}
		if o.ImplicitTLS {
			ln = tls.NewListener(ln, cfg)
		}
	}
	s.Addr = ln.Addr().String()
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln) //nolint:errcheck // ends with Close
	}()
	t.Cleanup(func() {
		close(s.done)
		srv.Close()
		// Serve adds the listener to those Close closes only once it
		// runs: a test over before then would leave it accepting.
		ln.Close()
		<-served
	})
	return s
}

// Messages delivers each message the server accepts, in order.
func (s *Server) Messages() <-chan Received { return s.msgs }

// Next waits for the next message, failing the test if none comes within
// ten seconds (a bound for a broken test, not a delay).
func (s *Server) Next(t testing.TB) Received {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("mailtest: no message arrived")
		return Received{}
	}
}

// URL is the relay URL a sender needs, without credentials:
// smtp://127.0.0.1:PORT?tls=none for a plain server, smtp://127.0.0.1:PORT
// with STARTTLS, smtps://127.0.0.1:PORT with implicit TLS.
func (s *Server) URL() string {
	switch {
	case s.opts.ImplicitTLS:
		return "smtps://" + s.Addr
	case s.opts.STARTTLS:
		return "smtp://" + s.Addr
	}
	return "smtp://" + s.Addr + "?tls=none"
}

// RootCAs holds the certificate of a TLS server, for the client to trust;
// nil for a plain server.
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// Refuse answers the next n messages with code (such as 451 or 550) at the
// end of DATA, instead of accepting them; n < 0 refuses every message from
// now on. Refused messages are not delivered on Messages.
func (s *Server) Refuse(code, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusal = &smtp.SMTPError{
		Code:         code,
		EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0},
		Message:      "refused by mailtest",
	}
	s.refuseN = n
}

// takeRefusal returns the answer for the message just received: nil to
// accept it.
func (s *Server) takeRefusal() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refusal == nil || s.refuseN == 0 {
		return nil
	}
	if s.refuseN > 0 {
		s.refuseN--
	}
	return s.refusal
}

// session is one SMTP connection's state.
type session struct {
	s    *Server
	conn *smtp.Conn
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

// AuthMechanisms implements smtp.AuthSession: PLAIN only when users are set.
func (ss *session) AuthMechanisms() []string {
	if len(ss.s.opts.Users) == 0 {
		return nil
	}
	return []string{sasl.Plain}
}

// Auth implements smtp.AuthSession.
func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || len(ss.s.opts.Users) == 0 {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		want, ok := ss.s.opts.Users[username]
		if !ok || want != password || (identity != "" && identity != username) {
			return errors.New("invalid user name or password")
		}
		ss.user = username
		return nil
	}), nil
}

// Mail implements smtp.Session.
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if len(ss.s.opts.Users) > 0 && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

// Rcpt implements smtp.Session.
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

// Data implements smtp.Session.
func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.s.takeRefusal(); err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	m := Received{From: ss.from, To: ss.to, Data: data, User: ss.user, TLS: isTLS}
	select {
	case ss.s.msgs <- m:
		return nil
	case <-ss.s.done:
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "shutting down"}
	}
}

// Reset implements smtp.Session.
func (ss *session) Reset() { ss.from, ss.to = "", nil }

// Logout implements smtp.Session.
func (ss *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and localhost, valid for an
// hour, and a pool that trusts it.
func selfSigned() (*tls.Config, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailtest"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
	return cfg, roots, nil
}
