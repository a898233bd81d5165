package imap

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4) on real sockets against
// the real store: one session keeps live results, a second one (or
// POP3) changes the mailbox, and the first must tell exactly what the
// RFC says, where it says.

// ctxMailbox delivers n test messages to alice and returns a session
// with INBOX selected and a second one, also with INBOX selected, that
// makes the changes; both IMAP4rev2, so no \Recent gets in the way.
func ctxMailbox(t *testing.T, n int) (e *env, r, other *raw) {
	t.Helper()
	e = newEnv(t, envOptions{})
	for i := 1; i <= n; i++ {
		e.deliver(testUser, testMessage(i))
	}
	return e, e.login(true, true), e.login(true, true)
}

// RFC 5267 §4.3, §4.3.1, §4.3.3-4.3.5: the examples B01-B04, on a
// mailbox built so that the numbers are small: UIDs 1-6, 2 and 3 \Deleted
// with $Junk.
func TestRFC5267ContextExamples(t *testing.T) {
	_, r, other := ctxMailbox(t, 6)
	mustOK(t, other, `STORE 2:3 +FLAGS (\Deleted $Junk)`)
	mustOK(t, r, "NOOP")
	runTranscript(t, r, []transcript{
		{c: `B01 UID SEARCH RETURN (UPDATE COUNT) DELETED KEYWORD $Junk`,
			s: []string{`* ESEARCH (TAG "B01") UID COUNT 2`}, status: "OK"},
		// "the following is rejected, and has no effect"
		{c: `B01 SORT RETURN (UPDATE) (ARRIVAL) UTF-8 FLAGGED`, status: "BAD"},
	})
	// §4.3.3: the messages another session marks are added after their
	// FETCH; COUNT is not sent again.
	mustOK(t, other, `STORE 4:5 +FLAGS (\Deleted $Junk)`)
	runTranscript(t, r, []transcript{
		{c: `N1 NOOP`, s: []string{
			`* 4 FETCH (UID 4 FLAGS ($Junk \Deleted))`,
			`* 5 FETCH (UID 5 FLAGS ($Junk \Deleted))`,
			`* ESEARCH (TAG "B01") UID ADDTO (0 4:5)`}, status: "OK"},
	})
	// §4.3.4: expunged messages go with REMOVEFROM before the EXPUNGE;
	// UIDs 2-5 are expunged, and the untouched 1 and 6 stay.
	mustOK(t, other, "EXPUNGE")
	runTranscript(t, r, []transcript{
		{c: `B03 NOOP`, s: []string{
			`* ESEARCH (TAG "B01") UID REMOVEFROM (0 2:5)`,
			`* 5 EXPUNGE`, `* 4 EXPUNGE`, `* 3 EXPUNGE`, `* 2 EXPUNGE`}, status: "OK"},
		// §4.3.5
		{c: `B04 CANCELUPDATE "B01"`, status: "OK"},
		{c: `B05 CANCELUPDATE "B01"`, status: "NO [NONEXISTENT]"},
	})
	mustOK(t, other, `STORE 2 +FLAGS (\Deleted $Junk)`)
	runTranscript(t, r, []transcript{
		{c: `N2 NOOP`, s: []string{`* 2 FETCH (UID 6 FLAGS ($Junk \Deleted))`}, status: "OK"},
		// A cancelled tag may name a new context.
		{c: `B01 UID SEARCH RETURN (UPDATE) DELETED`, s: []string{`* ESEARCH (TAG "B01") UID`}, status: "OK"},
	})
}

// RFC 5267 §4.3.1: past the session's limit, the answer stands and an
// untagged NO [NOUPDATE "tag"] refuses the context; a SORT refused does
// not make a SEARCH refused. OLDER/YOUNGER are refused as well.
func TestContextLimits(t *testing.T) {
	_, r, other := ctxMailbox(t, 3)
	for range maxSortContexts {
		mustOK(t, r, "UID SORT RETURN (UPDATE) (ARRIVAL) UTF-8 ALL")
	}
	runTranscript(t, r, []transcript{
		{c: `B02 UID SORT RETURN (UPDATE COUNT) (ARRIVAL) UTF-8 UNSEEN`, s: []string{
			`* ESEARCH (TAG "B02") UID COUNT 3`,
			`* NO [NOUPDATE "B02"] Too many updating sorts`}, status: "OK"},
		{c: `B03 UID SEARCH RETURN (UPDATE COUNT) UNSEEN`, s: []string{
			`* ESEARCH (TAG "B03") UID COUNT 3`}, status: "OK"},
		{c: `B04 SEARCH RETURN (UPDATE MIN) YOUNGER 3600`, s: []string{
			`* ESEARCH (TAG "B04")`,
			`* NO [NOUPDATE "B04"] OLDER and YOUNGER change with the clock, not the mailbox`}, status: "OK"},
	})
	for i := 1; i < maxSearchContexts; i++ {
		mustOK(t, r, "SEARCH RETURN (UPDATE) SEEN")
	}
	lines, status := r.cmd("SEARCH RETURN (UPDATE COUNT) SEEN")
	if !strings.HasPrefix(status, "OK") || len(lines) != 2 || !strings.HasPrefix(lines[1], `* NO [NOUPDATE "t`) {
		t.Fatalf("search past the limit: %q %q", lines, status)
	}
	// The refused contexts tell nothing; the others all do.
	mustOK(t, other, `STORE 1 +FLAGS (\Seen)`)
	lines = mustOK(t, r, "NOOP")
	adds := 0
	for _, l := range lines {
		if strings.Contains(l, "B02") || strings.Contains(l, "B04") {
			t.Errorf("refused context updated: %s", l)
		}
		if strings.HasSuffix(l, " ADDTO (0 1)") || strings.HasSuffix(l, " REMOVEFROM (0 1)") {
			adds++
		}
	}
	// B03 (UNSEEN) loses 1, the 15 SEEN searches gain it.
	if adds != 1+maxSearchContexts-1 {
		t.Errorf("%d updates, want %d: %q", adds, maxSearchContexts, lines)
	}
}

// The results the contexts of a session hold are bounded
// (Server.MaxContextResults): a SEARCH or SORT that would pass it keeps
// its answer and is refused its context; one that reaches it exactly is
// not, and cancelling a context frees its share.
func TestContextResultsLimit(t *testing.T) {
	e := newEnv(t, envOptions{server: func(s *Server) { s.MaxContextResults = 5 }})
	for i := 1; i <= 3; i++ {
		e.deliver(testUser, testMessage(i))
	}
	r := e.login(true, true)
	refused := func(cmd string) bool {
		t.Helper()
		lines := mustOK(t, r, cmd)
		for _, l := range lines {
			if strings.Contains(l, "NOUPDATE") {
				if !strings.HasSuffix(l, "Too many results held by updating searches") {
					t.Errorf("%s: %s", cmd, l)
				}
				return true
			}
		}
		return false
	}
	runTranscript(t, r, []transcript{{c: `A1 SEARCH RETURN (UPDATE) ALL`, s: []string{`* ESEARCH (TAG "A1")`}, status: "OK"}})
	if !refused(`UID SORT RETURN (UPDATE) (ARRIVAL) UTF-8 ALL`) {
		t.Fatal("a sort of 3 more held, past 5")
	}
	if !refused(`SEARCH RETURN (UPDATE) 1:3`) {
		t.Fatal("a search of 3 more held, past 5")
	}
	if refused(`SEARCH RETURN (UPDATE) 1:2`) {
		t.Fatal("5 results of 5 refused")
	}
	runTranscript(t, r, []transcript{
		{c: `C1 SEARCH RETURN (UPDATE) 1`, s: []string{`* ESEARCH (TAG "C1")`,
			`* NO [NOUPDATE "C1"] Too many results held by updating searches`}, status: "OK"},
		{c: `C2 CANCELUPDATE "A1"`, status: "OK"},
		{c: `C3 SEARCH RETURN (UPDATE) ALL`, s: []string{`* ESEARCH (TAG "C3")`}, status: "OK"},
	})
}

// ctxModel is what a client keeps of a context: the result in the
// requested order, changed by ADDTO and REMOVEFROM as RFC 5267 §4.3.3
// and §4.3.4 say, pair after pair.
type ctxModel struct {
	tag    string
	result []uint32
}

// apply applies the ESEARCH lines of its tag among lines.
func (m *ctxModel) apply(t *testing.T, lines []string) {
	t.Helper()
	head := `* ESEARCH (TAG "` + m.tag + `") UID `
	for _, l := range lines {
		rest, ok := strings.CutPrefix(l, head)
		if !ok {
			continue
		}
		for rest != "" {
			name, after, _ := strings.Cut(rest, " (")
			body, next, _ := strings.Cut(after, ")")
			rest = strings.TrimPrefix(next, " ")
			f := strings.Fields(body)
			for i := 0; i+1 < len(f); i += 2 {
				pos, _ := strconv.Atoi(f[i])
				nums := expandOrdered(t, f[i+1])
				switch name {
				case "ADDTO":
					if pos == 0 {
						m.result = append(m.result, nums...)
						slices.Sort(m.result)
					} else {
						m.result = slices.Insert(m.result, pos-1, nums...)
					}
				case "REMOVEFROM":
					if pos == 0 {
						m.result = slices.DeleteFunc(m.result, func(u uint32) bool { return slices.Contains(nums, u) })
						continue
					}
					if !slices.Equal(m.result[pos-1:pos-1+len(nums)], nums) {
						t.Fatalf("%s: REMOVEFROM %d %v, but the result there is %v", l, pos, nums, m.result)
					}
					m.result = slices.Delete(m.result, pos-1, pos-1+len(nums))
				default:
					t.Fatalf("unexpected %s in %s", name, l)
				}
			}
		}
	}
}

// expandOrdered expands "1:3,7" in its order.
func expandOrdered(t *testing.T, set string) []uint32 {
	var out []uint32
	for _, part := range strings.Split(set, ",") {
		a, b, isRange := strings.Cut(part, ":")
		lo, err := strconv.ParseUint(a, 10, 32)
		if err != nil {
			t.Fatalf("set %q", set)
		}
		hi := lo
		if isRange {
			hi, _ = strconv.ParseUint(b, 10, 32)
		}
		if lo <= hi {
			for n := lo; n <= hi; n++ {
				out = append(out, uint32(n))
			}
		} else {
			for n := lo; n >= hi; n-- {
				out = append(out, uint32(n))
			}
		}
	}
	return out
}

// allOf returns the ALL of a UID SEARCH or UID SORT answer, expanded.
func allOf(t *testing.T, r *raw, cmd string) []uint32 {
	t.Helper()
	for _, l := range mustOK(t, r, cmd) {
		if _, all, ok := strings.Cut(l, " ALL "); ok {
			return expandOrdered(t, all)
		}
	}
	return nil
}

// TestSortContextFollowsMailbox keeps UID SORT (REVERSE SUBJECT) UNSEEN
// UNDELETED live while another session reads, unreads, deletes and
// expunges messages and new ones arrive, and after each step checks the
// client's copy, changed only by ADDTO/REMOVEFROM with their positions,
// against the same SORT run afresh.
func TestSortContextFollowsMailbox(t *testing.T) {
	e, r, other := ctxMailbox(t, 0)
	subjects := []string{"pear", "apple", "fig", "kiwi", "banana", "cherry", "date", "grape", "lime", "mango"}
	msg := func(i int) string {
		return fmt.Sprintf("From: a@example.org\r\nSubject: %s\r\nMessage-ID: <s%d@example.org>\r\n\r\nx\r\n", subjects[i%len(subjects)], i)
	}
	for i := range 8 {
		e.deliver(testUser, msg(i))
	}
	mustOK(t, r, "NOOP")
	const sort = "UID SORT RETURN (ALL) (REVERSE SUBJECT) UTF-8 UNSEEN UNDELETED"
	m := &ctxModel{result: allOf(t, r, sort)}
	m.tag = fmt.Sprintf("t%d", r.n+1) // the tag r.cmd gives the next command
	if lines := mustOK(t, r, strings.Replace(sort, "(ALL)", "(UPDATE)", 1)); len(lines) != 1 {
		t.Fatalf("SORT with UPDATE: %q", lines)
	}
	steps := []func() []string{
		func() []string { return mustOK(t, other, `UID STORE 2,5 +FLAGS (\Seen)`) },
		func() []string { return mustOK(t, other, `UID STORE 5 -FLAGS (\Seen)`) },
		func() []string { e.deliver(testUser, msg(8), msg(9), msg(10)); return nil },
		func() []string { return mustOK(t, other, `UID STORE 1,3,9 +FLAGS (\Deleted)`) },
		func() []string { return mustOK(t, other, `UID STORE 1 -FLAGS (\Deleted)`) },
		func() []string { return mustOK(t, other, "EXPUNGE") },
		// This session's own change: the updates come with the STORE.
		func() []string { return mustOK(t, r, `UID STORE 4,6 +FLAGS.SILENT (\Seen)`) },
		func() []string { return mustOK(t, other, `UID STORE 1:* -FLAGS (\Seen)`) },
	}
	for i, step := range steps {
		if lines := step(); i == 6 {
			m.apply(t, lines)
		}
		m.apply(t, mustOK(t, r, "NOOP"))
		if want := allOf(t, r, sort); !slices.Equal(m.result, want) {
			t.Fatalf("after step %d: the client's result %v, SORT says %v", i, m.result, want)
		}
	}
}

// Sequence numbers and "$" in the program keep the messages they named
// when the command ran (RFC 5267 §4.3, after the errata of RFC 3501); a
// UID range with "*" follows the last UID, as the search run again
// would. Non-UID contexts speak in sequence numbers, valid at the point
// they are sent: REMOVEFROM before EXPUNGE, ADDTO after EXISTS.
func TestContextSequenceNumbers(t *testing.T) {
	e, r, other := ctxMailbox(t, 5)
	mustOK(t, other, `STORE 2 +FLAGS (\Deleted)`)
	mustOK(t, r, "NOOP")
	runTranscript(t, r, []transcript{
		{c: `S0 SEARCH RETURN (SAVE) 5`, status: "OK"},
		{c: `X1 SEARCH RETURN (UPDATE ALL) 3:* UNSEEN`, s: []string{`* ESEARCH (TAG "X1") ALL 3:5`}, status: "OK"},
		{c: `X2 UID SEARCH RETURN (UPDATE) UID 4:* UNSEEN`, s: []string{`* ESEARCH (TAG "X2") UID`}, status: "OK"},
		// "$" is 5 here; SAVE makes it 3:5 only after the search.
		{c: `X3 SEARCH RETURN (UPDATE COUNT SAVE) $ UNSEEN`, s: []string{`* ESEARCH (TAG "X3") COUNT 1`}, status: "OK"},
		{c: `S1 SEARCH RETURN (SAVE) 1`, status: "OK"}, // "$" changes; X3 keeps UID 5
		{c: `X4 SEARCH RETURN (UPDATE) DELETED`, s: []string{`* ESEARCH (TAG "X4")`}, status: "OK"},
	})
	e.deliver(testUser, testMessage(6))
	runTranscript(t, r, []transcript{
		// 6 is not in "3:*" as it was, but is in "UID 4:*".
		{c: `N1 NOOP`, s: []string{`* 6 EXISTS`, `* ESEARCH (TAG "X2") UID ADDTO (0 6)`}, status: "OK"},
	})
	mustOK(t, other, "NOOP")
	mustOK(t, other, `STORE 3,5:6 +FLAGS (\Seen)`)
	runTranscript(t, r, []transcript{
		{c: `N2 NOOP`, s: []string{
			`* 3 FETCH (UID 3 FLAGS (\Seen))`,
			`* 5 FETCH (UID 5 FLAGS (\Seen))`,
			`* 6 FETCH (UID 6 FLAGS (\Seen))`,
			`* ESEARCH (TAG "X1") REMOVEFROM (0 3,5)`,
			`* ESEARCH (TAG "X2") UID REMOVEFROM (0 5:6)`,
			`* ESEARCH (TAG "X3") REMOVEFROM (0 5)`}, status: "OK"},
	})
	// Message 2 goes: X4 is told with the number it had, before the
	// EXPUNGE; then UID 4 is message 3.
	mustOK(t, other, "EXPUNGE")
	runTranscript(t, r, []transcript{
		// A non-UID FETCH may not be told of the EXPUNGE (RFC 9051
		// §7.5.1), so neither of the REMOVEFROM.
		{c: `F1 FETCH 1 (UID)`, s: []string{`* 1 FETCH (UID 1)`}, status: "OK"},
		{c: `N3 NOOP`, s: []string{`* ESEARCH (TAG "X4") REMOVEFROM (0 2)`, `* 2 EXPUNGE`}, status: "OK"},
	})
	mustOK(t, other, `UID STORE 4 +FLAGS (\Deleted)`)
	runTranscript(t, r, []transcript{
		{c: `N4 NOOP`, s: []string{
			`* 3 FETCH (UID 4 FLAGS (\Deleted))`,
			`* ESEARCH (TAG "X4") ADDTO (0 3)`}, status: "OK"},
	})
}

// Updates come during IDLE, with the changes that cause them: from
// another IMAP session, from POP3 (DELE and QUIT expunge), and as
// VANISHED under QRESYNC, REMOVEFROM still first.
func TestContextUpdatesFromEverywhere(t *testing.T) {
	e, r, other := ctxMailbox(t, 3)
	mustOK(t, r, "UNSELECT")
	mustOK(t, r, "ENABLE QRESYNC")
	mustOK(t, r, "SELECT INBOX")
	runTranscript(t, r, []transcript{
		{c: `X1 UID SEARCH RETURN (UPDATE) UNFLAGGED`, s: []string{`* ESEARCH (TAG "X1") UID`}, status: "OK"},
		{c: `X2 UID SORT RETURN (UPDATE) (REVERSE SUBJECT) UTF-8 ALL`, s: []string{`* ESEARCH (TAG "X2") UID`}, status: "OK"},
	})
	r.send("I1 IDLE")
	if l := r.line(); l != "+ idling" {
		t.Fatalf("IDLE: %q", l)
	}
	mustOK(t, other, `STORE 2 +FLAGS (\Flagged)`)
	for _, want := range []string{
		`* 2 FETCH (UID 2 FLAGS (\Flagged) MODSEQ (`,
		`* ESEARCH (TAG "X1") UID REMOVEFROM (0 2)`,
	} {
		if l := r.line(); !strings.HasPrefix(l, want) {
			t.Fatalf("during IDLE: %q, want %q", l, want)
		}
	}
	e.deliver(testUser, testMessage(4))
	for _, want := range []string{
		`* 4 EXISTS`,
		`* ESEARCH (TAG "X1") UID ADDTO (0 4)`,
		`* ESEARCH (TAG "X2") UID ADDTO (1 4)`, // "message 4" first
	} {
		if l := r.line(); l != want {
			t.Fatalf("during IDLE: %q, want %q", l, want)
		}
	}
	p := e.pop3(t)
	if l := p.cmd("DELE 1"); !strings.HasPrefix(l, "+OK") {
		t.Fatal(l)
	}
	if l := p.cmd("DELE 3"); !strings.HasPrefix(l, "+OK") {
		t.Fatal(l)
	}
	if l := p.cmd("QUIT"); !strings.HasPrefix(l, "+OK") {
		t.Fatal(l)
	}
	for _, want := range []string{
		`* ESEARCH (TAG "X1") UID REMOVEFROM (0 1,3)`,
		// X2 is 4,3,2,1: 3 at position 2, then 1 at position 3.
		`* ESEARCH (TAG "X2") UID REMOVEFROM (2 3 3 1)`,
		`* VANISHED 1,3`,
	} {
		if l := r.line(); l != want {
			t.Fatalf("during IDLE: %q, want %q", l, want)
		}
	}
	r.send("DONE")
	if l := r.line(); !strings.HasPrefix(l, "I1 OK") {
		t.Fatalf("DONE: %q", l)
	}
	// Selecting again ends the contexts (RFC 5267 §4.3): their tags are
	// free, and changes tell nothing.
	mustOK(t, r, "SELECT INBOX")
	mustOK(t, other, `UID STORE 2 -FLAGS (\Flagged)`)
	if lines := mustOK(t, r, "NOOP"); len(lines) != 1 || !strings.HasPrefix(lines[0], `* 1 FETCH (UID 2 FLAGS () MODSEQ (`) {
		t.Errorf("NOOP after SELECT again: %q", lines)
	}
	runTranscript(t, r, []transcript{{c: `N2 CANCELUPDATE "X1"`, status: "NO [NONEXISTENT]"}})
}

// CANCELUPDATE takes one or more quoted tags, all of live contexts, or
// cancels none (NO [NONEXISTENT]); in any state but selected it is
// refused like any selected-state command.
func TestCancelUpdate(t *testing.T) {
	_, r, other := ctxMailbox(t, 2)
	runTranscript(t, r, []transcript{
		{c: `A UID SEARCH RETURN (UPDATE) SEEN`, s: []string{`* ESEARCH (TAG "A") UID`}, status: "OK"},
		{c: `B UID SEARCH RETURN (UPDATE) SEEN`, s: []string{`* ESEARCH (TAG "B") UID`}, status: "OK"},
		{c: `C UID SEARCH RETURN (UPDATE) SEEN`, s: []string{`* ESEARCH (TAG "C") UID`}, status: "OK"},
		{c: `D CANCELUPDATE`, status: "BAD"},
		{c: `D CANCELUPDATE A`, status: "BAD"}, // quoted, RFC 5267 §5
		{c: `D CANCELUPDATE "A" "Z"`, status: "NO [NONEXISTENT]"},
		{c: `D CANCELUPDATE "A" "C"`, status: "OK"},
	})
	mustOK(t, other, `STORE 1 +FLAGS (\Seen)`)
	runTranscript(t, r, []transcript{
		{c: `N NOOP`, s: []string{`* 1 FETCH (UID 1 FLAGS (\Seen))`, `* ESEARCH (TAG "B") UID ADDTO (0 1)`}, status: "OK"},
		{c: `U UNSELECT`, status: "OK"},
		{c: `D CANCELUPDATE "B"`, status: "BAD"}, // not in the selected state
	})
}

// TestContextsRandomChanges keeps several updating UID SEARCH and UID
// SORT contexts while a second session makes changes drawn from a fixed
// seed (flags set and cleared, keywords, deliveries, expunges, changes
// of this session's own) and checks after every step that each client
// copy, changed only by the updates, equals the command run afresh.
func TestContextsRandomChanges(t *testing.T) {
	e, r, other := ctxMailbox(t, 12)
	programs := []string{
		`UID SEARCH RETURN (%s) UNSEEN`,
		`UID SEARCH RETURN (%s) OR FLAGGED KEYWORD $x`,
		`UID SEARCH RETURN (%s) NOT DELETED SUBJECT "message 1"`,
		`UID SORT RETURN (%s) (REVERSE SUBJECT) UTF-8 SEEN`,
		`UID SORT RETURN (%s) (SIZE SUBJECT) UTF-8 UNFLAGGED UNDELETED`,
		`UID SORT RETURN (%s) (REVERSE ARRIVAL) UTF-8 UID 5:*`,
	}
	var models []*ctxModel
	for _, p := range programs {
		m := &ctxModel{result: allOf(t, r, fmt.Sprintf(p, "ALL"))}
		m.tag = fmt.Sprintf("t%d", r.n+1)
		mustOK(t, r, fmt.Sprintf(p, "UPDATE"))
		models = append(models, m)
	}
	rng := rand.New(rand.NewPCG(5267, 9))
	flags := []string{`\Seen`, `\Flagged`, `\Deleted`, `$x`}
	next, updates := 13, 0
	for step := range 60 {
		var lines []string
		switch k := rng.IntN(10); {
		case k < 6:
			who, op := other, "+"
			if k >= 4 {
				who = r
			}
			if rng.IntN(2) == 0 {
				op = "-"
			}
			mustOK(t, who, "NOOP") // so that it knows the newest messages
			lo := 1 + rng.IntN(next)
			set := fmt.Sprintf("%d:%d", lo, lo+rng.IntN(4))
			lines = mustOK(t, who, fmt.Sprintf("UID STORE %s %sFLAGS.SILENT (%s)", set, op, flags[rng.IntN(len(flags))]))
			if who != r {
				lines = nil
			}
		case k < 8:
			e.deliver(testUser, testMessage(next))
			next++
		default:
			mustOK(t, other, "EXPUNGE")
		}
		lines = append(lines, mustOK(t, r, "NOOP")...)
		for _, l := range lines {
			if strings.HasPrefix(l, "* ESEARCH ") {
				updates++
			}
		}
		for i, m := range models {
			m.apply(t, lines)
			if want := allOf(t, r, fmt.Sprintf(programs[i], "ALL")); !slices.Equal(m.result, want) {
				t.Fatalf("step %d, %s: the client's result %v, afresh %v", step, programs[i], m.result, want)
			}
		}
	}
	if updates < 30 {
		t.Errorf("only %d updates in 60 steps: the test checks little", updates)
	}
	t.Logf("%d updates", updates)
}

func TestMergeUIDs(t *testing.T) {
	for _, tc := range []struct{ a, b, want []uint32 }{
		{nil, nil, nil},
		{[]uint32{1, 5}, nil, []uint32{1, 5}},
		{nil, []uint32{2}, []uint32{2}},
		{[]uint32{1, 5, 9}, []uint32{2, 3, 10}, []uint32{1, 2, 3, 5, 9, 10}},
		{[]uint32{4, 5}, []uint32{1, 2}, []uint32{1, 2, 4, 5}},
	} {
		if got := mergeUIDs(slices.Clone(tc.a), tc.b); !slices.Equal(got, tc.want) {
			t.Errorf("mergeUIDs(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// "$" in an updating search with SAVE is the result saved before it
// (RFC 5182 §2.1), and stays that: 4 was seen then and is not found,
// but is in "$", so it is added when it is unseen again.
func TestContextDollarWithSave(t *testing.T) {
	_, r, other := ctxMailbox(t, 5)
	mustOK(t, other, `STORE 4 +FLAGS (\Seen)`)
	runTranscript(t, r, []transcript{
		{c: `N0 NOOP`, s: []string{`* 4 FETCH (UID 4 FLAGS (\Seen))`}, status: "OK"},
		{c: `S0 SEARCH RETURN (SAVE) 4:5`, status: "OK"},
		{c: `X1 UID SEARCH RETURN (UPDATE ALL SAVE) $ UNSEEN`, s: []string{`* ESEARCH (TAG "X1") UID ALL 5`}, status: "OK"},
	})
	mustOK(t, other, `STORE 4 -FLAGS (\Seen)`)
	runTranscript(t, r, []transcript{
		{c: `N1 NOOP`, s: []string{`* 4 FETCH (UID 4 FLAGS ())`, `* ESEARCH (TAG "X1") UID ADDTO (0 4)`}, status: "OK"},
	})
}
