package sqlite

import (
	"context"
	"database/sql"
	"errors"
)

// deliverStmts are the statements every delivery runs, prepared once on
// the writer connection. The driver parses SQL text on every call
// otherwise, and parsing took a sixth of the committer's CPU.
type deliverStmts struct {
	savepoint, rollbackTo, release *sql.Stmt
	insertBlob, nextUID            *sql.Stmt
	checkQuota, insertMessage      *sql.Stmt
	insertFetched                  *sql.Stmt
}

func (d *deliverStmts) all() []**sql.Stmt {
	return []**sql.Stmt{&d.savepoint, &d.rollbackTo, &d.release, &d.insertBlob, &d.nextUID,
		&d.checkQuota, &d.insertMessage, &d.insertFetched}
}

var deliverSQL = []string{
	`SAVEPOINT delivery`,
	`ROLLBACK TO delivery`,
	`RELEASE delivery`,
	`INSERT INTO blobs (name, data) VALUES (?, ?)`,
	// Taking the UID and advancing uidnext in one statement keeps UIDs
	// strictly ascending and never reused, even across processes.
	`UPDATE mailboxes SET uidnext = uidnext + 1
		WHERE account_id = ? AND name = ? RETURNING id, uidvalidity, uidnext - 1`,
	`SELECT quota = 0 OR used + ? <= quota FROM accounts WHERE id = ?`,
	// text_doc is left NULL: the text indexer indexes the message after
	// the commit (textindex.go).
	`INSERT INTO messages (mailbox_id, account_id, uid, uidl, body, size, dot_lines, internal_date, flags, save_date)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	`INSERT INTO fetch_seen (source_id, scope, id, fingerprint) VALUES (?, ?, ?, ?)`,
}

func prepareDeliver(ctx context.Context, db *sql.DB) (*deliverStmts, error) {
	d := &deliverStmts{}
	for i, p := range d.all() {
		st, err := db.PrepareContext(ctx, deliverSQL[i])
		if err != nil {
			d.close()
			return nil, temporary("preparing statements", err)
		}
		*p = st
	}
	return d, nil
}

// in returns the statements bound to tx. The writer pool has a single
// connection, so binding reuses the prepared statements.
func (d *deliverStmts) in(ctx context.Context, tx *sql.Tx) *deliverStmts {
	b := &deliverStmts{}
	src := d.all()
	for i, p := range b.all() {
		*p = tx.StmtContext(ctx, *src[i])
	}
	return b
}

func (d *deliverStmts) close() error {
	var errs []error
	for _, p := range d.all() {
		if *p != nil {
			errs = append(errs, (*p).Close())
		}
	}
	return errors.Join(errs...)
}

// lookupStmts are the reads every SMTP recipient and every login run,
// prepared once on the reader pool (database/sql prepares them on each
// pooled connection at first use and keeps them).
type lookupStmts struct {
	account, domain *sql.Stmt
}

func prepareLookups(ctx context.Context, db *sql.DB) (*lookupStmts, error) {
	l := &lookupStmts{}
	var err error
	if l.account, err = db.PrepareContext(ctx, `SELECT `+accountColumns+` WHERE a.address = ?`); err != nil {
		return nil, temporary("preparing statements", err)
	}
	if l.domain, err = db.PrepareContext(ctx, `SELECT created FROM domains WHERE name = ?`); err != nil {
		l.account.Close()
		return nil, temporary("preparing statements", err)
	}
	return l, nil
}

func (l *lookupStmts) close() error {
	return errors.Join(l.account.Close(), l.domain.Close())
}
