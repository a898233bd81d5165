package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// The text index (store.TextSearcher) is the FTS5 table text_index
// (migration 15): one document per message body and account, holding
// the body's message.IndexTerms as tokens of seven base-32 digits and a
// token "w<account id>", so a search ANDs its account's token and reads
// only that account's documents. Copies of a message share its document
// (messages.text_doc); a delivery to several accounts gives each its own.
// Rows are stored unindexed (text_doc NULL) and IndexText, run by the
// background indexer after commits (store.TextIndexer), computes the
// terms outside any transaction, then inserts the documents of a batch
// and points the rows at them in one short transaction: FTS5 flushes its
// pending terms at each commit, so many documents per commit cost far
// less than one each. A document is deleted by trigger with the last row
// naming it.

var _ store.TextSearcher = (*Store)(nil)

// textTerms is a body's index terms as text_index takes them, without
// the account token; "" when the body cannot be indexed.
func textTerms(terms []uint32, ok bool) string {
	if !ok {
		return ""
	}
	var b strings.Builder
	b.Grow(len(terms) * 8)
	for _, t := range terms {
		writeTerm(&b, t)
		b.WriteByte(' ')
	}
	return b.String()
}

const base32Digits = "0123456789abcdefghijklmnopqrstuv"

// writeTerm writes a term as seven base-32 digits: tokens the ascii
// tokenizer keeps whole, that no account token ("w...") can equal.
func writeTerm(b *strings.Builder, t uint32) {
	var d [7]byte
	for i := 6; i >= 0; i-- {
		d[i] = base32Digits[t&31]
		t >>= 5
	}
	b.Write(d[:])
}

func accountToken(accountID int64) string {
	return "w" + strconv.FormatInt(accountID, 10)
}

// The statements of a batch of IndexText, prepared once (writerSQL).
const (
	// sqlTextDocs reserves ? document rowids and returns the last one
	// (meta 'text_doc': ids are never reused, so a stale
	// messages.text_doc can name no other body).
	sqlTextDocs   = `UPDATE meta SET value = value + ? WHERE key = 'text_doc' RETURNING value`
	sqlTextInsert = `INSERT INTO text_index (rowid, terms) VALUES (?, ?)`
	sqlTextMark   = `UPDATE messages SET text_doc = ? WHERE body = ? AND account_id = ? AND text_doc IS NULL`
	sqlTextDelete = `DELETE FROM text_index WHERE rowid = ?`
	sqlTextRetry  = `INSERT INTO text_retry (account_id, body, tries, due) VALUES (?, ?, ?, ?)
		ON CONFLICT (account_id, body) DO UPDATE SET tries = excluded.tries, due = excluded.due`
	sqlTextRetried = `DELETE FROM text_retry WHERE account_id = ? AND body = ?`
)

const (
	// maxMatchTerms bounds the terms of one FTS5 query: each costs a read
	// of its document list, and a few trigrams already single out a
	// rare string. Any subset gives a superset of the candidates.
	maxMatchTerms = 6
	// maxTextDocs bounds the documents looked up in messages: past it,
	// the string is common and every message of the mailbox is a
	// candidate (looking up each document cost more than the search
	// saves by it: the mailbox is read anyway).
	maxTextDocs = 5000
)

// TextCandidates implements store.TextSearcher.
func (s *Store) TextCandidates(ctx context.Context, mailboxID int64, terms []uint32) ([]uint32, error) {
	if len(terms) == 0 {
		return nil, fmt.Errorf("sqlite: text search without terms: %w", store.ErrInvalid)
	}
	var accountID int64
	err := s.reader.QueryRowContext(ctx, `SELECT account_id FROM mailboxes WHERE id = ?`, mailboxID).Scan(&accountID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: mailbox %d: %w", mailboxID, store.ErrNotFound)
	} else if err != nil {
		return nil, temporary("searching", err)
	}
	var q strings.Builder
	q.WriteString(accountToken(accountID))
	step := max(1, (len(terms)+maxMatchTerms-1)/maxMatchTerms)
	for i := 0; i < len(terms); i += step {
		q.WriteByte(' ')
		writeTerm(&q, terms[i])
	}
	// The limit is written into the SQL, not bound: SQLite re-prepares a
	// statement on every run when a bound parameter is one its planner reads.
	docs, err := s.queryInts(ctx, "searching", `SELECT rowid FROM text_index WHERE text_index MATCH ? LIMIT `+strconv.Itoa(maxTextDocs+1), q.String())
	if err != nil {
		return nil, err
	}
	if len(docs) > maxTextDocs {
		return s.ListUIDs(ctx, mailboxID)
	}
	// The messages not indexed (an index range each), then this
	// mailbox's rows of the documents found.
	rows, err := s.queryInts(ctx, "searching", `SELECT uid FROM messages WHERE text_doc IS NULL AND mailbox_id = ?1
		UNION ALL SELECT uid FROM messages WHERE text_doc = 0 AND mailbox_id = ?1
		UNION ALL SELECT uid FROM messages WHERE text_doc IN (SELECT value FROM json_each(?2)) AND mailbox_id = ?1`,
		mailboxID, jsonInts(docs))
	if err != nil {
		return nil, err
	}
	uids := make([]uint32, len(rows))
	for i, u := range rows {
		uids[i] = uint32(u)
	}
	slices.Sort(uids)
	return slices.Compact(uids), nil
}

// queryInts returns the integers of a one-column query; action names
// what failed in its error.
func (s *Store) queryInts(ctx context.Context, action, query string, args ...any) ([]int64, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, temporary(action, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, temporary(action, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, temporary(action, err)
	}
	return out, nil
}

// IndexText implements store.TextSearcher: it reads up to limit rows
// not indexed yet and their bodies, then gives each body its document in
// one transaction, with every other row of the account sharing the
// body. It returns how many rows it read: fewer than limit means none
// was left.
//
// A body that cannot be indexed (its file lost, or with too many terms)
// is marked not indexable, so it is not tried again and searches keep
// reading it. One that fails for a passing reason (an I/O error) is
// left unindexed and tried again later, up to store.TextIndexTries
// times (text_retry); the rows of a body waiting for its next try are
// not read.
func (s *Store) IndexText(ctx context.Context, limit int) (int, error) {
	type todo struct {
		account int64
		body    string
		terms   string
		tries   int  // failed tries before this one
		failed  bool // this one failed for a passing reason
	}
	// In messages_text_doc's order, not by id: a sort would read every
	// row left to index for each batch.
	now := s.now()
	rows, err := s.query(ctx, `SELECT m.account_id, m.body, b.name IS NOT NULL, b.data, coalesce(r.tries, 0)
		FROM messages m LEFT JOIN blobs b ON b.name = m.body
		LEFT JOIN text_retry r ON r.account_id = m.account_id AND r.body = m.body
		WHERE m.text_doc IS NULL AND (r.due IS NULL OR r.due <= ?) LIMIT ?`, now.Unix(), limit)
	if err != nil {
		return 0, temporary("indexing message text", err)
	}
	var list []todo
	type key struct {
		account int64
		body    string
	}
	seen := map[key]bool{}
	read, indexable := 0, 0
	for rows.Next() {
		read++
		var t todo
		var inline bool
		var data []byte
		if err := rows.Scan(&t.account, &t.body, &inline, &data, &t.tries); err != nil {
			rows.Close()
			return 0, temporary("indexing message text", err)
		}
		k := key{t.account, t.body}
		if seen[k] {
			continue
		}
		seen[k] = true
		r, err := s.openBody(t.body, inline, data)
		if err == nil {
			var terms []uint32
			var ok bool
			terms, ok, err = message.IndexTerms(r)
			r.Close()
			if err == nil {
				t.terms = textTerms(terms, ok)
			} else if ctx.Err() != nil {
				rows.Close()
				return 0, ctx.Err()
			}
		}
		// A lost file is not indexable; any other error may pass.
		t.failed = err != nil && !errors.Is(err, store.ErrNotFound)
		if t.failed && t.tries+1 >= store.TextIndexTries {
			s.log.Warn("text indexing gave up on a message body; searches read it", "body", t.body, "tries", t.tries+1, "err", err)
			t.failed = false // not indexable
		}
		if t.terms != "" {
			indexable++
		}
		list = append(list, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, temporary("indexing message text", err)
	}
	if len(list) == 0 {
		return 0, nil
	}
	// One short transaction for the batch, every document inserted
	// before the commit, outside any savepoint (FTS5 writes its pending
	// terms to disk at each commit and savepoint: one segment a batch).
	err = s.withTx(ctx, "indexing message text", func(tx *sql.Tx) error {
		var last int64
		if indexable > 0 {
			if err := tx.StmtContext(ctx, s.writerStmt(sqlTextDocs)).QueryRowContext(ctx, indexable).Scan(&last); err != nil {
				return temporary("indexing message text", err)
			}
		}
		next := last - int64(indexable) + 1
		for _, t := range list {
			if t.failed {
				if _, err := s.txExec(ctx, tx, sqlTextRetry, t.account, t.body, t.tries+1,
					store.TextIndexRetryAt(now, t.tries+1).Unix()); err != nil {
					return temporary("indexing message text", err)
				}
				continue
			}
			if t.tries > 0 {
				if _, err := s.txExec(ctx, tx, sqlTextRetried, t.account, t.body); err != nil {
					return temporary("indexing message text", err)
				}
			}
			var doc int64 // 0: not indexable
			if t.terms != "" {
				doc, next = next, next+1
				if _, err := s.txExec(ctx, tx, sqlTextInsert, doc, accountToken(t.account)+" "+t.terms); err != nil {
					return temporary("indexing message text", err)
				}
			}
			res, err := s.txExec(ctx, tx, sqlTextMark, doc, t.body, t.account)
			if err != nil {
				return temporary("indexing message text", err)
			}
			if n, _ := res.RowsAffected(); n == 0 && doc > 0 {
				// Removed meanwhile: no row names the document.
				if _, err := s.txExec(ctx, tx, sqlTextDelete, doc); err != nil {
					return temporary("indexing message text", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return read, nil
}

// FlushTextIndex returns once the background indexer (Options.TextIndexer)
// has indexed every message stored before the call, or at once without
// it (see store.TextIndexer.Flush).
func (s *Store) FlushTextIndex(ctx context.Context) error {
	return s.indexer.Flush(ctx)
}
