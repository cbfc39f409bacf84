package federation

import (
	"context"
	"testing"

	"github.com/coopnet/coopnet/internal/db"
	"github.com/coopnet/coopnet/internal/testdb"
)

func TestKeys(t *testing.T) {
	testdb.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		k1, err := NewKeys(d).For(ctx, "/coops/alpha")
		if err != nil {
			t.Fatal(err)
		}
		// Another process (a fresh Keys) reads the same key back.
		k2, err := NewKeys(d).For(ctx, "/coops/alpha")
		if err != nil {
			t.Fatal(err)
		}
		if !k1.Private.Equal(k2.Private) || k1.PublicPEM != k2.PublicPEM {
			t.Fatal("key differs between two reads")
		}
		pub, err := ParsePublicKeyPEM(k1.PublicPEM)
		if err != nil || !pub.Equal(&k1.Private.PublicKey) {
			t.Fatalf("public PEM does not parse back: %v", err)
		}
		other, err := NewKeys(d).For(ctx, InstanceActorPath)
		if err != nil || other.Private.Equal(k1.Private) {
			t.Fatalf("instance key: %v, same as coop's", err)
		}
	})
}
