// Package dkimtest checks DKIM signatures with an independent verifier,
// dkimpy (Debian's python3-dkim), so tests do not grade our signer with
// the library that made the signatures. Only tests import it.
package dkimtest

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// python is Debian's interpreter, where python3-dkim is installed (a
// python3 earlier in PATH may be another one).
const python = "/usr/bin/python3"

// script verifies every DKIM-Signature of the message in argv[1], top
// first, answering key queries from the JSON table in argv[2] (dkimpy's
// DNS hook); it prints one line per signature: pass, fail or the error.
const script = `
import json, sys, dkim
msg = open(sys.argv[1], 'rb').read()
records = json.load(open(sys.argv[2]))
def txt(name, timeout=5):
    v = records.get(name.decode().rstrip('.').lower())
    return v.encode() if v is not None else None
d = dkim.DKIM(msg)
n = sum(1 for k, _ in d.headers if k.lower() == b'dkim-signature')
for i in range(n):
    try:
        print('pass' if d.verify(idx=i, dnsfunc=txt) else 'fail')
    except Exception as e:
        print('error: %s' % e)
`

// Available reports whether dkimpy can run here. In CI (CI set) it must:
// .ci/run installs python3-dkim, and a missing verifier is a failure, not
// a skipped test.
func Available(t testing.TB) {
	t.Helper()
	if err := exec.Command(python, "-c", "import dkim").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("dkimpy (python3-dkim) is not installed: %v", err)
		}
		t.Skipf("dkimpy (python3-dkim) is not installed: %v", err)
	}
}

// Verify returns dkimpy's result for each signature of msg, top first.
// records maps DNS names ("sel._domainkey.example.org") to TXT text.
func Verify(t testing.TB, msg string, records map[string]string) []string {
	t.Helper()
	Available(t)
	dir := t.TempDir()
	mf, rf := filepath.Join(dir, "msg"), filepath.Join(dir, "records.json")
	lower := map[string]string{}
	for k, v := range records {
		lower[strings.ToLower(strings.TrimSuffix(k, "."))] = v
	}
	js, _ := json.Marshal(lower)
	if err := os.WriteFile(mf, []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rf, js, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(python, "-c", script, mf, rf).CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, out)
	}
	if len(strings.TrimSpace(string(out))) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}
