// Package pgtest gives tests a PostgreSQL database of their own on the
// local server (127.0.0.1:5432, trust authentication, as .ci/run sets
// up), created fresh and dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// AdminDSN is the database tests connect to in order to create their own.
// POCHTA_TEST_POSTGRES overrides it.
const AdminDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func adminDSN() string {
	if dsn := os.Getenv("POCHTA_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return AdminDSN
}

// Database creates a uniquely named database and returns its DSN; the
// database is dropped (its connections closed) when t ends. Without a
// reachable server the test is skipped, or fails under .ci/run
// (prototest.RequireToolsEnv), where PostgreSQL is always running.
func Database(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, adminDSN())
	if err != nil {
		msg := "PostgreSQL is not reachable at " + adminDSN() + ": " + err.Error()
		if os.Getenv(prototest.RequireToolsEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	defer admin.Close(context.Background())
	var r [6]byte
	rand.Read(r[:])
	name := "pochta_test_" + hex.EncodeToString(r[:])
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, adminDSN())
		if err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, `DROP DATABASE `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(adminDSN())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
