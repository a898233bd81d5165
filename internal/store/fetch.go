package store

import (
	"context"
	"time"
)

// FetchSource is a remote POP3 or IMAP account whose mail the fetcher
// (internal/fetch) brings into a local account.
type FetchSource struct {
	ID        int64
	AccountID int64
	// Account is the local account's address (set by reads).
	Account string
	// URL says where and how to fetch ("pop3s://user@host/",
	// "imap://user@host/INBOX?starttls"), never with the password: the
	// store keeps it opaque.
	URL string
	// Password is the secret for the remote login. It is kept in the
	// database, which only the server's user can read; it must never be
	// logged or printed.
	Password string
	// Delete removes messages from the source once they are durably
	// stored here; false keeps them there.
	Delete bool
	// Interval between polls; 0 means the fetcher's default.
	Interval time.Duration
	Created  time.Time

	// The outcome of runs, as recorded by RecordFetchRun.
	LastRun   time.Time // zero: never run
	LastError string    // "" when the last run succeeded
	Fetched   int64     // messages fetched by all runs
	// Failures counts the runs that failed since the last success, for
	// backoff.
	Failures int
}

// FetchRun is the outcome of one run of a fetch source.
type FetchRun struct {
	At      time.Time
	Error   string // "" for success
	Fetched int    // messages stored by the run
}

// FetchedID names one remote message a source has brought in (or
// skipped for good), so that no run fetches it again. The fetcher gives
// the strings their meaning: for POP3, Scope is "" and ID the UIDL; for
// IMAP, Scope is the remote folder and ID "UIDVALIDITY/UID".
type FetchedID struct {
	Scope string
	ID    string
	// Fingerprint identifies the message independently of ID (a digest of
	// its Message-ID and size), to recognise messages again after the
	// source renumbered them; "" when there is none.
	Fingerprint string
}

// FetchMark, set on a Delivery, records a FetchedID in the delivery's
// own transaction: the message is stored if and only if its id is
// recorded, so a crash can neither lose the record of a stored message
// nor store a message twice. A delivery whose id is already recorded
// fails with ErrExists and stores nothing.
type FetchMark struct {
	SourceID int64
	FetchedID
}

// FetchSources keeps the fetcher's sources and the ids each has fetched.
// The fetcher and the admin CLI consume it.
type FetchSources interface {
	// AddFetchSource adds a source to src.AccountID (ErrNotFound if the
	// account does not exist) and returns it with its ID.
	AddFetchSource(ctx context.Context, src FetchSource) (FetchSource, error)
	// FetchSource looks a source up by ID, or ErrNotFound.
	FetchSource(ctx context.Context, id int64) (FetchSource, error)
	// ListFetchSources lists the sources of one account, or of all when
	// accountID is 0, ordered by ID.
	ListFetchSources(ctx context.Context, accountID int64) ([]FetchSource, error)
	// DeleteFetchSource removes a source and its fetched ids (ErrNotFound
	// if it does not exist). DeleteAccount removes an account's sources.
	DeleteFetchSource(ctx context.Context, id int64) error
	// RecordFetchRun stores the outcome of a run: LastRun, LastError,
	// Fetched grows by r.Fetched, Failures is reset by a success and
	// counts up otherwise.
	RecordFetchRun(ctx context.Context, id int64, r FetchRun) error

	// FetchedIDs returns the ids recorded for a source within one scope,
	// ordered by ID.
	FetchedIDs(ctx context.Context, sourceID int64, scope string) ([]FetchedID, error)
	// AddFetchedIDs records ids without a delivery (messages skipped for
	// good, or recognised again by fingerprint). Ids already recorded are
	// left as they are.
	AddFetchedIDs(ctx context.Context, sourceID int64, ids []FetchedID) error
	// ForgetFetchedIDs removes recorded ids of one scope (those gone from
	// the source, or of an old UIDVALIDITY); absent ones are ignored.
	ForgetFetchedIDs(ctx context.Context, sourceID int64, scope string, ids []string) error
}
