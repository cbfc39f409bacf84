package mail

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"testing"

	gomail "github.com/wneessen/go-mail"

	"github.com/coopnet/coopnet/internal/mail/mailtest"
)

// newSender builds a Sender for url that trusts srv's certificate.
func newSender(t *testing.T, srv *mailtest.Server, url string) *Sender {
	t.Helper()
	s, err := New(Config{URL: url, From: "Coopnet <coopnet@alpha.example>", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.rootCAs = srv.RootCAs()
	return s
}

// parsed is a received message read back as a mail reader would.
type parsed struct {
	header netmail.Header
	body   string
}

func parse(t *testing.T, r mailtest.Received) parsed {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, r.Data)
	}
	var body io.Reader = m.Body
	if m.Header.Get("Content-Transfer-Encoding") == "quoted-printable" {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return parsed{header: m.Header, body: string(b)}
}

func TestSend(t *testing.T) {
	srv := mailtest.Start(t)
	s := newSender(t, srv, srv.URL())
	msg := Message{
		To:      []string{"ana@beta.example", "Bo Ek <bo@gamma.example>"},
		Subject: "Nouvelle demande : café ☕ pour « Les Ateliers »",
		Text:    "Bonjour,\n\nune demande de travail est arrivée : https://alpha.example/requests/12\n\n-- \ncoopnet\n",
		ReplyTo: "contact@alpha.example",
	}
	if err := s.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Next(t)
	if got.From != "coopnet@alpha.example" || strings.Join(got.To, ",") != "ana@beta.example,bo@gamma.example" {
		t.Errorf("envelope: from %q to %q", got.From, got.To)
	}
	p := parse(t, got)
	subject, err := new(mime.WordDecoder).DecodeHeader(p.header.Get("Subject"))
	if err != nil || subject != msg.Subject {
		t.Errorf("Subject = %q (%v), want %q; raw %q", subject, err, msg.Subject, p.header.Get("Subject"))
	}
	if raw := p.header.Get("Subject"); !strings.Contains(raw, "=?UTF-8?") {
		t.Errorf("raw Subject %q is not an RFC 2047 encoded word", raw)
	}
	checks := []struct{ name, want string }{
		{"From", `"Coopnet" <coopnet@alpha.example>`},
		{"To", `<ana@beta.example>, "Bo Ek" <bo@gamma.example>`},
		{"Reply-To", `<contact@alpha.example>`},
		{"Auto-Submitted", "auto-generated"},
		{"Content-Type", "text/plain; charset=UTF-8"},
	}
	for _, c := range checks {
		if got := p.header.Get(c.name); got != c.want {
			t.Errorf("%s = %q, want %q", c.name, got, c.want)
		}
	}
	if id := p.header.Get("Message-Id"); !strings.HasSuffix(id, "@alpha.example>") {
		t.Errorf("Message-Id = %q, want one in the From domain", id)
	}
	if _, err := p.header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	// Line ends travel as CRLF; the text is otherwise unchanged.
	if body := strings.ReplaceAll(p.body, "\r\n", "\n"); body != msg.Text {
		t.Errorf("body = %q, want %q", body, msg.Text)
	}
	if got.User != "" || got.TLS {
		t.Errorf("user %q, TLS %v: want neither", got.User, got.TLS)
	}
}

func TestSendAuthAndTLS(t *testing.T) {
	users := map[string]string{"alpha@relay": "pa:ss w@rd"}
	// The password is percent-encoded in the URL, as an operator writes it.
	const cred = "alpha%40relay:pa%3Ass%20w%40rd@"
	tests := []struct {
		name    string
		opts    mailtest.Options
		url     func(s *mailtest.Server) string
		wantTLS bool
	}{
		{"plain on loopback", mailtest.Options{Users: users},
			func(s *mailtest.Server) string { return "smtp://" + cred + s.Addr + "?tls=none" }, false},
		{"starttls", mailtest.Options{Users: users, STARTTLS: true},
			func(s *mailtest.Server) string { return "smtp://" + cred + s.Addr }, true},
		{"implicit tls", mailtest.Options{Users: users, ImplicitTLS: true},
			func(s *mailtest.Server) string { return "smtps://" + cred + s.Addr }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mailtest.StartWith(t, tt.opts)
			s := newSender(t, srv, tt.url(srv))
			if err := s.Send(context.Background(), Message{To: []string{"ana@beta.example"}, Subject: "hello", Text: "hi"}); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.Next(t)
			if got.User != "alpha@relay" || got.TLS != tt.wantTLS {
				t.Errorf("user %q, TLS %v; want alpha@relay, %v", got.User, got.TLS, tt.wantTLS)
			}
		})
	}
}

func TestSendFailsWithoutSending(t *testing.T) {
	users := map[string]string{"alpha": "right"}
	tests := []struct {
		name string
		opts mailtest.Options
		url  func(s *mailtest.Server) string
		want string
	}{
		// A relay that does not offer STARTTLS gets nothing, not even
		// the password: that is what a downgrade attack looks like.
		{"no starttls offered", mailtest.Options{Users: users},
			func(s *mailtest.Server) string { return "smtp://alpha:right@" + s.Addr }, "STARTTLS"},
		{"wrong password", mailtest.Options{Users: users},
			func(s *mailtest.Server) string { return "smtp://alpha:wrong@" + s.Addr + "?tls=none" }, "AUTH"},
		{"no credentials where required", mailtest.Options{Users: users},
			func(s *mailtest.Server) string { return "smtp://" + s.Addr + "?tls=none" }, "502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mailtest.StartWith(t, tt.opts)
			s := newSender(t, srv, tt.url(srv))
			err := s.Send(context.Background(), Message{To: []string{"ana@beta.example"}, Subject: "hello", Text: "hi"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Send: %v, want an error about %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "right") || strings.Contains(err.Error(), "ana@") {
				t.Errorf("error %q leaks a password or an address", err)
			}
			// The server hands a message over before it answers DATA, so
			// one accepted would already be there.
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("%d messages delivered", n)
			}
		})
	}
}

func TestDisabled(t *testing.T) {
	for _, url := range []string{"", "  "} {
		s, err := New(Config{URL: url})
		if err != nil {
			t.Fatalf("New(%q): %v", url, err)
		}
		if s.Enabled() || s.Relay() != "" || s.TLS() != "" || s.From() != "" {
			t.Errorf("New(%q): enabled %v, relay %q", url, s.Enabled(), s.Relay())
		}
		if err := s.Send(context.Background(), Message{To: []string{"a@b.example"}, Subject: "x"}); !errors.Is(err, ErrDisabled) {
			t.Errorf("Send: %v, want ErrDisabled", err)
		}
		// Enqueue does nothing at all: no inserter is even needed.
		if err := s.Enqueue(context.Background(), nil, nil, Message{To: []string{"a@b.example"}, Subject: "x"}); err != nil {
			t.Errorf("Enqueue: %v", err)
		}
	}
	var nilSender *Sender
	if nilSender.Enabled() {
		t.Error("a nil Sender is enabled")
	}
}

func TestInvalidMessage(t *testing.T) {
	srv := mailtest.Start(t)
	s := newSender(t, srv, srv.URL())
	ok := Message{To: []string{"ana@beta.example"}, Subject: "hello", Text: "body\r\nBcc: is fine in a body"}
	tests := []struct {
		name   string
		change func(m *Message)
	}{
		{"CRLF in subject", func(m *Message) { m.Subject = "hello\r\nBcc: eve@evil.example" }},
		{"LF in subject", func(m *Message) { m.Subject = "hello\nBcc: eve@evil.example" }},
		{"CR in subject", func(m *Message) { m.Subject = "hello\rBcc: eve@evil.example" }},
		{"CRLF in To", func(m *Message) { m.To = []string{"ana@beta.example\r\nBcc: eve@evil.example"} }},
		{"LF in a display name", func(m *Message) { m.To = []string{"Ana\n <ana@beta.example>"} }},
		{"CRLF in Reply-To", func(m *Message) { m.ReplyTo = "x@alpha.example\r\nBcc: eve@evil.example" }},
		{"two addresses in one", func(m *Message) { m.To = []string{"ana@beta.example, eve@evil.example"} }},
		{"not an address", func(m *Message) { m.To = []string{"ana"} }},
		{"no recipient", func(m *Message) { m.To = nil }},
		{"empty subject", func(m *Message) { m.Subject = " " }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := ok
			tt.change(&m)
			if err := s.Send(context.Background(), m); !errors.Is(err, ErrInvalidMessage) {
				t.Fatalf("Send: %v, want ErrInvalidMessage", err)
			}
			if err := m.Validate(); !errors.Is(err, ErrInvalidMessage) {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages delivered", n)
	}
	// The valid message goes, line break in the body and all.
	if err := s.Send(context.Background(), ok); err != nil {
		t.Fatalf("Send(valid): %v", err)
	}
	if p := parse(t, srv.Next(t)); p.header.Get("Bcc") != "" {
		t.Errorf("a Bcc header appeared")
	}
}

// TestGoMailNeutralisesLineBreaks checks go-mail's own defence, under ours:
// a line break in a subject is encoded, not written, and an address with
// one is refused.
func TestGoMailNeutralisesLineBreaks(t *testing.T) {
	m := gomail.NewMsg()
	m.Subject("hello\r\nBcc: eve@evil.example")
	if err := m.To("ana@beta.example\r\nBcc: eve@evil.example"); err == nil {
		t.Error("go-mail took an address with a line break")
	}
	m.SetBodyString(gomail.TypeTextPlain, "body")
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\nBcc:") {
		t.Errorf("go-mail wrote a header from the subject:\n%s", b.String())
	}
}

func TestRelayRefuses(t *testing.T) {
	tests := []struct {
		code      int
		permanent bool
	}{
		{550, true},
		{554, true},
		{451, false},
		{421, false},
	}
	for _, tt := range tests {
		srv := mailtest.Start(t)
		s := newSender(t, srv, srv.URL())
		srv.Refuse(tt.code, 1)
		err := s.Send(context.Background(), Message{To: []string{"ana@beta.example"}, Subject: "hello", Text: "hi"})
		var refused *RefusedError
		if !errors.As(err, &refused) || refused.Code != tt.code || refused.Permanent() != tt.permanent {
			t.Errorf("%d: Send: %#v (%v), want a RefusedError, permanent %v", tt.code, err, err, tt.permanent)
			continue
		}
		if strings.Contains(err.Error(), "ana@") || strings.Contains(err.Error(), "refused by mailtest") {
			t.Errorf("%d: error %q repeats the relay's text or an address", tt.code, err)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	const secret = "s3cret"
	tests := []struct {
		name, url, from, want string
	}{
		{"scheme", "http://relay.example", "a@b.example", "smtp://"},
		{"no host", "smtp://", "a@b.example", "no host"},
		{"path", "smtp://relay.example/x", "a@b.example", "path"},
		{"port", "smtp://relay.example:99999", "a@b.example", "port"},
		{"port not a number", "smtp://u:" + secret + "@relay.example:x", "a@b.example", "not a URL"},
		{"unknown parameter", "smtp://relay.example?ssl=1", "a@b.example", "unknown"},
		{"unknown tls mode", "smtp://relay.example?tls=maybe", "a@b.example", "tls="},
		{"tls=none with smtps", "smtps://relay.example?tls=none", "a@b.example", "tls="},
		{"password in clear", "smtp://u:" + secret + "@relay.example?tls=none", "a@b.example", "unencrypted"},
		{"password without user", "smtp://:" + secret + "@relay.example", "a@b.example", "no user"},
		{"no from", "smtp://relay.example", "", "From"},
		{"bad from", "smtp://relay.example", "coopnet", "From"},
		{"from with a line break", "smtp://relay.example", "a@b.example\r\nBcc: e@x.example", "line break"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{URL: tt.url, From: tt.from})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error about %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q repeats the password", err)
			}
		})
	}
}

func TestNewReadsURL(t *testing.T) {
	tests := []struct {
		url, relay, tls string
	}{
		{"smtp://relay.example", "relay.example:587", "starttls"},
		{"smtp://u:p@relay.example:2525?tls=starttls", "relay.example:2525", "starttls"},
		{"smtp://relay.example:25?tls=none", "relay.example:25", "none"},
		{"smtp://u:p@127.0.0.1:25?tls=none", "127.0.0.1:25", "none"},
		{"smtp://u:p@[::1]:25/?tls=none", "[::1]:25", "none"},
		{"smtps://u:p@relay.example", "relay.example:465", "implicit"},
	}
	for _, tt := range tests {
		s, err := New(Config{URL: tt.url, From: "coopnet@alpha.example"})
		if err != nil {
			t.Errorf("%s: %v", tt.url, err)
			continue
		}
		if !s.Enabled() || s.Relay() != tt.relay || s.TLS() != tt.tls || s.From() != "coopnet@alpha.example" {
			t.Errorf("%s: relay %q tls %q from %q, want %q %q", tt.url, s.Relay(), s.TLS(), s.From(), tt.relay, tt.tls)
		}
	}
}
