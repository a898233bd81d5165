package postgres

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/prototest"
	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/postgres/pgtest"
)

// The read paths of bench/imap-vs-dovecot.sh and bench/pop3-vs-dovecot.sh
// at the store, an op being one message, with the CPU of this process
// (cpu-ns/op) and of the database backends serving it (db-cpu-ns/op): on
// a machine shared with other work the CPU per message is the steady
// figure. Run with e.g.
//
//	go test -run XXX -bench 'ListMailbox|MaildropLogin|MaildropDownloadDelete' -count 3 ./internal/store/postgres

// benchBodies returns n message texts of 2 KB to max octets (log-uniform,
// shuffled, as bench/genmail makes them), with a few header fields.
func benchBodies(n, largest int) []string {
	line := "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n"
	out := make([]string, n)
	for i := range n {
		size := int(2000 * math.Pow(float64(largest)/2000, float64(i*7%n)/float64(max(n-1, 1))))
		out[i] = fmt.Sprintf("From: a%d@example.org\r\nTo: b@example.org\r\nSubject: message %d\r\nMessage-ID: <%d@example.org>\r\n\r\n", i, i, i) +
			strings.Repeat(line, size/len(line)+1)
	}
	return out
}

// BenchmarkListMailbox lists a mailbox of 200 messages of 2-20 KB as the
// IMAP full-mailbox FETCH does: with the cached summaries (ENVELOPE) and
// with the bodies (BODY[]), reading each body.
func BenchmarkListMailbox(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, pgtest.Database(b), Options{Schema: "listmailbox"})
	a := user(b, s, "list@example.org")
	const n = 200
	for _, body := range benchBodies(n, 20000) {
		deliver(b, s, a, body)
	}
	mb, err := s.GetMailbox(ctx, a.ID, "INBOX")
	if err != nil {
		b.Fatal(err)
	}
	all, err := s.ListMessages(ctx, mb.ID, store.MessageQuery{})
	if err != nil {
		b.Fatal(err)
	}
	var sums []store.SummaryUpdate
	for _, m := range all {
		sums = append(sums, store.SummaryUpdate{MessageID: m.ID, Summary: []byte(strings.Repeat("s", 600))})
	}
	if err := s.SetSummaries(ctx, sums); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		q    store.MessageQuery
	}{
		{"summaries", store.MessageQuery{Summary: true, Limit: 500}},
		{"bodies", store.MessageQuery{Bodies: true, Limit: 64}},
	} {
		b.Run(c.name, func(b *testing.B) {
			db0 := backendCPU(b, s)
			prototest.ReportCPU(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; {
				q := c.q
				for q.MinUID = 1; i < b.N; {
					msgs, err := s.ListMessages(ctx, mb.ID, q)
					if err != nil {
						b.Fatal(err)
					}
					for _, m := range msgs {
						if m.Open != nil {
							r, err := m.Open()
							if err != nil {
								b.Fatal(err)
							}
							if _, err := io.Copy(io.Discard, r); err != nil {
								b.Fatal(err)
							}
							r.Close()
						}
					}
					i += len(msgs)
					if len(msgs) < q.Limit {
						break
					}
					q.MinUID = msgs[len(msgs)-1].UID + 1
				}
			}
			b.StopTimer()
			b.ReportMetric(float64((backendCPU(b, s)-db0).Nanoseconds())/float64(b.N), "db-cpu-ns/op")
		})
	}
}

// BenchmarkMaildropLogin opens (locks and snapshots) and closes a maildrop
// of 10,000 messages, as a POP3 login and QUIT without changes do; an op
// is a message of the snapshot. "listed" reads the listing every time,
// "kept" reuses the snapshot kept from the previous open
// (store.SnapshotCache).
func BenchmarkMaildropLogin(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, pgtest.Database(b), Options{Schema: "maildroplogin"})
	a := user(b, s, "login@example.org")
	const n = 10000
	insertCopies(b, s, a, n)
	for _, kept := range []bool{false, true} {
		b.Run(map[bool]string{false: "listed", true: "kept"}[kept], func(b *testing.B) {
			db0 := backendCPU(b, s)
			prototest.ReportCPU(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += n {
				if !kept {
					s.snaps.Drop(a.ID)
				}
				m, err := s.OpenMaildrop(ctx, a.ID)
				if err != nil {
					b.Fatal(err)
				}
				if got := len(m.Messages()); got != n {
					b.Fatalf("%d messages", got)
				}
				m.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64((backendCPU(b, s)-db0).Nanoseconds())/float64(b.N), "db-cpu-ns/op")
		})
	}
}

// insertCopies gives the account's INBOX n messages: one delivered, the
// others copies of its row (a snapshot reads rows, not bodies).
func insertCopies(t testing.TB, s *Store, a store.Account, n int) {
	t.Helper()
	ctx := context.Background()
	deliver(t, s, a, benchBodies(1, 2000)[0])
	if _, err := s.pool.Exec(ctx, `INSERT INTO messages (mailbox_id, account_id, uid, uidl, body_id, size, dot_lines, internal_date)
		SELECT m.mailbox_id, m.account_id, m.uid + g, m.uidl || '.' || g, m.body_id, m.size, m.dot_lines, m.internal_date
		FROM messages m, generate_series(1, $1) g WHERE m.account_id = $2`, n-1, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE mailboxes SET uidnext = uidnext + $1 WHERE account_id = $2 AND name = 'INBOX'`,
		n-1, a.ID); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkMaildropDownloadDelete is a POP3 download-and-delete session
// at the store: open a maildrop of 50 messages of 2-100 KB, read every
// body in order, delete them all at QUIT, close. The maildrop is refilled
// outside the timer; an op is a message. db-open, db-read and db-quit
// split db-cpu between the login, the RETRs and the QUIT.
func BenchmarkMaildropDownloadDelete(b *testing.B) {
	ctx := context.Background()
	s := openTest(b, pgtest.Database(b), Options{Schema: "downloaddelete"})
	a := user(b, s, "dele@example.org")
	const n = 50
	bodies := benchBodies(n, 100000)
	var db, cpu, dOpen, dRead, dDel time.Duration
	b.ReportAllocs()
	for i := 0; i < b.N; i += n {
		b.StopTimer()
		for _, body := range bodies {
			deliver(b, s, a, body)
		}
		db0, cpu0 := backendCPU(b, s), prototest.ProcessCPU()
		b.StartTimer()
		m, err := s.OpenMaildrop(ctx, a.ID)
		if err != nil {
			b.Fatal(err)
		}
		dOpen += backendCPU(b, s) - db0
		d1 := backendCPU(b, s)
		var ids []int64
		for _, mm := range m.Messages() {
			r, err := m.Body(ctx, mm.ID)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
			r.Close()
			ids = append(ids, mm.ID)
		}
		d2 := backendCPU(b, s)
		dRead += d2 - d1
		if err := m.Delete(ctx, ids); err != nil {
			b.Fatal(err)
		}
		m.Close()
		dDel += backendCPU(b, s) - d2
		b.StopTimer()
		db += backendCPU(b, s) - db0
		cpu += prototest.ProcessCPU() - cpu0
		b.StartTimer()
	}
	// b.N rounded up to whole sessions.
	msgs := float64((b.N + n - 1) / n * n)
	b.ReportMetric(float64(db.Nanoseconds())/msgs, "db-cpu-ns/op")
	b.ReportMetric(float64(cpu.Nanoseconds())/msgs, "cpu-ns/op")
	b.ReportMetric(float64(dOpen.Nanoseconds())/msgs, "db-open-ns/op")
	b.ReportMetric(float64(dRead.Nanoseconds())/msgs, "db-read-ns/op")
	b.ReportMetric(float64(dDel.Nanoseconds())/msgs, "db-quit-ns/op")
}
