package referrals_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/riverqueue/river"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/federation"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/mail"
	"github.com/coopnet/coopnet/internal/mail/mailtest"
	"github.com/coopnet/coopnet/internal/testdb"
	"github.com/coopnet/coopnet/referrals"
)

// The notifier's tests run as the node wires it: a real directory for the
// members, mail queued through federation's River queue (referrals' own
// package cannot import federation), a real SMTP server on loopback. Two
// coops on one node stand for two nodes: the referral goes from one to the
// other through the store, as federation would carry it.

const (
	alphaActor = "http://node.example/coops/alpha"
	betaActor  = "http://node.example/coops/beta"
)

type notifyWorld struct {
	d           *db.DB
	refs        *referrals.Store
	srv         *mailtest.Server
	alpha, beta referrals.Local
	// jobs is how many mail jobs the test expects so far.
	jobs int
}

func newNotifyWorld(t *testing.T, d *db.DB) *notifyWorld {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	base := &url.URL{Scheme: "http", Host: "node.example"}
	dir := directory.NewStore(d, 4)
	alpha, ada, err := dir.Setup(ctx, directory.SetupInput{CoopName: "Alpha Workers", Slug: "alpha", AdminName: "Ada",
		AdminEmail: "ada@alpha.example", Password: "a long password"}, base.String())
	if err != nil {
		t.Fatal(err)
	}
	alpha.ContactEmail = "hello@alpha.example"
	if _, err := dir.UpdateCoop(ctx, alpha); err != nil {
		t.Fatal(err)
	}
	beta, err := dir.CreateCoop(ctx, directory.Coop{Slug: "beta", Name: "Beta Coop", Capacity: directory.CapacityOpen})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := dir.Invite(ctx, beta.ID, ada.ID, "bo@beta.example", directory.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.AcceptInvitation(ctx, secret, "Bo", "another long password"); err != nil {
		t.Fatal(err)
	}

	w := &notifyWorld{d: d, srv: mailtest.Start(t),
		alpha: referrals.Local{CoopID: alpha.ID, ActorID: alphaActor},
		beta:  referrals.Local{CoopID: beta.ID, ActorID: betaActor}}
	sender, err := mail.New(mail.Config{URL: w.srv.URL(), From: "coopnet@node.example", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	fed, err := federation.New(federation.Config{DB: d, Directory: dir, BaseURL: base, Logger: quiet,
		Workers: []func(*river.Workers) error{sender.Register}})
	if err != nil {
		t.Fatal(err)
	}
	if err := fed.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := fed.Stop(sctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	w.refs = referrals.NewStore(d, referrals.NewKeys(d), referrals.Config{})
	n := referrals.NewNotifier(w.refs, referrals.NotifierConfig{Mailer: sender, Queue: fed, Mailings: dir,
		BaseURL: base, Logger: quiet})
	w.refs.OnChange(n.Notify)
	return w
}

// VerificationKey and EncryptionKey resolve the two coops' published keys,
// as federation would over HTTP.
func (w *notifyWorld) VerificationKey(ctx context.Context, actor, kid string) (*jose.JSONWebKey, error) {
	set, err := w.refs.Keys().PublicJWKS(ctx, w.coopOf(actor))
	if err != nil {
		return nil, err
	}
	return referrals.VerificationKeyFrom(set, kid)
}

func (w *notifyWorld) EncryptionKey(ctx context.Context, actor string) (*jose.JSONWebKey, error) {
	set, err := w.refs.Keys().PublicJWKS(ctx, w.coopOf(actor))
	if err != nil {
		return nil, err
	}
	return referrals.EncryptionKeyFrom(set)
}

func (w *notifyWorld) coopOf(actor string) int64 {
	if actor == betaActor {
		return w.beta.CoopID
	}
	return w.alpha.CoopID
}

// letter is a message as its recipient reads it.
type letter struct {
	to, subject, replyTo, body string
}

// expect waits for n messages and returns them by recipient, and checks
// that no other mail was queued: an unexpected message fails here, at the
// step that made it.
func (w *notifyWorld) expect(t *testing.T, n int) map[string]letter {
	t.Helper()
	out := map[string]letter{}
	for range n {
		l := read(t, w.srv.Next(t))
		if _, dup := out[l.to]; dup {
			t.Fatalf("two messages to %s at once", l.to)
		}
		out[l.to] = l
	}
	w.jobs += n
	var jobs int
	if err := w.d.QueryRow(context.Background(), `SELECT COUNT(*) FROM river_job WHERE kind = 'mail'`).Scan(&jobs); err != nil {
		t.Fatal(err)
	}
	if jobs != w.jobs {
		t.Fatalf("%d mail jobs queued, want %d", jobs, w.jobs)
	}
	return out
}

func read(t *testing.T, r mailtest.Received) letter {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(r.Data))
	if err != nil {
		t.Fatal(err)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	body := io.Reader(m.Body)
	if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(m.Body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.To) != 1 {
		t.Fatalf("one message to %d recipients", len(r.To))
	}
	return letter{to: r.To[0], subject: subject, replyTo: m.Header.Get("Reply-To"),
		body: strings.ReplaceAll(string(b), "\r\n", "\n")}
}

func notifyIntake() referrals.Intake {
	return referrals.Intake{
		Details: referrals.Details{Organization: "Food Bank", Description: "We need a new website.",
			Categories: []string{"web-development"}, Deadline: time.Now().AddDate(0, 2, 0).Format(time.DateOnly),
			Country: "DE", Language: "de", ConsentToShare: true},
		Contact: referrals.Contact{Name: "Ann", Email: "ann@foodbank.example", Phone: "+49 30 1234-56"},
	}
}

// create sends a request to alpha and checks the two e-mails it makes.
func (w *notifyWorld) create(t *testing.T) referrals.Request {
	t.Helper()
	r, _, err := w.refs.CreateRequest(context.Background(), w.alpha, notifyIntake())
	if err != nil {
		t.Fatal(err)
	}
	w.expect(t, 2)
	return r
}

// refer refers r from alpha to beta and delivers it, as federation would.
func (w *notifyWorld) refer(t *testing.T, r referrals.Request) (offerID string, atBeta referrals.Request) {
	t.Helper()
	ctx := context.Background()
	ch, err := w.refs.Refer(ctx, w.alpha.CoopID, r.ID, []referrals.Peer{{ActorID: betaActor, Name: "Beta Coop"}})
	if err != nil {
		t.Fatal(err)
	}
	ref := ch.Offered[0]
	env, err := w.refs.EnvelopeFor(ctx, ref, w)
	if err != nil {
		t.Fatal(err)
	}
	offerID = alphaActor + "/offers/" + r.PublicID
	if err := w.refs.SetOfferID(ctx, ref.ID, offerID); err != nil {
		t.Fatal(err)
	}
	in := referrals.Incoming{To: w.beta, OfferID: offerID, From: referrals.Peer{ActorID: alphaActor, Name: "Alpha Workers"}, Envelope: env}
	got, err := w.refs.ReceiveReferral(ctx, in, w)
	if err != nil {
		t.Fatal(err)
	}
	return offerID, got.Request
}

var statusLinkRE = regexp.MustCompile(`http://node\.example/requests/([A-Za-z0-9_-]+)`)

// TestNotifyIntakeAndDecline: a new request e-mails the client its status
// link and the members the news; a decline e-mails the client the reason.
func TestNotifyIntakeAndDecline(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newNotifyWorld(t, d)
		r, token, err := w.refs.CreateRequest(ctx, w.alpha, notifyIntake())
		if err != nil {
			t.Fatal(err)
		}
		got := w.expect(t, 2)

		client := got["ann@foodbank.example"]
		m := statusLinkRE.FindStringSubmatch(client.body)
		if m == nil || m[1] != token {
			t.Fatalf("client's first e-mail has no status link with the request's secret:\n%s", client.body)
		}
		if opened, err := w.refs.RequestByStatusToken(ctx, m[1]); err != nil || opened.ID != r.ID {
			t.Fatalf("the e-mailed link opens %d, %v", opened.ID, err)
		}
		if client.subject != "Your work request to Alpha Workers" || client.replyTo != "<hello@alpha.example>" ||
			!strings.HasPrefix(client.body, "Hello Ann,") || !strings.Contains(client.body, "keep this e-mail") {
			t.Errorf("client's first e-mail: %+v", client)
		}

		member := got["ada@alpha.example"]
		link := "http://node.example/manage/referrals/" + itoa(r.ID)
		if member.subject != "New work request for Alpha Workers" || !strings.Contains(member.body, link) ||
			!strings.Contains(member.body, "Categories: web-development") {
			t.Errorf("members' e-mail: %+v", member)
		}
		// Members' e-mails hold nothing the client wrote or how to reach them.
		for _, secret := range []string{"Ann", "foodbank", "Food Bank", "website", "1234", token} {
			if strings.Contains(member.body, secret) || strings.Contains(member.subject, secret) {
				t.Errorf("members' e-mail holds %q:\n%s", secret, member.body)
			}
		}

		if _, err := w.refs.Decline(ctx, w.alpha.CoopID, r.ID, "We are fully booked until March."); err != nil {
			t.Fatal(err)
		}
		client = w.expect(t, 1)["ann@foodbank.example"]
		if client.subject != "News about your work request to Alpha Workers" ||
			!strings.Contains(client.body, "- Declined: We are fully booked until March.") ||
			!strings.Contains(client.body, "link in our first e-mail") || statusLinkRE.MatchString(client.body) {
			t.Errorf("client's decline e-mail: %+v", client)
		}
	})
}

// TestNotifyReferral: a referral e-mails the receiving coop's members, the
// client hears it was sent on, and the sender's members hear the answers.
func TestNotifyReferral(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newNotifyWorld(t, d)

		// Rejected: beta's members hear of the referral, alpha's of the answer.
		r := w.create(t)
		offerID, atBeta := w.refer(t, r)
		got := w.expect(t, 2)
		if c := got["ann@foodbank.example"]; !strings.Contains(c.body, "- Sent to Beta Coop") {
			t.Errorf("client's e-mail about the referral: %+v", c)
		}
		bo := got["bo@beta.example"]
		if bo.subject != "Alpha Workers referred a work request to Beta Coop" ||
			!strings.Contains(bo.body, "http://node.example/manage/referrals/"+itoa(atBeta.ID)) ||
			strings.Contains(bo.body, "Ann") || strings.Contains(bo.body, "foodbank") {
			t.Errorf("receiving members' e-mail: %+v", bo)
		}
		if _, err := w.refs.RejectReceived(ctx, w.beta.CoopID, atBeta.ID, "too busy"); err != nil {
			t.Fatal(err)
		}
		ans := referrals.Answer{OfferID: offerID, AnswerID: betaActor + "/answers/1", Actor: betaActor, Reason: "too busy"}
		if _, err := w.refs.RecordRejected(ctx, ans); err != nil {
			t.Fatal(err)
		}
		ada := w.expect(t, 1)["ada@alpha.example"]
		if ada.subject != "A referral from Alpha Workers came back: Beta Coop could not take it" ||
			!strings.Contains(ada.body, "Their reason: too busy") || !strings.Contains(ada.body, "No offer of it is open") {
			t.Errorf("sender's members' e-mail about the reject: %+v", ada)
		}

		// Accepted: alpha's members and the client hear who took it.
		r = w.create(t)
		offerID, atBeta = w.refer(t, r)
		w.expect(t, 2)
		if _, err := w.refs.AcceptReceived(ctx, w.beta.CoopID, atBeta.ID); err != nil {
			t.Fatal(err)
		}
		ans = referrals.Answer{OfferID: offerID, AnswerID: betaActor + "/answers/2", Actor: betaActor}
		if _, err := w.refs.RecordAccepted(ctx, ans); err != nil {
			t.Fatal(err)
		}
		got = w.expect(t, 2)
		if a := got["ada@alpha.example"]; a.subject != "Beta Coop accepted a referral from Alpha Workers" {
			t.Errorf("sender's members' e-mail about the accept: %+v", a)
		}
		if c := got["ann@foodbank.example"]; !strings.Contains(c.body, "- Beta Coop accepted and will contact you") {
			t.Errorf("client's e-mail about the accept: %+v", c)
		}
	})
}

// TestNotifyUndelivered: the sender's members hear of a referral that
// could not be delivered, once, and the receiver's of an answer that could
// not; the client does not.
func TestNotifyUndelivered(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newNotifyWorld(t, d)
		r := w.create(t)
		offerID, _ := w.refer(t, r)
		w.expect(t, 2)
		if _, err := w.refs.MarkOfferUndelivered(ctx, offerID, "beta.example answered 403 Forbidden"); err != nil {
			t.Fatal(err)
		}
		ada := w.expect(t, 1)["ada@alpha.example"]
		if ada.subject != "A referral from Alpha Workers could not be delivered" ||
			!strings.Contains(ada.body, "What went wrong: beta.example answered 403 Forbidden") ||
			!strings.Contains(ada.body, "http://node.example/manage/referrals/"+itoa(r.ID)) {
			t.Errorf("sender's members' e-mail about the failure: %+v", ada)
		}
		if _, err := w.refs.MarkOfferUndelivered(ctx, offerID, "again"); err != nil {
			t.Fatal(err)
		}
		w.expect(t, 0)

		// Beta's answer to a second referral does not reach alpha: beta's
		// members hear of it.
		r = w.create(t)
		offerID, atBeta := w.refer(t, r)
		w.expect(t, 2)
		if _, err := w.refs.RejectReceived(ctx, w.beta.CoopID, atBeta.ID, "too busy"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.refs.MarkReplyUndelivered(ctx, w.beta.CoopID, offerID, "alpha.example did not take it"); err != nil {
			t.Fatal(err)
		}
		bo := w.expect(t, 1)["bo@beta.example"]
		if bo.subject != "Beta Coop: Our refusal did not reach Alpha Workers" ||
			!strings.Contains(bo.body, "Our refusal did not reach Alpha Workers.") ||
			!strings.Contains(bo.body, "still see the referral as waiting for an answer") ||
			!strings.Contains(bo.body, "http://node.example/manage/referrals/"+itoa(atBeta.ID)) {
			t.Errorf("receiving members' e-mail about the lost answer: %+v", bo)
		}
	})
}

// TestNotifyWithdrawals: the client withdraws the request; the origin's
// members hear of it, and so do the members of the coop it was referred to
// when the Undo arrives.
func TestNotifyWithdrawals(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		w := newNotifyWorld(t, d)
		r, token, err := w.refs.CreateRequest(ctx, w.alpha, notifyIntake())
		if err != nil {
			t.Fatal(err)
		}
		w.expect(t, 2)
		offerID, atBeta := w.refer(t, r)
		w.expect(t, 2)

		if _, err := w.refs.WithdrawRequest(ctx, token); err != nil {
			t.Fatal(err)
		}
		ada := w.expect(t, 1)["ada@alpha.example"]
		if ada.subject != "A client withdrew a work request to Alpha Workers" ||
			!strings.Contains(ada.body, "Categories: web-development") || !strings.Contains(ada.body, "were withdrawn too") ||
			!strings.Contains(ada.body, "http://node.example/manage/referrals/"+itoa(r.ID)) || strings.Contains(ada.body, "Ann") {
			t.Errorf("origin members' e-mail about the withdrawal: %+v", ada)
		}

		if _, err := w.refs.RecordWithdrawn(ctx, offerID, alphaActor); err != nil {
			t.Fatal(err)
		}
		bo := w.expect(t, 1)["bo@beta.example"]
		if bo.subject != "Alpha Workers withdrew a referral to Beta Coop" ||
			!strings.Contains(bo.body, "http://node.example/manage/referrals/"+itoa(atBeta.ID)) ||
			strings.Contains(bo.body, "were withdrawn too") {
			t.Errorf("receiving members' e-mail about the withdrawal: %+v", bo)
		}
	})
}

// TestNotifyMailOff: with mail off, the notifier reads and queues nothing.
func TestNotifyMailOff(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		dir := directory.NewStore(d, 4)
		coop, _, err := dir.Setup(ctx, directory.SetupInput{CoopName: "Alpha Workers", Slug: "alpha", AdminName: "Ada",
			AdminEmail: "ada@alpha.example", Password: "a long password"}, "http://node.example")
		if err != nil {
			t.Fatal(err)
		}
		off, err := mail.New(mail.Config{})
		if err != nil {
			t.Fatal(err)
		}
		refs := referrals.NewStore(d, referrals.NewKeys(d), referrals.Config{})
		n := referrals.NewNotifier(refs, referrals.NotifierConfig{Mailer: off, Queue: refuseJobs{t}, Mailings: dir,
			BaseURL: &url.URL{Scheme: "http", Host: "node.example"}})
		refs.OnChange(n.Notify)
		r, _, err := refs.CreateRequest(ctx, referrals.Local{CoopID: coop.ID, ActorID: alphaActor}, notifyIntake())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := refs.Decline(ctx, coop.ID, r.ID, "No time."); err != nil {
			t.Fatal(err)
		}
	})
}

// refuseJobs fails the test if anything is queued.
type refuseJobs struct{ t *testing.T }

func (q refuseJobs) InsertJobTx(context.Context, *sql.Tx, river.JobArgs, *river.InsertOpts) error {
	q.t.Error("a job was queued with mail off")
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
