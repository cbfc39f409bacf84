package federation

import (
	"context"
	"crypto/rsa"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coopnet/coopnet/directory"
)

// Remote actors: fetched with a GET signed by the instance actor (GoToSocial
// refuses unsigned fetches), read liberally with a plain struct decode (about
// eight times cheaper than go-fed's streams, and it does not lose the
// properties go-fed lacks: endpoints, manuallyApprovesFollowers,
// PropertyValue), and cached in remote_actors.

// RemoteActor is an actor of another server as cached in remote_actors.
type RemoteActor struct {
	ID           string
	Host         string // host of ID, with port
	Type         string
	Username     string // preferredUsername
	Name         string
	URL          string
	Inbox        string
	SharedInbox  string
	KeyID        string
	PublicKeyPEM string
	FetchedAt    time.Time
}

// Handle is the actor's fediverse handle, username@host.
func (a RemoteActor) Handle() string {
	if a.Username == "" {
		return a.ID
	}
	return a.Username + "@" + a.Host
}

// Errors of fetches.
var (
	// ErrGone is returned when the remote server says the object is gone
	// (404 or 410).
	ErrGone = errors.New("federation: the remote object does not exist (any more)")
	// ErrNotActor is returned for a document that is not a usable actor.
	ErrNotActor = errors.New("federation: not an actor document")
	// errStore marks failures of our own (the database, our keys), which
	// the inbox answers 500 so that the sender tries again, where a
	// signature that cannot be verified is a 401.
	errStore = errors.New("federation: local failure")
)

const (
	// maxDocumentBytes bounds every document fetched or received.
	maxDocumentBytes = 1 << 20
	// keyRefetchInterval is how recent a cached key may be and still be
	// refetched when a signature fails with it: a peer that rotated its key
	// is heard again at once, but forged signatures naming a real key cannot
	// make the node fetch that key in a loop.
	keyRefetchInterval = time.Minute
	// actorMaxAge is how long a cached actor is used without refetching
	// when an inbox, say, is needed.
	actorMaxAge = 24 * time.Hour
)

// fetchAccept is the Accept header of every ActivityPub fetch.
const fetchAccept = `application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"`

// FetchActor fetches the actor at actorURL, checks that it is an actor
// served by the origin it claims, and caches it.
func (f *Federation) FetchActor(ctx context.Context, actorURL string) (RemoteActor, error) {
	doc, err := f.fetchActorDoc(ctx, actorURL)
	if err != nil {
		return RemoteActor{}, err
	}
	return f.saveActor(ctx, doc)
}

// fetchActorDoc fetches and checks an actor document without caching it.
func (f *Federation) fetchActorDoc(ctx context.Context, actorURL string) (*actorDoc, error) {
	body, final, err := f.fetchSigned(ctx, stripFragment(actorURL))
	if err != nil {
		return nil, err
	}
	var doc actorDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotActor, actorURL, err)
	}
	if err := doc.check(final); err != nil {
		return nil, err
	}
	return &doc, nil
}

// actor returns the actor from the cache, or fetched when it is not there
// or older than actorMaxAge.
func (f *Federation) actor(ctx context.Context, id string) (RemoteActor, error) {
	a, err := f.cachedActor(ctx, `id = $1`, id)
	if err == nil && f.cfg.Now().Sub(a.FetchedAt) < actorMaxAge {
		return a, nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return RemoteActor{}, err
	}
	return f.FetchActor(ctx, id)
}

// cachedActor reads one remote_actors row.
func (f *Federation) cachedActor(ctx context.Context, where string, arg any) (RemoteActor, error) {
	var a RemoteActor
	err := f.db.QueryRow(ctx, `SELECT id, host, type, username, name, url, inbox, shared_inbox, key_id, public_key_pem, fetched_at
		FROM remote_actors WHERE `+where, arg).Scan(&a.ID, &a.Host, &a.Type, &a.Username, &a.Name, &a.URL,
		&a.Inbox, &a.SharedInbox, &a.KeyID, &a.PublicKeyPEM, &a.FetchedAt)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return RemoteActor{}, err
		}
		return RemoteActor{}, fmt.Errorf("%w: read remote actor: %w", errStore, err)
	}
	a.FetchedAt = a.FetchedAt.UTC()
	return a, nil
}

// saveActor caches an actor document.
func (f *Federation) saveActor(ctx context.Context, doc *actorDoc) (RemoteActor, error) {
	a := doc.remoteActor(f.cfg.Now())
	f.signers.forget(a.ID)
	_, err := f.db.Exec(ctx, upsertActorSQL, a.ID, a.Host, a.Type, a.Username, a.Name, a.URL, a.Inbox,
		a.SharedInbox, a.KeyID, a.PublicKeyPEM, a.FetchedAt)
	if err != nil {
		return RemoteActor{}, fmt.Errorf("%w: cache actor %s: %w", errStore, a.ID, err)
	}
	return a, nil
}

const upsertActorSQL = `INSERT INTO remote_actors (id, host, type, username, name, url, inbox, shared_inbox,
	key_id, public_key_pem, fetched_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
	ON CONFLICT (id) DO UPDATE SET host = excluded.host, type = excluded.type, username = excluded.username,
	name = excluded.name, url = excluded.url, inbox = excluded.inbox, shared_inbox = excluded.shared_inbox,
	key_id = excluded.key_id, public_key_pem = excluded.public_key_pem, fetched_at = excluded.fetched_at`

// signerKey is the public key that signed a request and the actor owning it.
type signerKey struct {
	actor  RemoteActor
	pub    *rsa.PublicKey
	cached bool // read from the cache, not fetched for this request
}

// keyFor finds the key keyID names: in the cache unless refresh, else by
// fetching it. The key id names either an actor (…/coops/a#main-key: the
// actor document carries the key) or a document of its own (GoToSocial's
// …/main-key, or a key object with an owner), whose owner is then fetched:
// the owner's document must list the same key, so nobody can claim
// another's key.
func (f *Federation) keyFor(ctx context.Context, keyID string, refresh bool) (signerKey, error) {
	if !refresh {
		a, err := f.cachedActor(ctx, `key_id = $1`, keyID)
		if err == nil {
			pub, err := ParsePublicKeyPEM(a.PublicKeyPEM)
			if err != nil {
				return signerKey{}, fmt.Errorf("%w: cached key %s: %v", ErrSignature, keyID, err)
			}
			return signerKey{actor: a, pub: pub, cached: true}, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return signerKey{}, err
		}
	}
	body, final, err := f.fetchSigned(ctx, stripFragment(keyID))
	if err != nil {
		return signerKey{}, err
	}
	var doc actorDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return signerKey{}, fmt.Errorf("%w: key %s: %v", ErrNotActor, keyID, err)
	}
	if !sameOrigin(string(doc.ID), final.String()) {
		return signerKey{}, fmt.Errorf("%w: %s names %s, of another origin", ErrNotActor, final, doc.ID)
	}
	owner := string(doc.ID)
	if doc.PublicKeyPem != "" { // a key object
		owner = string(doc.Owner)
	}
	if doc.check(final) != nil || string(doc.key().ID) != keyID {
		// A key object, or a stub actor serving only the key: the owner's
		// own document decides.
		if owner == "" || !sameOrigin(owner, keyID) {
			return signerKey{}, fmt.Errorf("%w: key %s has no owner on its origin", ErrNotActor, keyID)
		}
		od, err := f.fetchActorDoc(ctx, owner)
		if err != nil {
			return signerKey{}, err
		}
		doc = *od
	}
	if string(doc.key().ID) != keyID {
		return signerKey{}, fmt.Errorf("%w: actor %s does not list key %s", ErrSignature, doc.ID, keyID)
	}
	a, err := f.saveActor(ctx, &doc)
	if err != nil {
		return signerKey{}, err
	}
	pub, err := ParsePublicKeyPEM(a.PublicKeyPEM)
	if err != nil {
		return signerKey{}, fmt.Errorf("%w: key %s: %v", ErrSignature, keyID, err)
	}
	return signerKey{actor: a, pub: pub}, nil
}

// fetchSigned GETs an ActivityPub document with a request signed by the
// instance actor. It refuses hosts the policy refuses, documents over
// maxDocumentBytes and answers other than 200, and returns the URL the
// document came from after redirects, for same-origin checks.
func (f *Federation) fetchSigned(ctx context.Context, rawURL string) ([]byte, *url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return nil, nil, fmt.Errorf("federation: fetch %q: not an http(s) URL", rawURL)
	}
	if ok, err := f.HostAllowed(ctx, u.Host); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errStore, err)
	} else if !ok {
		return nil, nil, fmt.Errorf("%w: %s", ErrHostRefused, u.Host)
	}
	key, err := f.keys.For(ctx, InstanceActorPath)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", errStore, err)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("federation: fetch %s: %w", rawURL, err)
	}
	req.Header.Set("Accept", fetchAccept)
	req.Header.Set("User-Agent", f.userAgent())
	if err := SignRequest(req, nil, f.urls.InstanceKeyID(), key.Private, f.cfg.Now()); err != nil {
		return nil, nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("federation: fetch %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, nil, fmt.Errorf("%w: %s answered %w", ErrGone, rawURL, httpStatus(resp.StatusCode))
	case resp.StatusCode != http.StatusOK:
		return nil, nil, fmt.Errorf("federation: fetch %s: %w", rawURL, httpStatus(resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("federation: fetch %s: %w", rawURL, err)
	}
	if len(body) > maxDocumentBytes {
		return nil, nil, fmt.Errorf("federation: fetch %s: document over %d bytes", rawURL, maxDocumentBytes)
	}
	return body, resp.Request.URL, nil
}

func (f *Federation) userAgent() string {
	return fmt.Sprintf("coopnet/%s (+%s)", f.cfg.Version, strings.TrimSuffix(f.urls.Base.String(), "/"))
}

// ResolveHandle turns what a person typed to name a peer (slug@host,
// @user@host, acct:user@host, or an actor URL) into an actor URL, through
// WebFinger for handles. WebFinger runs over https; over http only for a
// loopback host when private addresses are allowed (tests, the demo).
func (f *Federation) ResolveHandle(ctx context.Context, handle string) (string, error) {
	handle = strings.TrimSpace(handle)
	lower := strings.ToLower(handle)
	if strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://") {
		if hostOf(handle) == "" {
			return "", fmt.Errorf("federation: %q is not a URL", handle)
		}
		return handle, nil
	}
	user, host, ok := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(handle, "acct:"), "@"), "@")
	if !ok || user == "" || host == "" || strings.ContainsAny(handle, " /?#\\") || strings.Contains(host, "@") {
		return "", fmt.Errorf("federation: %q is neither a handle such as coop@example.org nor an actor URL", handle)
	}
	scheme := "https"
	if f.cfg.AllowPrivateAddresses && isLoopbackHost(host) {
		scheme = "http"
	}
	wf := scheme + "://" + host + "/.well-known/webfinger?resource=" + url.QueryEscape("acct:"+user+"@"+host)
	if ok, err := f.HostAllowed(ctx, strings.ToLower(host)); err != nil {
		return "", err
	} else if !ok {
		return "", fmt.Errorf("%w: %s", ErrHostRefused, host)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wf, nil)
	if err != nil {
		return "", fmt.Errorf("federation: webfinger %s: %w", handle, err)
	}
	req.Header.Set("Accept", "application/jrd+json, application/json")
	req.Header.Set("User-Agent", f.userAgent())
	resp, err := f.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("federation: webfinger %s: %w", handle, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", fmt.Errorf("%w: no account %s", ErrGone, handle)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("federation: webfinger %s: status %d", handle, resp.StatusCode)
	}
	var jrd struct {
		Links []struct {
			Rel  string `json:"rel"`
			Type string `json:"type"`
			Href string `json:"href"`
		} `json:"links"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDocumentBytes)).Decode(&jrd); err != nil {
		return "", fmt.Errorf("federation: webfinger %s: %w", handle, err)
	}
	for _, l := range jrd.Links {
		if l.Rel == "self" && isActivityMediaType(l.Type) && hostOf(l.Href) != "" {
			return l.Href, nil
		}
	}
	return "", fmt.Errorf("federation: webfinger %s: no ActivityPub actor link", handle)
}

func isLoopbackHost(host string) bool {
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.Trim(name, "[]")
	if strings.EqualFold(name, "localhost") {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// isActivityMediaType reports whether a media type (of a WebFinger link or a
// request) is ActivityPub's.
func isActivityMediaType(t string) bool {
	t = strings.ToLower(t)
	return strings.HasPrefix(t, "application/activity+json") ||
		(strings.HasPrefix(t, "application/ld+json") && strings.Contains(t, "https://www.w3.org/ns/activitystreams"))
}

// stripFragment removes #fragment from a URL.
func stripFragment(u string) string {
	if i := strings.IndexByte(u, '#'); i >= 0 {
		return u[:i]
	}
	return u
}

// sameOrigin reports whether two absolute URLs have the same scheme, host
// and port.
func sameOrigin(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Host != "" &&
		strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host)
}

// sameHost reports whether two absolute URLs are on the same host (and
// port): an actor may only act on objects of its own host.
func sameHost(a, b string) bool {
	ha := hostOf(a)
	return ha != "" && ha == hostOf(b)
}

// actorDoc is an actor document (or a key document) as servers write them.
// Every field is read liberally: a field of an unexpected shape is left
// empty instead of failing the whole document.
type actorDoc struct {
	ID                jsonID      `json:"id"`
	Type              jsonStrings `json:"type"`
	PreferredUsername jsonString  `json:"preferredUsername"`
	Name              jsonString  `json:"name"`
	Summary           jsonString  `json:"summary"`
	Source            jsonSource  `json:"source"`
	URL               jsonID      `json:"url"`
	Inbox             jsonID      `json:"inbox"`
	Outbox            jsonID      `json:"outbox"`
	Followers         jsonID      `json:"followers"`
	Following         jsonID      `json:"following"`
	Services          jsonID      `json:"services"`
	Endpoints         struct {
		SharedInbox jsonID `json:"sharedInbox"`
	} `json:"endpoints"`
	PublicKey                 jsonKeys    `json:"publicKey"`
	Owner                     jsonID      `json:"owner"`        // a key document
	PublicKeyPem              jsonString  `json:"publicKeyPem"` // a key document
	ManuallyApprovesFollowers jsonBool    `json:"manuallyApprovesFollowers"`
	Discoverable              jsonBool    `json:"discoverable"`
	Icon                      jsonImage   `json:"icon"`
	Attachment                []jsonField `json:"attachment"`
	// coopnet's facts (see coopFacts in actor.go).
	Address           jsonAddress `json:"address"`
	AreaServed        jsonStrings `json:"areaServed"`
	KnowsLanguage     jsonStrings `json:"knowsLanguage"`
	KnowsAbout        jsonStrings `json:"knowsAbout"`
	MemberOf          jsonStrings `json:"memberOf"`
	FoundingDate      jsonString  `json:"foundingDate"`
	WorkerOwners      jsonNumber  `json:"workerOwners"`
	NumberOfEmployees jsonNumber  `json:"numberOfEmployees"`
	LegalForm         jsonString  `json:"legalForm"`
	Email             jsonString  `json:"email"`
	SameAs            jsonStrings `json:"sameAs"`
	Capacity          jsonString  `json:"capacity"`
	RemoteFriendly    jsonBool    `json:"remoteFriendly"`
}

// actorTypes are the ActivityStreams actor types.
var actorTypes = []string{"Person", "Organization", "Group", "Service", "Application"}

// check verifies that the document is an actor served by the origin it was
// fetched from, with an inbox.
func (d *actorDoc) check(from *url.URL) error {
	if d.ID == "" || !sameOrigin(string(d.ID), from.String()) {
		return fmt.Errorf("%w: %s names %q, not of its origin", ErrNotActor, from, d.ID)
	}
	if !d.Type.hasAny(actorTypes...) {
		return fmt.Errorf("%w: %s is of type %v", ErrNotActor, d.ID, d.Type)
	}
	if hostOf(string(d.Inbox)) == "" {
		return fmt.Errorf("%w: %s has no inbox", ErrNotActor, d.ID)
	}
	return nil
}

// key returns the actor's key: the one owned by the actor, on its origin.
func (d *actorDoc) key() jsonKey {
	for _, k := range d.PublicKey {
		if k.PublicKeyPem != "" && (k.Owner == "" || k.Owner == d.ID) && sameOrigin(string(k.ID), string(d.ID)) {
			return k
		}
	}
	return jsonKey{}
}

func (d *actorDoc) remoteActor(now time.Time) RemoteActor {
	k := d.key()
	clean := func(s jsonString, n int) string { return directory.CleanRemoteText(string(s), n, false) }
	a := RemoteActor{
		ID:           string(d.ID),
		Host:         hostOf(string(d.ID)),
		Type:         d.Type.first(actorTypes...),
		Username:     clean(d.PreferredUsername, 100),
		Name:         clean(d.Name, 200),
		URL:          string(d.URL),
		Inbox:        string(d.Inbox),
		SharedInbox:  string(d.Endpoints.SharedInbox),
		KeyID:        string(k.ID),
		PublicKeyPEM: string(k.PublicKeyPem),
		FetchedAt:    now.UTC().Truncate(time.Microsecond),
	}
	if hostOf(a.URL) == "" {
		a.URL = a.ID
	}
	if hostOf(a.SharedInbox) == "" {
		a.SharedInbox = ""
	}
	return a
}

// isCoop reports whether the actor is a coop, or anything the directory
// lists as one: an Organization.
func (d *actorDoc) isCoop() bool { return d.Type.hasAny("Organization") }

// remoteCoop is the actor as a directory entry. Structured facts (coopnet
// peers) come first; profile fields (any other server) fill the gaps.
func (d *actorDoc) remoteCoop() directory.RemoteCoop {
	c := directory.RemoteCoop{ActorID: string(d.ID), URL: string(d.URL), IconURL: d.Icon.url}
	c.Slug = string(d.PreferredUsername)
	c.Name = string(d.Name)
	c.Summary = d.Source.text(string(d.Summary))
	c.City, c.Region, c.Country = string(d.Address.Locality), string(d.Address.Region), string(d.Address.Country)
	c.RegionsServed = d.AreaServed
	c.Languages = d.KnowsLanguage
	c.Skills = d.KnowsAbout
	c.Networks = d.MemberOf
	c.LegalForm = string(d.LegalForm)
	c.ContactEmail = string(d.Email)
	c.Capacity = directory.Capacity(d.Capacity)
	c.RemoteFriendly = d.RemoteFriendly.is(false)
	c.ApproveFollowers = d.ManuallyApprovesFollowers.is(false)
	// Mastodon's meaning: absent is not opted in to being listed.
	c.Discoverable = d.Discoverable.is(false)
	c.WorkerOwners = int(d.WorkerOwners)
	c.Workers = int(d.NumberOfEmployees)
	if len(d.FoundingDate) >= 4 {
		fmt.Sscanf(string(d.FoundingDate)[:4], "%d", &c.YearFounded)
	}
	for _, s := range d.SameAs {
		if hostOf(s) != "" {
			c.Website = s
			break
		}
	}
	d.fillFromFields(&c)
	return c
}

// fillFromFields reads Mastodon-style profile fields where the structured
// facts are missing: "Location", "Languages", "Skills", "Website".
func (d *actorDoc) fillFromFields(c *directory.RemoteCoop) {
	for _, fld := range d.Attachment {
		name := strings.ToLower(strings.TrimSpace(string(fld.Name)))
		text := htmlText(string(fld.Value))
		switch {
		case (name == "location" || name == "city") && c.City == "" && c.Region == "" && c.Country == "":
			c.City = text
		case (name == "languages" || name == "language") && len(c.Languages) == 0:
			c.Languages = splitList(text)
		case (name == "skills" || name == "expertise") && len(c.Skills) == 0:
			c.Skills = splitList(text)
		case (name == "website" || name == "web" || name == "homepage") && c.Website == "":
			if href := firstHref(string(fld.Value)); href != "" {
				c.Website = href
			} else if hostOf(text) != "" {
				c.Website = text
			}
		}
	}
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '\n' })
}

// saveCoopTx records an Organization actor in the directory inside tx.
func (f *Federation) saveCoopTx(ctx context.Context, tx *sql.Tx, doc *actorDoc) (int64, error) {
	return f.dir.UpsertRemoteCoop(ctx, tx, doc.remoteCoop())
}
