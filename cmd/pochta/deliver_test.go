package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the driver the store uses, to hold its lock from outside
)

const msg = "From: a@example.org\r\nSubject: hello\r\n\r\nbody line\r\n.dot line\r\n"

// newMailDir is newDir with one user, alice@example.test.
func newMailDir(t *testing.T) string {
	t.Helper()
	dir := newDir(t)
	must(t, "pw\n", "-d", dir, "user", "add", "alice@example.test", "--password-stdin")
	return dir
}

func TestDeliver(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t)
	must(t, "", "-d", dir, "domain", "add", "other.test")
	must(t, "pw\n", "-d", dir, "user", "add", "bob@other.test", "--password-stdin")

	must(t, msg, "-d", dir, "deliver", "Alice@EXAMPLE.test", "bob@other.test", "alice@example.test")
	must(t, "Subject: bare LF\n\nbody\n", "deliver", "-d", dir, "alice@example.test")

	expect(t, exitNoUser, "nobody@example.test", msg, "-d", dir, "deliver", "alice@example.test", "nobody@example.test")
	expect(t, exitNoUser, "not-an-address", msg, "-d", dir, "deliver", "not-an-address")
	expect(t, exitUsage, "usage", msg, "-d", dir, "deliver")

	must(t, msg, "-d", dir, "deliver", "--uidl", "imported-1", "bob@other.test")
	expect(t, exitDataErr, "imported-1", msg, "-d", dir, "deliver", "--uidl", "imported-1", "bob@other.test")
	expect(t, exitDataErr, "--uidl", msg, "-d", dir, "deliver", "--uidl", "has space", "bob@other.test")

	st := openStore(t, dir)
	alice := inbox(t, st, "alice@example.test")
	if len(alice) != 2 || alice[0] != msg || alice[1] != "Subject: bare LF\r\n\r\nbody\r\n" {
		t.Fatalf("alice's INBOX: %q (a recipient named twice must get one copy; the failed deliveries none)", alice)
	}
	if bob := inbox(t, st, "bob@other.test"); len(bob) != 2 || bob[0] != msg || bob[1] != msg {
		t.Fatalf("bob's INBOX: %q", bob)
	}
}

func TestDeliverSizeLimit(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t)
	setConfig(t, dir, "limits", "max_message_size", `"1KiB"`)
	exact := strings.Repeat("x", 1022) + "\r\n"
	must(t, exact, "-d", dir, "deliver", "alice@example.test")
	expect(t, exitUnavailable, "limits.max_message_size", exact+"y", "-d", dir, "deliver", "alice@example.test")
	if got := inbox(t, openStore(t, dir), "alice@example.test"); len(got) != 1 || got[0] != exact {
		t.Fatalf("INBOX holds %d messages, want only the one at the limit", len(got))
	}
}

// Temporary failures must be EX_TEMPFAIL so the MTA retries: here the
// message storage is unavailable (DIR/messages is not a directory) and then
// the database is locked by another writer for longer than the busy
// timeout. A broken config is also temporary for deliver.
func TestDeliverTempFail(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t)
	msgs := filepath.Join(dir, "messages")
	if err := os.Rename(msgs, msgs+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(msgs, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	expect(t, exitTempFail, "pochta:", msg, "-d", dir, "deliver", "alice@example.test")
	if err := os.Remove(msgs); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(msgs+".away", msgs); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", filepath.Join(dir, "pochta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	expect(t, exitTempFail, "pochta:", msg, "-d", dir, "deliver", "alice@example.test")
	conn.ExecContext(context.Background(), "ROLLBACK")
	conn.Close()

	setConfig(t, dir, "pop3", "idle_timeout", `"soon"`)
	expect(t, exitTempFail, "config: pop3.idle_timeout", msg, "-d", dir, "deliver", "alice@example.test")
	setConfig(t, dir, "pop3", "idle_timeout", `"10m"`)

	must(t, msg, "-d", dir, "deliver", "alice@example.test") // and it works again
	if got := inbox(t, openStore(t, dir), "alice@example.test"); len(got) != 1 {
		t.Fatalf("INBOX holds %d messages, want 1: failed deliveries stored something", len(got))
	}
}
