// Package mail sends the node's notification e-mails (new work requests and
// referrals for coop members, status changes for clients) through an SMTP
// relay, and queues them durably as River jobs (see job.go).
//
// Messages are built and sent with github.com/wneessen/go-mail: it is well
// kept, speaks STARTTLS and implicit TLS, negotiates SMTP AUTH, and writes
// proper MIME (quoted-printable UTF-8 bodies, RFC 2047 encoded headers),
// which is easy to get subtly wrong by hand. The package adds its own checks
// on top: no line breaks in headers, and relay errors that never carry the
// recipients' addresses.
package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// ErrDisabled is what Send returns when no relay is configured.
var ErrDisabled = errors.New("mail: sending is off (no SMTP URL)")

// ErrInvalidMessage wraps every reason a message is refused before it is
// sent: no recipient, a bad address, a line break in a header.
var ErrInvalidMessage = errors.New("mail: invalid message")

// sendTimeout bounds one connection to the relay: dial, TLS, AUTH and each
// command. A relay that stalls must not hold a worker for long; the job is
// retried later.
const sendTimeout = 30 * time.Second

// Config says how to reach the relay.
type Config struct {
	// URL is the SMTP relay; empty turns mail off. Forms:
	//
	//	smtp://[user:pass@]host[:port]           STARTTLS, required (port 587)
	//	smtp://[user:pass@]host[:port]?tls=none  no TLS at all (port 587)
	//	smtps://[user:pass@]host[:port]          implicit TLS (port 465)
	//
	// STARTTLS is required, not merely tried, because a relay that "does
	// not offer" it may be an attacker in the middle stripping it: the
	// message and the password would then go out in clear. tls=none is for
	// a relay on the same host or network that has no TLS; with it, a user
	// and password are accepted only for a loopback host. The user name and
	// password are percent-decoded, so an '@' or ':' in them is written %40
	// or %3A. With them, AUTH PLAIN is used, or LOGIN if the relay offers
	// only that.
	URL string
	// From is the sender address, such as "coopnet@coop.example" or
	// "Coopnet <coopnet@coop.example>". Required when URL is set.
	From string
	// Logger receives one line per message sent or failed; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Message is one plain-text e-mail.
type Message struct {
	// To holds the recipients' addresses ("a@b.example" or
	// "Name <a@b.example>").
	To []string `json:"to"`
	// Subject may hold any Unicode text but no line break.
	Subject string `json:"subject"`
	// Text is the plain-text body.
	Text string `json:"text"`
	// ReplyTo, when set, is where replies go instead of From: the coop, for
	// a client's notification.
	ReplyTo string `json:"reply_to,omitempty"`
}

// Sender sends messages through one relay. Its zero value is not usable;
// build it with New. It holds no connection: each Send dials the relay.
type Sender struct {
	relay   relay
	from    *netmail.Address
	domain  string // the From address's domain, for Message-IDs
	log     *slog.Logger
	rootCAs *x509.CertPool // nil: the system's roots; tests set their own
}

// relay is the parsed form of Config.URL.
type relay struct {
	host       string
	port       int
	implicit   bool // smtps://: TLS from the first byte
	noTLS      bool // ?tls=none
	user, pass string
	hasAuth    bool
}

// New checks cfg and builds a Sender. An empty URL gives a Sender whose
// Enabled is false and whose Send returns ErrDisabled. Errors never repeat
// the URL, which may hold a password.
func New(cfg Config) (*Sender, error) {
	s := &Sender{log: cfg.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "mail")
	if strings.TrimSpace(cfg.URL) == "" {
		return s, nil
	}
	r, err := parseURL(strings.TrimSpace(cfg.URL))
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.From) == "" {
		return nil, errors.New("mail: a From address is required to send mail")
	}
	from, err := parseAddress("From", cfg.From)
	if err != nil {
		return nil, err
	}
	s.relay, s.from = r, from
	s.domain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	return s, nil
}

// parseURL reads the relay URL; see Config.URL.
func parseURL(raw string) (relay, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url's error repeats the URL, password included: say less.
		return relay{}, errors.New("mail: the SMTP URL is not a URL")
	}
	var r relay
	switch u.Scheme {
	case "smtp":
		r.port = 587
	case "smtps":
		r.port, r.implicit = 465, true
	default:
		return relay{}, errors.New("mail: the SMTP URL must start with smtp:// (STARTTLS) or smtps:// (implicit TLS)")
	}
	r.host = u.Hostname()
	switch {
	case r.host == "":
		return relay{}, errors.New("mail: the SMTP URL has no host")
	case strings.Trim(u.Path, "/") != "" || u.Fragment != "" || u.Opaque != "":
		return relay{}, errors.New("mail: the SMTP URL must not have a path or a fragment")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return relay{}, errors.New("mail: the SMTP URL's port must be a number from 1 to 65535")
		}
		r.port = n
	}
	q := u.Query()
	for key := range q {
		if key != "tls" {
			return relay{}, fmt.Errorf("mail: unknown SMTP URL parameter %q (only tls=none is known)", key)
		}
	}
	switch tlsMode := q.Get("tls"); {
	case tlsMode == "" || (tlsMode == "starttls" && !r.implicit):
	case tlsMode == "none" && !r.implicit:
		r.noTLS = true
	default:
		return relay{}, fmt.Errorf("mail: SMTP URL parameter tls=%q: only tls=none is known, and only with smtp://", tlsMode)
	}
	if u.User != nil {
		r.user = u.User.Username()
		r.pass, _ = u.User.Password()
		if r.user == "" {
			return relay{}, errors.New("mail: the SMTP URL has a password but no user name")
		}
		r.hasAuth = true
	}
	if r.hasAuth && r.noTLS && !isLoopback(r.host) {
		return relay{}, fmt.Errorf("mail: refusing to send the SMTP password unencrypted to %s: drop tls=none (STARTTLS) or use smtps://", r.host)
	}
	return r, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Enabled reports whether a relay is configured.
func (s *Sender) Enabled() bool { return s != nil && s.relay.host != "" }

// Relay is the relay's host:port, for the log; "" when mail is off.
func (s *Sender) Relay() string {
	if !s.Enabled() {
		return ""
	}
	return net.JoinHostPort(s.relay.host, strconv.Itoa(s.relay.port))
}

// TLS names how the connection to the relay is protected: "starttls",
// "implicit" or "none"; "" when mail is off.
func (s *Sender) TLS() string {
	switch {
	case !s.Enabled():
		return ""
	case s.relay.implicit:
		return "implicit"
	case s.relay.noTLS:
		return "none"
	}
	return "starttls"
}

// From is the sender address, as the From header shows it; "" when mail
// is off.
func (s *Sender) From() string {
	switch {
	case !s.Enabled():
		return ""
	case s.from.Name == "":
		return s.from.Address
	}
	return s.from.String()
}

// Send sends m now, in one connection to the relay. It returns ErrDisabled
// when mail is off, an error wrapping ErrInvalidMessage for a message that
// cannot be sent, and a *RefusedError when the relay answers with an SMTP
// error code; other errors (network, TLS, AUTH) are worth retrying.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if !s.Enabled() {
		return ErrDisabled
	}
	msg, err := s.build(m)
	if err != nil {
		return err
	}
	client, err := s.client()
	if err != nil {
		return err
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if err != nil && msg.IsDelivered() {
		// The relay took the message; only RSET or QUIT after it failed.
		// Sending again would deliver it twice.
		s.log.Debug("mail sent, closing the connection failed", "error", err)
		return nil
	}
	if err != nil {
		return sendError(err)
	}
	return nil
}

// client makes a go-mail client for one send. A fresh client each time
// costs nothing (it dials only on send) and shares no state between
// concurrent jobs.
func (s *Sender) client() (*gomail.Client, error) {
	r := s.relay
	opts := []gomail.Option{
		gomail.WithPort(r.port),
		gomail.WithTimeout(sendTimeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: r.host, RootCAs: s.rootCAs, MinVersion: tls.VersionTLS12}),
	}
	switch {
	case r.implicit:
		opts = append(opts, gomail.WithSSL())
	case r.noTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if r.hasAuth {
		// go-mail refuses PLAIN and LOGIN over a connection without TLS
		// unless the host is loopback, which parseURL has checked already.
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(gomail.SMTPAuthPlain, gomail.SMTPAuthLogin),
			gomail.WithUsername(r.user), gomail.WithPassword(r.pass))
	}
	c, err := gomail.NewClient(r.host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: client: %w", err)
	}
	return c, nil
}

// build checks m and turns it into a go-mail message.
func (s *Sender) build(m Message) (*gomail.Msg, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	msg := gomail.NewMsg()
	if err := msg.From(s.from.String()); err != nil {
		return nil, fmt.Errorf("%w: From: %v", ErrInvalidMessage, err)
	}
	// go-mail's errors quote the address: they are not passed on.
	if err := msg.To(m.To...); err != nil {
		return nil, fmt.Errorf("%w: go-mail refused a To address", ErrInvalidMessage)
	}
	if m.ReplyTo != "" {
		if err := msg.ReplyTo(m.ReplyTo); err != nil {
			return nil, fmt.Errorf("%w: go-mail refused the Reply-To address", ErrInvalidMessage)
		}
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(randomID() + "@" + s.domain)
	// RFC 3834: vacation responders and the like must not answer a
	// notification, and loops between them and us stay impossible.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	return msg, nil
}

// Validate checks m as Send would, without sending: at least one
// recipient, every address parseable, no line break in any header. The
// error wraps ErrInvalidMessage.
func (m Message) Validate() error {
	if len(m.To) == 0 {
		return fmt.Errorf("%w: no recipient", ErrInvalidMessage)
	}
	for _, to := range m.To {
		if _, err := parseAddress("To", to); err != nil {
			return err
		}
	}
	if m.ReplyTo != "" {
		if _, err := parseAddress("Reply-To", m.ReplyTo); err != nil {
			return err
		}
	}
	if strings.TrimSpace(m.Subject) == "" {
		return fmt.Errorf("%w: empty subject", ErrInvalidMessage)
	}
	// A CR or LF in a header would let whoever wrote the text add headers
	// (Bcc: ...) of their own: refuse it outright rather than fold it away.
	if strings.ContainsAny(m.Subject, "\r\n") {
		return fmt.Errorf("%w: the subject holds a line break", ErrInvalidMessage)
	}
	return nil
}

// parseAddress reads one address for the header named field. The error
// names the field, not the address: it may end up in a log.
func parseAddress(field, s string) (*netmail.Address, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%w: a %s address holds a line break", ErrInvalidMessage, field)
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%w: a %s address is not an e-mail address", ErrInvalidMessage, field)
	}
	return a, nil
}

// randomID is the local part of a Message-ID: 128 random bits.
func randomID() string {
	var b [16]byte
	rand.Read(b[:]) //nolint:errcheck // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
