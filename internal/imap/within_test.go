package imap

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// WITHIN (RFC 5032): OLDER and YOUNGER count seconds back from now
// against the internal date, in SEARCH, UID SEARCH and SORT.
func TestSearchWithin(t *testing.T) {
	e := newEnv(t, envOptions{})
	r, _ := e.raw(e.addr)
	login(t, r)
	if lines, _ := r.cmd("CAPABILITY"); !hasCap(lines, "WITHIN") {
		t.Fatalf("no WITHIN in %q", lines)
	}
	now := time.Now().UTC()
	for i, age := range []time.Duration{2 * time.Hour, 30 * time.Minute, 10 * time.Second} {
		msg := testMessage(i + 1)
		date := now.Add(-age).Format("02-Jan-2006 15:04:05 -0700")
		if _, status := r.cmd(fmt.Sprintf("APPEND INBOX \"%s\" {%d+}\r\n%s", date, len(msg), msg)); !strings.HasPrefix(status, "OK") {
			t.Fatalf("APPEND: %s", status)
		}
	}
	if _, status := r.cmd("SELECT INBOX"); !strings.HasPrefix(status, "OK") {
		t.Fatal(status)
	}
	for _, tc := range []struct{ cmd, want string }{
		{"SEARCH OLDER 3600", "* SEARCH 1"},
		{"SEARCH YOUNGER 3600", "* SEARCH 2 3"},
		{"SEARCH YOUNGER 60", "* SEARCH 3"},
		{"SEARCH OLDER 60", "* SEARCH 1 2"},
		{"SEARCH NOT OLDER 3600", "* SEARCH 2 3"},
		{"SEARCH OR OLDER 3600 YOUNGER 60", "* SEARCH 1 3"},
		{"SEARCH OLDER 600 YOUNGER 36000", "* SEARCH 1 2"},
		{"SEARCH YOUNGER 4294967295", "* SEARCH 1 2 3"},
		{"UID SEARCH UID 2:3 OLDER 60", "* SEARCH 2"},
		{"SEARCH RETURN (COUNT) YOUNGER 3600", `* ESEARCH (TAG "t%d") COUNT 2`},
		{"SORT (REVERSE ARRIVAL) UTF-8 YOUNGER 3600", "* SORT 3 2"},
	} {
		lines, status := r.cmd(tc.cmd)
		want := tc.want
		if strings.Contains(want, "%d") {
			want = fmt.Sprintf(want, r.n)
		}
		if !strings.HasPrefix(status, "OK") || len(lines) != 1 || lines[0] != want {
			t.Errorf("%s: %q %s, want %q", tc.cmd, lines, status, want)
		}
	}
	for _, cmd := range []string{"SEARCH OLDER 0", "SEARCH YOUNGER", "SEARCH OLDER x", "SEARCH YOUNGER -5", "SEARCH OLDER 99999999999"} {
		if _, status := r.cmd(cmd); !strings.HasPrefix(status, "BAD") {
			t.Errorf("%s: %s, want BAD", cmd, status)
		}
	}
}

func login(t *testing.T, r *raw) {
	t.Helper()
	if _, status := r.cmd(`LOGIN alice@example.com "correct horse"`); !strings.HasPrefix(status, "OK") {
		t.Fatalf("LOGIN: %s", status)
	}
}

func hasCap(lines []string, c string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, "* CAPABILITY ") && strings.Contains(l+" ", " "+c+" ") {
			return true
		}
	}
	return false
}
