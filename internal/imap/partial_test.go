package imap

import (
	"strings"
	"testing"
)

// RFC 9394 PARTIAL: pages of SEARCH and SORT results, from the start or
// from the end, with the RFC's response form.
func TestSearchPartial(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 12; i++ {
		e.deliver(testUser, testMessage(i))
	}
	r := e.login(false, true)
	mustOK(t, r, "STORE 3,5 +FLAGS (\\Deleted)")
	if lines := mustOK(t, r, "CAPABILITY"); !hasCap(lines, "PARTIAL") {
		t.Fatalf("no PARTIAL in %q", lines)
	}
	cases := []struct{ cmd, want string }{
		// Ten undeleted messages: 1 2 4 6 7 8 9 10 11 12.
		{"UID SEARCH RETURN (PARTIAL 1:3) UNDELETED", `UID PARTIAL (1:3 1:2,4)`},
		{"UID SEARCH RETURN (PARTIAL 3:1) UNDELETED", `UID PARTIAL (3:1 1:2,4)`},
		{"UID SEARCH RETURN (PARTIAL -1:-3) UNDELETED", `UID PARTIAL (-1:-3 10:12)`},
		{"UID SEARCH RETURN (PARTIAL 9:20) UNDELETED", `UID PARTIAL (9:20 11:12)`},
		{"UID SEARCH RETURN (PARTIAL 11:20) UNDELETED", `UID PARTIAL (11:20 NIL)`},
		{"UID SEARCH RETURN (PARTIAL -10:-20) UNDELETED", `UID PARTIAL (-10:-20 1)`},
		{"SEARCH RETURN (PARTIAL 2:4 COUNT MIN) UNDELETED", `MIN 1 PARTIAL (2:4 2,4,6) COUNT 10`},
		{"UID SEARCH RETURN (PARTIAL 1:5) DELETED", `UID PARTIAL (1:5 3,5)`},
		{"UID SEARCH RETURN (PARTIAL 1:5) SUBJECT nothing-matches", `UID PARTIAL (1:5 NIL)`},
		// SORT: pages of the sort order, listed in that order. By
		// subject, descending: 9 8 7 6 4 2 12 11 10 1.
		{"UID SORT RETURN (PARTIAL 1:3) (REVERSE SUBJECT) UTF-8 UNDELETED", `UID PARTIAL (1:3 9,8,7)`},
		{"UID SORT RETURN (PARTIAL -1:-2) (REVERSE SUBJECT) UTF-8 UNDELETED", `UID PARTIAL (-1:-2 10,1)`},
	}
	for _, c := range cases {
		lines := mustOK(t, r, c.cmd)
		if len(lines) != 1 || !strings.HasSuffix(lines[0], ") "+c.want) {
			t.Errorf("%s: %q, want ... %s", c.cmd, lines, c.want)
		}
	}
	// SAVE keeps the page.
	mustOK(t, r, "UID SEARCH RETURN (SAVE PARTIAL -1:-2) UNDELETED")
	if lines := mustOK(t, r, "UID SEARCH UID $"); !has(lines, "* SEARCH 11 12") {
		t.Errorf("$ after SAVE PARTIAL -1:-2: %q", lines)
	}
	for _, bad := range []string{
		"SEARCH RETURN (PARTIAL 0:3) ALL",
		"SEARCH RETURN (PARTIAL 1:-3) ALL",
		"SEARCH RETURN (PARTIAL 1) ALL",
		"SEARCH RETURN (ALL PARTIAL 1:3) ALL",
		"SEARCH RETURN (PARTIAL 1:2 PARTIAL 1:2) ALL",
	} {
		if _, status := r.cmd(bad); !strings.HasPrefix(status, "BAD") {
			t.Errorf("%s: %s, want BAD", bad, status)
		}
	}
}

// RFC 9394 §3.3: the PARTIAL FETCH modifier answers only the page of the
// set's messages, counted after CHANGEDSINCE (§3.4) leaves some out.
func TestFetchPartial(t *testing.T) {
	e := newEnv(t, envOptions{})
	for i := 1; i <= 12; i++ {
		e.deliver(testUser, testMessage(i))
	}
	r := e.login(false, true)
	uidsOf := func(lines []string) string {
		var out []string
		for _, l := range lines {
			if i := strings.Index(l, "UID "); i >= 0 {
				f := strings.Fields(l[i+4:])
				out = append(out, strings.TrimRight(f[0], ")"))
			}
		}
		return strings.Join(out, " ")
	}
	var since string // the last delivery's: the STORE comes after
	for _, l := range mustOK(t, r, "UID FETCH 12 (MODSEQ)") {
		if i := strings.Index(l, "MODSEQ ("); i >= 0 {
			since = strings.TrimRight(strings.Fields(l[i+8:])[0], ")")
		}
	}
	mustOK(t, r, "UID STORE 2,5,7,11 +FLAGS.SILENT (\\Flagged)")
	cases := []struct{ cmd, want string }{
		{"UID FETCH 1:* (FLAGS) (PARTIAL 1:3)", "1 2 3"},
		{"UID FETCH 1:* (FLAGS) (PARTIAL -1:-3)", "10 11 12"},
		{"UID FETCH 4:9 (FLAGS) (PARTIAL 2:3)", "5 6"},
		{"UID FETCH 1:* (FLAGS) (PARTIAL 12:20)", "12"},
		{"UID FETCH 1:* (FLAGS) (PARTIAL 13:20)", ""},
		{"FETCH 1:* (UID) (PARTIAL -2:-1)", "11 12"},
		{"UID FETCH 1:* (FLAGS) (CHANGEDSINCE " + since + " PARTIAL 2:3)", "5 7"},
		{"UID FETCH 1:* (FLAGS) (PARTIAL -1:-1 CHANGEDSINCE " + since + ")", "11"},
	}
	for _, c := range cases {
		if got := uidsOf(mustOK(t, r, c.cmd)); got != c.want {
			t.Errorf("%s: UIDs %q, want %q", c.cmd, got, c.want)
		}
	}
	for _, bad := range []string{
		"UID FETCH 1:* (FLAGS) (PARTIAL)",
		"UID FETCH 1:* (FLAGS) (PARTIAL 0:1)",
		"UID FETCH 1:* (FLAGS) (PARTIAL 1:2 PARTIAL 3:4)",
	} {
		if _, status := r.cmd(bad); !strings.HasPrefix(status, "BAD") {
			t.Errorf("%s: %s, want BAD", bad, status)
		}
	}
}
