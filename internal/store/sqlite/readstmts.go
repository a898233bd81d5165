package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// readStmts caches prepared statements on the reader pool for the queries
// an IMAP session runs per message or per command: parsing SQL costs more
// than running these indexed lookups, and database/sql keeps each
// statement prepared on every connection that has used it.
type readStmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// prepared returns the reader statement for query, preparing it once.
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	s.readStmts.mu.Lock()
	defer s.readStmts.mu.Unlock()
	if st, ok := s.readStmts.m[query]; ok {
		return st, nil
	}
	st, err := s.reader.PrepareContext(ctx, query)
	if err != nil {
		return nil, temporary("preparing query", err)
	}
	if s.readStmts.m == nil {
		s.readStmts.m = make(map[string]*sql.Stmt)
	}
	s.readStmts.m[query] = st
	return st, nil
}

// queryRow runs a cached reader statement for one row.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.prepared(ctx, query)
	if err != nil {
		// Let the caller see the error through Scan, as with QueryRow.
		return s.reader.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a cached reader statement.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}
