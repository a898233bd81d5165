package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/storetest"
)

// appendTo appends messages to a Dovecot folder.
func appendTo(t testing.TB, c *imapclient.Client, folder string, msgs ...string) {
	t.Helper()
	for _, m := range msgs {
		cmd := c.Append(folder, int64(len(m)), nil)
		if _, err := cmd.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("APPEND to %s: %v", folder, err)
		}
	}
}

// dovecotSource starts Dovecot (IMAP and POP3, plain+STARTTLS and
// implicit TLS) with remote@dovecot.test holding messages 1 and 2, and
// makes fs trust and reach it as dovecot.test.
func dovecotSource(t testing.TB, fs *fetchSide) (*dovecot, *imapclient.Client) {
	t.Helper()
	d := startDovecotWith(t, map[string]string{"remote@dovecot.test": "dv-pw"}, dovecotOptions{POP3: true, TLS: true})
	fs.trust(d.cert)
	fs.hosts["dovecot.test"] = "127.0.0.1"
	c := dialIMAP(t, d.addr, "remote@dovecot.test", "dv-pw")
	appendTo(t, c, "INBOX", fetchMessage(1), fetchMessage(2))
	return d, c
}

func TestFetchFromDovecot(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		url    func(d *dovecot) string
		delete bool
	}{
		{"pop3 STLS keep", func(d *dovecot) string {
			return "pop3://remote%40dovecot.test@dovecot.test:" + portOf(d.pop3) + "/?starttls"
		}, false},
		{"pop3s delete", func(d *dovecot) string { return "pop3s://remote%40dovecot.test@dovecot.test:" + portOf(d.pop3s) + "/" }, true},
		{"imap STARTTLS keep", func(d *dovecot) string {
			return "imap://remote%40dovecot.test@dovecot.test:" + portOf(d.addr) + "/?starttls"
		}, false},
		{"imaps delete", func(d *dovecot) string {
			return "imaps://remote%40dovecot.test@dovecot.test:" + portOf(d.imaps) + "/INBOX"
		}, true},
		{"pop3s USER/PASS delete", func(d *dovecot) string {
			return "pop3s://remote%40dovecot.test@dovecot.test:" + portOf(d.pop3s) + "/?auth=user"
		}, true},
		{"pop3 STLS APOP keep", func(d *dovecot) string {
			return "pop3://remote%40dovecot.test@dovecot.test:" + portOf(d.pop3) + "/?starttls&auth=apop"
		}, false},
		{"imaps LOGIN keep", func(d *dovecot) string {
			return "imaps://remote%40dovecot.test@dovecot.test:" + portOf(d.imaps) + "/?auth=login"
		}, false},
		// Plain: no TLS at all, asked for by name (Dovecot takes a
		// cleartext login on loopback).
		{"pop3 cleartext delete", func(d *dovecot) string {
			return "pop3://remote%40dovecot.test@dovecot.test:" + portOf(d.pop3) + "/?cleartext"
		}, true},
		{"imap cleartext keep", func(d *dovecot) string {
			return "imap://remote%40dovecot.test@dovecot.test:" + portOf(d.addr) + "/?cleartext"
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFetchSide(t)
			d, c := dovecotSource(t, fs)
			url := tt.url(d)
			src := fs.source(url, "dv-pw", tt.delete)
			res := fs.run(fs.fetcher(nil), src)
			wantDeleted := 0
			if tt.delete {
				wantDeleted = 2
			}
			if res.Fetched != 2 || res.Deleted != wantDeleted {
				t.Fatalf("first run: %+v", res)
			}
			if res := fs.run(fs.fetcher(nil), src); res.Fetched != 0 {
				t.Fatalf("second run fetched %d", res.Fetched)
			}
			appendTo(t, c, "INBOX", fetchMessage(3))
			if res := fs.run(fs.fetcher(nil), src); res.Fetched != 1 {
				t.Fatalf("run after new mail: %+v", res)
			}
			wantSubjects(t, fs.subjects(), "message 1", "message 2", "message 3")
			st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
			if err != nil {
				t.Fatal(err)
			}
			want := uint32(3)
			if tt.delete {
				want = 0
			}
			if *st.NumMessages != want {
				t.Errorf("Dovecot's INBOX holds %d messages, want %d", *st.NumMessages, want)
			}
			if b := storetest.Bodies(t, fs.st, fs.acct.ID)[0]; !strings.Contains(b, "Received: from dovecot.test ([127.0.0.1])") ||
				strings.Contains(b, "using TLSv1.3") == strings.Contains(url, "cleartext") {
				t.Errorf("Received field of a fetched message:\n%.400s", b)
			}
		})
	}
}

// A folder deleted and created again on the source has a new
// UIDVALIDITY: the messages fetched before are recognised (by Message-ID
// and size) and not fetched again; only the new one is.
func TestFetchUIDVALIDITYChange(t *testing.T) {
	t.Parallel()
	fs := newFetchSide(t)
	d, c := dovecotSource(t, fs)
	if err := c.Create("Lists", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendTo(t, c, "Lists", fetchMessage(11), fetchMessage(12))
	src := fs.source("imaps://remote%40dovecot.test@dovecot.test:"+portOf(d.imaps)+"/Lists", "dv-pw", false)
	if res := fs.run(fs.fetcher(nil), src); res.Fetched != 2 {
		t.Fatalf("first run: %+v", res)
	}
	before, _ := fs.st.FetchedIDs(context.Background(), src.ID, "Lists")
	if err := c.Delete("Lists").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Lists", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendTo(t, c, "Lists", fetchMessage(13), fetchMessage(12), fetchMessage(11))
	if res := fs.run(fs.fetcher(nil), src); res.Fetched != 1 {
		t.Fatalf("run after the UIDVALIDITY change: %+v, want only message 13", res)
	}
	wantSubjects(t, fs.subjects(), "message 11", "message 12", "message 13")
	after, _ := fs.st.FetchedIDs(context.Background(), src.ID, "Lists")
	if len(after) != 3 || validity(after[0]) == validity(before[0]) {
		t.Errorf("ids before %v, after %v: want 3, all of the new UIDVALIDITY", before, after)
	}
	for _, id := range after {
		if validity(id) != validity(after[0]) {
			t.Errorf("ids of two UIDVALIDITYs kept: %v", after)
		}
	}
}

func validity(id store.FetchedID) string {
	v, _, _ := strings.Cut(id.ID, "/")
	return v
}

// With all, every folder is fetched, each into the local folder of the
// same special use or name.
func TestFetchAllFolders(t *testing.T) {
	t.Parallel()
	fs := newFetchSide(t)
	d, c := dovecotSource(t, fs)
	appendTo(t, c, "Sent", fetchMessage(21))
	if err := c.Create("Lists/go", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendTo(t, c, "Lists/go", fetchMessage(22))
	src := fs.source("imaps://remote%40dovecot.test@dovecot.test:"+portOf(d.imaps)+"/?all", "dv-pw", false)
	if res := fs.run(fs.fetcher(nil), src); res.Fetched != 4 {
		t.Fatalf("run: %+v, want 4", res)
	}
	if res := fs.run(fs.fetcher(nil), src); res.Fetched != 0 {
		t.Fatalf("second run: %+v", res)
	}
	ctx := context.Background()
	for name, want := range map[string]int{"INBOX": 2, "Sent": 1, "Lists/go": 1} {
		mb, err := fs.st.GetMailbox(ctx, fs.acct.ID, name)
		if err != nil {
			t.Fatalf("local %s: %v", name, err)
		}
		st, err := fs.st.MailboxStatus(ctx, mb.ID)
		if err != nil || st.Messages != want {
			t.Errorf("local %s holds %+v (%v), want %d messages", name, st, err, want)
		}
	}
}

// TestFetchAllFoldersIdle: a source of every folder stays connected in
// IDLE on INBOX after its pass, so a new message there arrives within
// seconds although the poll interval is five minutes; the other folders
// are looked at by that pass too.
func TestFetchAllFoldersIdle(t *testing.T) {
	t.Parallel()
	fs := newFetchSide(t)
	d, c := dovecotSource(t, fs)
	appendTo(t, c, "Sent", fetchMessage(31))
	fs.source("imaps://remote%40dovecot.test@dovecot.test:"+portOf(d.imaps)+"/?all", "dv-pw", false)
	f := fs.fetcher(nil)
	f.Interval = 5 * time.Minute
	runFetcher(t, f)
	ctx := context.Background()
	count := func(name string) int {
		mb, err := fs.st.GetMailbox(ctx, fs.acct.ID, name)
		if err != nil {
			return -1
		}
		st, err := fs.st.MailboxStatus(ctx, mb.ID)
		if err != nil {
			t.Fatal(err)
		}
		return st.Messages
	}
	waitFor(t, "the first pass", func() bool { return count("INBOX") == 2 && count("Sent") == 1 })
	// Sent changes first, then INBOX: the IDLE on INBOX wakes the pass
	// that takes both.
	appendTo(t, c, "Sent", fetchMessage(32))
	appendTo(t, c, "INBOX", fetchMessage(33))
	waitFor(t, "the new INBOX message through IDLE", func() bool { return count("INBOX") == 3 })
	waitFor(t, "the new Sent message in the same pass", func() bool { return count("Sent") == 2 })
}
