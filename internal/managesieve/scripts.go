package managesieve

import (
	"context"
	"errors"
	"fmt"

	"github.com/pochta-mail/pochta/internal/sieve"
	"github.com/pochta-mail/pochta/internal/store"
)

// Scripts manages accounts' Sieve scripts with their limits: the one
// service behind ManageSieve and `pochta sieve`. Every script is compiled
// before it is stored, so delivery only meets scripts that compiled.
type Scripts struct {
	Store         store.Sieve
	MaxScriptSize int // octets; 0 = DefaultMaxScriptSize
	MaxScripts    int // per account; 0 = DefaultMaxScripts
	Limits        sieve.Limits
}

// Defaults of Scripts' limits (the config's managesieve.* defaults).
const (
	DefaultMaxScriptSize = 64 << 10
	DefaultMaxScripts    = 20
)

// Error is a refusal with its ManageSieve response code (RFC 5804
// section 1.3), "" for none; Msg is for the user.
type Error struct {
	Code string
	Msg  string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return e.Msg
	}
	return e.Code + ": " + e.Msg
}

// Response codes used.
const (
	CodeNonexistent   = "NONEXISTENT"
	CodeActive        = "ACTIVE"
	CodeAlreadyExists = "ALREADYEXISTS"
	CodeQuotaSize     = "QUOTA/MAXSIZE"
	CodeQuotaScripts  = "QUOTA/MAXSCRIPTS"
	CodeTryLater      = "TRYLATER"
)

func refuse(code, format string, a ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, a...)}
}

func (s *Scripts) maxSize() int {
	if s.MaxScriptSize > 0 {
		return s.MaxScriptSize
	}
	return DefaultMaxScriptSize
}

func (s *Scripts) maxScripts() int {
	if s.MaxScripts > 0 {
		return s.MaxScripts
	}
	return DefaultMaxScripts
}

// mapStore turns store errors into refusals; others (temporary) pass.
func mapStore(err error, name string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return refuse(CodeNonexistent, "There is no script named %q", name)
	case errors.Is(err, store.ErrExists):
		return refuse(CodeAlreadyExists, "A script named %q exists already", name)
	case errors.Is(err, store.ErrInvalid):
		return refuse("", "Invalid script name %q", name)
	}
	return err
}

func checkName(name string) error {
	if !store.ValidSieveScriptName(name) {
		return refuse("", "Invalid script name %q", name)
	}
	return nil
}

// Check compiles a script; the error gives line and column.
func (s *Scripts) Check(source string) error {
	if len(source) > s.maxSize() {
		return refuse(CodeQuotaSize, "Script of %d octets is over the limit of %d", len(source), s.maxSize())
	}
	if _, err := sieve.Compile(source, s.Limits); err != nil {
		return refuse("", "%v", err)
	}
	return nil
}

// HaveSpace reports whether a script of size octets could be stored
// under name (RFC 5804 section 2.3).
func (s *Scripts) HaveSpace(ctx context.Context, accountID int64, name string, size int64) error {
	if err := checkName(name); err != nil {
		return err
	}
	if size > int64(s.maxSize()) {
		return refuse(CodeQuotaSize, "Script of %d octets is over the limit of %d", size, s.maxSize())
	}
	list, err := s.Store.SieveScripts(ctx, accountID)
	if err != nil {
		return err
	}
	for _, sc := range list {
		if sc.Name == name {
			return nil // replacing takes no new slot
		}
	}
	if len(list) >= s.maxScripts() {
		return refuse(CodeQuotaScripts, "No more than %d scripts", s.maxScripts())
	}
	return nil
}

// Put checks and stores a script (replacing one of the same name).
func (s *Scripts) Put(ctx context.Context, accountID int64, name, source string) error {
	if err := s.HaveSpace(ctx, accountID, name, int64(len(source))); err != nil {
		return err
	}
	if err := s.Check(source); err != nil {
		return err
	}
	return mapStore(s.Store.PutSieveScript(ctx, accountID, name, source), name)
}

// List lists the account's scripts (no sources).
func (s *Scripts) List(ctx context.Context, accountID int64) ([]store.SieveScript, error) {
	return s.Store.SieveScripts(ctx, accountID)
}

// Get returns one script with its source.
func (s *Scripts) Get(ctx context.Context, accountID int64, name string) (store.SieveScript, error) {
	sc, err := s.Store.SieveScript(ctx, accountID, name)
	return sc, mapStore(err, name)
}

// Activate makes name the active script; "" deactivates.
func (s *Scripts) Activate(ctx context.Context, accountID int64, name string) error {
	return mapStore(s.Store.ActivateSieveScript(ctx, accountID, name), name)
}

// Delete removes a script that is not active.
func (s *Scripts) Delete(ctx context.Context, accountID int64, name string) error {
	err := s.Store.DeleteSieveScript(ctx, accountID, name)
	if errors.Is(err, store.ErrInvalid) {
		return refuse(CodeActive, "Script %q is active: activate another one (or none) first", name)
	}
	return mapStore(err, name)
}

// Rename renames a script, keeping its active state.
func (s *Scripts) Rename(ctx context.Context, accountID int64, from, to string) error {
	if err := checkName(to); err != nil {
		return err
	}
	err := s.Store.RenameSieveScript(ctx, accountID, from, to)
	if errors.Is(err, store.ErrExists) {
		return mapStore(err, to)
	}
	return mapStore(err, from)
}
