package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// tally is what one worker measured; workers own theirs, so recording needs
// no lock, and run merges them at the end.
type tally struct {
	Sessions int64
	Messages int64
	Bytes    int64
	Errors   int64
	// Mismatches counts RETRs whose size or termination was wrong; they
	// are also counted in Errors.
	Mismatches int64
	SessionLat []time.Duration
	OpLat      []time.Duration // per RETR (retr, fetchdel) or per phase
	FirstErr   error
}

func (t *tally) fail(err error) {
	t.Errors++
	if t.FirstErr == nil {
		t.FirstErr = err
	}
}

func (t *tally) merge(o *tally) {
	t.Sessions += o.Sessions
	t.Messages += o.Messages
	t.Bytes += o.Bytes
	t.Errors += o.Errors
	t.Mismatches += o.Mismatches
	t.SessionLat = append(t.SessionLat, o.SessionLat...)
	t.OpLat = append(t.OpLat, o.OpLat...)
	if t.FirstErr == nil {
		t.FirstErr = o.FirstErr
	}
}

// percentile returns the p-th percentile (0..100) of d by nearest rank.
// It sorts d in place.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(p/100*float64(len(d))+0.5) - 1
	i = max(0, min(i, len(d)-1))
	return d[i]
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond))
}

// resultLine builds the one machine-readable line: "RESULT k=v k=v ...",
// keys in a fixed order, no spaces inside values.
type resultLine struct {
	keys, vals []string
}

func (r *resultLine) add(k string, v any) {
	r.keys = append(r.keys, k)
	r.vals = append(r.vals, strings.ReplaceAll(fmt.Sprint(v), " ", "_"))
}

func (r *resultLine) String() string {
	var b strings.Builder
	b.WriteString("RESULT")
	for i, k := range r.keys {
		fmt.Fprintf(&b, " %s=%s", k, r.vals[i])
	}
	return b.String()
}
