package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// progressRE is one drawing of import's progress line: back to the line's
// start, erase it, "ACCOUNT FOLDER: DONE/TOTAL  (MESSAGES messages, SIZE)".
var progressRE = regexp.MustCompile(`\r\x1b\[Ka@example\.test (\S+): (\d+)/(\d+)  \((\d+) messages, [^)]+\)`)

// tookRE is the time an import took, in its summary.
var tookRE = regexp.MustCompile(` \([0-9.]+[µm]?s\)`)

// TestImportProgress: on a terminal (util-linux's script gives pochta a
// pty for its output) import draws its progress line on standard error,
// each folder up to DONE = TOTAL, erases it and ends with the summary;
// with its output on pipes (logs, cron) there is no progress line, only
// the summary.
func TestImportProgress(t *testing.T) {
	prototest.NeedProgram(t, "script", "bsdutils")
	src := filepath.Join(t.TempDir(), "Maildir")
	counts := map[string]int{"INBOX": 3, "Sent": 2}
	for folder, n := range counts {
		d := src
		if folder != "INBOX" {
			d = filepath.Join(src, "."+folder)
		}
		for _, sub := range []string{"cur", "new", "tmp"} {
			if err := os.MkdirAll(filepath.Join(d, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for i := range n {
			name := filepath.Join(d, "cur", fmt.Sprintf("%d.M%dP1.host:2,S", 1700000000+i, i))
			if err := os.WriteFile(name, []byte(fmt.Sprintf("Subject: %s %d\n\nhello\n", folder, i)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := newDir(t)
	must(t, "pw\n", "-d", dir, "user", "add", "a@example.test", "--password-stdin")

	// On a terminal. script copies what the pty shows to its standard
	// output (its newlines become CRLF); -e passes pochta's exit code on.
	cmd := exec.Command("script", "-qec", strings.Join([]string{bin, "-d", dir, "import", "a@example.test", src}, " "), "/dev/null")
	cmd.Env = append(os.Environ(), "POCHTA_DIR=")
	raw, err := cmd.Output()
	screen := string(raw)
	if err != nil {
		t.Fatalf("pochta import on a pty: %v\n%q", err, screen)
	}
	t.Logf("on a terminal: %q", screen)
	draws := progressRE.FindAllStringSubmatchIndex(screen, -1)
	if len(draws) == 0 {
		t.Fatalf("no progress line drawn on a terminal: %q", screen)
	}
	finished := map[string]bool{}
	for _, d := range draws {
		folder, done, total := screen[d[2]:d[3]], screen[d[4]:d[5]], screen[d[6]:d[7]]
		if total != fmt.Sprint(counts[folder]) {
			t.Errorf("progress of %s says %s/%s, the folder has %d", folder, done, total, counts[folder])
		}
		finished[folder] = finished[folder] || done == total
	}
	if len(finished) != 2 || !finished["INBOX"] || !finished["Sent"] {
		t.Errorf("progress drawn to the end for %v, want INBOX and Sent", finished)
	}
	// Not on a terminal: the summary alone, and no escape sequence.
	dir2 := newDir(t)
	must(t, "pw\n", "-d", dir2, "user", "add", "a@example.test", "--password-stdin")
	r := pochta(t, nil, "-d", dir2, "import", "a@example.test", src)
	if r.code != 0 || r.stderr != "" || strings.ContainsAny(r.stdout, "\r\x1b") ||
		!strings.HasPrefix(r.stdout, "imported: 5 messages, ") {
		t.Fatalf("pochta import on pipes: %s", r)
	}
	// On the terminal, after the last drawing: the line erased, then the
	// same summary, and nothing else.
	last := screen[draws[len(draws)-1][1]:]
	summary, ok := strings.CutPrefix(last, "\r\x1b[K")
	if !ok || tookRE.ReplaceAllString(strings.ReplaceAll(summary, "\r\n", "\n"), "") != tookRE.ReplaceAllString(r.stdout, "") {
		t.Errorf("after the progress line: %q, want the line erased and the summary:\n%s", last, r.stdout)
	}
}
