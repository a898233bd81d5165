package postgres

import (
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
// account's, which GIN answers from the index alone. Terms are computed
// while the body is written (writeBody); the row is inserted by the
// transaction that inserts the first message naming the body for the
// account (insertRow), and goes with the body (ON DELETE CASCADE), so a
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

// indexBody adds the body's row for the account unless it has one, and
// reports whether the body is indexed.
func indexBody(ctx context.Context, t *tx, bodyID, accountID int64, text bodyText) (bool, error) {
	if !text.ok {
		return false, nil
	}
	terms := append([]int32{accountTerm(accountID)}, text.terms...)
	if _, err := t.Exec(ctx, `INSERT INTO body_text (body_id, account_id, terms) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, bodyID, accountID, terms); err != nil {
		return false, temporary("indexing message text", err)
	}
	return true, nil
}

// indexDeliverySQL indexes the rows deliver_message just added for the
// accounts $1: those of this transaction (xmin) not indexed yet, which
// are this delivery's when it runs right after its deliver_message (each
// delivery's rows are marked before the next is stored). $2 is whether
// the body is indexable, $3 its terms, $4 each account's term.
const indexDeliverySQL = `WITH rows AS (
	UPDATE messages SET text_indexed = $2 WHERE account_id = ANY($1) AND text_indexed IS NULL
		AND xmin::text = (txid_current() % 4294967296)::text
	RETURNING body_id, account_id)
INSERT INTO body_text (body_id, account_id, terms)
	SELECT DISTINCT r.body_id, r.account_id, array_prepend(a.term, $3::int4[])
	FROM rows r JOIN unnest($1::bigint[], $4::int4[]) a(account, term) ON a.account = r.account_id
	WHERE $2
ON CONFLICT DO NOTHING`

// queueTextIndex adds to b, after a delivery's deliver_message, the
// statement that indexes its rows (indexDeliverySQL).
func queueTextIndex(b *pgx.Batch, accounts []int64, text bodyText) {
	terms := make([]int32, len(accounts))
	for i, a := range accounts {
		terms[i] = accountTerm(a)
	}
	b.Queue(indexDeliverySQL, accounts, text.ok, text.terms, terms)
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

// IndexText implements store.TextSearcher: it indexes the bodies of up
// to limit messages not indexed yet, each for its account, with every
// other row of the account sharing the body. A body that cannot be read
// is marked not indexable, so it is not tried again and searches keep
// reading it.
func (s *Store) IndexText(ctx context.Context, limit int) (int, error) {
	type todo struct{ body, account int64 }
	rows, _ := s.pool.Query(ctx, `SELECT DISTINCT body_id, account_id FROM
		(SELECT body_id, account_id FROM messages WHERE text_indexed IS NULL LIMIT $1) p`, limit)
	var list []todo
	var td todo
	if _, err := pgx.ForEachRow(rows, []any{&td.body, &td.account}, func() error {
		list = append(list, td)
		return nil
	}); err != nil {
		return 0, temporary("indexing message text", err)
	}
	for _, td := range list {
		var text bodyText
		r, err := s.queryBody(ctx, `SELECT id, size, (SELECT data FROM body_chunks WHERE body_id = $1 AND seq = 0)
			FROM bodies WHERE id = $1`, td.body)
		if err == nil {
			terms, ok, rerr := message.IndexTerms(r)
			r.Close()
			if rerr != nil && ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if rerr == nil {
				text = newBodyText(terms, ok)
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return 0, err
		}
		err = s.withTx(ctx, "indexing message text", func(t *tx) error {
			var exists bool
			if err := t.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bodies WHERE id = $1 FOR KEY SHARE)`, td.body).Scan(&exists); err != nil {
				return temporary("indexing message text", err)
			}
			indexed := false
			if exists {
				var err error
				if indexed, err = indexBody(ctx, t, td.body, td.account, text); err != nil {
					return err
				}
			}
			if _, err := t.Exec(ctx, `UPDATE messages SET text_indexed = $1 WHERE body_id = $2 AND account_id = $3
				AND text_indexed IS NULL`, indexed, td.body, td.account); err != nil {
				return temporary("indexing message text", err)
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return len(list), nil
}
