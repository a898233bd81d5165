package admin

import (
	"context"
	"errors"
	"time"

	"github.com/pochta-mail/pochta/internal/fetch"
	"github.com/pochta-mail/pochta/internal/store"
)

// NewFetchSource is a remote account to fetch from, as an operator gives
// it (see fetch.ParseURL for the URL forms).
type NewFetchSource struct {
	Address  string // the local account
	URL      string
	Password string
	// Seal, when not nil, turns the password into what the store keeps
	// (fetch.Secrets.Seal).
	Seal     func(string) string
	Delete   bool          // delete on the source once stored here
	Interval time.Duration // 0: fetch.interval
}

// AddFetchSource checks and adds a fetch source to an account.
func (s *Service) AddFetchSource(ctx context.Context, n NewFetchSource) (store.FetchSource, error) {
	a, err := s.User(ctx, n.Address)
	if err != nil {
		return store.FetchSource{}, err
	}
	if _, err := fetch.ParseURL(n.URL); err != nil {
		return store.FetchSource{}, invalidf("%v", err)
	}
	if n.Password == "" {
		return store.FetchSource{}, invalidf("a fetch source needs the remote password")
	}
	if n.Interval != 0 && n.Interval < fetch.MinInterval {
		return store.FetchSource{}, invalidf("interval %s is below the minimum of %s", n.Interval, fetch.MinInterval)
	}
	password := n.Password
	if n.Seal != nil {
		password = n.Seal(password)
	}
	src, err := s.FetchSources.AddFetchSource(ctx, store.FetchSource{AccountID: a.ID, URL: n.URL,
		Password: password, Delete: n.Delete, Interval: n.Interval})
	return src, wrap("adding fetch source", err)
}

// ListFetchSources lists the fetch sources of an account, or of all
// accounts when address is "".
func (s *Service) ListFetchSources(ctx context.Context, address string) ([]store.FetchSource, error) {
	var id int64
	if address != "" {
		a, err := s.User(ctx, address)
		if err != nil {
			return nil, err
		}
		id = a.ID
	}
	srcs, err := s.FetchSources.ListFetchSources(ctx, id)
	return srcs, wrap("listing fetch sources", err)
}

// FetchSource looks a fetch source up by id.
func (s *Service) FetchSource(ctx context.Context, id int64) (store.FetchSource, error) {
	src, err := s.FetchSources.FetchSource(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return src, errorf(NotFound, "fetch source %d does not exist (see pochta fetch list)", id)
	}
	return src, wrap("looking up fetch source", err)
}

// DeleteFetchSource removes a fetch source and what it recorded of the
// messages it fetched (the messages stay).
func (s *Service) DeleteFetchSource(ctx context.Context, id int64) error {
	err := s.FetchSources.DeleteFetchSource(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(NotFound, "fetch source %d does not exist (see pochta fetch list)", id)
	}
	return wrap("deleting fetch source", err)
}
