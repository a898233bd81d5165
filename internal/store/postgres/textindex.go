package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// The text index (store.TextSearcher) is the table body_text (migration
// 8): per body and account that has it, the body's message.IndexTerms as
// an int4 array, plus a term naming the account, under a GIN index; a
// search asks for the rows whose array contains its terms and the
// account's, which GIN answers from the index alone. Messages are stored
// unindexed (messages.text_indexed NULL); IndexText, run by each node's
// background indexer after its commits (store.TextIndexer), adds the row
// of a body and account and marks the account's rows of the body. The
// row goes with the body (ON DELETE CASCADE), so a
// row can outlive the account's last copy of a body another account
// still has: it then only names a candidate no mailbox of the account
// holds. pg_trgm is not needed: its trigrams are of words and
// lower-cased by the database's locale, not the Matcher's folding.

var _ store.TextSearcher = (*Store)(nil)

// bodyText is a body's terms as body_text stores them; ok is false when
// the body cannot be indexed.
type bodyText struct {
	terms []int32
	ok    bool
}

func newBodyText(terms []uint32, ok bool) bodyText {
	t := bodyText{ok: ok, terms: make([]int32, len(terms))}
	for i, x := range terms {
		t.terms[i] = int32(x)
	}
	return t
}

// accountTerm is the term naming an account in body_text. It may equal
// a trigram's term; that only adds candidates.
func accountTerm(accountID int64) int32 {
	x := uint64(accountID) * 0x9e3779b97f4a7c15
	return int32(uint32(x >> 32))
}

// TextCandidates implements store.TextSearcher.
func (s *Store) TextCandidates(ctx context.Context, mailboxID int64, terms []uint32) ([]uint32, error) {
	if len(terms) == 0 {
		return nil, fmt.Errorf("postgres: text search without terms: %w", store.ErrInvalid)
	}
	var accountID int64
	err := s.pool.QueryRow(ctx, `SELECT account_id FROM mailboxes WHERE id = $1`, mailboxID).Scan(&accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("mailbox %d", mailboxID)
	} else if err != nil {
		return nil, temporary("searching", err)
	}
	// As the SQLite engine: a few terms single out a rare string, and
	// past maxTextBodies a common one makes every message a candidate.
	want := []int32{accountTerm(accountID)}
	step := max(1, (len(terms)+maxMatchTerms-1)/maxMatchTerms)
	for i := 0; i < len(terms); i += step {
		want = append(want, int32(terms[i]))
	}
	rows, _ := s.pool.Query(ctx, `SELECT body_id FROM body_text WHERE terms @> $1 AND account_id = $2 LIMIT $3`,
		want, accountID, maxTextBodies+1)
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, temporary("searching", err)
	}
	if len(bodies) > maxTextBodies {
		return s.ListUIDs(ctx, mailboxID)
	}
	rows, _ = s.pool.Query(ctx, `SELECT uid FROM messages WHERE mailbox_id = $1 AND text_indexed IS NOT TRUE
		UNION ALL
		SELECT uid FROM messages WHERE mailbox_id = $1 AND text_indexed AND body_id = ANY($2)`, mailboxID, bodies)
	var uids []uint32
	var uid int64
	if _, err := pgx.ForEachRow(rows, []any{&uid}, func() error {
		uids = append(uids, uint32(uid))
		return nil
	}); err != nil {
		return nil, temporary("searching", err)
	}
	slices.Sort(uids)
	return slices.Compact(uids), nil
}

const (
	// maxMatchTerms bounds the terms of one search (besides the
	// account's): each is a posting list GIN reads.
	maxMatchTerms = 6
	// maxTextBodies bounds the bodies looked up in messages.
	maxTextBodies = 5000
)

// markIndexed marks the rows of each (body, account) just indexed, all
// in one statement: found by the body (migration 12's index, so a large
// backlog of one account is not scanned once per body), and only those no
// other transaction holds (another node's indexer, a flag change), which
// a later batch marks instead of this one waiting for them.
const markIndexed = `WITH r AS (
	SELECT m.id, x.ok FROM unnest($1::bigint[], $2::bigint[], $3::boolean[]) AS x(body, account, ok)
	JOIN messages m ON m.body_id = x.body AND m.account_id = x.account AND m.text_indexed IS NULL
	FOR NO KEY UPDATE OF m SKIP LOCKED)
	UPDATE messages SET text_indexed = r.ok FROM r WHERE messages.id = r.id`

// insertText adds the body_text rows of a batch in one statement: row i
// is ($1[i], $2[i]) with the terms $3[$4[i]:$5[i]] (one array for the
// batch, so no statement per body).
const insertText = `INSERT INTO body_text (body_id, account_id, terms)
	SELECT x.body, x.account, ($3::int4[])[x.first:x.last]
	FROM unnest($1::bigint[], $2::bigint[], $4::int4[], $5::int4[]) AS x(body, account, first, last)
	ON CONFLICT DO NOTHING`

// readSmallBodies reads in one statement the bodies of a batch that fit
// in their first chunk (most mail).
const readSmallBodies = `SELECT c.body_id, c.data FROM bodies b JOIN body_chunks c ON c.body_id = b.id AND c.seq = 0
	WHERE b.id = ANY($1) AND b.size <= $2`

// IndexText implements store.TextSearcher. In one transaction, it
// claims up to limit rows not indexed yet that no other indexer holds
// (FOR NO KEY UPDATE SKIP LOCKED: the nodes of a cluster share the work,
// none waits for another), reads each body once (the batch's bodies of
// one chunk in one statement) and computes its terms while the claim
// holds, then adds each (body, account) its body_text row and marks every
// row of the account sharing the body, each in one statement for the
// whole batch. A flag change or an expunge of a claimed row waits for the
// batch; the claim holds no other lock. A body that cannot be read is
// marked not indexable, so it is not tried again and searches keep
// reading it. 0 means no row is left that another indexer is not working
// on.
func (s *Store) IndexText(ctx context.Context, limit int) (int, error) {
	claimed := 0
	err := s.withTx(ctx, "indexing message text", func(t *tx) error {
		type todo struct{ body, account int64 }
		rows, _ := t.Query(ctx, `SELECT body_id, account_id FROM messages WHERE text_indexed IS NULL
			LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED`, limit)
		var list []todo
		seen := map[todo]bool{}
		var td todo
		n, err := pgx.ForEachRow(rows, []any{&td.body, &td.account}, func() error {
			if !seen[td] {
				seen[td] = true
				list = append(list, td)
			}
			return nil
		})
		if err != nil {
			return temporary("indexing message text", err)
		}
		claimed = int(n.RowsAffected())
		if len(list) == 0 {
			return nil
		}
		ids := make([]int64, 0, len(list))
		for _, td := range list {
			ids = append(ids, td.body)
		}
		// by body: the terms are the same for every account
		texts, err := s.smallBodyTexts(ctx, t, ids)
		if err != nil {
			return err
		}
		var ins struct {
			bodies, accounts   []int64
			terms, first, last []int32
		}
		var mark struct {
			bodies, accounts []int64
			ok               []bool
		}
		for _, td := range list {
			text, ok := texts[td.body]
			if !ok {
				if text, err = s.bodyText(ctx, td.body); err != nil {
					return err
				}
				texts[td.body] = text
			}
			if text.ok {
				ins.bodies, ins.accounts = append(ins.bodies, td.body), append(ins.accounts, td.account)
				ins.first = append(ins.first, int32(len(ins.terms)+1))
				ins.terms = append(append(ins.terms, accountTerm(td.account)), text.terms...)
				ins.last = append(ins.last, int32(len(ins.terms)))
			}
			mark.bodies, mark.accounts, mark.ok = append(mark.bodies, td.body), append(mark.accounts, td.account), append(mark.ok, text.ok)
		}
		b := &pgx.Batch{}
		if len(ins.bodies) > 0 {
			b.Queue(insertText, ins.bodies, ins.accounts, ins.terms, ins.first, ins.last)
		}
		b.Queue(markIndexed, mark.bodies, mark.accounts, mark.ok)
		if err := t.SendBatch(ctx, b).Close(); err != nil {
			return temporary("indexing message text", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return claimed, nil
}

// smallBodyTexts computes the terms of those of the bodies ids that fit
// in one chunk, read in one statement within t; the others are not in
// the map.
func (s *Store) smallBodyTexts(ctx context.Context, t *tx, ids []int64) (map[int64]bodyText, error) {
	texts := make(map[int64]bodyText, len(ids))
	buf := chunkBuffers.Get().(*[]byte)
	defer chunkBuffers.Put(buf)
	rows, _ := t.Query(ctx, readSmallBodies, ids, chunkSize)
	defer rows.Close()
	var id int64
	for rows.Next() {
		if err := rows.Scan(&id, chunkInto{buf}); err != nil {
			return nil, temporary("indexing message text", err)
		}
		terms, ok, err := message.IndexTerms(bytes.NewReader(*buf))
		texts[id] = newBodyText(terms, ok && err == nil)
	}
	if err := rows.Err(); err != nil {
		return nil, temporary("indexing message text", err)
	}
	return texts, nil
}

// bodyText reads a body and computes its terms; a body that cannot be
// read (or indexed) has ok false.
func (s *Store) bodyText(ctx context.Context, id int64) (bodyText, error) {
	r, err := s.queryBody(ctx, `SELECT id, size, (SELECT data FROM body_chunks WHERE body_id = $1 AND seq = 0)
		FROM bodies WHERE id = $1`, id)
	if errors.Is(err, store.ErrNotFound) {
		return bodyText{}, nil
	} else if err != nil {
		return bodyText{}, err
	}
	terms, ok, err := message.IndexTerms(r)
	r.Close()
	if err != nil {
		if ctx.Err() != nil {
			return bodyText{}, ctx.Err()
		}
		return bodyText{}, nil
	}
	return newBodyText(terms, ok), nil
}

// FlushTextIndex returns once the background indexer (Options.TextIndexer)
// has indexed every message stored before the call, or at once without
// it (see store.TextIndexer.Flush).
func (s *Store) FlushTextIndex(ctx context.Context) error {
	return s.indexer.Flush(ctx)
}
