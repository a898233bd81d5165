package storecopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// TestSQLiteToPostgres fills a SQLite store the way a server's life does
// (deliveries, a deleted message, APPENDs with flags, a folder, a script,
// an alias, a quota, a queued message) and checks that PostgreSQL holds
// the same after Copy: every UIDVALIDITY, UIDNEXT, UID, UIDL, flag, date
// and body.
func TestSQLiteToPostgres(t *testing.T) {
	ctx := context.Background()
	src, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(src.AddDomain(ctx, "example.org"))
	a, err := src.CreateAccount(ctx, "a@example.org", store.Credentials{PasswordHash: "hash-a", LegacySecret: "s"})
	must(err)
	b, err := src.CreateAccount(ctx, "b@example.org", store.Credentials{PasswordHash: "hash-b"})
	must(err)
	must(src.SetQuota(ctx, "a@example.org", 1<<20))
	for i := range 5 {
		must(src.Deliver(ctx, store.Delivery{Recipients: []store.Recipient{{AccountID: a.ID}, {AccountID: b.ID, UIDL: fmt.Sprintf("imported-%d", i)}},
			Body: strings.NewReader(fmt.Sprintf("Subject: %d\n\nbody %d\n", i, i))}))
	}
	md, err := src.OpenMaildrop(ctx, a.ID)
	must(err)
	must(md.Delete(ctx, []int64{md.Messages()[1].ID}))
	md.Close()
	box, err := src.CreateMailbox(ctx, a.ID, "Lists/Go", "")
	must(err)
	_, _, err = src.Append(ctx, box.ID, store.AppendMessage{Body: strings.NewReader("Subject: appended\r\n\r\nx\r\n"),
		Flags: []string{`\Seen`, "$label"}, InternalDate: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)})
	must(err)
	must(src.SetSubscribed(ctx, a.ID, "Lists/Go", true))
	// Two messages imported into Lists/Go, one moved out since: the
	// record of both goes along, so an import run again after the
	// migration stores neither.
	imported := map[string]uint32{}
	for _, key := range []string{"1700000000.M1P1.old", "1700000001.M2P1.old"} {
		res, err := src.ImportMessages(ctx, box.ID, []store.ImportMessage{{Key: key,
			Open: func() (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader("Subject: " + key + "\r\n\r\nx\r\n")), nil
			}}})
		must(err)
		imported[key] = res[0].UID
	}
	inbox, err := src.GetMailbox(ctx, a.ID, store.InboxName)
	must(err)
	_, err = src.MoveMessages(ctx, box.ID, []uint32{imported["1700000001.M2P1.old"]}, inbox.ID)
	must(err)
	must(src.SetSubscribed(ctx, a.ID, "Trash", false))
	must(src.PutSieveScript(ctx, a.ID, "main", `keep;`))
	must(src.ActivateSieveScript(ctx, a.ID, "main"))
	must(src.PutSieveScript(ctx, a.ID, "spare", `discard;`))
	must(src.AddAlias(ctx, "all@example.org", []string{"a@example.org", "far@remote.test"}))
	must(src.Deliver(ctx, store.Delivery{Body: strings.NewReader("Subject: out\r\n\r\nx\r\n"),
		Outbound: &store.Envelope{From: "a@example.org", Recipients: []store.QueueRecipient{{Address: "far@remote.test"}}}}))

	dst, err := postgres.Open(ctx, pgtest.Database(t), postgres.Options{MaxConns: 4})
	must(err)
	defer dst.Close()
	st, err := Copy(ctx, src, dst, nil)
	must(err)
	if st.Accounts != 2 || st.Messages != 12 || st.Queued != 1 || st.Scripts != 2 || st.Aliases != 1 {
		t.Errorf("stats %+v", st)
	}
	if _, err := Copy(ctx, src, dst, nil); !errors.Is(err, store.ErrExists) {
		t.Errorf("a second Copy into the same database: %v, want ErrExists", err)
	}

	for _, addr := range []string{"a@example.org", "b@example.org"} {
		if got, want := snapshot(t, dst, addr), snapshot(t, src, addr); got != want {
			t.Errorf("%s differs after the copy:\n got %s\nwant %s", addr, got, want)
		}
	}
	da, err := dst.Account(ctx, "a@example.org")
	must(err)
	dbox, err := dst.GetMailbox(ctx, da.ID, "Lists/Go")
	must(err)
	keys, err := dst.ImportedKeys(ctx, dbox.ID)
	must(err)
	for k, uid := range imported {
		if keys[k] != uid {
			t.Errorf("import key %s after the copy: UID %d, want %d (%v)", k, keys[k], uid, keys)
		}
	}
	q, err := dst.QueuedMessages(ctx)
	must(err)
	if len(q) != 1 || q[0].Envelope.Recipients[0].Address != "far@remote.test" {
		t.Errorf("queue after the copy: %+v", q)
	}
	al, err := dst.Alias(ctx, "all@example.org")
	must(err)
	if !slices.Equal(al.Targets, []string{"a@example.org", "far@remote.test"}) {
		t.Errorf("alias after the copy: %v", al)
	}
}

// snapshot describes an account as its clients see it.
func snapshot(t *testing.T, s store.Store, address string) string {
	t.Helper()
	ctx := context.Background()
	a, err := s.Account(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	fmt.Fprintf(&out, "quota=%d used=%d creds=%v\n", a.Quota, a.Used, a.Credentials)
	boxes, err := s.ListMailboxes(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range boxes {
		fmt.Fprintf(&out, "%s validity=%d next=%d use=%q subscribed=%v\n", mb.Name, mb.UIDValidity, mb.UIDNext, mb.SpecialUse, mb.Subscribed)
		uidls, err := s.UIDLs(ctx, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := s.ListMessages(ctx, mb.ID, store.MessageQuery{Bodies: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			r, err := m.Open()
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(r)
			r.Close()
			fmt.Fprintf(&out, "  uid=%d uidl=%s flags=%v date=%s size=%d body=%q\n", m.UID, uidls[m.UID], m.Flags,
				m.InternalDate.UTC().Format(time.RFC3339Nano), m.Size, body)
		}
	}
	subs, _ := s.Subscriptions(ctx, a.ID)
	scripts, _ := s.SieveScripts(ctx, a.ID)
	names := map[string]bool{}
	for _, sc := range scripts {
		names[sc.Name] = sc.Active
	}
	fmt.Fprintf(&out, "subscriptions=%v scripts=%v\n", subs, slices.Sorted(maps.Keys(names)))
	if act, err := s.ActiveSieveScript(ctx, a.ID); err == nil {
		fmt.Fprintf(&out, "active=%s %q\n", act.Name, act.Source)
	}
	return out.String()
}
