package mail

import (
	"errors"
	"fmt"

	gomail "github.com/wneessen/go-mail"
)

// RefusedError is the relay's answer when it refuses a message with an SMTP
// reply code. It keeps the codes and the step, not the relay's text: relays
// echo recipients' addresses in it, and this error ends up in logs and in
// the job list.
type RefusedError struct {
	// Step is the command refused, such as "RCPT TO" or "DATA".
	Step string
	// Code is the SMTP reply code (RFC 5321), such as 450 or 550.
	Code int
	// Enhanced is the enhanced status code (RFC 3463), such as "5.1.1",
	// when the relay gives one.
	Enhanced string
}

// Error implements error.
func (e *RefusedError) Error() string {
	msg := fmt.Sprintf("mail: the relay refused the message at %s: %d", e.Step, e.Code)
	if e.Enhanced != "" {
		msg += " " + e.Enhanced
	}
	return msg
}

// Permanent reports whether sending the message again cannot succeed: a 5xx
// reply. 4xx replies are temporary (mailbox busy, greylisting, rate limits).
func (e *RefusedError) Permanent() bool { return e.Code >= 500 && e.Code < 600 }

// sendError turns go-mail's error into the package's. go-mail's SendError
// lists the refused recipients in its message, so it is rebuilt from its
// reason and codes; errors before any message is sent (dial, TLS, AUTH)
// hold no address and are kept as they are.
func sendError(err error) error {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return fmt.Errorf("mail: send: %w", err)
	}
	if code := se.ErrorCode(); code >= 400 && code < 600 {
		return &RefusedError{Step: step(se.Reason), Code: code, Enhanced: se.EnhancedStatusCode()}
	}
	if se.Reason == gomail.ErrSMTPRcptTo {
		return fmt.Errorf("mail: send: %s", se.Reason)
	}
	return fmt.Errorf("mail: send: %s", se.Error())
}

// step names the SMTP command that a go-mail SendError reason stands for.
func step(r gomail.SendErrReason) string {
	switch r {
	case gomail.ErrSMTPMailFrom:
		return "MAIL FROM"
	case gomail.ErrSMTPRcptTo:
		return "RCPT TO"
	case gomail.ErrSMTPData:
		return "DATA"
	case gomail.ErrSMTPDataClose:
		return "end of DATA"
	case gomail.ErrSMTPReset:
		return "RSET"
	}
	return r.String()
}
