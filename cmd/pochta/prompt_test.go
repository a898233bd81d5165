package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// ptyScript runs argv[1:] on a pseudo-terminal, answers the two password
// prompts with argv[0], and prints everything the terminal showed followed
// by the exit status.
const ptyScript = `
import os, pty, sys
password, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
seen = b""
def read_until(marker):
    global seen
    while marker not in seen:
        chunk = os.read(fd, 1024)
        if not chunk:
            raise SystemExit("EOF before %r; saw %r" % (marker, seen))
        seen += chunk
read_until(b"Password: ")
os.write(fd, password.encode() + b"\n")
read_until(b"Repeat password: ")
os.write(fd, password.encode() + b"\n")
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.stdout.write("\nEXIT %d\n" % os.waitstatus_to_exitcode(status))
`

// On a terminal, user add prompts twice with echo off.
func TestPasswordPrompt(t *testing.T) {
	prototest.NeedProgram(t, "python3", "python3")
	t.Parallel()
	dir := newDir(t)
	const secret = "typed-on-a-tty"
	out, err := exec.Command("python3", "-c", ptyScript, secret, bin, "-d", dir, "user", "add", "tty@example.test").CombinedOutput()
	if err != nil {
		t.Fatalf("pty script: %v\n%s", err, out)
	}
	if !strings.HasSuffix(string(out), "EXIT 0\n") {
		t.Fatalf("user add on a terminal failed:\n%s", out)
	}
	if strings.Contains(string(out), secret) {
		t.Fatalf("the password was echoed:\n%s", out)
	}
	if got := must(t, "", "-d", dir, "user", "list"); got != "tty@example.test used=0 quota=none last_login=never\n" {
		t.Fatalf("user list: %q", got)
	}
}
