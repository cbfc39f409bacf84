package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/html"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
)

// The effects of incoming activities. go-fed's typed values are translated
// into incoming (gofed.go) before anything here runs, so the effects read
// plain values and can be tested without go-fed. Each runs inside the short
// transaction that also records the activity as seen: an effect that fails
// leaves the activity unseen, and the sender's retry applies it.

// Why an activity is not applied; the inbox answers 403 and 400.
var (
	errRefused         = errors.New("federation: activity refused")
	errInvalidActivity = errors.New("federation: invalid activity")
)

// incoming is an activity as the inbox understood it.
type incoming struct {
	ID     string
	Type   string
	Actor  RemoteActor // the verified signer, also the activity's actor
	Object objectRef
	Body   []byte // as received, for the object's content
}

// objectRef is an activity's object: an IRI, or an embedded object.
type objectRef struct {
	ID       string
	Types    []string
	Embedded bool
	// Of an embedded activity (the Follow in an Accept or an Undo).
	Actor  string
	Object string
}

func (o objectRef) is(t string) bool { return slices.Contains(o.Types, t) }

// later is work an effect leaves for after its transaction commits: fetches
// that must not hold the database's write lock while waiting on a peer.
type later func(ctx context.Context)

// applyFollow handles a Follow of one of our coops: accepted at once (with
// an Accept sent back), or pending when the coop approves followers by hand.
// A Follow of anything else is ignored.
func (f *Federation) applyFollow(ctx context.Context, tx *sql.Tx, in incoming) (later, error) {
	coop, ok, err := f.localCoop(ctx, in.Object.ID)
	if err != nil || !ok {
		return nil, err
	}
	var prev string
	err = directory.TxQueryRow(ctx, tx, `SELECT state FROM followers WHERE coop_id = $1 AND actor_id = $2`, coop.ID, in.Actor.ID).Scan(&prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("federation: read follower: %w", err)
	}
	state := stateAccepted
	if coop.ApproveFollowers && prev != stateAccepted {
		state = statePending
	}
	// A follower who follows again (a new Follow id) keeps its place, and
	// gets an Accept again: servers wait for one per Follow.
	if _, err := directory.TxExec(ctx, tx, `INSERT INTO followers (coop_id, actor_id, follow_id, state, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (coop_id, actor_id) DO UPDATE SET follow_id = excluded.follow_id, state = excluded.state`,
		coop.ID, in.Actor.ID, in.ID, state, db.Now()); err != nil {
		return nil, fmt.Errorf("federation: save follower: %w", err)
	}
	f.log.InfoContext(ctx, "new follower", "coop", coop.Slug, "actor", in.Actor.ID, "state", state)
	if state == statePending {
		return nil, nil
	}
	return nil, f.answerFollow(ctx, tx, coop, "Accept", in.ID, in.Actor)
}

// applyUndo handles an Undo of a Follow: the follower row goes. The Follow
// may be embedded or named by its id; anything else undone is ignored.
func (f *Federation) applyUndo(ctx context.Context, tx *sql.Tx, in incoming) (later, error) {
	obj := in.Object
	if obj.Embedded && !obj.is("Follow") {
		return nil, nil
	}
	if obj.Embedded && obj.Actor != "" && obj.Actor != in.Actor.ID {
		return nil, fmt.Errorf("%w: %s undoes a Follow by %s", errRefused, in.Actor.ID, obj.Actor)
	}
	res, err := directory.TxExec(ctx, tx, `DELETE FROM followers WHERE actor_id = $1 AND follow_id = $2`, in.Actor.ID, obj.ID)
	if err != nil {
		return nil, fmt.Errorf("federation: remove follower: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 || !obj.Embedded {
		return nil, nil
	}
	// The Follow's id may be one we never saw (some servers make a new one
	// for the Undo): match by who follows whom.
	coop, ok, err := f.localCoop(ctx, obj.Object)
	if err != nil || !ok {
		return nil, err
	}
	if _, err := directory.TxExec(ctx, tx, `DELETE FROM followers WHERE coop_id = $1 AND actor_id = $2`, coop.ID, in.Actor.ID); err != nil {
		return nil, fmt.Errorf("federation: remove follower: %w", err)
	}
	return nil, nil
}

// applyFollowAnswer handles the Accept or Reject of a Follow one of our
// coops sent. Only the followed actor can answer: the row is matched by the
// Follow's id (our own) and the answering actor. On Accept the peer is
// learned: its profile and services, read after the commit.
func (f *Federation) applyFollowAnswer(ctx context.Context, tx *sql.Tx, in incoming) (later, error) {
	obj := in.Object
	if obj.Embedded && !obj.is("Follow") {
		return nil, nil // an Accept of an Offer, say: not ours to handle here
	}
	state := stateAccepted
	if in.Type == "Reject" {
		state = stateRejected
	}
	res, err := directory.TxExec(ctx, tx, `UPDATE following SET state = $1, updated_at = $2 WHERE follow_id = $3 AND actor_id = $4`,
		state, db.Now(), obj.ID, in.Actor.ID)
	if err != nil {
		return nil, fmt.Errorf("federation: save following: %w", err)
	}
	n, _ := res.RowsAffected()
	if n == 0 && obj.Embedded && obj.Object == in.Actor.ID {
		coop, ok, err := f.localCoop(ctx, obj.Actor)
		if err != nil || !ok {
			return nil, err
		}
		res, err = directory.TxExec(ctx, tx, `UPDATE following SET state = $1, updated_at = $2 WHERE coop_id = $3 AND actor_id = $4`,
			state, db.Now(), coop.ID, in.Actor.ID)
		if err != nil {
			return nil, fmt.Errorf("federation: save following: %w", err)
		}
		n, _ = res.RowsAffected()
	}
	if n == 0 {
		f.log.InfoContext(ctx, "answer to no follow of ours ignored", "activity", in.ID, "actor", in.Actor.ID)
		return nil, nil
	}
	f.log.InfoContext(ctx, "follow answered", "actor", in.Actor.ID, "state", state)
	if state != stateAccepted {
		return nil, f.forgetUnfollowedPeer(ctx, tx, in.Actor.ID)
	}
	actorID := in.Actor.ID
	return func(ctx context.Context) { f.learnPeer(ctx, actorID) }, nil
}

// forgetUnfollowedPeer removes a peer's coop from the directory once none of
// our coops follows it: its later changes would no longer reach us, and a
// profile that silently goes stale is worse than none.
func (f *Federation) forgetUnfollowedPeer(ctx context.Context, tx *sql.Tx, actorID string) error {
	var n int
	if err := directory.TxQueryRow(ctx, tx, `SELECT COUNT(*) FROM following WHERE actor_id = $1 AND state = $2`,
		actorID, stateAccepted).Scan(&n); err != nil {
		return fmt.Errorf("federation: read following: %w", err)
	}
	if n > 0 {
		return nil
	}
	if _, err := f.dir.DeleteRemoteCoop(ctx, tx, actorID); err != nil {
		return err
	}
	return nil
}

// applyCreateOrUpdate handles a Create or an Update of a Service, or an
// Update of the actor itself (its profile). Only an actor we follow is
// listened to, and only about objects of its own host.
func (f *Federation) applyCreateOrUpdate(ctx context.Context, tx *sql.Tx, in incoming) (later, error) {
	obj := in.Object
	if obj.ID == "" {
		return nil, fmt.Errorf("%w: %s has an object without id", errInvalidActivity, in.Type)
	}
	if !sameHost(obj.ID, in.Actor.ID) {
		return nil, fmt.Errorf("%w: %s may not change %s, of another host", errRefused, in.Actor.ID, obj.ID)
	}
	if obj.ID == in.Actor.ID {
		if in.Type != "Update" {
			return nil, nil
		}
		return f.updateActor(ctx, tx, in)
	}
	if !slices.ContainsFunc(obj.Types, isServiceType) || !obj.Embedded {
		return nil, nil // a Note announcing a service, say: for people, not for the directory
	}
	var doc struct {
		Object serviceDoc `json:"object"`
	}
	if err := json.Unmarshal(in.Body, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", errInvalidActivity, err)
	}
	if by := string(doc.Object.AttributedTo); by != "" && by != in.Actor.ID {
		return nil, fmt.Errorf("%w: %s sends a service attributed to %s", errRefused, in.Actor.ID, by)
	}
	followed, err := f.isFollowed(ctx, tx, in.Actor.ID)
	if err != nil || !followed {
		if err == nil {
			f.log.InfoContext(ctx, "service from an actor we do not follow ignored", "actor", in.Actor.ID, "object", obj.ID)
		}
		return nil, err
	}
	coopID, err := f.dir.RemoteCoopIDTx(ctx, tx, in.Actor.ID)
	if errors.Is(err, directory.ErrNotFound) {
		// The Accept's read of the peer has not run yet (or the actor is
		// no coop): that read takes the whole services collection, this
		// service included.
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.dir.UpsertRemoteService(ctx, tx, coopID, doc.Object.remoteService()); err != nil {
		if errors.Is(err, directory.ErrInvalidRemote) {
			return nil, fmt.Errorf("%w: %v", errRefused, err)
		}
		return nil, err
	}
	return nil, nil
}

// updateActor refreshes the cached actor (name, inbox, key) and, for a coop
// we follow or list, its directory entry. An Update naming the actor by IRI
// only is read back from the actor's server after the commit.
func (f *Federation) updateActor(ctx context.Context, tx *sql.Tx, in incoming) (later, error) {
	actorID := in.Actor.ID
	f.forgetReferralKeys(actorID) // it may have rotated its referral keys
	// Listed: followed by a coop of ours, or in the directory already.
	var followed, known int
	if err := directory.TxQueryRow(ctx, tx, `SELECT
		(SELECT COUNT(*) FROM following WHERE actor_id = $1 AND state = $2),
		(SELECT COUNT(*) FROM coops WHERE actor_id = $1 AND domain <> '')`, actorID, stateAccepted).Scan(&followed, &known); err != nil {
		return nil, fmt.Errorf("federation: read following: %w", err)
	}
	listed := followed+known > 0
	if !in.Object.Embedded {
		if !listed {
			return nil, nil
		}
		return func(ctx context.Context) { f.learnPeer(ctx, actorID) }, nil
	}
	var doc struct {
		Object actorDoc `json:"object"`
	}
	if err := json.Unmarshal(in.Body, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", errInvalidActivity, err)
	}
	a := &doc.Object
	if err := a.check(mustParseURL(actorID)); err != nil {
		return nil, fmt.Errorf("%w: %v", errInvalidActivity, err)
	}
	// Followers' actors too: their inbox and key stay current.
	if fresh := a.remoteActor(in.Actor.FetchedAt); fresh != in.Actor {
		// saveActorTx's statement, prepared once per batch (TxExec).
		ra := a.remoteActor(f.cfg.Now())
		if _, err := directory.TxExec(ctx, tx, upsertActorSQL, ra.ID, ra.Host, ra.Type, ra.Username, ra.Name, ra.URL,
			ra.Inbox, ra.SharedInbox, ra.KeyID, ra.PublicKeyPEM, ra.FetchedAt); err != nil {
			return nil, fmt.Errorf("federation: cache actor %s: %w", ra.ID, err)
		}
	}
	if !a.isCoop() || !listed {
		return nil, nil
	}
	_, err := f.saveCoopTx(ctx, tx, a)
	return nil, err
}

// applyDelete handles a Delete of a service (a Tombstone or its IRI) or of
// the actor itself, which takes its coop, services and follows along.
func (f *Federation) applyDelete(ctx context.Context, tx *sql.Tx, in incoming) (later, error) {
	id := in.Object.ID
	if id == "" {
		return nil, fmt.Errorf("%w: Delete without an object id", errInvalidActivity)
	}
	if !sameHost(id, in.Actor.ID) {
		return nil, fmt.Errorf("%w: %s may not delete %s, of another host", errRefused, in.Actor.ID, id)
	}
	if id == in.Actor.ID {
		return nil, f.forgetActor(ctx, tx, id)
	}
	coopID, err := f.dir.RemoteCoopIDTx(ctx, tx, in.Actor.ID)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	_, err = f.dir.DeleteRemoteService(ctx, tx, coopID, id)
	return nil, err
}

// forgetActor removes every trace of a deleted remote actor.
func (f *Federation) forgetActor(ctx context.Context, tx *sql.Tx, actorID string) error {
	f.signers.forget(actorID)
	if _, err := f.dir.DeleteRemoteCoop(ctx, tx, actorID); err != nil {
		return err
	}
	for _, q := range []string{
		`DELETE FROM followers WHERE actor_id = $1`,
		`DELETE FROM following WHERE actor_id = $1`,
		`DELETE FROM remote_actors WHERE id = $1`,
	} {
		if _, err := directory.TxExec(ctx, tx, q, actorID); err != nil {
			return fmt.Errorf("federation: forget actor %s: %w", actorID, err)
		}
	}
	f.log.InfoContext(ctx, "remote actor deleted", "actor", actorID)
	return nil
}

// isFollowed reports whether a coop of ours follows actorID (accepted):
// only then is what it publishes kept.
func (f *Federation) isFollowed(ctx context.Context, tx *sql.Tx, actorID string) (bool, error) {
	var n int
	if err := directory.TxQueryRow(ctx, tx, `SELECT COUNT(*) FROM following WHERE actor_id = $1 AND state = $2`,
		actorID, stateAccepted).Scan(&n); err != nil {
		return false, fmt.Errorf("federation: read following: %w", err)
	}
	return n > 0, nil
}

// localCoop returns the coop of ours whose actor id is actorID; ok is false
// for any other id.
func (f *Federation) localCoop(ctx context.Context, actorID string) (directory.Coop, bool, error) {
	base := strings.TrimSuffix(f.urls.Base.String(), "/")
	slug, found := strings.CutPrefix(actorID, base+ActorPath(""))
	if !found || slug == "" || strings.ContainsAny(slug, "/?#") {
		return directory.Coop{}, false, nil
	}
	if st := inboxStateFrom(ctx); st != nil && st.coop != nil && st.coop.Slug == slug {
		return *st.coop, true, nil // read by the inbox for this very request
	}
	coop, err := f.dir.CoopBySlug(ctx, slug)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Coop{}, false, nil
	}
	return coop, err == nil, err
}

// serviceDoc is a Service object (see serviceObject in objects.go), read
// liberally.
type serviceDoc struct {
	ID                 jsonID      `json:"id"`
	Type               jsonStrings `json:"type"`
	Name               jsonString  `json:"name"`
	Content            jsonString  `json:"content"`
	Summary            jsonString  `json:"summary"`
	Source             jsonSource  `json:"source"`
	URL                jsonID      `json:"url"`
	AttributedTo       jsonID      `json:"attributedTo"`
	ServiceType        jsonString  `json:"serviceType"`
	PricingModel       jsonString  `json:"pricingModel"`
	Keywords           jsonStrings `json:"keywords"`
	PriceSpecification struct {
		MinPrice      jsonNumber `json:"minPrice"`
		MaxPrice      jsonNumber `json:"maxPrice"`
		PriceCurrency jsonString `json:"priceCurrency"`
	} `json:"priceSpecification"`
}

func (d serviceDoc) remoteService() directory.RemoteService {
	desc := string(d.Content)
	if desc == "" {
		desc = string(d.Summary)
	}
	s := directory.RemoteService{ObjectID: string(d.ID), URL: string(d.URL)}
	s.Title = string(d.Name)
	s.Description = d.Source.text(desc)
	s.Category = string(d.ServiceType)
	s.Pricing = string(d.PricingModel)
	s.Tags = d.Keywords
	if len(s.Tags) == 1 { // schema.org allows one comma-separated text
		s.Tags = splitList(s.Tags[0])
	}
	s.PriceMin, s.PriceMax = d.PriceSpecification.MinPrice.int64p(), d.PriceSpecification.MaxPrice.int64p()
	s.Currency = string(d.PriceSpecification.PriceCurrency)
	s.Active = true
	if s.URL == "" {
		s.URL = s.ObjectID
	}
	return s
}

// JSON read liberally: what peers send varies (a string or an array, an IRI
// or an embedded object, a number or a numeric string), and one odd field
// must not lose the whole document. These types never fail to decode; what
// they cannot read stays empty.

// jsonString is a string (or a number, as text).
type jsonString string

func (s *jsonString) UnmarshalJSON(b []byte) error {
	var v any
	if json.Unmarshal(b, &v) == nil {
		switch t := v.(type) {
		case string:
			*s = jsonString(t)
		case float64:
			*s = jsonString(strconv.FormatFloat(t, 'f', -1, 64))
		}
	}
	return nil
}

// jsonID is an IRI given as a string, an object with an id (or a Link's
// href), or the first of an array of those.
type jsonID string

func (s *jsonID) UnmarshalJSON(b []byte) error {
	var v any
	if json.Unmarshal(b, &v) == nil {
		*s = jsonID(idOf(v))
	}
	return nil
}

func idOf(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case map[string]any:
		if id, ok := t["id"].(string); ok {
			return id
		}
		if href, ok := t["href"].(string); ok {
			return href
		}
	case []any:
		for _, e := range t {
			if id := idOf(e); id != "" {
				return id
			}
		}
	}
	return ""
}

// jsonStrings is a list of strings, given as one string or an array of
// strings or of objects with a name (schema.org Places, Languages).
type jsonStrings []string

func (s *jsonStrings) UnmarshalJSON(b []byte) error {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	var out []string
	add := func(e any) {
		switch t := e.(type) {
		case string:
			out = append(out, t)
		case map[string]any:
			if n, ok := t["name"].(string); ok {
				out = append(out, n)
			}
		}
	}
	if arr, ok := v.([]any); ok {
		for _, e := range arr[:min(len(arr), 200)] {
			add(e)
		}
	} else {
		add(v)
	}
	*s = out
	return nil
}

func (s jsonStrings) hasAny(types ...string) bool { return s.first(types...) != "" }

func (s jsonStrings) first(types ...string) string {
	for _, t := range s {
		if slices.Contains(types, t) {
			return t
		}
	}
	return ""
}

// jsonBool is true, false, "true", "false", or absent.
type jsonBool struct {
	set, v bool
}

func (j *jsonBool) UnmarshalJSON(b []byte) error {
	var v any
	if json.Unmarshal(b, &v) == nil {
		switch t := v.(type) {
		case bool:
			j.set, j.v = true, t
		case string:
			if p, err := strconv.ParseBool(t); err == nil {
				j.set, j.v = true, p
			}
		}
	}
	return nil
}

func (j jsonBool) is(absent bool) bool {
	if !j.set {
		return absent
	}
	return j.v
}

// jsonNumber is a number, a numeric string, or a schema.org
// QuantitativeValue's value.
type jsonNumber float64

func (n *jsonNumber) UnmarshalJSON(b []byte) error {
	var v any
	if json.Unmarshal(b, &v) == nil {
		*n = jsonNumber(numberOf(v))
	}
	return nil
}

func numberOf(v any) float64 {
	switch t := v.(type) {
	case float64:
		return t
	case string:
		f, _ := strconv.ParseFloat(strings.TrimSpace(t), 64)
		return f
	case map[string]any:
		return numberOf(t["value"])
	}
	return 0
}

func (n jsonNumber) int64p() *int64 {
	f := float64(n)
	if f <= 0 || math.IsNaN(f) || f > 1e12 {
		return nil
	}
	v := int64(f)
	return &v
}

// jsonSource is an object's source: the text it was written in.
type jsonSource struct {
	Content   jsonString `json:"content"`
	MediaType jsonString `json:"mediaType"`
}

// text returns what the directory stores for an HTML field: the source
// when it is Markdown or plain text (coopnet peers send the Markdown the
// coop wrote), otherwise the HTML's text.
func (s jsonSource) text(htmlValue string) string {
	switch mt := strings.ToLower(string(s.MediaType)); {
	case s.Content != "" && (mt == "text/markdown" || mt == "text/plain"):
		return string(s.Content)
	}
	return htmlText(htmlValue)
}

// jsonImage is an icon: an Image object (its url a string, a Link or a
// list), a list of them, or a URL.
type jsonImage struct{ url string }

func (j *jsonImage) UnmarshalJSON(b []byte) error {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	if arr, ok := v.([]any); ok && len(arr) > 0 {
		v = arr[0]
	}
	switch t := v.(type) {
	case string:
		j.url = t
	case map[string]any:
		j.url = idOf(t["url"])
	}
	return nil
}

// jsonKey is a public key; jsonKeys one key or a list.
type jsonKey struct {
	ID           jsonID     `json:"id"`
	Owner        jsonID     `json:"owner"`
	PublicKeyPem jsonString `json:"publicKeyPem"`
}

type jsonKeys []jsonKey

func (k *jsonKeys) UnmarshalJSON(b []byte) error {
	var one jsonKey
	if len(b) > 0 && b[0] == '{' {
		if json.Unmarshal(b, &one) == nil {
			*k = jsonKeys{one}
		}
		return nil
	}
	var many []jsonKey
	if json.Unmarshal(b, &many) == nil {
		*k = many
	}
	return nil
}

// jsonField is a profile field (PropertyValue).
type jsonField struct {
	Name  jsonString `json:"name"`
	Value jsonString `json:"value"`
}

// jsonAddress is a schema.org PostalAddress (the country may be an object
// with a name), or a plain string taken as the locality.
type jsonAddress struct {
	Locality, Region, Country jsonString
}

func (a *jsonAddress) UnmarshalJSON(b []byte) error {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	switch t := v.(type) {
	case string:
		a.Locality = jsonString(t)
	case map[string]any:
		str := func(k string) jsonString {
			switch x := t[k].(type) {
			case string:
				return jsonString(x)
			case map[string]any:
				if n, ok := x["name"].(string); ok {
					return jsonString(n)
				}
			}
			return ""
		}
		a.Locality, a.Region, a.Country = str("addressLocality"), str("addressRegion"), str("addressCountry")
	}
	return nil
}

func mustParseURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		return &url.URL{}
	}
	return u
}

// htmlText returns the text of an HTML fragment, with paragraphs and line
// breaks kept as line breaks: peers' summaries are HTML, the directory keeps
// text (shown through the Markdown renderer, which escapes it).
func htmlText(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return s
	}
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.TrimSpace(b.String())
		case html.TextToken:
			b.Write(z.Text())
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "br":
				b.WriteString("\n")
			case "p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre":
				if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n\n") {
					b.WriteString("\n\n")
				}
			}
		}
	}
}

// firstHref returns the first link's target in an HTML fragment.
func firstHref(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken:
			if name, more := z.TagName(); string(name) == "a" && more {
				for {
					k, v, more := z.TagAttr()
					if string(k) == "href" && hostOf(string(v)) != "" {
						return string(v)
					}
					if !more {
						break
					}
				}
			}
		}
	}
}
