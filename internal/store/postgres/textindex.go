package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// The text index (store.TextSearcher) is inverted, in posting lists of
// our own (migration 15): an account numbers the bodies it indexes
// (text_docs: account, doc, body; text_accounts holds the last number
// given), and text_postings holds, per account and term, the ascending
// numbers of the documents with the term, in chunks of at most
// postingChunkMax octets keyed by their first document (postings.go:
// Golomb-Rice coded gaps, a few bits a posting). A search reads the
// chunks of its terms, intersects them, and looks the documents left up
// in text_docs and messages. Messages are stored unindexed (a row in
// text_pending, migration 18); IndexText, run by each node's background
// indexer after its commits (store.TextIndexer), numbers a batch's
// bodies per account, appends their numbers to the last chunk of each
// of their terms (rewriting the row, but copying the chunk's codes, not
// decoding them: the row keeps the chunk's last document and length in
// bits, migration 17; a chunk that would grow past the bound is left
// and a new one begun), and deletes the batch's text_pending rows. A
// document goes with its body (ON DELETE CASCADE) or its
// account; its numbers stay in the chunks, naming no body, until the
// account goes. GIN over per-body term arrays (migration 8) cost more
// disk than the mail it indexed (docs/BENCHMARKS.md); pg_trgm is not
// needed either: its trigrams are of words and lower-cased by the
// database's locale, not the Matcher's folding.

var _ store.TextSearcher = (*Store)(nil)

// bodyText is a body's index terms; ok is false when the body cannot be
// indexed, or could not be read for a passing reason (failed).
type bodyText struct {
	terms  []uint32
	ok     bool
	failed error
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
	var want []int32
	step := max(1, (len(terms)+maxMatchTerms-1)/maxMatchTerms)
	for i := 0; i < len(terms); i += step {
		want = append(want, int32(terms[i]))
	}
	docs, err := s.termDocs(ctx, accountID, want)
	if err != nil {
		return nil, err
	}
	if len(docs) > maxTextBodies {
		return s.ListUIDs(ctx, mailboxID)
	}
	// The messages not indexed yet and those not indexable are
	// candidates for every search; the others, by their documents.
	rows, _ := s.pool.Query(ctx, `SELECT m.uid FROM text_pending p JOIN messages m ON m.id = p.message_id
		WHERE p.account_id = $2 AND m.mailbox_id = $1
		UNION ALL
		SELECT uid FROM messages WHERE mailbox_id = $1 AND text_indexed = false
		UNION ALL
		SELECT m.uid FROM text_docs d JOIN messages m ON m.body_id = d.body_id
		WHERE d.account_id = $2 AND d.doc = ANY($3) AND m.mailbox_id = $1`,
		mailboxID, accountID, docs)
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

// termDocs returns, ascending, the account's documents that have every
// one of terms (distinct).
func (s *Store) termDocs(ctx context.Context, accountID int64, terms []int32) ([]int32, error) {
	rows, _ := s.pool.Query(ctx, `SELECT term, first_doc, docs FROM text_postings
		WHERE account_id = $1 AND term = ANY($2) ORDER BY term, first_doc`, accountID, terms)
	lists := map[int32][]uint32{}
	var term, first int32
	var chunk []byte
	_, err := pgx.ForEachRow(rows, []any{&term, &first, &chunk}, func() error {
		var err error
		if lists[term], err = decodeDocs(lists[term], uint32(first), chunk); err != nil {
			return fmt.Errorf("term %d of account %d, chunk %d: %w", term, accountID, first, err)
		}
		return nil
	})
	if err != nil {
		return nil, temporary("searching", err)
	}
	if len(lists) < len(terms) {
		return nil, nil // a term no document has
	}
	all := make([][]uint32, 0, len(lists))
	for _, l := range lists {
		all = append(all, l)
	}
	slices.SortFunc(all, func(a, b []uint32) int { return len(a) - len(b) })
	docs := all[0]
	for _, l := range all[1:] {
		docs = store.IntersectSorted(docs[:0], docs, l) // in place: writes trail reads
	}
	out := make([]int32, len(docs))
	for i, d := range docs {
		out[i] = int32(d)
	}
	return out, nil
}

const (
	// maxMatchTerms bounds the terms of one search: each is a posting
	// list read and decoded.
	maxMatchTerms = 12
	// maxTextBodies bounds the documents looked up in messages.
	maxTextBodies = 5000
	// postingChunkMax bounds a text_postings chunk: an append rewrites
	// the term's last chunk, so a smaller one costs the indexer less and
	// the disk more (a row and a key per chunk). Below PostgreSQL's TOAST
	// threshold (about 2 KB), rows stay in the heap's pages.
	postingChunkMax = 1536
)

// Statements of the end of an indexer batch: the claimed rows of the
// bodies done leave text_pending, and the messages of a body that cannot
// be indexed are marked so, which makes them candidates of every search.
const (
	unpendIndexed   = `DELETE FROM text_pending WHERE message_id = ANY($1)`
	markUnindexable = `UPDATE messages SET text_indexed = false WHERE id = ANY($1)`
)

// textIndexBatch is how many messages the indexer takes per batch
// (store.StartTextIndexer), and how many deliveries wake it before its
// timer does (wakeIndexer). A batch rewrites one posting row per account
// and term it touches, whatever the number of documents it appends, so
// larger batches cost less per message: BenchmarkIndexText (batches
// spread over 8 accounts) 3.0 ms of CPU per message at 200, 1.3 at 800,
// 1.2 at 1,600; at 8 SMTP clients, waking at 800 deliveries instead of
// 200 cut the CPU of a delivery, backends included, by 15%
// (docs/BENCHMARKS.md). The batch's transaction holds its messages' rows
// (a flag change or expunge of one of them waits), about a second at 800.
const textIndexBatch = 4 * store.TextIndexBatch

// readSmallBodies reads in one statement the bodies of a batch that fit
// in their first chunk (most mail).
const readSmallBodies = `SELECT c.body_id, c.data FROM bodies b JOIN body_chunks c ON c.body_id = b.id AND c.seq = 0
	WHERE b.id = ANY($1) AND b.size <= $2`

// IndexText implements store.TextSearcher. In one transaction, it
// claims up to limit messages waiting in text_pending that no other
// indexer holds (FOR UPDATE SKIP LOCKED: the nodes of a cluster share the
// work; the messages' own rows are not locked, so a flag change never
// waits for a batch), reads each body once and computes its terms while
// the claim holds, then, account by account (in id order), numbers the
// new documents and appends them to their terms' posting lists
// (addDocs), and deletes the claimed rows. An expunge of a claimed
// message waits for the batch (its trigger deletes the pending row), so
// its body is not deleted under it. Two indexers with bodies of one
// account take turns at its text_accounts row. A body that cannot be
// indexed (deleted meanwhile, or with too many terms) has its messages
// marked not indexable, so it is not tried again and searches keep
// reading it. One whose read fails for a passing reason (a database
// error) is left pending and tried again later, up to
// store.TextIndexTries times (text_retry); the rows of a body waiting
// for its next try are not claimed. 0 means no message is left that
// another indexer is not working on.
func (s *Store) IndexText(ctx context.Context, limit int) (int, error) {
	claimed := 0
	now := s.now()
	err := s.withTx(ctx, "indexing message text", func(t *tx) error {
		rows, _ := t.Query(ctx, `SELECT p.message_id, p.body_id, p.account_id, coalesce(r.tries, 0) FROM text_pending p
			LEFT JOIN text_retry r ON r.body_id = p.body_id AND r.account_id = p.account_id
			WHERE r.due IS NULL OR r.due <= $2
			ORDER BY p.message_id LIMIT $1 FOR UPDATE OF p SKIP LOCKED`, limit, now)
		var list []textKey
		tries := map[textKey]int{}        // failed tries so far
		messages := map[textKey][]int64{} // the claimed messages of each
		var td textKey
		var id int64
		var tried int
		n, err := pgx.ForEachRow(rows, []any{&id, &td.body, &td.account, &tried}, func() error {
			if _, ok := tries[td]; !ok {
				tries[td] = tried
				list = append(list, td)
			}
			messages[td] = append(messages[td], id)
			return nil
		})
		if err != nil {
			return temporary("indexing message text", err)
		}
		claimed = int(n.RowsAffected())
		if len(list) == 0 {
			return nil
		}
		// A body its account has indexed already (the copy of a message
		// pending when it was copied) only leaves text_pending.
		bodies, accounts := make([]int64, len(list)), make([]int64, len(list))
		for i, td := range list {
			bodies[i], accounts[i] = td.body, td.account
		}
		rows, _ = t.Query(ctx, `SELECT body_id, account_id FROM text_docs
			WHERE (body_id, account_id) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))`, bodies, accounts)
		done := map[textKey]bool{}
		if _, err := pgx.ForEachRow(rows, []any{&td.body, &td.account}, func() error {
			done[td] = true
			return nil
		}); err != nil {
			return temporary("indexing message text", err)
		}
		ids := make([]int64, 0, len(list))
		for _, td := range list {
			ids = append(ids, td.body)
		}
		// by body: the terms are the same for every account
		texts := s.smallBodyTexts(ctx, ids)
		byAccount := map[int64][]textDoc{}
		var unpend, unindexable []int64
		b := &pgx.Batch{}
		for _, td := range list {
			if done[td] {
				unpend = append(unpend, messages[td]...)
				continue
			}
			text, ok := texts[td.body]
			if !ok {
				if text, err = s.bodyText(ctx, td.body); err != nil {
					return err
				}
				texts[td.body] = text
			}
			if text.ok {
				byAccount[td.account] = append(byAccount[td.account], textDoc{td.body, text.terms})
			}
			switch tried := tries[td] + 1; {
			case text.failed != nil && tried < store.TextIndexTries:
				b.Queue(`INSERT INTO text_retry (body_id, account_id, tries, due) VALUES ($1, $2, $3, $4)
					ON CONFLICT (body_id, account_id) DO UPDATE SET tries = excluded.tries, due = excluded.due`,
					td.body, td.account, tried, store.TextIndexRetryAt(now, tried))
				continue // left pending
			case text.failed != nil:
				s.log.Warn("text indexing gave up on a message body; searches read it",
					"body", td.body, "tries", tried, "err", text.failed)
				fallthrough
			case tried > 1:
				b.Queue(`DELETE FROM text_retry WHERE body_id = $1 AND account_id = $2`, td.body, td.account)
			}
			unpend = append(unpend, messages[td]...)
			if !text.ok {
				unindexable = append(unindexable, messages[td]...)
			}
		}
		ids = slices.Sorted(maps.Keys(byAccount))
		for _, account := range ids {
			if err := s.addDocs(ctx, t, account, byAccount[account]); err != nil {
				return temporary("indexing message text", err)
			}
		}
		b.Queue(unpendIndexed, unpend)
		if len(unindexable) > 0 {
			b.Queue(markUnindexable, unindexable)
		}
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

// textKey is a body of an account, to index.
type textKey struct{ body, account int64 }

// textDoc is a body to add to an account's index, and its terms.
type textDoc struct {
	body  int64
	terms []uint32
}

// addDocs numbers the bodies docs of one account and adds them to the
// account's index: their text_docs rows and their terms' postings.
func (s *Store) addDocs(ctx context.Context, t *tx, account int64, docs []textDoc) error {
	var last int32
	if err := t.QueryRow(ctx, `INSERT INTO text_accounts AS a (account_id, docs) VALUES ($1, $2)
		ON CONFLICT (account_id) DO UPDATE SET docs = a.docs + excluded.docs RETURNING docs`,
		account, len(docs)).Scan(&last); err != nil {
		return err
	}
	first := last - int32(len(docs)) + 1
	nums, bodies := make([]int32, len(docs)), make([]int64, len(docs))
	postings := map[uint32][]uint32{}
	for i, d := range docs {
		nums[i], bodies[i] = first+int32(i), d.body
		for _, term := range d.terms {
			postings[term] = append(postings[term], uint32(nums[i]))
		}
	}
	// Two messages of one body (a copy, a Sieve fileinto with keep) may
	// be in two nodes' batches at once: the second to get here finds the
	// body numbered already and keeps that number; its own stays in the
	// chunks naming no body, as a deleted body's does.
	if _, err := t.Exec(ctx, `INSERT INTO text_docs (account_id, doc, body_id)
		SELECT $1, * FROM unnest($2::int4[], $3::bigint[]) ON CONFLICT (body_id, account_id) DO NOTHING`,
		account, nums, bodies); err != nil {
		return err
	}
	terms := slices.Sorted(maps.Keys(postings))
	keys := make([]int32, len(terms))
	for i, term := range terms {
		keys[i] = int32(term)
	}
	// Of the last chunk of each term: its start (the header), length,
	// last octet and tail (NULL in a row written before migration 17),
	// enough to patch it (patchDocs) without reading its codes.
	type chunk struct {
		first, size, lastOctet int32
		head                   []byte
		last, bits             *int32
	}
	open := make(map[int32]chunk, len(keys))
	rows, _ := t.Query(ctx, `SELECT t.term, p.first_doc, substring(p.docs for $3), length(p.docs),
			get_byte(p.docs, length(p.docs) - 1), p.last_doc, p.bits
		FROM unnest($2::int4[]) AS t(term)
		CROSS JOIN LATERAL (SELECT first_doc, docs, last_doc, bits FROM text_postings
			WHERE account_id = $1 AND term = t.term ORDER BY first_doc DESC LIMIT 1) AS p`,
		account, keys, chunkHeadMax)
	var term int32
	var c chunk
	if _, err := pgx.ForEachRow(rows, []any{&term, &c.first, &c.head, &c.size, &c.lastOctet, &c.last, &c.bits}, func() error {
		open[term] = c
		return nil
	}); err != nil {
		return err
	}
	var patches postingPatches
	var put, whole postingChunks // chunks to write whole; to read whole first
	for _, key := range keys {
		add := postings[uint32(key)]
		c, ok := open[key]
		if !ok {
			put.add(key, encodeChunkAt(add))
			continue
		}
		if c.last == nil || c.bits == nil {
			whole.add(key, postingChunk{first: c.first})
			continue
		}
		tail := chunkTail{last: uint32(*c.last), bits: int(*c.bits)}
		p, fits, err := patchDocs(uint32(c.first), c.head, int(c.size), byte(c.lastOctet), tail, add)
		switch {
		case err != nil:
			return fmt.Errorf("term %d of account %d, chunk %d: %w", key, account, c.first, err)
		case !fits:
			whole.add(key, postingChunk{first: c.first})
		case p.size() > s.chunkMax:
			put.add(key, encodeChunkAt(add))
		default:
			patches.add(key, c.first, p)
		}
	}
	if len(whole.keys) > 0 {
		// Chunks to decode: read whole, appended to or encoded again.
		rows, _ := t.Query(ctx, `SELECT x.term, p.docs FROM unnest($2::int4[], $3::int4[]) AS x(term, first)
			JOIN text_postings p ON p.account_id = $1 AND p.term = x.term AND p.first_doc = x.first`,
			account, whole.keys, whole.firsts)
		var buf []uint32
		var docs []byte
		n, err := pgx.ForEachRow(rows, []any{&term, &docs}, func() error {
			first := open[term].first
			out, tail, err := s.appendChunk(first, docs, open[term].last, open[term].bits, postings[uint32(term)], &buf)
			if err != nil {
				return fmt.Errorf("term %d of account %d, chunk %d: %w", term, account, first, err)
			}
			if out == nil {
				put.add(term, encodeChunkAt(postings[uint32(term)]))
			} else {
				put.add(term, postingChunk{first, out, tail})
			}
			return nil
		})
		if err != nil {
			return err
		}
		if int(n.RowsAffected()) != len(whole.keys) {
			return fmt.Errorf("account %d: %d of %d posting chunks read back", account, n.RowsAffected(), len(whole.keys))
		}
	}
	b := &pgx.Batch{}
	if len(patches.keys) > 0 {
		for _, set := range nestedLoops {
			b.Queue(set)
		}
		b.Queue(patchPostings, account, patches.keys, patches.firsts, patches.heads, patches.skips, patches.keeps, patches.codes,
			patches.lasts, patches.bits)
	}
	if len(put.keys) > 0 {
		b.Queue(`INSERT INTO text_postings (account_id, term, first_doc, docs, last_doc, bits)
			SELECT $1, * FROM unnest($2::int4[], $3::int4[], $4::bytea[], $5::int4[], $6::int4[])
			ON CONFLICT (account_id, term, first_doc) DO UPDATE
			SET docs = excluded.docs, last_doc = excluded.last_doc, bits = excluded.bits`,
			account, put.keys, put.firsts, put.docs, put.lasts, put.bits)
	}
	return t.SendBatch(ctx, b).Close()
}

// patchPostings applies chunkPatches to text_postings rows, found by
// their key (TestPatchPostingsFindsRowsByKey).
const patchPostings = `UPDATE text_postings p SET docs = x.head || substring(p.docs from x.skip + 1 for x.keep) || x.codes,
		last_doc = x.last, bits = x.bits
	FROM unnest($2::int4[], $3::int4[], $4::bytea[], $5::int4[], $6::int4[], $7::bytea[], $8::int4[], $9::int4[])
		AS x(term, first, head, skip, keep, codes, last, bits)
	WHERE p.account_id = $1 AND p.term = x.term AND p.first_doc = x.first`

// nestedLoops makes patchPostings find each row by its key: by its
// costs, the planner may prefer a hash join over all of the account's
// rows, which a large account's batch cannot afford. For the rest of the
// indexer's transaction, whose other joins want nested loops as well.
var nestedLoops = []string{`SET LOCAL enable_hashjoin = off`, `SET LOCAL enable_mergejoin = off`}

// chunkHeadMax is the longest chunk header: a count (uvarint; below
// 2^31) and the Rice parameter.
const chunkHeadMax = 6

// postingChunk is a chunk to write whole, keyed by its first document.
type postingChunk struct {
	first int32
	docs  []byte
	tail  chunkTail
}

// encodeChunkAt is a new chunk of docs.
func encodeChunkAt(docs []uint32) postingChunk {
	out, tail := encodeChunk(docs)
	return postingChunk{int32(docs[0]), out, tail}
}

// postingChunks are the columns of chunks of terms to write.
type postingChunks struct {
	keys, firsts, lasts, bits []int32
	docs                      [][]byte
}

func (c *postingChunks) add(term int32, p postingChunk) {
	c.keys, c.firsts, c.docs = append(c.keys, term), append(c.firsts, p.first), append(c.docs, p.docs)
	c.lasts, c.bits = append(c.lasts, int32(p.tail.last)), append(c.bits, int32(p.tail.bits))
}

// postingPatches are the columns of patches of terms' chunks.
type postingPatches struct {
	keys, firsts, skips, keeps, lasts, bits []int32
	heads, codes                            [][]byte
}

func (c *postingPatches) add(term, first int32, p chunkPatch) {
	c.keys, c.firsts = append(c.keys, term), append(c.firsts, first)
	c.heads, c.skips, c.keeps, c.codes = append(c.heads, p.head), append(c.skips, int32(p.skip)), append(c.keeps, int32(p.keep)), append(c.codes, p.codes)
	c.lasts, c.bits = append(c.lasts, int32(p.tail.last)), append(c.bits, int32(p.tail.bits))
}

// appendChunk returns the chunk docs (first its first document, last
// and bits its tail, nil when not known) with add appended, and its
// tail; nil when the result would be larger than s.chunkMax (add begins
// a chunk of its own). It appends the codes (appendDocs), or decodes the
// chunk and encodes it again when its Rice parameter no longer suits it
// (buf is the decoding's buffer).
func (s *Store) appendChunk(first int32, docs []byte, last, bits *int32, add []uint32, buf *[]uint32) ([]byte, chunkTail, error) {
	var tail chunkTail
	var err error
	if last != nil && bits != nil {
		tail = chunkTail{last: uint32(*last), bits: int(*bits)}
	} else if tail, err = tailOf(uint32(first), docs); err != nil {
		return nil, tail, err
	}
	out, tail, ok, err := appendDocs(uint32(first), docs, tail, add)
	if err != nil {
		return nil, tail, err
	}
	if !ok {
		if *buf, err = decodeDocs((*buf)[:0], uint32(first), docs); err != nil {
			return nil, tail, err
		}
		out, tail = encodeChunk(append(*buf, add...))
	}
	if len(out) > s.chunkMax {
		return nil, tail, nil
	}
	return out, tail, nil
}

// smallBodyTexts computes the terms of those of the bodies ids that fit
// in one chunk, read in one statement (outside the batch's transaction:
// bodies do not change); the others are not in the map. If the read
// fails, none is, and bodyText reads each (and records its failure).
func (s *Store) smallBodyTexts(ctx context.Context, ids []int64) map[int64]bodyText {
	texts := make(map[int64]bodyText, len(ids))
	buf := chunkBuffers.Get().(*[]byte)
	defer chunkBuffers.Put(buf)
	rows, _ := s.pool.Query(ctx, readSmallBodies, ids, chunkSize)
	defer rows.Close()
	var id int64
	for rows.Next() {
		if err := rows.Scan(&id, chunkInto{buf}); err != nil {
			return map[int64]bodyText{}
		}
		terms, ok, err := message.IndexTerms(bytes.NewReader(*buf))
		texts[id] = bodyText{terms: terms, ok: ok && err == nil}
	}
	if rows.Err() != nil {
		return map[int64]bodyText{}
	}
	return texts
}

// bodyText reads a body and computes its terms. A body deleted meanwhile
// has ok false; one whose read failed otherwise has failed set. The
// error is ctx's.
func (s *Store) bodyText(ctx context.Context, id int64) (bodyText, error) {
	r, err := s.queryBody(ctx, `SELECT id, size, (SELECT data FROM body_chunks WHERE body_id = $1 AND seq = 0)
		FROM bodies WHERE id = $1`, id)
	if err == nil {
		var terms []uint32
		var ok bool
		terms, ok, err = message.IndexTerms(r)
		r.Close()
		if err == nil {
			return bodyText{terms: terms, ok: ok}, nil
		}
	}
	switch {
	case ctx.Err() != nil:
		return bodyText{}, ctx.Err()
	case errors.Is(err, store.ErrNotFound):
		return bodyText{}, nil
	default:
		return bodyText{failed: err}, nil
	}
}

// FlushTextIndex returns once the background indexer (Options.TextIndexer)
// has indexed every message stored before the call, or at once without
// it (see store.TextIndexer.Flush).
func (s *Store) FlushTextIndex(ctx context.Context) error {
	return s.indexer.Flush(ctx)
}
