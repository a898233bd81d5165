package main

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"syscall"
	"testing"
)

// log.format = json: every line serve writes, from start to a clean stop,
// is one JSON object with time, level and msg (what log shippers parse).
func TestLogFormatJSON(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t)
	args := append([]string{"-d", dir, "serve", "-o", "log.format=json", "-o", "pop3.listen=127.0.0.1:0", "-o", "pop3s.listen=127.0.0.1:0",
		"-o", "imap.listen=127.0.0.1:0", "-o", "imaps.listen=127.0.0.1:0", "-o", "managesieve.listen=127.0.0.1:0"}, loopbackSMTP("127.0.0.1:0")...)
	args = append(args, loopbackWeb("127.0.0.1:0")...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	var msgs []string
	for sc.Scan() {
		var rec struct{ Time, Level, Msg string }
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Time == "" || rec.Level == "" || rec.Msg == "" {
			t.Fatalf("log line not a JSON record (%v): %s", err, sc.Text())
		}
		msgs = append(msgs, rec.Msg)
		if rec.Msg == "pochta started" {
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve: %v after %q", err, msgs)
	}
	if len(msgs) < 3 || msgs[len(msgs)-1] != "stopped" {
		t.Errorf("log records %q: want a start and a clean stop", msgs)
	}
}
