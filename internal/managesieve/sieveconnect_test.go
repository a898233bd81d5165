package managesieve

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// serveTCP serves e on a loopback socket and returns its port.
func (e *env) serveTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go e.srv.ServeConn(context.Background(), c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func sieveConnect(t *testing.T, port string, args ...string) (string, error) {
	t.Helper()
	return prototest.SieveConnect(t, "127.0.0.1", port, "alice@example.org", "secret", args...)
}

// TestSieveConnect uploads, lists, activates, downloads and deletes a
// script with sieve-connect, the Debian ManageSieve client, over
// STARTTLS.
func TestSieveConnect(t *testing.T) {
	prototest.NeedProgram(t, "sieve-connect", "sieve-connect")
	e := newEnv(t)
	port := e.serveTCP(t)
	dir := t.TempDir()
	src := "require [\"fileinto\", \"imap4flags\"];\nif header :contains \"subject\" \"report\" {\n  fileinto :flags \"\\\\Seen\" \"Reports\";\n}\n"
	local := filepath.Join(dir, "filters.sieve")
	if err := os.WriteFile(local, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := sieveConnect(t, port, args...)
		if err != nil {
			t.Fatalf("sieve-connect %q: %v\n%s", args, err, out)
		}
		return out
	}
	run("--upload", "--localsieve", local, "--remotesieve", "filters")
	run("--activate", "--remotesieve", "filters")
	if out := run("--list"); !strings.Contains(out, "filters") || !strings.Contains(out, "<- active") && !strings.Contains(out, "ACTIVE") && !strings.Contains(out, "active") {
		t.Errorf("--list:\n%s", out)
	}
	back := filepath.Join(dir, "back.sieve")
	run("--download", "--remotesieve", "filters", "--localsieve", back)
	got, err := os.ReadFile(back)
	if err != nil {
		t.Fatal(err)
	}
	// Stored as sent (sieve-connect sends CRLF or LF as it read them).
	if strings.ReplaceAll(string(got), "\r\n", "\n") != src {
		t.Errorf("downloaded %q, want %q", got, src)
	}
	sc, err := e.st.ActiveSieveScript(context.Background(), e.acct.ID)
	if err != nil || sc.Name != "filters" {
		t.Errorf("active script %+v, %v", sc, err)
	}
	// A script that does not compile is refused, with the reason.
	bad := filepath.Join(dir, "bad.sieve")
	os.WriteFile(bad, []byte("fileinto \"x\";\n"), 0o600)
	if out, err := sieveConnect(t, port, "--upload", "--localsieve", bad, "--remotesieve", "bad"); err == nil || !strings.Contains(out, "require") {
		t.Errorf("uploading a bad script: %v\n%s", err, out)
	}
	run("--deactivate")
	run("--delete", "--remotesieve", "filters")
	if list, _ := e.st.SieveScripts(context.Background(), e.acct.ID); len(list) != 0 {
		t.Errorf("scripts left: %+v", list)
	}
}
