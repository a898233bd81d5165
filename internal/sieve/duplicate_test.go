package sieve

import (
	"strings"
	"testing"
	"time"
)

// dupRuns runs script over msgs in order, recording the ids of each run
// as the delivery does after storing the message, and returns each run's
// actions without the ActionDuplicate ones, and the records.
func dupRuns(t *testing.T, script string, msgs ...*testMsg) (runs []string, records []Duplicate) {
	t.Helper()
	p, err := Compile(script, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		as, err := p.Run(&Input{Msg: m, Duplicate: func(key string) (bool, error) { return seen[key], nil }})
		if err != nil {
			t.Fatal(err)
		}
		var kept []Action
		for _, a := range as {
			if a.Kind == ActionDuplicate {
				seen[a.Duplicate.Key] = true
				records = append(records, *a.Duplicate)
				continue
			}
			kept = append(kept, a)
		}
		runs = append(runs, actionStrings(kept))
	}
	return runs, records
}

// RFC 7352: the examples of section 4 and the rules of section 3.
func TestDuplicate(t *testing.T) {
	m1 := newMsg(1, "Message-ID: <1@x.example>", "Subject: ALERT: disk full", "X-Event-ID: e1")
	m2 := newMsg(1, "Message-ID: <2@x.example>", "Subject: ALERT: disk full", "X-Event-ID: e1")
	m1again := newMsg(1, "Message-ID: <1@x.example>", "Subject: hello")
	noID := newMsg(1, "Subject: hello")
	cases := []struct {
		name, script string
		msgs         []*testMsg
		want         string
	}{
		{"4 trash duplicates", `require ["duplicate", "fileinto", "mailbox"];
if duplicate { fileinto :create "Trash/Duplicate"; }`, []*testMsg{m1, m2, m1again, noID, noID},
			"keep|keep|fileinto Trash/Duplicate :create|keep|keep"},
		{"4 alerts", `require ["duplicate", "variables", "imap4flags", "fileinto"];
if header :matches "subject" "ALERT: *" {
  if duplicate :seconds 60 :uniqueid "${1}" { setflag "\\seen"; }
  fileinto "Alerts";
}`, []*testMsg{m1, m2, m1again}, `fileinto Alerts|fileinto Alerts flags=\seen|keep`},
		{":header and :handle", `require "duplicate";
if duplicate :header "X-Event-ID" :handle "notifier" { discard; }`, []*testMsg{m1, m2, noID}, "keep|discard|keep"},
		{"handles apart", `require ["duplicate", "fileinto"];
if duplicate :handle "a" { fileinto "A"; }
if duplicate :handle "b" { fileinto "B"; }`, []*testMsg{m1, m1again}, "keep|fileinto A; fileinto B"},
		{"not within one run", `require "duplicate";
if duplicate { discard; } if duplicate { discard; }`, []*testMsg{m1}, "keep"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runs, _ := dupRuns(t, c.script, c.msgs...)
			if got := strings.Join(runs, "|"); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
	_, recs := dupRuns(t, `require "duplicate"; if duplicate :seconds 60 :last {} if duplicate :seconds 99999999 :handle "h" {} if duplicate :seconds 0 :handle "z" {}`, m1)
	if len(recs) != 2 || recs[0].Period != time.Minute || !recs[0].Last || recs[1].Period != MaxDuplicatePeriod || recs[1].Last {
		t.Errorf("records %+v", recs)
	}
	_, recs = dupRuns(t, `require "duplicate"; if duplicate {}`, m1)
	if len(recs) != 1 || recs[0].Period != DefaultDuplicatePeriod {
		t.Errorf("default period: %+v", recs)
	}
	// A run that fails records nothing.
	p, _ := Compile(`require "duplicate"; if duplicate {} redirect "a@x.example"; redirect "b@x.example";`, Limits{MaxRedirects: 1})
	if as, err := p.Run(&Input{Msg: m1}); err == nil || len(as) != 1 || as[0].Kind != ActionKeep {
		t.Errorf("failed run: %v %v", as, err)
	}
	for _, c := range []struct{ script, want string }{
		{`if duplicate {}`, `duplicate needs require "duplicate"`},
		{`require "duplicate"; if duplicate :header "a" :uniqueid "b" {}`, `conflicts`},
		{`require "duplicate"; if duplicate "x" {}`, `takes 0 positional`},
		{`require "duplicate"; if duplicate :seconds "x" {}`, `needs a number`},
	} {
		if _, err := Compile(c.script, Limits{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Compile(%q) = %v, want %q", c.script, err, c.want)
		}
	}
}

// A duplicate without :last leaves nothing to record; with :last its
// period starts again.
func TestDuplicateRecordsOnlyChanges(t *testing.T) {
	m := newMsg(1, "Message-ID: <1@x.example>")
	_, recs := dupRuns(t, `require "duplicate"; if duplicate {}`, m, m, m)
	if len(recs) != 1 {
		t.Errorf("%d records for one id seen three times, want 1", len(recs))
	}
	_, recs = dupRuns(t, `require "duplicate"; if duplicate :last {}`, m, m, m)
	if len(recs) != 3 {
		t.Errorf("%d records with :last, want 3", len(recs))
	}
}
