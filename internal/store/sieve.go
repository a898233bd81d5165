package store

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// SieveScript is one of an account's Sieve scripts. The store keeps the
// source as given; compiling and checking it is internal/sieve's work.
type SieveScript struct {
	Name    string
	Active  bool
	Source  string // empty in SieveScripts listings
	Size    int64  // octets of Source
	Updated time.Time
}

// Sieve keeps accounts' Sieve scripts, at most one of them active, and
// the vacation replies sent (RFC 5230 section 4.2: one reply per sender
// per period). ManageSieve and the CLI manage scripts; the delivery
// filter reads the active script and claims replies.
//
// Script names are 1-512 octets of UTF-8 without control characters
// (RFC 5804 section 1.6), else ErrInvalid; they are case-sensitive.
type Sieve interface {
	// PutSieveScript creates a script or replaces the source of an
	// existing one (which keeps its active state).
	PutSieveScript(ctx context.Context, accountID int64, name, source string) error
	// SieveScript returns one script with its source, or ErrNotFound.
	SieveScript(ctx context.Context, accountID int64, name string) (SieveScript, error)
	// SieveScripts lists the account's scripts by name, without sources.
	SieveScripts(ctx context.Context, accountID int64) ([]SieveScript, error)
	// ActiveSieveScript returns the active script with its source, or
	// ErrNotFound when none is active.
	ActiveSieveScript(ctx context.Context, accountID int64) (SieveScript, error)
	// ActivateSieveScript makes name the only active script; "" leaves
	// none active. An unknown name is ErrNotFound.
	ActivateSieveScript(ctx context.Context, accountID int64, name string) error
	// DeleteSieveScript removes a script. The active script cannot be
	// deleted (ErrInvalid, RFC 5804 section 2.10); unknown is ErrNotFound.
	DeleteSieveScript(ctx context.Context, accountID int64, name string) error
	// RenameSieveScript renames a script, keeping its active state. An
	// existing destination is ErrExists, an unknown source ErrNotFound.
	RenameSieveScript(ctx context.Context, accountID int64, from, to string) error

	// ClaimVacationReply decides, atomically, whether a vacation reply
	// identified by key (the sender and the script's :handle) may go out
	// now: it returns true and records that none may go again before
	// until, or returns false while an earlier claim is in force.
	// Claims expire by themselves; engines forget expired ones.
	ClaimVacationReply(ctx context.Context, accountID int64, key string, now, until time.Time) (bool, error)

	// SeenDuplicate reports whether key (a Sieve duplicate test's
	// handle and unique id, RFC 7352) is on record for the account and
	// unexpired at now.
	SeenDuplicate(ctx context.Context, accountID int64, key string, now time.Time) (bool, error)
	// RecordDuplicate puts key on record until until. A key on record
	// keeps its expiry unless refresh (RFC 7352 :last: the period counts
	// from the last time the id was seen). Expired keys are forgotten on
	// the way, and the account keeps at most keep keys (at least 1): past
	// it, those expiring first are forgotten.
	RecordDuplicate(ctx context.Context, accountID int64, key string, now, until time.Time, refresh bool, keep int) error
}

// MaxDuplicates is how many ids of duplicate tests the delivery keeps per
// account (RecordDuplicate's keep).
const MaxDuplicates = 10000

// MaxSieveScriptName bounds a script name in octets.
const MaxSieveScriptName = 512

// ValidSieveScriptName reports whether name may name a Sieve script: 1 to
// MaxSieveScriptName octets of UTF-8 without control characters, line or
// paragraph separators (RFC 5804 section 1.6).
func ValidSieveScriptName(name string) bool {
	if name == "" || len(name) > MaxSieveScriptName || !utf8.ValidString(name) {
		return false
	}
	return !strings.ContainsFunc(name, func(r rune) bool {
		return r <= 0x1f || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029
	})
}
