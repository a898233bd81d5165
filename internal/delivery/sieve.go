package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pochta-mail/pochta/internal/sieve"
	"github.com/pochta-mail/pochta/internal/store"
)

// SieveStore is what the Sieve filter reads: each account's active
// script and, for mailboxexists, its mailboxes.
type SieveStore interface {
	ActiveSieveScript(ctx context.Context, accountID int64) (store.SieveScript, error)
	GetMailbox(ctx context.Context, accountID int64, name string) (store.Mailbox, error)
	SeenDuplicate(ctx context.Context, accountID int64, key string, now time.Time) (bool, error)
}

// SieveFilter runs each account's active Sieve script (RFC 5228).
// Compiled scripts are kept per account, keyed by the account's
// SieveVersion (which the store changes with every change to its
// scripts, from any process or node): while it is unchanged, a delivery
// reads no script and compiles nothing. An Account without a version
// (not read from the store) costs one lookup of the active script, and
// the compiled program is then kept by its source.
type SieveFilter struct {
	Store    SieveStore
	Limits   sieve.Limits
	Hostname string           // names vacation replies' Message-IDs
	Now      func() time.Time // nil = time.Now
	// Before is the operator's script, run before each account's own:
	// when it does nothing but the implicit keep the account's script
	// runs, otherwise its decision stands. Nil = none.
	Before *sieve.Program

	mu    sync.Mutex
	cache map[int64]compiledScript
}

// compiledScript is an account's active script as last read: prog nil
// and err nil when none is active.
type compiledScript struct {
	version int64 // the Account.SieveVersion it was read under; 0 = keyed by source
	name    string
	source  string
	prog    *sieve.Program
	err     error
}

// maxCachedScripts bounds the compile cache; past it the cache starts over.
const maxCachedScripts = 10000

var _ Filter = (*SieveFilter)(nil)

// active returns the account's active script, compiled: from the cache
// when the account's SieveVersion is the one it was read under, else
// read (and compiled when its source changed). ok is false when no
// script is active.
func (f *SieveFilter) active(ctx context.Context, acct store.Account) (c compiledScript, ok bool, err error) {
	f.mu.Lock()
	c, cached := f.cache[acct.ID]
	f.mu.Unlock()
	if cached && acct.SieveVersion != 0 && c.version == acct.SieveVersion {
		return c, c.prog != nil || c.err != nil, nil
	}
	sc, err := f.Store.ActiveSieveScript(ctx, acct.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		c = compiledScript{version: acct.SieveVersion}
	case err != nil:
		return c, false, err
	case cached && c.source == sc.Source && (c.prog != nil || c.err != nil):
		c.version, c.name = acct.SieveVersion, sc.Name
	default:
		prog, err := sieve.Compile(sc.Source, f.Limits)
		c = compiledScript{version: acct.SieveVersion, name: sc.Name, source: sc.Source, prog: prog, err: err}
	}
	f.mu.Lock()
	if f.cache == nil || len(f.cache) >= maxCachedScripts {
		f.cache = map[int64]compiledScript{}
	}
	f.cache[acct.ID] = c
	f.mu.Unlock()
	return c, c.prog != nil || c.err != nil, nil
}

// Filter runs the account's active script; an account without one keeps
// the message.
func (f *SieveFilter) Filter(ctx context.Context, in *FilterInput) (Decision, error) {
	if f.Before != nil {
		actions, err := f.Before.Run(f.input(ctx, in))
		if err != nil {
			return Keep, fmt.Errorf("operator's script: %w", err)
		}
		if len(actions) != 1 || actions[0].Kind != sieve.ActionKeep || len(actions[0].Flags) > 0 {
			return f.decide(in, actions), nil
		}
	}
	sc, ok, err := f.active(ctx, in.Account)
	if err != nil || !ok {
		return Keep, err
	}
	if sc.err != nil {
		return Keep, fmt.Errorf("script %q: %w", sc.name, sc.err)
	}
	actions, err := sc.prog.Run(f.input(ctx, in))
	if err != nil {
		return Keep, fmt.Errorf("script %q: %w", sc.name, err)
	}
	return f.decide(in, actions), nil
}

func (f *SieveFilter) input(ctx context.Context, in *FilterInput) *sieve.Input {
	return &sieve.Input{
		From: in.From, To: in.To, Msg: sieveMessage{in}, Now: f.now(),
		MailboxExists: func(name string) bool {
			_, err := f.Store.GetMailbox(ctx, in.Account.ID, name)
			return err == nil
		},
		Duplicate: func(key string) (bool, error) {
			if in.Stored {
				return false, nil // see FilterInput.Stored
			}
			return f.Store.SeenDuplicate(ctx, in.Account.ID, key, f.now())
		},
	}
}

func (f *SieveFilter) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// decide turns a run's actions into the delivery's decision.
func (f *SieveFilter) decide(in *FilterInput, actions []sieve.Action) Decision {
	var dec Decision
	now := f.now()
	for _, a := range actions {
		switch a.Kind {
		case sieve.ActionKeep:
			dec.Targets = append(dec.Targets, Target{Flags: a.Flags, Header: a.Header})
		case sieve.ActionFileinto:
			dec.Targets = append(dec.Targets, Target{Mailbox: a.Mailbox, Create: a.Create, Flags: a.Flags, Header: a.Header})
		case sieve.ActionRedirect:
			dec.Redirects = append(dec.Redirects, a.Address)
			dec.RedirectHeader = a.Header
		case sieve.ActionVacation:
			if r, ok := VacationReply(in, a.Vacation, f.Hostname, now); ok {
				dec.Replies = append(dec.Replies, r)
			}
		case sieve.ActionReject:
			dec.Reject = a.Reason
		case sieve.ActionDuplicate:
			dec.Duplicates = append(dec.Duplicates, *a.Duplicate)
		case sieve.ActionDiscard:
		}
	}
	return dec
}

// sieveMessage is a FilterInput as the interpreter's Message.
type sieveMessage struct{ in *FilterInput }

func (m sieveMessage) Header(name string) []string { return m.in.Header.Decoded(name) }
func (m sieveMessage) Raw(max int) ([]byte, error) {
	if m.in.Raw == nil {
		return nil, nil
	}
	return m.in.Raw(max)
}

// Fields lists the header fields as received, for editheader.
func (m sieveMessage) Fields() []sieve.HeaderField {
	names, raw := m.in.Header.Raw()
	out := make([]sieve.HeaderField, len(names))
	for i := range names {
		out[i] = sieve.HeaderField{Name: names[i], Raw: raw[i]}
	}
	return out
}

var (
	_ sieve.RawMessage   = sieveMessage{}
	_ sieve.FieldMessage = sieveMessage{}
)

func (m sieveMessage) Size() int64 {
	if m.in.Size == nil {
		return 0
	}
	return m.in.Size()
}
