package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are applied in order, each in its own transaction, and
// recorded in schema_version. Never edit a released migration: append a
// new one. The SQL is written for PostgreSQL, not shared with the SQLite
// engine: the same rules, each in its own database's words.
var migrations = []string{
	// 1: everything the store contract had when the engine was written.
	// Times are timestamptz (microseconds, like the SQLite engine's
	// integers). Bodies are shared by the messages and queue entries that
	// reference them and stored in chunks (see bodies.go). Triggers keep
	// the mailbox mod-sequence and the account's used octets in step with
	// every insert and delete, whatever code path makes them.
	`
CREATE TABLE domains (
	id      bigserial PRIMARY KEY,
	name    text NOT NULL UNIQUE, -- lower-case
	created timestamptz NOT NULL
);
CREATE TABLE accounts (
	id            bigserial PRIMARY KEY,
	domain_id     bigint NOT NULL REFERENCES domains(id),
	address       text NOT NULL UNIQUE, -- lower-case user@domain
	password_hash text NOT NULL,        -- credentials are opaque to the store
	scram_sha256  text NOT NULL,
	legacy_secret text NOT NULL,
	created       timestamptz NOT NULL,
	quota         bigint NOT NULL DEFAULT 0, -- octets, 0 = none
	used          bigint NOT NULL DEFAULT 0, -- kept by trigger
	last_login    timestamptz
);
CREATE INDEX accounts_domain ON accounts(domain_id);
-- The last UIDVALIDITY handed out: new ones are the clock's seconds but
-- always above it, so a mailbox re-created at once gets a new one.
CREATE TABLE uidvalidity_seq (last bigint NOT NULL);
INSERT INTO uidvalidity_seq VALUES (0);
CREATE TABLE mailboxes (
	id          bigserial PRIMARY KEY,
	account_id  bigint NOT NULL REFERENCES accounts(id),
	name        text NOT NULL,
	uidvalidity bigint NOT NULL,
	uidnext     bigint NOT NULL DEFAULT 1, -- UIDs are never reused
	special_use text NOT NULL DEFAULT '',
	modseq      bigint NOT NULL DEFAULT 1,
	recent_uid  bigint NOT NULL DEFAULT 0,
	UNIQUE (account_id, name)
);
CREATE TABLE subscriptions (
	account_id bigint NOT NULL REFERENCES accounts(id),
	name       text NOT NULL,
	PRIMARY KEY (account_id, name)
);
-- A body is written once and never changed; it goes when the last
-- message or queue entry referencing it goes.
CREATE TABLE bodies (
	id        bigserial PRIMARY KEY,
	size      bigint NOT NULL,
	dot_lines boolean NOT NULL,
	created   timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE body_chunks (
	body_id bigint NOT NULL REFERENCES bodies(id) ON DELETE CASCADE,
	seq     integer NOT NULL, -- chunk n holds octets [n*chunkSize, (n+1)*chunkSize)
	data    bytea NOT NULL,
	PRIMARY KEY (body_id, seq)
);
-- Mail compresses, but pglz costs more CPU on every read than it saves
-- in I/O here; TOAST still stores the value out of line.
ALTER TABLE body_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE TABLE messages (
	id              bigserial PRIMARY KEY, -- never reused
	mailbox_id      bigint NOT NULL REFERENCES mailboxes(id),
	account_id      bigint NOT NULL REFERENCES accounts(id),
	uid             bigint NOT NULL,
	uidl            text NOT NULL,
	body_id         bigint NOT NULL REFERENCES bodies(id),
	size            bigint NOT NULL,
	dot_lines       boolean NOT NULL,
	internal_date   timestamptz NOT NULL,
	flags           text NOT NULL DEFAULT '', -- store.FormatFlags
	modseq          bigint NOT NULL DEFAULT 0,
	summary         bytea,
	first_retrieved timestamptz,
	import_key      text,
	email_id        bigint,      -- RFC 8474 EMAILID: the original's id for a copy, NULL = id
	save_date       timestamptz, -- RFC 8514 SAVEDATE
	UNIQUE (mailbox_id, uid)
);
CREATE UNIQUE INDEX messages_uidl ON messages(account_id, uidl);
CREATE INDEX messages_body ON messages(body_id);
CREATE INDEX messages_retrieved ON messages(first_retrieved) WHERE first_retrieved IS NOT NULL;
CREATE INDEX messages_modseq ON messages(mailbox_id, modseq) WHERE modseq > 0;
CREATE UNIQUE INDEX messages_import_key ON messages(mailbox_id, import_key) WHERE import_key IS NOT NULL;
CREATE FUNCTION messages_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE mailboxes SET modseq = modseq + 1 WHERE id = NEW.mailbox_id;
	UPDATE accounts SET used = used + NEW.size WHERE id = NEW.account_id;
	RETURN NULL;
END $$;
CREATE FUNCTION messages_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE mailboxes SET modseq = modseq + 1 WHERE id = OLD.mailbox_id;
	UPDATE accounts SET used = used - OLD.size WHERE id = OLD.account_id;
	RETURN NULL;
END $$;
CREATE TRIGGER messages_added AFTER INSERT ON messages FOR EACH ROW EXECUTE FUNCTION messages_added();
CREATE TRIGGER messages_removed AFTER DELETE ON messages FOR EACH ROW EXECUTE FUNCTION messages_removed();
CREATE TABLE aliases (
	domain_id bigint NOT NULL REFERENCES domains(id),
	address   text NOT NULL, -- lower-case user@domain, or @domain for a catch-all
	target    text NOT NULL,
	PRIMARY KEY (address, target)
);
CREATE INDEX aliases_domain ON aliases(domain_id);
CREATE TABLE queue (
	id          bigserial PRIMARY KEY,
	sender      text NOT NULL,
	body_id     bigint NOT NULL REFERENCES bodies(id),
	size        bigint NOT NULL,
	dsn_ret     text NOT NULL DEFAULT '',
	dsn_envid   text NOT NULL DEFAULT '',
	smtputf8    boolean NOT NULL DEFAULT false,
	skip        bigint NOT NULL DEFAULT 0, -- Envelope.LocalPrefix
	created     timestamptz NOT NULL,
	next_try    timestamptz NOT NULL,
	attempts    integer NOT NULL DEFAULT 0,
	lease_until timestamptz NOT NULL DEFAULT '-infinity',
	last_error  text NOT NULL DEFAULT ''
);
CREATE INDEX queue_body ON queue(body_id);
CREATE INDEX queue_due ON queue(next_try);
CREATE TABLE queue_recipients (
	queue_id bigint NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
	seq      integer NOT NULL, -- the envelope's order
	address  text NOT NULL,
	notify   text NOT NULL DEFAULT '',
	orcpt    text NOT NULL DEFAULT '',
	status   text NOT NULL DEFAULT '',
	reply    text NOT NULL DEFAULT '',
	PRIMARY KEY (queue_id, address)
);
-- POP3 maildrop locks across nodes: a lease its node renews (maildrop.go).
CREATE TABLE maildrop_locks (
	account_id bigint PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
	owner      text NOT NULL,
	expires    timestamptz NOT NULL
);
CREATE TABLE sieve_scripts (
	account_id bigint NOT NULL REFERENCES accounts(id),
	name       text NOT NULL,
	source     text NOT NULL,
	active     boolean NOT NULL DEFAULT false,
	updated    timestamptz NOT NULL,
	PRIMARY KEY (account_id, name)
);
-- The fetcher's remote accounts and the ids each has brought in; a
-- delivery records its id in its own transaction (store.FetchMark).
CREATE TABLE fetch_sources (
	id           bigserial PRIMARY KEY,
	account_id   bigint NOT NULL REFERENCES accounts(id),
	url          text NOT NULL,
	password     text NOT NULL,
	delete_after boolean NOT NULL DEFAULT false,
	interval     bigint NOT NULL DEFAULT 0, -- seconds, 0 = the fetcher's default
	created      timestamptz NOT NULL,
	last_run     timestamptz,
	last_error   text NOT NULL DEFAULT '',
	fetched      bigint NOT NULL DEFAULT 0,
	failures     integer NOT NULL DEFAULT 0
);
CREATE INDEX fetch_sources_account ON fetch_sources(account_id);
CREATE TABLE fetch_seen (
	source_id   bigint NOT NULL REFERENCES fetch_sources(id) ON DELETE CASCADE,
	scope       text NOT NULL,
	id          text NOT NULL,
	fingerprint text NOT NULL DEFAULT '',
	PRIMARY KEY (source_id, scope, id)
);
CREATE UNIQUE INDEX sieve_scripts_active ON sieve_scripts(account_id) WHERE active;
CREATE TABLE vacation_replies (
	account_id bigint NOT NULL REFERENCES accounts(id),
	key        text NOT NULL,
	until      timestamptz NOT NULL,
	PRIMARY KEY (account_id, key)
);
`,
	// 2: failed logins counted by every node together (auth.SharedThrottle),
	// so guesses spread over the nodes are throttled as if sent to one.
	`
CREATE TABLE login_failures (
	key     text PRIMARY KEY, -- "login ADDRESS" or "net PREFIX"
	count   integer NOT NULL,
	expires timestamptz NOT NULL
);
CREATE INDEX login_failures_expires ON login_failures(expires);
`,
	// 3: each account's last POP3 login, for LOGIN-DELAY across nodes
	// (pop3.SharedLoginTimes).
	`
ALTER TABLE accounts ADD COLUMN last_pop3_login timestamptz;
`,
	// 4: cluster-wide jobs (ClaimJob): when each last ran, so a sweep every
	// node schedules runs once per cluster.
	`
CREATE TABLE cluster_jobs (
	name     text PRIMARY KEY,
	last_run timestamptz NOT NULL
);
`,
	// 5: CONDSTORE and QRESYNC (RFC 7162), as the SQLite engine's
	// migration 13: a message gets the mailbox's bumped mod-sequence when
	// it is added (a BEFORE trigger sets it in the row itself), and a
	// removal leaves a tombstone (uid, modseq). Past 5/4 of meta
	// 'keep_expunged' tombstones, prune_expunged deletes the oldest down
	// to that many and raises the mailbox's expunged_floor: removals above
	// the floor are all known. The floor of existing mailboxes starts at
	// their mod-sequence: their earlier removals left no tombstone.
	`
CREATE TABLE meta (
	key   text PRIMARY KEY,
	value bigint NOT NULL
);
INSERT INTO meta VALUES ('keep_expunged', 10000);
CREATE TABLE expunged (
	mailbox_id bigint NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	uid        bigint NOT NULL,
	modseq     bigint NOT NULL,
	PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX expunged_modseq ON expunged(mailbox_id, modseq);
ALTER TABLE mailboxes ADD COLUMN tombstones bigint NOT NULL DEFAULT 0;
ALTER TABLE mailboxes ADD COLUMN expunged_floor bigint NOT NULL DEFAULT 0;
UPDATE mailboxes SET expunged_floor = modseq;
UPDATE messages SET modseq = 1 WHERE modseq = 0;
CREATE FUNCTION prune_expunged(mailbox bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	keep bigint := (SELECT value FROM meta WHERE key = 'keep_expunged');
	pruned bigint;
BEGIN
	IF (SELECT tombstones FROM mailboxes WHERE id = mailbox) <= keep * 5 / 4 THEN
		RETURN;
	END IF;
	SELECT modseq INTO pruned FROM expunged WHERE mailbox_id = mailbox ORDER BY modseq DESC OFFSET keep LIMIT 1;
	IF pruned IS NOT NULL THEN
		DELETE FROM expunged WHERE mailbox_id = mailbox AND modseq <= pruned;
		UPDATE mailboxes SET expunged_floor = greatest(expunged_floor, pruned) WHERE id = mailbox;
	END IF;
	UPDATE mailboxes SET tombstones = (SELECT count(*) FROM expunged WHERE mailbox_id = mailbox) WHERE id = mailbox;
END $$;
CREATE FUNCTION messages_stamped() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE mailboxes SET modseq = modseq + 1 WHERE id = NEW.mailbox_id RETURNING modseq INTO NEW.modseq;
	RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION messages_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE accounts SET used = used + NEW.size WHERE id = NEW.account_id;
	RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION messages_removed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	UPDATE mailboxes SET modseq = modseq + 1, tombstones = tombstones + 1 WHERE id = OLD.mailbox_id RETURNING modseq INTO n;
	INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (OLD.mailbox_id, OLD.uid, n)
		ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq;
	PERFORM prune_expunged(OLD.mailbox_id);
	UPDATE accounts SET used = used - OLD.size WHERE id = OLD.account_id;
	RETURN NULL;
END $$;
CREATE TRIGGER messages_stamped BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION messages_stamped();
`,
	// 6: the ids Sieve duplicate tests saw (RFC 7352), as the SQLite
	// engine's migration 14.
	`
CREATE TABLE sieve_duplicates (
	account_id bigint NOT NULL REFERENCES accounts(id),
	key        text NOT NULL,
	until      timestamptz NOT NULL,
	PRIMARY KEY (account_id, key)
);
CREATE INDEX sieve_duplicates_until ON sieve_duplicates(account_id, until);
`,
	// 7: one delivery in one statement (deliver.go), so the committer
	// sends a whole batch in one round trip. insert_body stores a body
	// given as its chunks. deliver_message stores one delivery for every
	// recipient as deliverOne does, in its lock order (mailbox row, then
	// account row; the caller has locked both): the next UID of the named
	// mailbox (of INBOX when it does not exist), the quota check, the row
	// (a generated UIDL as store.UIDL makes it, with its variants on a
	// collision) and the NOTIFY of events.go. It raises its own SQLSTATEs
	// for what the caller maps to store errors: PXCRE (the mailbox must be
	// created: the caller's Go path does that), PXACC (no such account),
	// PXQUO (over quota), PXUID (the given UIDL exists).
	//
	// Fewer statements per message: the UID statement also bumps the
	// mailbox's mod-sequence and reads the account's quota, and a row
	// inserted with its mod-sequence set skips messages_stamped (which
	// would update the mailbox row a second time).
	`
DROP TRIGGER messages_stamped ON messages;
CREATE TRIGGER messages_stamped BEFORE INSERT ON messages FOR EACH ROW WHEN (NEW.modseq = 0)
	EXECUTE FUNCTION messages_stamped();
CREATE FUNCTION insert_body(p_size bigint, p_dot_lines boolean, p_chunks bytea[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	b bigint;
BEGIN
	INSERT INTO bodies (size, dot_lines) VALUES (p_size, p_dot_lines) RETURNING id INTO b;
	INSERT INTO body_chunks (body_id, seq, data) SELECT b, c.seq - 1, c.data
		FROM unnest(p_chunks) WITH ORDINALITY AS c(data, seq);
	RETURN b;
END $$;
CREATE FUNCTION deliver_message(p_node text, p_channel text, p_kind integer, p_max_variants integer,
	p_accounts bigint[], p_names text[], p_create boolean[], p_flags text[], p_uidls text[],
	p_body bigint, p_size bigint, p_dot_lines boolean, p_chunks bytea[], p_date timestamptz, p_saved timestamptz)
RETURNS TABLE (out_account bigint, out_mailbox bigint) LANGUAGE plpgsql AS $$
DECLARE
	b bigint := p_body;
	mb_id bigint;
	mb_name text;
	mb_validity bigint;
	mb_uid bigint;
	mb_modseq bigint;
	ok boolean;
	base text;
	u text;
	variant integer;
BEGIN
	IF b IS NULL THEN
		b := insert_body(p_size, p_dot_lines, p_chunks);
	END IF;
	FOR i IN 1 .. coalesce(array_length(p_accounts, 1), 0) LOOP
		UPDATE mailboxes m SET uidnext = m.uidnext + 1, modseq = m.modseq + 1 FROM accounts a
			WHERE m.account_id = p_accounts[i] AND m.name = p_names[i] AND a.id = m.account_id
			RETURNING m.id, m.name, m.uidvalidity, m.uidnext - 1, m.modseq, a.quota = 0 OR a.used + p_size <= a.quota
			INTO mb_id, mb_name, mb_validity, mb_uid, mb_modseq, ok;
		IF NOT FOUND AND p_names[i] <> 'INBOX' THEN
			IF p_create[i] THEN
				RAISE EXCEPTION 'mailbox % of account % must be created', p_names[i], p_accounts[i] USING ERRCODE = 'PXCRE';
			END IF;
			UPDATE mailboxes m SET uidnext = m.uidnext + 1, modseq = m.modseq + 1 FROM accounts a
				WHERE m.account_id = p_accounts[i] AND m.name = 'INBOX' AND a.id = m.account_id
				RETURNING m.id, m.name, m.uidvalidity, m.uidnext - 1, m.modseq, a.quota = 0 OR a.used + p_size <= a.quota
				INTO mb_id, mb_name, mb_validity, mb_uid, mb_modseq, ok;
		END IF;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'account %', p_accounts[i] USING ERRCODE = 'PXACC';
		ELSIF NOT ok THEN
			RAISE EXCEPTION 'account %', p_accounts[i] USING ERRCODE = 'PXQUO';
		END IF;
		IF mb_name = 'INBOX' THEN
			base := lpad(to_hex(mb_validity), 8, '0') || lpad(to_hex(mb_uid), 8, '0');
		ELSE
			base := 'm' || mb_id || '.' || mb_uid;
		END IF;
		u := coalesce(nullif(p_uidls[i], ''), base);
		variant := 1;
		LOOP
			INSERT INTO messages (mailbox_id, account_id, uid, uidl, body_id, size, dot_lines, internal_date, flags, save_date, modseq)
				VALUES (mb_id, p_accounts[i], mb_uid, u, b, p_size, p_dot_lines, p_date, p_flags[i], p_saved, mb_modseq)
				ON CONFLICT DO NOTHING;
			EXIT WHEN FOUND;
			IF p_uidls[i] <> '' OR variant >= p_max_variants THEN
				RAISE EXCEPTION 'UIDL % of account %', u, p_accounts[i] USING ERRCODE = 'PXUID';
			END IF;
			u := base || '-' || variant;
			variant := variant + 1;
		END LOOP;
		PERFORM pg_notify(p_channel, p_node || ' ' || p_kind || ' ' || p_accounts[i] || ' ' || mb_id);
		out_account := p_accounts[i];
		out_mailbox := mb_id;
		RETURN NEXT;
	END LOOP;
END $$;
`,
	// 8: the text index of IMAP SEARCH BODY, TEXT and HEADER, as the
	// SQLite engine's migration 15 but in PostgreSQL's words (see
	// textindex.go): body_text holds a body's message.IndexTerms per
	// account that has it, plus a term naming the account, in an int4
	// array under a GIN index (built in: no extension). It goes with its
	// body. messages.text_indexed: NULL not indexed yet (rows older than
	// this migration, until IndexText reaches them), false not
	// indexable, true indexed. messages_text_new finds the rows not
	// indexed yet (migration 12 keys it by body).
	`
CREATE TABLE body_text (
	body_id    bigint NOT NULL REFERENCES bodies(id) ON DELETE CASCADE,
	account_id bigint NOT NULL,
	terms      int4[] NOT NULL,
	PRIMARY KEY (body_id, account_id)
);
CREATE INDEX body_text_terms ON body_text USING gin (terms);
ALTER TABLE messages ADD COLUMN text_indexed boolean;
CREATE INDEX messages_text_pending ON messages(mailbox_id) WHERE text_indexed IS NOT TRUE;
CREATE INDEX messages_text_new ON messages(account_id) WHERE text_indexed IS NULL;
`,
	// 9: removals per statement, not per row. messages_removed ran for
	// every deleted row: four statements each (the mailbox row updated
	// again and again within one transaction, a tombstone, the prune
	// check, the account row), most of the database's work in a POP3
	// QUIT that deletes 50 messages. It now runs once per DELETE over
	// its transition table, with the same outcome: each removed message
	// its own mod-sequence (in UID order within a statement), the
	// mailbox's tombstone count, the prune (once per statement, so a
	// mailbox may keep up to 5/4 of keep_expunged after a large one, as
	// it may between removals anyway), the account's used octets.
	// maildrop_delete is a POP3 UPDATE in one statement (maildrop.go):
	// the fence (PXLCK when the lease is lost), the mailbox row lock,
	// the rows, the NOTIFY and the bodies left unreferenced, so a QUIT
	// costs one round trip and one commit instead of eight.
	`
DROP TRIGGER messages_removed ON messages;
CREATE OR REPLACE FUNCTION messages_removed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	mb bigint;
	n bigint;
	top bigint;
BEGIN
	FOR mb, n IN SELECT mailbox_id, count(*) FROM gone GROUP BY mailbox_id ORDER BY mailbox_id LOOP
		UPDATE mailboxes SET modseq = modseq + n, tombstones = tombstones + n WHERE id = mb RETURNING modseq INTO top;
		INSERT INTO expunged (mailbox_id, uid, modseq)
			SELECT mb, g.uid, top - n + row_number() OVER (ORDER BY g.uid) FROM gone g WHERE g.mailbox_id = mb
			ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = EXCLUDED.modseq;
		PERFORM prune_expunged(mb);
	END LOOP;
	UPDATE accounts a SET used = a.used - g.size
		FROM (SELECT account_id, sum(size) AS size FROM gone GROUP BY account_id ORDER BY account_id) g
		WHERE a.id = g.account_id;
	RETURN NULL;
END $$;
CREATE TRIGGER messages_removed AFTER DELETE ON messages REFERENCING OLD TABLE AS gone
	FOR EACH STATEMENT EXECUTE FUNCTION messages_removed();
CREATE FUNCTION maildrop_delete(p_account bigint, p_owner text, p_mailbox bigint, p_ids bigint[], p_last_uid bigint,
	p_channel text, p_payload text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
	b bigint[];
BEGIN
	PERFORM 1 FROM maildrop_locks WHERE account_id = p_account AND owner = p_owner AND expires > now() FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'account %: maildrop lock lost', p_account USING ERRCODE = 'PXLCK';
	END IF;
	PERFORM 1 FROM mailboxes WHERE id = p_mailbox FOR UPDATE;
	WITH d AS (DELETE FROM messages WHERE id = ANY(p_ids) AND mailbox_id = p_mailbox AND uid <= p_last_uid RETURNING body_id)
		SELECT array_agg(body_id) INTO b FROM d;
	IF b IS NULL THEN
		RETURN 0;
	END IF;
	PERFORM pg_notify(p_channel, p_payload);
	-- as deleteUnreferenced: lock, then check with a new snapshot
	PERFORM 1 FROM bodies WHERE id = ANY(b) ORDER BY id FOR UPDATE;
	DELETE FROM bodies x WHERE x.id = ANY(b)
		AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.body_id = x.id)
		AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.body_id = x.id);
	RETURN cardinality(b);
END $$;
`,
	// 10: accounts.sieve_version changes with every change to the
	// account's Sieve scripts, by trigger, as the SQLite engine's
	// migration 16: the delivery filter keeps a compiled script keyed by
	// it and reads the script only when it changed, on any node. Values
	// come from a sequence (never given twice); 1 is an account that
	// never had a script.
	`
CREATE SEQUENCE sieve_version START 2;
ALTER TABLE accounts ADD COLUMN sieve_version bigint NOT NULL DEFAULT 1;
CREATE FUNCTION sieve_scripts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE accounts SET sieve_version = nextval('sieve_version')
		WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.account_id ELSE NEW.account_id END;
	RETURN NULL;
END $$;
CREATE TRIGGER sieve_scripts_changed AFTER INSERT OR UPDATE OR DELETE ON sieve_scripts
	FOR EACH ROW EXECUTE FUNCTION sieve_scripts_changed();
`,
	// 11: the directory cache's invalidation (cache.go): a change of a
	// domain, an account, an alias or a Sieve script, by whatever writer,
	// sends the row's key on the events channel of its schema when it
	// commits (row triggers: an UPDATE that changes a key sends the old
	// and the new). An account's usage is not among the columns: every
	// message changes it, and the cache keeps it otherwise.
	`
CREATE FUNCTION notify_directory() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP <> 'INSERT' THEN
		PERFORM pg_notify('pochta_events_' || TG_TABLE_SCHEMA,
			'* dir ' || TG_ARGV[0] || ' ' || (to_jsonb(OLD) ->> TG_ARGV[1]));
	END IF;
	IF TG_OP <> 'DELETE' THEN
		PERFORM pg_notify('pochta_events_' || TG_TABLE_SCHEMA,
			'* dir ' || TG_ARGV[0] || ' ' || (to_jsonb(NEW) ->> TG_ARGV[1]));
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER domains_notify AFTER INSERT OR UPDATE OR DELETE ON domains
	FOR EACH ROW EXECUTE FUNCTION notify_directory('domain', 'name');
CREATE TRIGGER accounts_notify AFTER INSERT OR DELETE
	OR UPDATE OF address, domain_id, password_hash, scram_sha256, legacy_secret, created, quota, last_login, sieve_version
	ON accounts
	FOR EACH ROW EXECUTE FUNCTION notify_directory('account', 'address');
CREATE TRIGGER aliases_notify AFTER INSERT OR UPDATE OR DELETE ON aliases
	FOR EACH ROW EXECUTE FUNCTION notify_directory('alias', 'address');
CREATE TRIGGER sieve_scripts_notify AFTER INSERT OR UPDATE OR DELETE ON sieve_scripts
	FOR EACH ROW EXECUTE FUNCTION notify_directory('sieve', 'account_id');
`,
	// 12: messages_text_new keyed by body instead of account: the
	// indexer marks an indexed body's rows by body_id AND account_id, and
	// with the account as the key (and the planner's estimate of a few
	// unindexed rows) every mark scanned all of the account's unindexed
	// rows: after a 100,000-message import the indexer took quadratic
	// time. The indexer's claim (any unindexed row) uses either key.
	`
DROP INDEX messages_text_new;
CREATE INDEX messages_text_new ON messages(body_id) WHERE text_indexed IS NULL;
`,
	// 13: the import keys leave the messages for a table of their own, a
	// mailbox's record of what was imported into it, as the SQLite
	// engine's migration 17: kept on the message row, a key went with it
	// when a client moved or deleted the message, or import --sieve filed
	// it into another folder, and the next run of the same import stored
	// it again. The record goes only with its mailbox. Dropping the
	// column drops its index.
	`
CREATE TABLE import_keys (
	mailbox_id bigint NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
	key        text NOT NULL,
	uid        bigint NOT NULL, -- the UID the message was given
	PRIMARY KEY (mailbox_id, key)
);
INSERT INTO import_keys (mailbox_id, key, uid)
	SELECT mailbox_id, import_key, uid FROM messages WHERE import_key IS NOT NULL;
ALTER TABLE messages DROP COLUMN import_key;
`,
	// 14: the recipients each account sent per minute (store.SendLog), for
	// submission's smtp.recipients_per_hour, as the SQLite engine's
	// migration 18: counted in each node's process before, so nodes did
	// not add up and a restart forgot the last hour.
	`
CREATE TABLE sent_recipients (
	account_id bigint NOT NULL REFERENCES accounts(id),
	minute     bigint NOT NULL, -- store.SendMinute
	recipients integer NOT NULL,
	PRIMARY KEY (account_id, minute)
);
`,
	// 15: the text index in posting lists of our own (textindex.go)
	// instead of body_text's per-body term arrays under GIN, which took
	// more disk than the mail they indexed (126% on varied text;
	// docs/BENCHMARKS.md). The index is derived data: body_text is
	// dropped and every message is left to the background indexer
	// again (searches read the messages not indexed yet meanwhile, so
	// answers stay exact; they are slower until it has caught up: 13 minutes
	// for 100,000 messages on 2 busy cores). A message marked not
	// indexable is tried again too.
	`
DROP TABLE body_text;
UPDATE messages SET text_indexed = NULL WHERE text_indexed IS NOT NULL;
-- An account's text documents: the bodies it indexed, numbered from 1.
CREATE TABLE text_accounts (
	account_id bigint PRIMARY KEY,
	docs       integer NOT NULL -- the last number given
);
CREATE TABLE text_docs (
	account_id bigint NOT NULL,
	doc        integer NOT NULL,
	body_id    bigint NOT NULL REFERENCES bodies(id) ON DELETE CASCADE,
	PRIMARY KEY (account_id, doc)
);
CREATE UNIQUE INDEX text_docs_body ON text_docs(body_id, account_id);
-- Per account and term, the documents with the term, in chunks
-- (postings.go) keyed by their first document. Coded postings do not
-- compress: no TOAST.
CREATE TABLE text_postings (
	account_id bigint NOT NULL,
	term       integer NOT NULL,
	first_doc  integer NOT NULL,
	docs       bytea NOT NULL,
	PRIMARY KEY (account_id, term, first_doc)
);
ALTER TABLE text_postings ALTER COLUMN docs SET STORAGE PLAIN;
-- Half of each page is left free: an append rewrites a chunk, and with
-- room on its page the new version is a HOT update (no new key, the old
-- version pruned with the page) rather than a row moved to the end of
-- the table: after 10,000 messages indexed, 14 MB instead of 144 MB.
ALTER TABLE text_postings SET (fillfactor = 50);
`,
	// 16: the text indexer tries a body it could not read for a passing
	// reason again later (store.TextIndexTries), instead of marking it
	// not indexable, or (an error reading the first chunk) failing the
	// whole batch again and again: text_retry holds, per body and
	// account, the tries so far and when the next is due. A row goes
	// when the body is indexed or given up, or with the body.
	`
CREATE TABLE text_retry (
	body_id    bigint NOT NULL REFERENCES bodies(id) ON DELETE CASCADE,
	account_id bigint NOT NULL,
	tries      integer NOT NULL,
	due        timestamptz NOT NULL,
	PRIMARY KEY (body_id, account_id)
);
`,
	// 17: each posting chunk's tail, its last document and the length of
	// its codes in bits (postings.go, chunkTail), so the indexer appends a
	// batch's documents to a chunk without decoding it: decoding and
	// encoding again the last chunk of every term a batch touched was
	// most of the indexer's CPU (docs/BENCHMARKS.md). NULL in the rows
	// written before: the indexer decodes such a chunk once, at its next
	// append.
	`
ALTER TABLE text_postings ADD COLUMN last_doc integer, ADD COLUMN bits integer;
`,
	// 18: the messages the text indexer has not reached get a row in
	// text_pending instead of messages.text_indexed NULL, which the
	// indexer set to true when it was done: that rewrote every message
	// row a second time (a new version through five indexes, left for
	// VACUUM), and its claim locked the rows themselves, so a flag change
	// of a new message waited for the indexer's batch. Now the claim locks
	// the text_pending rows and the indexer deletes them. An expunge
	// still waits for a batch that holds the message's row here (its
	// trigger deletes it), so a body is never deleted under the indexer.
	// messages.text_indexed is now false for a body not indexable and
	// NULL or true otherwise; messages_added adds the pending row of a
	// message inserted with NULL (a copy of an indexed message is
	// inserted with true).
	`
CREATE TABLE text_pending (
	message_id bigint PRIMARY KEY,
	body_id    bigint NOT NULL,
	account_id bigint NOT NULL
);
CREATE INDEX text_pending_account ON text_pending(account_id);
INSERT INTO text_pending SELECT id, body_id, account_id FROM messages WHERE text_indexed IS NULL;
DROP INDEX messages_text_pending;
DROP INDEX messages_text_new;
CREATE INDEX messages_text_unindexable ON messages(mailbox_id) WHERE text_indexed = false;
CREATE OR REPLACE FUNCTION messages_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE accounts SET used = used + NEW.size WHERE id = NEW.account_id;
	IF NEW.text_indexed IS NULL THEN
		INSERT INTO text_pending (message_id, body_id, account_id) VALUES (NEW.id, NEW.body_id, NEW.account_id);
	END IF;
	RETURN NULL;
END $$;
CREATE FUNCTION messages_unpend() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	DELETE FROM text_pending p USING gone g WHERE p.message_id = g.id;
	RETURN NULL;
END $$;
CREATE TRIGGER messages_unpend AFTER DELETE ON messages REFERENCING OLD TABLE AS gone
	FOR EACH STATEMENT EXECUTE FUNCTION messages_unpend();
`,
}

// migrate brings the schema up to date. Nodes starting together are safe:
// each migration's transaction first takes a transaction-scoped advisory
// lock for the schema, then re-reads the version.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	for i, m := range migrations {
		version := i + 1
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('pochta migrate ' || current_schema()))`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
				version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
				return err
			}
			var newest int
			if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&newest); err != nil {
				return err
			}
			if newest > len(migrations) {
				// A newer Pochta migrated this database: refuse rather
				// than write rows an older schema does not describe.
				return fmt.Errorf("database schema version %d is newer than this program's %d", newest, len(migrations))
			}
			if newest >= version {
				return nil
			}
			if _, err := tx.Exec(ctx, m); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, version)
			return err
		})
		if err != nil {
			return temporary(fmt.Sprintf("applying migration %d", version), err)
		}
	}
	return nil
}
