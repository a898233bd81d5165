package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store/postgres"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// cluster initialises two nodes on one fresh PostgreSQL database: node A
// with --domain example.test and a user, node B joining with the same
// command and no --domain.
func cluster(t *testing.T) (dsn, dirA, dirB string) {
	t.Helper()
	dsn = pgtest.Database(t)
	dirA = filepath.Join(t.TempDir(), "a")
	dirB = filepath.Join(t.TempDir(), "b")
	must(t, "", "init", "-d", dirA, "--postgres", dsn, "--domain", "example.test", "--hostname", "a.example.test")
	must(t, "", "init", "-d", dirB, "--postgres", dsn, "--hostname", "b.example.test")
	must(t, "secret\n", "-d", dirA, "user", "add", "u@example.test", "--password-stdin")
	return dsn, dirA, dirB
}

func TestInitPostgresJoin(t *testing.T) {
	dsn, dirA, dirB := cluster(t)
	if out := must(t, "", "-d", dirB, "user", "list"); !strings.Contains(out, "u@example.test") {
		t.Errorf("node B does not see the user added on node A:\n%s", out)
	}
	if out := must(t, "", "-d", dirB, "domain", "list"); !strings.Contains(out, "example.test") {
		t.Errorf("node B does not see the domain:\n%s", out)
	}
	must(t, "Subject: hi\n\nfrom B\n", "-d", dirB, "deliver", "u@example.test")
	must(t, "Subject: hi\n\nfrom A\n", "-d", dirA, "deliver", "u@example.test")
	st, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := st.Account(t.Context(), "u@example.test")
	if err != nil {
		t.Fatal(err)
	}
	got := storetest.Bodies(t, st, a.ID)
	if len(got) != 2 || !strings.Contains(got[0], "from B") || !strings.Contains(got[1], "from A") {
		t.Errorf("INBOX after deliveries on B then A: %q", got)
	}
	// Nothing of the mail is kept in the nodes' directories.
	for _, dir := range []string{dirA, dirB} {
		if m, _ := filepath.Glob(filepath.Join(dir, "pochta.db*")); len(m) > 0 {
			t.Errorf("%s holds a SQLite database: %v", dir, m)
		}
	}
}
