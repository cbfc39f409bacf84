package federation

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/go-fed/activity/streams"
	"github.com/go-fed/activity/streams/vocab"

	"github.com/coopnet/coopnet/directory"
	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

// pubRow is a row of activities as a test reads it.
type pubRow struct {
	ActivityID, Type, ObjectID string
	Public                     bool
	Body                       map[string]any
	Raw                        string
}

// pubRows returns the coop's stored activities after the first skip, oldest
// first.
func pubRows(t *testing.T, d *db.DB, coopID int64, skip int) []pubRow {
	t.Helper()
	rows, err := d.Query(context.Background(), `SELECT activity_id, type, object_id, public, body FROM activities
		WHERE coop_id = $1 ORDER BY id`, coopID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []pubRow
	for rows.Next() {
		var r pubRow
		if err := rows.Scan(&r.ActivityID, &r.Type, &r.ObjectID, &r.Public, &r.Raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(r.Raw), &r.Body); err != nil {
			t.Fatalf("stored body is not JSON: %v", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < skip {
		t.Fatalf("%d activities, expected at least %d", len(out), skip)
	}
	return out[skip:]
}

// pubWant is what a test expects of one stored activity.
type pubWant struct {
	typ, objectID, objectType string
}

// pubCheck compares the new rows with want and checks what every published
// activity has: its id as stored, the coop as actor, public addressing with
// the followers in cc, the full @context, and an object without one.
func pubCheck(t *testing.T, n *readNode, step string, got []pubRow, want []pubWant) {
	t.Helper()
	if len(got) != len(want) {
		var types []string
		for _, r := range got {
			types = append(types, r.Type+" "+r.ObjectID)
		}
		t.Fatalf("%s: stored %v, want %d activities", step, types, len(want))
	}
	actor := n.base + "/coops/alpha"
	for i, w := range want {
		r := got[i]
		obj, _ := r.Body["object"].(map[string]any)
		if r.Type != w.typ || r.ObjectID != w.objectID || !r.Public || obj == nil || obj["type"] != w.objectType {
			t.Errorf("%s #%d: %s %s (public %v) of %v, want %s %s of %s", step, i, r.Type, r.ObjectID, r.Public, obj["type"], w.typ, w.objectID, w.objectType)
		}
		if r.Body["id"] != r.ActivityID || !strings.HasPrefix(r.ActivityID, n.base+"/activities/") ||
			r.Body["type"] != r.Type || r.Body["actor"] != actor {
			t.Errorf("%s #%d: id %v type %v actor %v", step, i, r.Body["id"], r.Body["type"], r.Body["actor"])
		}
		if !reflect.DeepEqual(r.Body["to"], []any{PublicAddress}) || !reflect.DeepEqual(r.Body["cc"], []any{actor + "/followers"}) {
			t.Errorf("%s #%d: to %v cc %v", step, i, r.Body["to"], r.Body["cc"])
		}
		readContextOK(t, r.Body)
		if obj["@context"] != nil {
			t.Errorf("%s #%d: embedded object has its own @context", step, i)
		}
	}
}

func TestPublishActivities(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newReadNode(t, d)
		ctx := readCtx(t)
		actor := n.base + "/coops/alpha"
		seen := 0
		next := func(step string, want ...pubWant) []pubRow {
			t.Helper()
			rows := pubRows(t, d, n.coop.ID, seen)
			seen += len(rows)
			pubCheck(t, n, step, rows, want)
			return rows
		}

		// A profile change: the whole actor, with the key the coop signs with.
		c := n.coop
		c.City = "Leipzig"
		c, err := n.store.UpdateCoop(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		rows := next("update coop", pubWant{"Update", actor, "Organization"})
		obj := rows[0].Body["object"].(map[string]any)
		key, err := n.f.keys.For(ctx, ActorPath("alpha"))
		if err != nil {
			t.Fatal(err)
		}
		if obj["id"] != actor || obj["publicKey"].(map[string]any)["publicKeyPem"] != key.PublicPEM ||
			obj["manuallyApprovesFollowers"] != false {
			t.Errorf("updated actor %v", obj)
		}

		// A new service: its Create, then a Note for Mastodon.
		svc, err := n.store.CreateService(ctx, c.ID, directory.Service{
			Title: "Green <hosting>", Description: "Servers powered by the sun.", Category: "hosting", Pricing: "fixed", Active: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		svcID := actor + "/services/" + readItoa(svc.ID)
		rows = pubRows(t, d, c.ID, seen)
		noteID := ""
		if len(rows) == 2 {
			noteID = rows[1].ActivityID + "/note"
		}
		rows = next("create service", pubWant{"Create", svcID, ServiceType}, pubWant{"Create", noteID, "Note"})
		note := rows[1].Body["object"].(map[string]any)
		wantContent := `<p>New service: <a href="` + svcID + `">Green &lt;hosting&gt;</a> — Servers powered by the sun.</p>`
		if note["id"] != noteID || note["content"] != wantContent || note["url"] != svcID || note["attributedTo"] != actor {
			t.Errorf("note %v", note)
		}

		// Both are served at their ids; the Note at its own.
		for _, r := range rows {
			resp, body := n.get(t, strings.TrimPrefix(r.ActivityID, n.base), asAccept)
			if resp.StatusCode != 200 || string(body) != r.Raw || resp.Header.Get("Content-Type") != ActivityContentType {
				t.Errorf("GET %s: %d %s", r.ActivityID, resp.StatusCode, body)
			}
		}
		served := n.getJSON(t, strings.TrimPrefix(noteID, n.base), 200)
		readContextOK(t, served)
		if served["id"] != noteID || served["type"] != "Note" {
			t.Errorf("served note %v", served)
		}
		n.getJSON(t, strings.TrimPrefix(rows[0].ActivityID, n.base)+"/note", 404) // a Create of a Service has no note
		n.getJSON(t, "/activities/0123456789abcdef", 404)

		// Changes: Update; deactivated: Delete; edited while inactive:
		// nothing; reactivated: Create and Note again; deleted: Delete.
		svc.Title = "Solar hosting"
		if svc, err = n.store.UpdateService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		rows = next("update service", pubWant{"Update", svcID, ServiceType})
		if rows[0].Body["object"].(map[string]any)["name"] != "Solar hosting" {
			t.Errorf("update carries %v", rows[0].Body["object"])
		}
		svc.Active = false
		if svc, err = n.store.UpdateService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		rows = next("deactivate service", pubWant{"Delete", svcID, "Tombstone"})
		if ts := rows[0].Body["object"].(map[string]any); ts["id"] != svcID || ts["formerType"] != ServiceType {
			t.Errorf("tombstone %v", ts)
		}
		svc.Description = "Still off."
		if svc, err = n.store.UpdateService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		next("edit inactive service")
		svc.Active = true
		if svc, err = n.store.UpdateService(ctx, svc); err != nil {
			t.Fatal(err)
		}
		rows = pubRows(t, d, c.ID, seen)
		if len(rows) == 2 {
			noteID = rows[1].ActivityID + "/note"
		}
		next("reactivate service", pubWant{"Create", svcID, ServiceType}, pubWant{"Create", noteID, "Note"})
		if err := n.store.DeleteService(ctx, c.ID, svc.ID); err != nil {
			t.Fatal(err)
		}
		next("delete service", pubWant{"Delete", svcID, "Tombstone"})
		n.getJSON(t, strings.TrimPrefix(svcID, n.base), 410)

		// A service created inactive was never seen: nothing.
		hidden, err := n.store.CreateService(ctx, c.ID, directory.Service{Title: "Draft", Category: "other", Pricing: "fixed"})
		if err != nil {
			t.Fatal(err)
		}
		next("create inactive service")
		_ = hidden

		// An activity that is not public is neither served nor in the outbox.
		var private string
		if err := d.Tx(ctx, func(tx *sql.Tx) error {
			act := n.f.newActivity("Follow", c, "https://peer.example/coops/beta", []string{"https://peer.example/coops/beta"}, nil)
			private = act["id"].(string)
			_, err := n.f.storeActivity(ctx, tx, c.ID, act, "https://peer.example/coops/beta", false)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		n.getJSON(t, strings.TrimPrefix(private, n.base), 404)
		outbox := n.getJSON(t, "/coops/alpha/outbox", 200)
		if outbox["totalItems"] != float64(seen) {
			t.Errorf("outbox has %v items, want the %d public ones", outbox["totalItems"], seen)
		}
	})
}

// TestPublishRollsBack checks that the activities are part of the change's
// transaction: when a later step of the change fails, neither the change
// nor its activities (nor a key made for them) remain.
func TestPublishRollsBack(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newReadNode(t, d)
		ctx := readCtx(t)
		refused := errors.New("refused after federation published")
		var published int
		n.store.OnChange(func(ctx context.Context, tx *sql.Tx, ch directory.Change) error {
			// Federation's hook ran first, in this transaction.
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM activities`).Scan(&published); err != nil {
				return err
			}
			return refused
		})
		c := n.coop
		c.City = "Berlin"
		if _, err := n.store.UpdateCoop(ctx, c); !errors.Is(err, refused) {
			t.Fatalf("update: %v", err)
		}
		if _, err := n.store.CreateService(ctx, c.ID, directory.Service{Title: "X", Category: "other", Pricing: "fixed", Active: true}); !errors.Is(err, refused) {
			t.Fatalf("create service: %v", err)
		}
		if published != 2 {
			t.Errorf("the failing hook saw %d activities, want the service's 2", published)
		}
		var activities, keys int
		if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM activities`).Scan(&activities); err != nil {
			t.Fatal(err)
		}
		if err := d.QueryRow(ctx, `SELECT COUNT(*) FROM actor_keys WHERE owner = '/coops/alpha'`).Scan(&keys); err != nil {
			t.Fatal(err)
		}
		after, _ := n.store.CoopBySlug(ctx, "alpha")
		if activities != 0 || keys != 0 || after.City != "" {
			t.Fatalf("kept after rollback: %d activities, %d keys, city %q", activities, keys, after.City)
		}
	})
}

// TestPublishGoFedReads parses what the node publishes with go-fed's
// streams, as a go-fed based peer would: the activities and the actor are
// typed values, the Service (a type go-fed does not know) survives as an
// unknown object that go-fed serializes back unchanged.
func TestPublishGoFedReads(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		n := newReadNode(t, d)
		ctx := readCtx(t)
		c := n.coop
		c.Summary = "Hello"
		c, err := n.store.UpdateCoop(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		svc, err := n.store.CreateService(ctx, c.ID, directory.Service{Title: "Hosting", Category: "hosting", Pricing: "fixed", Active: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.store.DeleteService(ctx, c.ID, svc.ID); err != nil {
			t.Fatal(err)
		}
		rows := pubRows(t, d, c.ID, 0)
		if len(rows) != 4 {
			t.Fatalf("%d activities", len(rows))
		}
		parse := func(m map[string]any) vocab.Type {
			t.Helper()
			typ, err := streams.ToType(ctx, m)
			if err != nil {
				t.Fatalf("go-fed refuses %v: %v", m["type"], err)
			}
			return typ
		}

		update, ok := parse(rows[0].Body).(vocab.ActivityStreamsUpdate)
		if !ok {
			t.Fatalf("update parsed as %T", parse(rows[0].Body))
		}
		org := update.GetActivityStreamsObject().Begin()
		if !org.IsActivityStreamsOrganization() {
			t.Fatalf("actor parsed as %T", org.GetType())
		}
		pgoActor(t, n, org.GetActivityStreamsOrganization())

		create, ok := parse(rows[1].Body).(vocab.ActivityStreamsCreate)
		if !ok {
			t.Fatal("create not parsed as Create")
		}
		if a := create.GetActivityStreamsActor().Begin(); !a.IsIRI() || a.GetIRI().String() != n.base+"/coops/alpha" {
			t.Errorf("create actor %v", a)
		}
		if to := create.GetActivityStreamsTo().Begin(); !to.IsIRI() || to.GetIRI().String() != PublicAddress {
			t.Errorf("create to %v", to)
		}
		if it := create.GetActivityStreamsObject().Begin(); it.GetType() != nil || it.IsIRI() {
			t.Errorf("a Service parsed as a known type %T", it.GetType())
		}
		back, err := streams.Serialize(create)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back["object"], rows[1].Body["object"]) {
			t.Errorf("go-fed changed the Service:\n%v\n%v", back["object"], rows[1].Body["object"])
		}

		noteCreate, ok := parse(rows[2].Body).(vocab.ActivityStreamsCreate)
		if !ok {
			t.Fatal("note's create not parsed as Create")
		}
		noteIt := noteCreate.GetActivityStreamsObject().Begin()
		if !noteIt.IsActivityStreamsNote() ||
			!strings.HasPrefix(noteIt.GetActivityStreamsNote().GetActivityStreamsContent().Begin().GetXMLSchemaString(), "<p>New service: ") {
			t.Errorf("note parsed as %T", noteIt.GetType())
		}

		del, ok := parse(rows[3].Body).(vocab.ActivityStreamsDelete)
		if !ok || !del.GetActivityStreamsObject().Begin().IsActivityStreamsTombstone() {
			t.Errorf("delete parsed as %T", parse(rows[3].Body))
		}

		// The actor as served at its URL reads the same.
		served, ok := parse(n.getJSON(t, "/coops/alpha", 200)).(vocab.ActivityStreamsOrganization)
		if !ok {
			t.Fatal("served actor is not an Organization")
		}
		pgoActor(t, n, served)
	})
}

// pgoActor checks what go-fed reads of a coop's actor: the fields it knows
// (discoverable among them, from its toot vocabulary) are typed, those it
// lacks (manuallyApprovesFollowers, indexable, endpoints...) are kept as
// unknown properties.
func pgoActor(t *testing.T, n *readNode, org vocab.ActivityStreamsOrganization) {
	t.Helper()
	if org.GetActivityStreamsPreferredUsername().GetXMLSchemaString() != "alpha" ||
		org.GetActivityStreamsInbox().GetIRI().String() != n.base+"/coops/alpha/inbox" ||
		org.GetActivityStreamsSummary().Begin().GetXMLSchemaString() != "<p>Hello</p>\n" {
		t.Errorf("go-fed reads the actor wrong")
	}
	pk := org.GetW3IDSecurityV1PublicKey()
	if pk == nil || pk.Len() != 1 || !pk.Begin().IsW3IDSecurityV1PublicKey() {
		t.Fatal("go-fed finds no public key")
	}
	pem := pk.Begin().Get().GetW3IDSecurityV1PublicKeyPem().Get()
	if _, err := ParsePublicKeyPEM(pem); err != nil {
		t.Errorf("key read by go-fed: %v", err)
	}
	if d := org.GetTootDiscoverable(); d == nil || !d.Get() {
		t.Error("go-fed does not read discoverable")
	}
	unknown := org.GetUnknownProperties()
	for _, p := range []string{"manuallyApprovesFollowers", "indexable", "endpoints", "services"} {
		if _, ok := unknown[p]; !ok {
			t.Errorf("go-fed lost %s (unknown: %v)", p, keysOf(unknown))
		}
	}
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
