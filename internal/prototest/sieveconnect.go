package prototest

import (
	"os"
	"os/exec"
	"testing"
)

// SieveConnect runs sieve-connect, the Debian ManageSieve client, against
// host:port as user (the password through a pipe, STARTTLS without
// certificate checks, AUTHENTICATE PLAIN) with args such as --upload, and
// returns its combined output. Call NeedProgram first.
func SieveConnect(t testing.TB, host, port, user, password string, args ...string) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.WriteString(password + "\n")
	w.Close()
	all := append([]string{"--server", host, "--port", port, "--user", user,
		"--passwordfd", "3", "--notlsverify", "--authmech", "PLAIN"}, args...)
	cmd := exec.Command("sieve-connect", all...)
	cmd.ExtraFiles = []*os.File{r} // fd 3
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}
