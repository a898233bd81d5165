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
// Compiled scripts are cached by account and source, so a delivery
// costs one lookup of the active script and one run.
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

type compiledScript struct {
	source string
	prog   *sieve.Program
	err    error
}

// maxCachedScripts bounds the compile cache; past it the cache starts over.
const maxCachedScripts = 10000

var _ Filter = (*SieveFilter)(nil)

func (f *SieveFilter) program(accountID int64, source string) (*sieve.Program, error) {
	f.mu.Lock()
	c, ok := f.cache[accountID]
	f.mu.Unlock()
	if ok && c.source == source {
		return c.prog, c.err
	}
	prog, err := sieve.Compile(source, f.Limits)
	f.mu.Lock()
	if f.cache == nil || len(f.cache) >= maxCachedScripts {
		f.cache = map[int64]compiledScript{}
	}
	f.cache[accountID] = compiledScript{source, prog, err}
	f.mu.Unlock()
	return prog, err
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
	sc, err := f.Store.ActiveSieveScript(ctx, in.Account.ID)
	if errors.Is(err, store.ErrNotFound) {
		return Keep, nil
	} else if err != nil {
		return Keep, err
	}
	prog, err := f.program(in.Account.ID, sc.Source)
	if err != nil {
		return Keep, fmt.Errorf("script %q: %w", sc.Name, err)
	}
	actions, err := prog.Run(f.input(ctx, in))
	if err != nil {
		return Keep, fmt.Errorf("script %q: %w", sc.Name, err)
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
