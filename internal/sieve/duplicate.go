package sieve

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The duplicate test (RFC 7352):
//
//	duplicate [":handle" <handle>] [":header" <name> / ":uniqueid" <value>]
//	          [":seconds" <timeout>] [":last"]
//
// The id is the first Message-ID (or :header) field's value, or :uniqueid;
// a message without one is no duplicate and is not tracked. Whether the id
// was seen is Input.Duplicate's answer; the run does not record it but
// returns an ActionDuplicate, which the delivery records once the message
// is delivered (section 3: only a successful run counts), so a message
// whose delivery fails is not taken for a duplicate when it comes again.
// Ids seen earlier in the same run do not count (section 3).

const (
	// DefaultDuplicatePeriod is the tracking period without :seconds
	// (RFC 7352 section 3.2 recommends 7 days).
	DefaultDuplicatePeriod = 7 * 24 * time.Hour
	// MaxDuplicatePeriod bounds :seconds.
	MaxDuplicatePeriod = 30 * 24 * time.Hour
)

// Duplicate is one id for the delivery to record (RFC 7352).
type Duplicate struct {
	Key    string        // a digest of the handle and the id
	Period time.Duration // how long it is remembered
	Last   bool          // :last: each sighting restarts the period
}

type duplicateTest struct {
	handle   string
	header   string // "" with uniqueid
	uniqueid string
	unique   bool
	period   time.Duration
	last     bool
}

func (c *compiler) duplicateTest(t *Test) (test, error) {
	if err := c.need("duplicate", t.Pos, t.Name); err != nil {
		return nil, err
	}
	spec := map[string]tagSpec{"handle": {takes: takesString}, "header": {group: "id", takes: takesString},
		"uniqueid": {group: "id", takes: takesString}, "seconds": {takes: takesNumber}, "last": {}}
	a, err := c.split(t.Name, t.Pos, t.Args, spec, 0)
	if err != nil {
		return nil, err
	}
	d := &duplicateTest{handle: a.str("handle"), header: "message-id", last: a.has("last"), period: DefaultDuplicatePeriod}
	if a.has("header") {
		d.header = a.str("header")
	}
	if a.has("uniqueid") {
		d.uniqueid, d.unique = a.str("uniqueid"), true
	}
	if a.has("seconds") {
		s := a.tags["seconds"].Num
		d.period = MaxDuplicatePeriod
		if s < uint64(MaxDuplicatePeriod/time.Second) {
			d.period = time.Duration(s) * time.Second
		}
	}
	return d, nil
}

func (t *duplicateTest) eval(r *run) (bool, error) {
	id := r.x(t.uniqueid)
	if !t.unique {
		vs := r.header(r.x(t.header))
		if len(vs) == 0 || strings.TrimSpace(vs[0]) == "" {
			return false, nil
		}
		id = strings.TrimSpace(vs[0])
	}
	if err := r.charge(int64(len(id) + 1)); err != nil {
		return false, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d:%s%d:%s", len(r.x(t.handle)), r.x(t.handle), len(id), id)
	key := hex.EncodeToString(h.Sum(nil)[:16])
	seen := false
	if r.in.Duplicate != nil && t.period > 0 {
		var err error
		if seen, err = r.in.Duplicate(key); err != nil {
			return false, fmt.Errorf("duplicate: %w", err)
		}
	}
	// An id on record keeps its expiry without :last: nothing to write.
	if t.period > 0 && (!seen || t.last) {
		if err := r.track(Duplicate{Key: key, Period: t.period, Last: t.last}); err != nil {
			return false, err
		}
	}
	return seen, nil
}

// track adds an id to record; one id is recorded once (with :last if any
// of its tests had it).
func (r *run) track(d Duplicate) error {
	for i, a := range r.actions {
		if a.Kind == ActionDuplicate && a.Duplicate.Key == d.Key {
			r.actions[i].Duplicate.Last = a.Duplicate.Last || d.Last
			return nil
		}
	}
	if len(r.actions) >= r.lim.MaxActions {
		return errors.New("too many actions")
	}
	r.actions = append(r.actions, Action{Kind: ActionDuplicate, Duplicate: &d})
	return nil
}
