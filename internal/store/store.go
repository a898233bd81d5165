// Package store defines Pochta's storage seam: the types and interfaces that
// every storage engine (internal/store/sqlite today, PostgreSQL later)
// implements, and that the protocol packages consume.
//
// The package imports no protocol package. Protocol code depends only on the
// interfaces here, so a new engine fits without changing protocol code; the
// conformance suite in internal/store/storetest proves it.
//
// Conventions every engine follows:
//   - Addresses and domain names are stored lower-case; lookups are
//     case-insensitive.
//   - Message bodies are immutable once stored and always have CRLF line
//     endings, so Size equals the octets a POP3 RETR sends before
//     dot-stuffing.
//   - A method that reports success has made its effect durable (fsync).
package store

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors returned by engines. Wrap them with %w; callers test with errors.Is.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	// ErrLocked means another session holds the maildrop lock.
	ErrLocked = errors.New("store: maildrop in use")
	// ErrTemporary marks failures worth retrying (disk full, database busy).
	// Delivery agents map it to EX_TEMPFAIL / 4xx / [SYS/TEMP].
	ErrTemporary = errors.New("store: temporary failure")
	// ErrInvalid marks arguments an engine refuses (bad UIDL, bad name).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrQuota means a delivery would take a recipient over its quota.
	// Whether that is temporary is the caller's policy.
	ErrQuota = errors.New("store: over quota")
)

// Store is the whole engine. Consumers should depend on the narrower
// interfaces below; Store exists for wiring (cmd/pochta) and for storetest.
type Store interface {
	Directory
	Aliases
	Deliverer
	Maildrops
	Mailboxes
	Queue
	Sieve
	Importer
	FetchSources
	SendLog
	// Close releases the engine's resources. Open maildrops must be closed
	// first.
	Close() error
}

// Domain is a mail domain served by this installation.
type Domain struct {
	Name    string
	Created time.Time
}

// Account is one mail user, user@domain.
type Account struct {
	ID          int64
	Address     string // "user@domain", lower-case
	Domain      string
	Credentials Credentials
	Created     time.Time
	// Quota is the most octets the account's messages may take; 0 means
	// no limit. Used is what they take now (kept as a counter by the
	// engine, so reading it is cheap).
	Quota int64
	Used  int64
	// LastLogin is the last successful login over any protocol, as
	// recorded by RecordLogins (zero: never).
	LastLogin time.Time
	// SieveVersion changes whenever one of the account's Sieve scripts is
	// stored, activated, renamed or deleted, from any process or node; a
	// value is never given twice to one account id, even to an account
	// created again. 0 means not read from the store (unknown). The
	// delivery filter keeps the compiled active script keyed by it.
	SieveVersion int64
}

// Credentials are what the auth package stores for an account. The store
// treats every field as an opaque string: encodings belong to internal/auth.
type Credentials struct {
	// PasswordHash is an argon2id hash in PHC string form.
	PasswordHash string
	// SCRAMSHA256 holds the RFC 5802 salted keys (salt, iterations,
	// StoredKey, ServerKey) encoded by internal/auth.
	SCRAMSHA256 string
	// LegacySecret is a plaintext-equivalent secret for APOP and CRAM-MD5.
	// Empty means legacy mechanisms are off for the account (the default).
	LegacySecret string
}

// Directory manages domains and accounts. The admin CLI and the auth
// package consume it.
type Directory interface {
	AddDomain(ctx context.Context, name string) error
	// DeleteDomain fails with ErrExists while the domain still has accounts.
	DeleteDomain(ctx context.Context, name string) error
	Domains(ctx context.Context) ([]Domain, error)
	// Domain looks one domain up (case-insensitive), or ErrNotFound.
	Domain(ctx context.Context, name string) (Domain, error)

	// CreateAccount creates the account with its INBOX and the
	// DefaultFolders (Sent, Drafts, Trash, Junk, Archive). The domain must exist
	// (ErrNotFound otherwise); a duplicate address is ErrExists.
	CreateAccount(ctx context.Context, address string, c Credentials) (Account, error)
	SetCredentials(ctx context.Context, address string, c Credentials) error
	// DeleteAccount removes the account, its mailboxes and its messages
	// (and its fetch sources).
	DeleteAccount(ctx context.Context, address string) error
	// Account looks an account up by address (case-insensitive).
	Account(ctx context.Context, address string) (Account, error)
	// Accounts lists accounts, of one domain or of all when domain is "".
	Accounts(ctx context.Context, domain string) ([]Account, error)
	// SetQuota sets the account's quota in octets; 0 removes it.
	SetQuota(ctx context.Context, address string, octets int64) error
	// RecordLogins sets accounts' LastLogin (by address, case-insensitive)
	// to the given times unless they hold a later one; unknown addresses
	// are ignored. Callers batch logins: one write for many.
	RecordLogins(ctx context.Context, logins map[string]time.Time) error
}

// Alias redirects mail for an address of a local domain to one or more
// targets: local accounts, other aliases or remote addresses. An Address
// of the form "@domain" is the domain's catch-all.
type Alias struct {
	Address string // lower-case "user@domain" or "@domain"
	Targets []string
}

// Aliases manages aliases. The admin CLI and recipient resolution
// (internal/delivery) consume it.
type Aliases interface {
	// AddAlias adds targets to the alias, creating it if needed. The
	// alias's domain must exist (ErrNotFound); an address that is an
	// account cannot be an alias (ErrExists).
	AddAlias(ctx context.Context, address string, targets []string) error
	// DeleteAlias removes the given targets of the alias, or the whole
	// alias when targets is empty. An unknown alias is ErrNotFound.
	DeleteAlias(ctx context.Context, address string, targets []string) error
	// Alias returns the alias of an address (case-insensitive), or
	// ErrNotFound.
	Alias(ctx context.Context, address string) (Alias, error)
	// ListAliases lists aliases, of one domain or of all when domain is
	// "", ordered by address.
	ListAliases(ctx context.Context, domain string) ([]Alias, error)
}

// Recipient is one mailbox a delivered message goes to.
type Recipient struct {
	AccountID int64
	// UIDL, when not empty, is kept as the message's POP3 unique-id (for
	// imports from another server). It must be 1-70 characters in
	// 0x21-0x7E and unique in the maildrop, else ErrInvalid / ErrExists.
	// Empty means the engine assigns one.
	UIDL string
	// Mailbox is the mailbox to store the message in; "" means INBOX.
	// When it does not exist the engine creates it (with its missing
	// parents, in the delivery's transaction) if Create is set. When it
	// does not exist and Create is not set, or its name is invalid, the
	// message goes to INBOX instead: a target never makes a delivery fail
	// (a Sieve fileinto that cannot be carried out becomes the implicit
	// keep, RFC 5228 section 2.10.6).
	Mailbox string
	Create  bool
	// Flags are set on the stored message (system flags and keywords, as
	// in AppendMessage.Flags).
	Flags []string
}

// Delivery is one message to store.
type Delivery struct {
	Recipients []Recipient
	// Body is the raw message (RFC 5322). Engines normalise bare LF and
	// bare CR line endings to CRLF while storing.
	Body io.Reader
	// InternalDate is the arrival time; zero means now.
	InternalDate time.Time
	// Outbound, when not nil, also puts the message on the outbound
	// queue for these remote recipients, in the same transaction as the
	// local deliveries. Recipients may then be empty.
	Outbound *Envelope
	// Fetched, when not nil, is recorded with the message (see
	// FetchMark): a delivery of an id already recorded is ErrExists.
	Fetched *FetchMark
	// Duplicates are recorded as RecordDuplicate records them, in the
	// delivery's transaction: only if the message is stored (Sieve
	// duplicate, RFC 7352), and without a commit of their own.
	Duplicates []DuplicateRecord
}

// DuplicateRecord is one Sieve duplicate id a Delivery records (see
// Sieve.RecordDuplicate).
type DuplicateRecord struct {
	AccountID  int64
	Key        string
	Now, Until time.Time
	Refresh    bool
	Keep       int
}

// Envelope is the SMTP envelope of a queued message, with the DSN
// parameters (RFC 3461) given at submission.
type Envelope struct {
	From       string // reverse-path, "" for the null sender
	Recipients []QueueRecipient
	// DSNReturn is RET (FULL or HDRS, "" = unset) and DSNEnvelopeID is
	// ENVID, both of RFC 3461.
	DSNReturn     string
	DSNEnvelopeID string
	// SMTPUTF8 says the envelope or headers need the RFC 6531 extension.
	SMTPUTF8 bool
	// LocalPrefix is how many octets at the start of the stored body
	// belong to the local copies only (their Return-Path header): the
	// queued message is the body without them.
	LocalPrefix int64
}

// QueueRecipient is one remote recipient of a queued message.
type QueueRecipient struct {
	Address string
	// Notify is the RFC 3461 NOTIFY list, comma-separated ("" = unset);
	// ORcpt is ORCPT as "type;address" ("" = unset).
	Notify string
	ORcpt  string
	// Status and Reply are the delivery worker's progress (see
	// Queue.RecordRecipients); engines ignore them when queueing.
	Status RecipientStatus
	// Reply is the last answer or error for this recipient, e.g.
	// "550 5.1.1 no such user" (for queue listings and bounces).
	Reply string
}

// RecipientStatus is where the delivery of one queued recipient stands.
type RecipientStatus string

const (
	RecipientPending   RecipientStatus = ""          // still to be tried (again)
	RecipientDelivered RecipientStatus = "delivered" // the remote server accepted it: never resend
	RecipientFailed    RecipientStatus = "failed"    // given up, the sender not told yet
	RecipientBounced   RecipientStatus = "bounced"   // given up and the sender told (or not to be told)
)

// QueuedMessage is one message waiting on the outbound queue.
type QueuedMessage struct {
	ID       int64
	Envelope Envelope
	Size     int64 // octets of the queued (CRLF) body, LocalPrefix excluded
	Created  time.Time
	// Attempts counts the delivery attempts released so far; NextAttempt
	// is when the message is due (Created for a new message); LastError
	// is the outcome of the last attempt that did not finish it.
	Attempts    int
	NextAttempt time.Time
	LastError   string
}

// QueueRelease is the outcome of one delivery attempt that leaves the
// message on the queue.
type QueueRelease struct {
	NextAttempt time.Time
	LastError   string
}

// Queue holds outbound mail until a delivery worker sends it. Messages
// get on it through Deliverer.Deliver (Delivery.Outbound).
type Queue interface {
	// QueuedMessages lists the queue, oldest first.
	QueuedMessages(ctx context.Context) ([]QueuedMessage, error)
	QueuedMessage(ctx context.Context, id int64) (QueuedMessage, error)
	// QueuedBody opens a queued message's body (CRLF line endings),
	// without the envelope's LocalPrefix.
	QueuedBody(ctx context.Context, id int64) (io.ReadCloser, error)
	// DeleteQueued removes a message from the queue; ErrNotFound if it is
	// not there.
	DeleteQueued(ctx context.Context, id int64) error

	// ClaimQueued leases up to limit messages that are due (NextAttempt
	// not after now) and not leased, oldest due first, until leaseUntil:
	// no other claim returns them before then. A worker that dies
	// holding a lease loses it when it runs out, so the message is tried
	// again; one that lives ends it with ReleaseQueued or DeleteQueued.
	ClaimQueued(ctx context.Context, now, leaseUntil time.Time, limit int) ([]QueuedMessage, error)
	// RecordRecipients stores the Status and Reply of the given
	// recipients (matched by Address) of a queued message, durably:
	// a recipient recorded as delivered is never sent again.
	RecordRecipients(ctx context.Context, id int64, rs []QueueRecipient) error
	// ReleaseQueued ends an attempt: it counts it, schedules the next
	// one and ends the lease.
	ReleaseQueued(ctx context.Context, id int64, r QueueRelease) error
	// RetryQueued makes a message due at now (an admin's "retry now")
	// without counting an attempt. A message leased by a worker keeps
	// its lease, so it is never sent by two workers at once.
	RetryQueued(ctx context.Context, id int64, now time.Time) error
}

// Deliverer stores new mail. SMTP and `pochta deliver` consume it.
type Deliverer interface {
	// Deliver stores the message for every recipient (in the mailbox the
	// Recipient names, INBOX by default, with its flags; an account may
	// appear more than once) and on the outbound queue (see
	// Delivery.Outbound), and returns only when it is durable, or returns an error and stores nothing at all (for any
	// recipient). A recipient whose quota the message would exceed fails
	// the delivery with ErrQuota.
	Deliver(ctx context.Context, d Delivery) error
	// DeliverBatch stores each of ds as Deliver would, all in one
	// transaction and in their order: the UIDs a mailbox gives them
	// follow the order of ds (the fetcher relies on it to keep a remote
	// mailbox's order). Each delivery is all-or-nothing on its own:
	// errs[i] is what Deliver would return for ds[i], nil only once it
	// is durable, and one that fails leaves the others stored. It
	// returns once every delivery's outcome is known; len(errs) is
	// len(ds).
	DeliverBatch(ctx context.Context, ds []Delivery) (errs []error)
}

// SendLog counts the recipients each account sent, for submission's
// per-account sending limit (smtp.recipients_per_hour). It lives in the
// database, so every process and node on it counts together and a
// restart forgets nothing. Counts are kept per minute.
type SendLog interface {
	// RecordSent adds n recipients the account sent at at, and forgets
	// what it sent before forget (the log holds one window per account).
	// A negative n gives back recipients ReserveSent counted for a message
	// that was then not sent. ErrNotFound if the account does not exist.
	RecordSent(ctx context.Context, accountID int64, at time.Time, n int, forget time.Time) error
	// ReserveSent is RecordSent unless the account's recipients since
	// since, with these n, would be more than limit: then it adds nothing
	// and reports false. The check and the addition are one atomic step
	// for every process and node on the database, so sessions sending at
	// once cannot together pass the limit.
	ReserveSent(ctx context.Context, accountID int64, at time.Time, n, limit int, since, forget time.Time) (bool, error)
	// RecipientsSent returns how many recipients the account sent since
	// since. The minute since falls in counts whole, so a limit errs on
	// the side of refusing, by less than a minute's sending.
	RecipientsSent(ctx context.Context, accountID int64, since time.Time) (int, error)
}

// SendMinute is the minute SendLog files a send at t under.
func SendMinute(t time.Time) int64 { return t.Unix() / 60 }

// MaildropMessage describes one message of a POP3 maildrop (the INBOX).
// A session holds one per message for its whole life, so it carries only
// what POP3 uses (64 octets plus the UIDL; the arrival time is in
// Mailboxes.ListMessages): mind its size before adding a field.
type MaildropMessage struct {
	ID   int64  // engine's message id, stable for the message's life
	UIDL string // POP3 unique-id: stable, never reused in the maildrop
	Size int64  // octets of the stored (CRLF) body
	// DotLines reports whether any line of the body starts with ".", so
	// RETR can stream bodies that need no dot-stuffing without scanning.
	DotLines bool
	// FirstRetrieved is when a POP3 session first retrieved the message
	// (zero if never); EXPIRE policy counts from it.
	FirstRetrieved time.Time
}

// Maildrops opens POP3 maildrops. The POP3 server consumes it.
type Maildrops interface {
	// OpenMaildrop takes the account's exclusive maildrop lock and returns a
	// snapshot of its INBOX in delivery order. It returns ErrLocked while
	// another Maildrop of the account is open by any server sharing the
	// engine. The SQLite engine locks within its process, which suffices
	// because `pochta serve` holds its data directory exclusively; an
	// engine shared by several nodes must lock across them.
	OpenMaildrop(ctx context.Context, accountID int64) (Maildrop, error)
	// Expire deletes messages first retrieved before the given time, for
	// one account, or for all accounts when accountID is 0, skipping locked
	// maildrops. It returns how many messages were deleted.
	Expire(ctx context.Context, accountID int64, retrievedBefore time.Time) (int, error)
}

// Maildrop is a locked, fixed view of an account's INBOX. Messages that
// arrive while it is open are not part of it.
type Maildrop interface {
	// Messages returns the snapshot taken at open. The caller must not
	// modify the slice.
	Messages() []MaildropMessage
	// Body opens a message body for reading (CRLF line endings).
	Body(ctx context.Context, id int64) (io.ReadCloser, error)
	// MarkRetrieved records the first retrieval time of the messages that
	// have none yet.
	MarkRetrieved(ctx context.Context, ids []int64, at time.Time) error
	// Delete removes the messages in one transaction: all of them or, on
	// error, none. Messages already gone (expunged elsewhere) are ignored.
	Delete(ctx context.Context, ids []int64) error
	// Close releases the lock. It is safe to call more than once.
	Close() error
}
