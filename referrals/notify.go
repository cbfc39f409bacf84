package referrals

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/mail"
)

// Notifications by e-mail. The Notifier is a change hook: it queues its
// e-mails as jobs inside the change's own transaction, so that a move and
// the mail telling of it commit together or not at all.
//
// Members hear of a new request from a client, of a referral a peer sent
// them, of a peer's answer to one they sent, of a referral or an answer of
// theirs that could not be delivered, and of a request withdrawn by its
// client or its sender. The client hears of each step of their request at
// the coop they wrote to: its first e-mail carries the status link, later
// ones tell what changed. When mail is off, nothing happens: the web UI
// shows everything.
//
// What members' e-mails hold: only what survives PurgeContacts (categories,
// deadline, peers' names and reasons) and a link to the request's page. The
// client's name, address and own words stay behind the members' login, and
// do not linger in mailboxes after the purge.

// Mailer queues e-mails in a transaction; *mail.Sender is one.
type Mailer interface {
	Enabled() bool
	Enqueue(ctx context.Context, q mail.JobInserter, tx *sql.Tx, m mail.Message) error
}

// Mailings reads who hears about a coop's work inside a transaction;
// *directory.Store is one.
type Mailings interface {
	MailingTx(ctx context.Context, tx *sql.Tx, coopID int64) (directory.Mailing, error)
}

// NotifierConfig is what a Notifier needs.
type NotifierConfig struct {
	Mailer   Mailer
	Queue    mail.JobInserter
	Mailings Mailings
	// BaseURL is the node's public URL, for links to the web pages.
	BaseURL *url.URL
	// Logger receives a line for each notification that could not be made;
	// nil means slog.Default().
	Logger *slog.Logger
}

// Notifier e-mails members and clients about changes to requests. Register
// its Notify with Store.OnChange.
type Notifier struct {
	s   *Store
	cfg NotifierConfig
	log *slog.Logger
}

// NewNotifier returns a notifier for the requests of s.
func NewNotifier(s *Store, cfg NotifierConfig) *Notifier {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Notifier{s: s, cfg: cfg, log: log.With("component", "notify")}
}

// clientMailKinds are the steps a client is e-mailed about: those that
// change where their request stands. Finer steps (one peer among several
// said no, a peer passed it on) show on the status page only, and the
// client's own withdrawal needs no e-mail: they just did it.
var clientMailKinds = map[EventKind]bool{
	EventTaken: true, EventDeclined: true, EventSent: true, EventAccepted: true,
	EventUnplaced: true, EventOutcome: true,
}

// Notify is the store's change hook. It returns an error only when the
// transaction failed under it (reading or queueing); a message that cannot
// be made (contact details purged, an address the mailer refuses) is logged
// and left out, and the move goes ahead.
func (n *Notifier) Notify(ctx context.Context, tx *sql.Tx, ch Change) error {
	if n.cfg.Mailer == nil || !n.cfg.Mailer.Enabled() {
		return nil
	}
	forMembers := n.memberNews(ch)
	forClient := !ch.Request.Received() && (ch.StatusToken != "" || hasKind(ch.Events, clientMailKinds))
	if len(forMembers) == 0 && !forClient {
		return nil
	}
	coop, err := n.cfg.Mailings.MailingTx(ctx, tx, ch.Request.CoopID)
	if err != nil {
		return fmt.Errorf("referrals: notify: %w", err)
	}
	for _, e := range forMembers {
		if len(coop.Members) == 0 {
			break
		}
		m, err := n.memberMail(ctx, tx, coop.Name, ch, e)
		if err != nil {
			return err
		}
		m.To = coop.Members
		if err := n.enqueue(ctx, tx, ch, m); err != nil {
			return err
		}
	}
	if !forClient {
		return nil
	}
	return n.mailClient(ctx, tx, coop, ch)
}

// memberNews picks the events of ch that members are e-mailed about.
func (n *Notifier) memberNews(ch Change) []Event {
	var out []Event
	for _, e := range ch.Events {
		switch e.Kind {
		case EventCreated, EventReceived, EventAccepted, EventRejected, EventUndelivered,
			EventAnswerUndelivered, EventWithdrawalUndelivered, EventPeerWithdrew, EventClientWithdrew:
			out = append(out, e)
		}
	}
	return out
}

// mailClient e-mails the client at the address in the request's contact
// details, decrypted through tx.
func (n *Notifier) mailClient(ctx context.Context, tx *sql.Tx, coop directory.Mailing, ch Change) error {
	c, err := n.s.contactTx(ctx, tx, ch.Request.CoopID, ch.Request.ID)
	switch {
	case errors.Is(err, ErrContactPurged):
		return nil
	case errors.Is(err, ErrTampered), errors.Is(err, ErrNotForUs):
		n.log.Error("client not notified: contact details do not decrypt", "request", ch.Request.ID, "error", err)
		return nil
	case err != nil:
		return err
	case c.Email == "":
		return nil
	}
	m := n.clientMail(coop.Name, c.Name, ch)
	m.To, m.ReplyTo = []string{c.Email}, coop.ContactEmail
	return n.enqueue(ctx, tx, ch, m)
}

// enqueue queues m. A message the mailer refuses is left out (the error
// names no address); other errors are the transaction's and are returned.
func (n *Notifier) enqueue(ctx context.Context, tx *sql.Tx, ch Change, m mail.Message) error {
	err := n.cfg.Mailer.Enqueue(ctx, n.cfg.Queue, tx, m)
	if errors.Is(err, mail.ErrInvalidMessage) && m.ReplyTo != "" {
		// A coop's contact address that the mailer refuses must not keep
		// the client from hearing: send without it.
		m.ReplyTo = ""
		err = n.cfg.Mailer.Enqueue(ctx, n.cfg.Queue, tx, m)
	}
	if errors.Is(err, mail.ErrInvalidMessage) {
		n.log.Warn("notification left out", "request", ch.Request.ID, "subject", m.Subject, "error", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("referrals: notify: %w", err)
	}
	return nil
}

// memberMail writes the members' e-mail about event e of ch.
func (n *Notifier) memberMail(ctx context.Context, tx *sql.Tx, coop string, ch Change, e Event) (mail.Message, error) {
	r := ch.Request
	link := n.url("/manage/referrals/" + strconv.FormatInt(r.ID, 10))
	var subject string
	var b strings.Builder
	switch e.Kind {
	case EventCreated:
		subject = "New work request for " + coop
		fmt.Fprintf(&b, "A client sent %s a new work request.\n\n%s", coop, facts(r))
		fmt.Fprintf(&b, "\nOpen it to take it on, decline it or refer it to another coop:\n%s\n\n", link)
		b.WriteString("What the client wrote and how to reach them are on that page, for members only.\n")
	case EventReceived:
		from := label(Peer{ActorID: r.FromActor, Name: r.FromName})
		subject = from + " referred a work request to " + coop
		fmt.Fprintf(&b, "%s referred a work request to %s.\n\n%s", from, coop, facts(r))
		fmt.Fprintf(&b, "The referral is valid until %s.\n", r.ExpiresAt.Format("2 January 2006"))
		fmt.Fprintf(&b, "\nOpen it to accept or reject it:\n%s\n", link)
	case EventAccepted:
		taker := label(Peer{ActorID: r.TakerActor, Name: r.TakerName})
		subject = taker + " accepted a referral from " + coop
		fmt.Fprintf(&b, "%s accepted the work request %s referred, and will contact the client.\n", taker, coop)
		if len(ch.Withdrawn) > 0 {
			b.WriteString("The other offers of it were withdrawn.\n")
		}
		fmt.Fprintf(&b, "\nSee it here:\n%s\n", link)
	case EventRejected:
		subject = "A referral from " + coop + " came back: " + e.Text
		fmt.Fprintf(&b, "About a work request %s referred: %s.\n", coop, e.Text)
		if e.Detail != "" {
			fmt.Fprintf(&b, "Their reason: %s\n", e.Detail)
		}
		open, err := openSentOffers(ctx, tx, r.ID)
		if err != nil {
			return mail.Message{}, err
		}
		if open == 0 {
			b.WriteString("\nNo offer of it is open any more: take it on, decline it, refer it to another coop or close it.\n")
		}
		fmt.Fprintf(&b, "\nOpen it:\n%s\n", link)
	case EventPeerWithdrew:
		from := label(Peer{ActorID: r.FromActor, Name: r.FromName})
		subject = from + " withdrew a referral to " + coop
		fmt.Fprintf(&b, "%s withdrew the work request it referred to %s. Nothing more needs doing about it.\n", from, coop)
		withdrawnOffers(&b, ch)
		fmt.Fprintf(&b, "\nSee it here:\n%s\n", link)
	case EventClientWithdrew:
		subject = "A client withdrew a work request to " + coop
		fmt.Fprintf(&b, "The client withdrew their work request to %s. Nothing more needs doing about it.\n\n%s", coop, facts(r))
		withdrawnOffers(&b, ch)
		fmt.Fprintf(&b, "\nSee it here:\n%s\n", link)
	case EventUndelivered, EventAnswerUndelivered, EventWithdrawalUndelivered:
		subject = coop + ": " + e.Text
		if e.Kind == EventUndelivered {
			subject = "A referral from " + coop + " could not be delivered"
		}
		fmt.Fprintf(&b, "%s.\n", e.Text)
		if e.Detail != "" {
			fmt.Fprintf(&b, "What went wrong: %s\n", e.Detail)
		}
		fmt.Fprintf(&b, "\n%s\n\nThe request:\n%s\n", undeliveredAdvice[e.Kind], link)
	}
	return mail.Message{Subject: oneLine(subject), Text: b.String()}, nil
}

// undeliveredAdvice is what the members should do about a message of theirs
// that did not reach the other coop.
var undeliveredAdvice = map[EventKind]string{
	EventUndelivered:           "The other coop has not seen it. Withdraw this referral and refer the request to another coop, or take it on.",
	EventAnswerUndelivered:     "They still see the referral as waiting for an answer: please tell them another way.",
	EventWithdrawalUndelivered: "They may still take the work on: please tell them another way that it was withdrawn.",
}

// withdrawnOffers says that the offers the coop made of the request were
// withdrawn with it, when there were any.
func withdrawnOffers(b *strings.Builder, ch Change) {
	if len(ch.Withdrawn) > 0 {
		b.WriteString("The offers of it that your coop made to other coops were withdrawn too.\n")
	}
}

// clientMail writes the client's e-mail about ch: the first one, with the
// status link, for a new request; what changed, otherwise.
//
// The later e-mails cannot carry the link: the store keeps only the hash of
// its secret, and keeping the secret itself (even encrypted) would let
// whoever reads the database, or a backup, open and withdraw clients'
// requests. So the first e-mail says to keep it, and the later ones point
// back to it.
func (n *Notifier) clientMail(coop, name string, ch Change) mail.Message {
	var b strings.Builder
	b.WriteString("Hello")
	if name = oneLine(name); name != "" {
		b.WriteString(" " + name)
	}
	b.WriteString(",\n\n")
	subject := "Your work request to " + coop
	if ch.StatusToken != "" {
		fmt.Fprintf(&b, "%s received your work request. Its members will look at it and answer on this page:\n\n", coop)
		fmt.Fprintf(&b, "%s\n\n", n.url("/requests/"+url.PathEscape(ch.StatusToken)))
		b.WriteString("Please keep this e-mail: this link is the only way to follow your request, and anyone who has it can see the request and withdraw it. ")
		b.WriteString("We will write to you again when something changes.\n")
	} else {
		subject = "News about your work request to " + coop
		fmt.Fprintf(&b, "There is news about your work request to %s:\n\n", coop)
		for _, e := range ch.Events {
			if e.ClientVisible && e.Kind != EventClientWithdrew {
				fmt.Fprintf(&b, "- %s\n", e.Text)
			}
		}
		fmt.Fprintf(&b, "\nTo see all of it, open the link in our first e-mail, %q.\n", "Your work request to "+coop)
	}
	fmt.Fprintf(&b, "\n%s, through coopnet\n", coop)
	return mail.Message{Subject: oneLine(subject), Text: b.String()}
}

// facts are the lines about a request that members' e-mails may show.
func facts(r Request) string {
	var b strings.Builder
	if len(r.Categories) > 0 {
		fmt.Fprintf(&b, "Categories: %s\n", strings.Join(r.Categories, ", "))
	}
	if r.Deadline != "" {
		fmt.Fprintf(&b, "Deadline: %s\n", r.Deadline)
	}
	return b.String()
}

func (n *Notifier) url(path string) string {
	return strings.TrimSuffix(n.cfg.BaseURL.String(), "/") + path
}

// hasKind reports whether one of events is of a kind in kinds.
func hasKind(events []Event, kinds map[EventKind]bool) bool {
	for _, e := range events {
		if kinds[e.Kind] {
			return true
		}
	}
	return false
}

// oneLine folds whitespace (line breaks included: a subject may not hold
// one) and cuts a subject's worth of text.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 150 {
		s = string(r[:149]) + "…"
	}
	return s
}

// openSentOffers counts the offers of a request still waiting for an answer.
func openSentOffers(ctx context.Context, tx *sql.Tx, requestID int64) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM referrals WHERE request_id = $1 AND direction = $2
		AND state = $3`, requestID, Sent, OfferOffered).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("referrals: notify: count open offers of request %d: %w", requestID, err)
	}
	return n, nil
}

// contactTx is ContactFor inside a transaction: a change hook runs on the
// transaction's connection (on SQLite the only writer) and must not wait on
// another. The coop's keys are usually cached by then (the request was
// encrypted or opened with them); when not, they are read once from the pool,
// which never writes: a coop holding contact details has its keys.
func (s *Store) contactTx(ctx context.Context, tx *sql.Tx, coopID, requestID int64) (Contact, error) {
	var jwe string
	err := tx.QueryRowContext(ctx, `SELECT c.jwe FROM work_request_contacts c JOIN work_requests r ON r.id = c.request_id
		WHERE c.request_id = $1 AND r.coop_id = $2`, requestID, coopID).Scan(&jwe)
	if errors.Is(err, sql.ErrNoRows) {
		return Contact{}, fmt.Errorf("%w: request %d", ErrContactPurged, requestID)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("referrals: contact of request %d: %w", requestID, err)
	}
	c, _, err := s.keys.decryptContact(ctx, coopID, jwe)
	if err != nil {
		return Contact{}, fmt.Errorf("referrals: contact of request %d: %w", requestID, err)
	}
	return c, nil
}
