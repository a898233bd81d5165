package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations are applied in order, each in its own transaction, and
// recorded in schema_version. Never edit a released migration: append a new
// one.
var migrations = []string{
	// 1: directory, mailboxes (shaped for IMAP too) and messages.
	`
CREATE TABLE domains (
	id      INTEGER PRIMARY KEY,
	name    TEXT NOT NULL UNIQUE, -- lower-case
	created INTEGER NOT NULL      -- Unix microseconds, like every time here
);
CREATE TABLE accounts (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	domain_id     INTEGER NOT NULL REFERENCES domains(id),
	address       TEXT NOT NULL UNIQUE, -- lower-case user@domain
	password_hash TEXT NOT NULL,        -- credentials are opaque to the store
	scram_sha256  TEXT NOT NULL,
	legacy_secret TEXT NOT NULL,
	created       INTEGER NOT NULL
);
CREATE INDEX accounts_domain ON accounts(domain_id);
CREATE TABLE mailboxes (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id  INTEGER NOT NULL REFERENCES accounts(id),
	name        TEXT NOT NULL,
	uidvalidity INTEGER NOT NULL,
	uidnext     INTEGER NOT NULL DEFAULT 1, -- UIDs are never reused
	special_use TEXT NOT NULL DEFAULT '',   -- e.g. \Sent
	subscribed  INTEGER NOT NULL DEFAULT 1,
	UNIQUE (account_id, name)
);
-- AUTOINCREMENT: a message id is never reused, so a stale id held by an
-- open maildrop can never name a newer message.
CREATE TABLE messages (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	mailbox_id      INTEGER NOT NULL REFERENCES mailboxes(id),
	account_id      INTEGER NOT NULL REFERENCES accounts(id),
	uid             INTEGER NOT NULL,
	uidl            TEXT NOT NULL,
	body            TEXT NOT NULL,    -- file name under messages/, shared by copies
	size            INTEGER NOT NULL, -- octets of the CRLF body
	dot_lines       INTEGER NOT NULL, -- 1 if a line starts with "."
	internal_date   INTEGER NOT NULL,
	flags           TEXT NOT NULL DEFAULT '', -- space-separated IMAP flags
	first_retrieved INTEGER,                  -- NULL until a POP3 RETR
	UNIQUE (mailbox_id, uid)
);
CREATE UNIQUE INDEX messages_uidl ON messages(account_id, uidl);
CREATE INDEX messages_body ON messages(body);
CREATE INDEX messages_retrieved ON messages(first_retrieved) WHERE first_retrieved IS NOT NULL;
`,
	// 2: engine housekeeping state shared by all processes (last orphan sweep).
	`
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);
`,
	// 3: IMAP. A mod-sequence per mailbox that every change bumps, so a
	// watcher (an IDLE session, the cross-process poller) compares one
	// number; flag changes stamp the message with it. Inserts and deletes
	// bump it by trigger, whichever code path or process made the change.
	// summary caches the parsed message (envelope, body structure).
	// Existing accounts get the default special-use folders.
	`
ALTER TABLE mailboxes ADD COLUMN modseq INTEGER NOT NULL DEFAULT 1;
ALTER TABLE messages ADD COLUMN modseq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN summary BLOB;
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq) WHERE modseq > 0;
CREATE TRIGGER messages_added AFTER INSERT ON messages BEGIN
	UPDATE mailboxes SET modseq = modseq + 1 WHERE id = NEW.mailbox_id;
END;
CREATE TRIGGER messages_removed AFTER DELETE ON messages BEGIN
	UPDATE mailboxes SET modseq = modseq + 1 WHERE id = OLD.mailbox_id;
END;
INSERT INTO mailboxes (account_id, name, uidvalidity, special_use)
	SELECT a.id, f.name, unixepoch(), f.use FROM accounts a,
	(SELECT 'Sent' AS name, '\Sent' AS use UNION ALL SELECT 'Drafts', '\Drafts'
	 UNION ALL SELECT 'Trash', '\Trash' UNION ALL SELECT 'Junk', '\Junk'
	 UNION ALL SELECT 'Archive', '\Archive') f
	WHERE NOT EXISTS (SELECT 1 FROM mailboxes m WHERE m.account_id = a.id AND m.name = f.name);
`,
	// 4: quotas with a usage counter, aliases, small bodies inside the
	// database, and the outbound queue.
	`
ALTER TABLE accounts ADD COLUMN quota INTEGER NOT NULL DEFAULT 0; -- octets, 0 = none
-- used is kept by trigger, whichever code path or process adds or removes
-- messages, so a quota check never sums sizes.
ALTER TABLE accounts ADD COLUMN used INTEGER NOT NULL DEFAULT 0;
UPDATE accounts SET used = (SELECT coalesce(sum(size), 0) FROM messages WHERE account_id = accounts.id);
CREATE TRIGGER messages_used_added AFTER INSERT ON messages BEGIN
	UPDATE accounts SET used = used + NEW.size WHERE id = NEW.account_id;
END;
CREATE TRIGGER messages_used_removed AFTER DELETE ON messages BEGIN
	UPDATE accounts SET used = used - OLD.size WHERE id = OLD.account_id;
END;
CREATE TABLE aliases (
	domain_id INTEGER NOT NULL REFERENCES domains(id),
	address   TEXT NOT NULL, -- lower-case user@domain, or @domain for a catch-all
	target    TEXT NOT NULL, -- lower-case address, local or remote
	PRIMARY KEY (address, target)
);
CREATE INDEX aliases_domain ON aliases(domain_id);
-- Bodies small enough to share the WAL fsync of their metadata; larger
-- ones stay files under messages/. name is the same kind of name as a file.
CREATE TABLE blobs (
	name TEXT PRIMARY KEY,
	data BLOB NOT NULL
);
CREATE TABLE queue (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	sender     TEXT NOT NULL,    -- reverse-path, '' for <>
	body       TEXT NOT NULL,    -- blob or file name, as messages.body
	size       INTEGER NOT NULL,
	dsn_ret    TEXT NOT NULL DEFAULT '',
	dsn_envid  TEXT NOT NULL DEFAULT '',
	smtputf8   INTEGER NOT NULL DEFAULT 0,
	skip       INTEGER NOT NULL DEFAULT 0, -- Envelope.LocalPrefix
	created    INTEGER NOT NULL,
	next_try   INTEGER NOT NULL, -- for the delivery worker
	attempts   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_body ON queue(body);
CREATE TABLE queue_recipients (
	queue_id INTEGER NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
	address  TEXT NOT NULL,
	notify   TEXT NOT NULL DEFAULT '',
	orcpt    TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (queue_id, address)
);
`,
	// 5: delivery worker state: a lease per message, so a crashed
	// worker's message is tried again and a live one's is not tried twice;
	// the last error; per-recipient progress, so a recipient the remote
	// server accepted is never sent again.
	`
ALTER TABLE queue ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
CREATE INDEX queue_due ON queue(next_try);
ALTER TABLE queue_recipients ADD COLUMN status TEXT NOT NULL DEFAULT ''; -- store.RecipientStatus: "", delivered, failed, bounced
ALTER TABLE queue_recipients ADD COLUMN reply TEXT NOT NULL DEFAULT '';
`,
	// 6: the last UIDVALIDITY handed out. Taking it from the clock alone
	// gave a mailbox deleted and re-created within one second (or an
	// account re-created at once) its old UIDVALIDITY, so clients could
	// take new messages for ones they already had (same UID, same UIDL).
	`
CREATE TABLE uidvalidity_seq (last INTEGER NOT NULL);
INSERT INTO uidvalidity_seq SELECT coalesce(max(uidvalidity), 0) FROM mailboxes;
`,
	// 7: when each account last logged in (pochta user list); 0 = never.
	`
ALTER TABLE accounts ADD COLUMN last_login INTEGER NOT NULL DEFAULT 0;
`,
	// 8: IMAP subscriptions become names (RFC 9051 6.3.7): the
	// mailboxes.subscribed column made CREATE subscribe and DELETE drop the
	// subscription, which LIST-EXTENDED clients see as wrong (the column
	// stays, unused). recent_uid is the \Recent bookkeeping: the highest UID
	// a session has claimed; existing messages count as already seen.
	`
CREATE TABLE subscriptions (
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	name       TEXT NOT NULL,
	PRIMARY KEY (account_id, name)
);
INSERT INTO subscriptions (account_id, name) SELECT account_id, name FROM mailboxes WHERE subscribed = 1;
ALTER TABLE mailboxes ADD COLUMN recent_uid INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET recent_uid = uidnext - 1;
`,
	// 9: Sieve scripts, at most one active per account (the partial
	// unique index enforces it), and the vacation replies sent, each
	// suppressing another to the same sender until it expires.
	`
CREATE TABLE sieve_scripts (
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	name       TEXT NOT NULL,
	source     TEXT NOT NULL,
	active     INTEGER NOT NULL DEFAULT 0,
	updated    INTEGER NOT NULL,
	PRIMARY KEY (account_id, name)
);
CREATE UNIQUE INDEX sieve_scripts_active ON sieve_scripts(account_id) WHERE active = 1;
CREATE TABLE vacation_replies (
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	key        TEXT NOT NULL,
	until      INTEGER NOT NULL,
	PRIMARY KEY (account_id, key)
);
`,
	// 10: imports (store.Importer). import_key is an imported message's
	// identity in its source server, NULL for everything else; unique per
	// mailbox, so an import run twice stores each message once.
	`
ALTER TABLE messages ADD COLUMN import_key TEXT;
CREATE UNIQUE INDEX messages_import_key ON messages(mailbox_id, import_key) WHERE import_key IS NOT NULL;
`,
	// 11: the fetcher: remote accounts to fetch from (store.FetchSource)
	// and the ids each has brought in, recorded in the delivery's own
	// transaction so a crash can neither lose nor duplicate a message.
	`
CREATE TABLE fetch_sources (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	url        TEXT NOT NULL,
	password   TEXT NOT NULL,
	delete_after INTEGER NOT NULL DEFAULT 0,
	interval   INTEGER NOT NULL DEFAULT 0, -- seconds, 0 = the fetcher's default
	created    INTEGER NOT NULL,
	last_run   INTEGER NOT NULL DEFAULT 0,
	last_error TEXT NOT NULL DEFAULT '',
	fetched    INTEGER NOT NULL DEFAULT 0,
	failures   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX fetch_sources_account ON fetch_sources(account_id);
CREATE TABLE fetch_seen (
	source_id   INTEGER NOT NULL REFERENCES fetch_sources(id),
	scope       TEXT NOT NULL,
	id          TEXT NOT NULL,
	fingerprint TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (source_id, scope, id)
) WITHOUT ROWID;
`,
	// 12: RFC 8474 EMAILID and RFC 8514 SAVEDATE. email_id is the id of the
	// message a copy or move came from (NULL: the row's own id, so
	// existing rows need no rewrite); save_date is when the row was added
	// to its mailbox (NULL for rows older than this migration: unknown).
	`
ALTER TABLE messages ADD COLUMN email_id INTEGER;
ALTER TABLE messages ADD COLUMN save_date INTEGER;
`,
	// 13: CONDSTORE and QRESYNC (RFC 7162). A message gets the mailbox's
	// bumped mod-sequence when it is added, not only when its flags
	// change (migration 3 left it 0 then, so CHANGEDSINCE missed new
	// messages). A removal leaves a tombstone (uid, modseq), so QRESYNC
	// and VANISHED (EARLIER) answer exactly. tombstones counts a
	// mailbox's tombstones; past 5/4 of meta 'keep_expunged' the oldest
	// are pruned down to that many, and expunged_floor records the
	// highest mod-sequence pruned: removals above it are all known (see
	// Store.Expunged). Removals before this migration left no tombstone:
	// the floor starts at the current mod-sequence. All by trigger,
	// whichever code path or process removes a message.
	`
CREATE TABLE expunged (
	mailbox_id INTEGER NOT NULL,
	uid        INTEGER NOT NULL,
	modseq     INTEGER NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);
ALTER TABLE mailboxes ADD COLUMN tombstones INTEGER NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN expunged_floor INTEGER NOT NULL DEFAULT 0;
UPDATE mailboxes SET expunged_floor = modseq;
UPDATE messages SET modseq = 1 WHERE modseq = 0;
DROP TRIGGER messages_added;
CREATE TRIGGER messages_added AFTER INSERT ON messages BEGIN
	UPDATE mailboxes SET modseq = modseq + 1 WHERE id = NEW.mailbox_id;
	UPDATE messages SET modseq = (SELECT modseq FROM mailboxes WHERE id = NEW.mailbox_id) WHERE id = NEW.id;
END;
DROP TRIGGER messages_removed;
-- The tombstone goes in first: counting it may prune (expunged_pruned).
CREATE TRIGGER messages_removed AFTER DELETE ON messages BEGIN
	INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq)
		SELECT id, OLD.uid, modseq + 1 FROM mailboxes WHERE id = OLD.mailbox_id;
	UPDATE mailboxes SET modseq = modseq + 1, tombstones = tombstones + 1 WHERE id = OLD.mailbox_id;
END;
CREATE TRIGGER mailboxes_removed AFTER DELETE ON mailboxes BEGIN
	DELETE FROM expunged WHERE mailbox_id = OLD.id;
END;
INSERT OR IGNORE INTO meta (key, value) VALUES ('keep_expunged', 10000);
CREATE TRIGGER expunged_pruned AFTER UPDATE OF tombstones ON mailboxes
	WHEN NEW.tombstones > (SELECT value FROM meta WHERE key = 'keep_expunged') * 5 / 4
BEGIN
	UPDATE mailboxes SET
		expunged_floor = max(expunged_floor, (SELECT modseq FROM expunged WHERE mailbox_id = NEW.id
			ORDER BY modseq DESC LIMIT 1 OFFSET (SELECT value FROM meta WHERE key = 'keep_expunged'))),
		tombstones = (SELECT value FROM meta WHERE key = 'keep_expunged')
		WHERE id = NEW.id;
	DELETE FROM expunged WHERE mailbox_id = NEW.id
		AND modseq <= (SELECT expunged_floor FROM mailboxes WHERE id = NEW.id);
END;
`,
	// 14: the ids Sieve duplicate tests saw (RFC 7352), each until it
	// expires; at most store.MaxDuplicates per account.
	`
CREATE TABLE sieve_duplicates (
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	key        TEXT NOT NULL,
	until      INTEGER NOT NULL,
	PRIMARY KEY (account_id, key)
) WITHOUT ROWID;
CREATE INDEX sieve_duplicates_until ON sieve_duplicates(account_id, until);
`,
	// 15: the text index of IMAP SEARCH BODY, TEXT and HEADER (see
	// textindex.go). text_index holds each indexed message's terms
	// (message.IndexTerms, written as tokens) and a token naming its
	// account, contentless (only the inverted index is kept: no copy of
	// the text) and with detail=none (no positions: the terms are
	// trigrams and a candidate needs all of them, in any order).
	// messages.text_doc is the row's document: NULL not indexed yet
	// (rows older than this migration, until IndexText reaches them), 0
	// not indexable, else a text_index rowid shared by the copies of a
	// message, taken from meta 'text_doc'. The trigger drops a document
	// with its last message, whichever code path or process removes it.
	// automerge 16 (FTS5's default is 4) merges segments less often:
	// merging was a third of the delivery committer's time, and a search
	// reads a few more segments instead.
	`
INSERT OR IGNORE INTO meta (key, value) VALUES ('text_doc', 0);
CREATE VIRTUAL TABLE text_index USING fts5(terms, content='', contentless_delete=1, detail=none, tokenize='ascii');
INSERT INTO text_index (text_index, rank) VALUES ('automerge', 16);
ALTER TABLE messages ADD COLUMN text_doc INTEGER;
CREATE INDEX messages_text_doc ON messages(text_doc, mailbox_id, uid);
CREATE TRIGGER messages_text_removed AFTER DELETE ON messages
	WHEN OLD.text_doc > 0 AND NOT EXISTS (SELECT 1 FROM messages WHERE text_doc = OLD.text_doc)
BEGIN
	DELETE FROM text_index WHERE rowid = OLD.text_doc;
END;
`,
	// 16: accounts.sieve_version changes with every change to the
	// account's Sieve scripts, by trigger (whichever process or code path
	// made it), so the delivery filter keeps a compiled script keyed by it
	// and reads the script only when it changed. Values come from meta
	// 'sieve_version' and are never given twice, even to an account
	// created again with a deleted one's id; 1 is an account that never
	// had a script.
	`
INSERT OR IGNORE INTO meta (key, value) VALUES ('sieve_version', 1);
ALTER TABLE accounts ADD COLUMN sieve_version INTEGER NOT NULL DEFAULT 1;
CREATE TRIGGER sieve_scripts_added AFTER INSERT ON sieve_scripts BEGIN
	UPDATE meta SET value = value + 1 WHERE key = 'sieve_version';
	UPDATE accounts SET sieve_version = (SELECT value FROM meta WHERE key = 'sieve_version') WHERE id = NEW.account_id;
END;
CREATE TRIGGER sieve_scripts_changed AFTER UPDATE ON sieve_scripts BEGIN
	UPDATE meta SET value = value + 1 WHERE key = 'sieve_version';
	UPDATE accounts SET sieve_version = (SELECT value FROM meta WHERE key = 'sieve_version') WHERE id = NEW.account_id;
END;
CREATE TRIGGER sieve_scripts_removed AFTER DELETE ON sieve_scripts BEGIN
	UPDATE meta SET value = value + 1 WHERE key = 'sieve_version';
	UPDATE accounts SET sieve_version = (SELECT value FROM meta WHERE key = 'sieve_version') WHERE id = OLD.account_id;
END;
`,
	// 17: the import keys leave the messages for a table of their own, a
	// mailbox's record of what was imported into it. Kept on the message
	// row (migration 10), a key went with it when a client moved or
	// deleted the message, or import --sieve filed it into another
	// folder, and the next run of the same import stored it again. The
	// record goes only with its mailbox.
	`
CREATE TABLE import_keys (
	mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	key        TEXT NOT NULL,
	uid        INTEGER NOT NULL, -- the UID the message was given
	PRIMARY KEY (mailbox_id, key)
) WITHOUT ROWID;
INSERT INTO import_keys (mailbox_id, key, uid)
	SELECT mailbox_id, import_key, uid FROM messages WHERE import_key IS NOT NULL;
DROP INDEX messages_import_key;
ALTER TABLE messages DROP COLUMN import_key;
`,
	// 18: the recipients each account sent per minute (store.SendLog), for
	// submission's smtp.recipients_per_hour: counted in the server
	// process before, so a restart forgot the last hour, and each process
	// on the database counted only its own sending.
	`
CREATE TABLE sent_recipients (
	account_id INTEGER NOT NULL REFERENCES accounts(id),
	minute     INTEGER NOT NULL, -- store.SendMinute
	recipients INTEGER NOT NULL,
	PRIMARY KEY (account_id, minute)
) WITHOUT ROWID;
`,
	// 19: the text indexer tries a body it could not read for a passing
	// reason again later (store.TextIndexTries), instead of marking it
	// not indexable at the first I/O error: text_retry holds, per body
	// and account, the tries so far and when the next is due (Unix
	// seconds). A row goes when the body is indexed or given up.
	`
CREATE TABLE text_retry (
	account_id INTEGER NOT NULL,
	body       TEXT NOT NULL,
	tries      INTEGER NOT NULL,
	due        INTEGER NOT NULL,
	PRIMARY KEY (account_id, body)
) WITHOUT ROWID;
`,
}

// migrate brings the database schema up to date. Concurrent processes are
// safe: each migration's transaction starts with BEGIN IMMEDIATE, and the
// version is re-read inside it.
func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := db.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)`); err != nil {
		return temporary("creating schema_version", err)
	}
	var newest int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&newest); err != nil {
		return temporary("reading schema_version", err)
	}
	if newest > len(migrations) {
		// A newer Pochta migrated this database: refuse rather than
		// write rows an older schema does not describe.
		return fmt.Errorf("sqlite: database schema version %d is newer than this program's %d", newest, len(migrations))
	}
	for i, m := range migrations {
		version := i + 1
		err := func() error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			var done bool
			if err := tx.QueryRowContext(ctx,
				`SELECT EXISTS (SELECT 1 FROM schema_version WHERE version = ?)`, version).Scan(&done); err != nil {
				return err
			}
			if done {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO schema_version (version, applied) VALUES (?, unixepoch())`, version); err != nil {
				return err
			}
			return tx.Commit()
		}()
		if err != nil {
			return temporary(fmt.Sprintf("applying migration %d", version), err)
		}
	}
	return nil
}
