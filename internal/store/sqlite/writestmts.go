package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strconv"
)

// Writer statements run inside transactions, where the writer pool's
// single connection is taken: they cannot be prepared on demand, so Open
// prepares every one listed in writerSQL.
const (
	// The unary "+" keeps the planner on the primary key: the
	// (mailbox_id, uid) index would walk the whole maildrop to delete a
	// few rows.
	sqlMaildropDelete = `DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?))
		AND +mailbox_id = ? AND +uid <= ? RETURNING body`
	sqlMaildropMark = `UPDATE messages SET first_retrieved = ? WHERE id IN (SELECT value FROM json_each(?))
		AND +mailbox_id = ? AND +uid <= ? AND first_retrieved IS NULL`
	sqlGarbageBodies = `SELECT j.value FROM json_each(?) j
		WHERE NOT EXISTS (SELECT 1 FROM messages WHERE body = j.value)
		AND NOT EXISTS (SELECT 1 FROM queue WHERE body = j.value)`
	sqlDeleteBlobs = `DELETE FROM blobs WHERE name IN (SELECT value FROM json_each(?)) RETURNING name`
	// The queue worker's per-message statements (queuework.go, queue.go).
	sqlQueueDelete = `DELETE FROM queue WHERE id IN (SELECT value FROM json_each(?)) RETURNING id, body`
	sqlQueueClaim  = `UPDATE queue SET lease_until = ?
		WHERE id IN (SELECT id FROM queue WHERE next_try <= ? AND lease_until <= ?
			ORDER BY next_try, id LIMIT ?)
		RETURNING id`
)

var writerSQL = []string{sqlMaildropDelete, sqlMaildropMark, sqlGarbageBodies, sqlDeleteBlobs,
	sqlQueueDelete, sqlQueueClaim, sqlTextDocs, sqlTextInsert, sqlTextMark, sqlTextDelete, sqlTextRetry, sqlTextRetried}

// prepareWriter prepares writerSQL on the writer pool.
func (s *Store) prepareWriter(ctx context.Context) error {
	for _, q := range writerSQL {
		if _, err := s.writeStmts.prepare(ctx, s.writer, q); err != nil {
			return err
		}
	}
	return nil
}

// txQuery runs one of writerSQL in tx. The writer pool has a single
// connection, so binding to tx reuses the statement compiled at Open
// instead of parsing the SQL text again.
func (s *Store) txQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st := s.writerStmt(query); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, query, args...) // not in writerSQL: compiled for this call
}

// txExec is txQuery for statements without rows.
func (s *Store) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := s.writerStmt(query); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

func (s *Store) writerStmt(query string) *sql.Stmt {
	s.writeStmts.mu.Lock()
	defer s.writeStmts.mu.Unlock()
	return s.writeStmts.m[query]
}

// jsonInts encodes ids as a JSON array, for a statement that takes a
// whole set as one parameter through json_each: one statement, prepared
// once, whatever the size of the set.
func jsonInts(ids []int64) string {
	b := make([]byte, 0, 2+len(ids)*8)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

// jsonStrings encodes names as a JSON array (see jsonInts).
func jsonStrings(names []string) string {
	b, _ := json.Marshal(names) // cannot fail for strings
	return string(b)
}
