package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
	"github.com/pochta-mail/pochta/internal/store/sqlite"
)

// bin is the pochta binary under test, built once by TestMain: these tests
// run the real program, as an admin or an MTA would.
var bin string

func TestMain(m *testing.M) {
	tmp, err := os.MkdirTemp("", "pochta-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(tmp, "pochta")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building pochta:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// result is one finished pochta run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
}

// pochta runs the binary with stdin and returns what it did.
func pochta(t *testing.T, stdin io.Reader, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "POCHTA_DIR=")
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running pochta %v: %v", args, err)
	}
	return r
}

// must runs pochta and fails the test unless it exits 0.
func must(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := pochta(t, strings.NewReader(stdin), args...)
	if r.code != 0 {
		t.Fatalf("pochta %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// expect runs pochta and checks its exit code and that stderr mentions
// want.
func expect(t *testing.T, code int, want string, stdin string, args ...string) result {
	t.Helper()
	r := pochta(t, strings.NewReader(stdin), args...)
	if r.code != code || !strings.Contains(r.stderr, want) {
		t.Fatalf("pochta %s: want exit %d and stderr containing %q, got %s", strings.Join(args, " "), code, want, r)
	}
	return r
}

// newDir initialises an installation with example.test and returns DIR.
func newDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	must(t, "", "init", "-d", dir, "--domain", "example.test", "--hostname", "mail.example.test")
	return dir
}

// setConfig replaces "key = ..." inside [table] of DIR/pochta.toml.
func setConfig(t *testing.T, dir, table, key, value string) {
	t.Helper()
	path := filepath.Join(dir, "pochta.toml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	current := ""
	done := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "[") {
			current = strings.Trim(line, "[]")
		}
		if current == table && strings.HasPrefix(line, key+" = ") {
			line, done = key+" = "+value, true
		}
		out = append(out, line)
	}
	if !done {
		t.Fatalf("no %s.%s in %s", table, key, path)
	}
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o640); err != nil {
		t.Fatal(err)
	}
}

// openStore opens the installation's store directly, to check what the
// commands did. Call it only while no pochta process uses DIR.
func openStore(t *testing.T, dir string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// inbox returns the bodies in an account's INBOX, in delivery order.
func inbox(t *testing.T, st *sqlite.Store, address string) []string {
	t.Helper()
	ctx := context.Background()
	acct, err := st.Account(ctx, address)
	if err != nil {
		t.Fatal(err)
	}
	md, err := st.OpenMaildrop(ctx, acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	var bodies []string
	for _, m := range md.Messages() {
		bodies = append(bodies, readBody(t, md, m))
	}
	return bodies
}

func readBody(t *testing.T, md store.Maildrop, m store.MaildropMessage) string {
	t.Helper()
	rc, err := md.Body(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != m.Size {
		t.Fatalf("message %d: size %d, body has %d bytes", m.ID, m.Size, len(b))
	}
	return string(b)
}
