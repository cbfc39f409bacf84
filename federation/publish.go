package federation

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/coopnet/coopnet/directory"
)

// publish records the activity for a change and delivers it to followers.
// It runs inside the directory's transaction: the change, its activities and
// their deliveries commit together or not at all.
//
//   - a profile change is an Update of the actor;
//   - a service that becomes visible (created active, or reactivated) is a
//     Create of the Service, followed by a Create of a Note announcing it,
//     which is what Mastodon followers see;
//   - a visible service that changes is an Update;
//   - a service that is deactivated or deleted is a Delete with a Tombstone.
//
// Whether a service is visible to peers is read from the outbox itself (the
// last activity about it), so no state is kept beside it.
func (f *Federation) publish(ctx context.Context, tx *sql.Tx, ch directory.Change) error {
	switch ch.Kind {
	case directory.CoopUpdated:
		return f.publishProfile(ctx, tx, ch.Coop)
	case directory.ServiceCreated, directory.ServiceUpdated:
		if ch.Service.Active {
			return f.publishService(ctx, tx, ch.Coop, ch.Service)
		}
		if ch.Kind == directory.ServiceCreated {
			return nil // created inactive: nobody has seen it
		}
		return f.withdrawService(ctx, tx, ch.Coop, ch.Service)
	case directory.ServiceDeleted:
		return f.withdrawService(ctx, tx, ch.Coop, ch.Service)
	}
	return nil
}

// publicAudience is the addressing of everything a coop publishes: everyone,
// and its followers (who get it delivered).
func (f *Federation) publicAudience(coop directory.Coop) (to, cc []string) {
	return []string{PublicAddress}, []string{f.urls.Followers(coop.Slug)}
}

// publishProfile sends an Update with the whole actor document: Mastodon
// replaces what it knows of the actor with it, key included, so the
// document must be complete.
func (f *Federation) publishProfile(ctx context.Context, tx *sql.Tx, coop directory.Coop) error {
	pub, err := f.publicKeyTx(ctx, tx, ActorPath(coop.Slug))
	if err != nil {
		return err
	}
	logo, err := readLogoInfo(ctx, tx, coop)
	if err != nil {
		return err
	}
	to, cc := f.publicAudience(coop)
	act := f.newActivity("Update", coop, f.actorDocument(coop, pub, logo), to, cc)
	return f.recordAndDeliver(ctx, tx, coop, act, f.urls.Actor(coop.Slug))
}

// publishService sends a Create for a service peers have not seen (or saw
// deleted), with its announcement Note, or an Update for one they have.
func (f *Federation) publishService(ctx context.Context, tx *sql.Tx, coop directory.Coop, svc directory.Service) error {
	objectID := f.urls.Service(coop.Slug, svc.ID)
	last, err := lastActivityType(ctx, tx, coop.ID, objectID)
	if err != nil {
		return err
	}
	to, cc := f.publicAudience(coop)
	if last == "Create" || last == "Update" {
		return f.recordAndDeliver(ctx, tx, coop, f.newActivity("Update", coop, f.serviceObject(coop, svc), to, cc), objectID)
	}
	if err := f.recordAndDeliver(ctx, tx, coop, f.newActivity("Create", coop, f.serviceObject(coop, svc), to, cc), objectID); err != nil {
		return err
	}
	note := f.newActivity("Create", coop, nil, to, cc)
	noteID := note["id"].(string) + noteSuffix
	note["object"] = f.serviceNote(noteID, coop, svc, f.cfg.Now())
	return f.recordAndDeliver(ctx, tx, coop, note, noteID)
}

// withdrawService sends a Delete for a service that was deactivated or
// deleted, unless its last activity already was one. A service without any
// activity may still have been seen in the services collection, so it gets
// its Delete too.
func (f *Federation) withdrawService(ctx context.Context, tx *sql.Tx, coop directory.Coop, svc directory.Service) error {
	objectID := f.urls.Service(coop.Slug, svc.ID)
	last, err := lastActivityType(ctx, tx, coop.ID, objectID)
	if err != nil || last == "Delete" {
		return err
	}
	to, cc := f.publicAudience(coop)
	act := f.newActivity("Delete", coop, tombstone(objectID, ServiceType, f.cfg.Now()), to, cc)
	return f.recordAndDeliver(ctx, tx, coop, act, objectID)
}

// recordAndDeliver stores a public activity in the coop's outbox and queues
// its delivery to the coop's followers, both inside tx.
func (f *Federation) recordAndDeliver(ctx context.Context, tx *sql.Tx, coop directory.Coop, act map[string]any, objectID string) error {
	rowID, err := f.storeActivity(ctx, tx, coop.ID, act, objectID, true)
	if err != nil {
		return err
	}
	return f.deliverToFollowers(ctx, tx, coop.ID, rowID)
}

// lastActivityType is the type of the coop's latest activity about
// objectID, or "" when there is none. It reads inside tx, so it sees what
// this transaction stored.
func lastActivityType(ctx context.Context, tx *sql.Tx, coopID int64, objectID string) (string, error) {
	var typ string
	err := tx.QueryRowContext(ctx, `SELECT type FROM activities WHERE coop_id = $1 AND object_id = $2
		ORDER BY id DESC LIMIT 1`, coopID, objectID).Scan(&typ)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("federation: read outbox: %w", err)
	}
	return typ, nil
}

// publicKeyTx returns the public key of the actor at owner, read or made
// inside tx. Keys.For cannot be used here: on SQLite this transaction holds
// the only write connection, and For makes a missing key through another
// one, which would wait for this transaction forever. A key made here is
// stored exactly as Keys makes it, and is gone if the change rolls back
// (nothing signed with it was sent).
func (f *Federation) publicKeyTx(ctx context.Context, tx *sql.Tx, owner string) (string, error) {
	var pub string
	err := tx.QueryRowContext(ctx, `SELECT public_pem FROM actor_keys WHERE owner = $1`, owner).Scan(&pub)
	if err == nil {
		return pub, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("federation: read key of %s: %w", owner, err)
	}
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", fmt.Errorf("federation: generate key: %w", err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("federation: encode key: %w", err)
	}
	pubPEM, err := PublicKeyPEM(&priv.PublicKey)
	if err != nil {
		return "", err
	}
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	// Another process may have made the key meanwhile: keep theirs.
	if _, err := tx.ExecContext(ctx, `INSERT INTO actor_keys (owner, private_pem, public_pem, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (owner) DO NOTHING`, owner, privPEM, pubPEM, f.cfg.Now().UTC().Truncate(time.Microsecond)); err != nil {
		return "", fmt.Errorf("federation: store key of %s: %w", owner, err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT public_pem FROM actor_keys WHERE owner = $1`, owner).Scan(&pub); err != nil {
		return "", fmt.Errorf("federation: read key of %s: %w", owner, err)
	}
	return pub, nil
}
