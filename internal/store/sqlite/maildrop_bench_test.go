package sqlite

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// BenchmarkMaildropBody opens and reads one message of an open maildrop,
// as each POP3 RETR does: a 20 KiB body stored inline in the database and
// a 100 KiB one in a file (typical mail is 2-100 KB).
func BenchmarkMaildropBody(b *testing.B) {
	for _, bc := range []struct {
		name string
		size int
	}{{"inline20KiB", 20 << 10}, {"file100KiB", 100 << 10}} {
		b.Run(bc.name, func(b *testing.B) {
			s := openTest(b, b.TempDir(), Options{})
			a := newAccount(b, s, "body@example.org")
			body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing.\r\n", bc.size/53)
			deliverTo(b, s, body, store.Recipient{AccountID: a.ID})
			ctx := context.Background()
			m, err := s.OpenMaildrop(ctx, a.ID)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			id := m.Messages()[0].ID
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				r, err := m.Body(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, r); err != nil || n != int64(len(body)) {
					b.Fatalf("read %d octets: %v", n, err)
				}
				r.Close()
			}
		})
	}
}

// BenchmarkMaildropDelete50 measures QUIT after a download-and-delete
// session: one Delete of a 50-message maildrop with inline bodies. The
// rows are inserted directly (outside the timer) to keep setup cheap.
func BenchmarkMaildropDelete50(b *testing.B) {
	s := openTest(b, b.TempDir(), Options{})
	a := newAccount(b, s, "del@example.org")
	ctx := context.Background()
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		_, err := s.writer.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
			INSERT INTO blobs (name, data) SELECT printf('b%d-%d', ?2, i), zeroblob(20000) FROM n`, a.ID, round)
		if err == nil {
			_, err = s.writer.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
			INSERT INTO messages (mailbox_id, account_id, uid, uidl, body, size, dot_lines, internal_date)
			SELECT (SELECT id FROM mailboxes WHERE account_id = ?1 AND name = 'INBOX'), ?1,
				(SELECT coalesce(max(uid), 0) FROM messages) + i, printf('u%d-%d', ?2, i),
				printf('b%d-%d', ?2, i), 20000, 0, 1700000000000000 + i FROM n`, a.ID, round)
		}
		if err != nil {
			b.Fatal(err)
		}
		m, err := s.OpenMaildrop(ctx, a.ID)
		if err != nil {
			b.Fatal(err)
		}
		ids := make([]int64, 0, 50)
		for _, mm := range m.Messages() {
			ids = append(ids, mm.ID)
		}
		b.StartTimer()
		if err := m.Delete(ctx, ids); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		m.Close()
		b.StartTimer()
	}
	var n int
	if err := s.reader.QueryRow(`SELECT count(*) FROM blobs`).Scan(&n); err != nil || n != 0 {
		b.Fatalf("%d blobs left: %v", n, err)
	}
}
