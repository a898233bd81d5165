package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// getmail6 over IMAP and IMAPS: everything once, then nothing new
// (getmail remembers UIDs), then only a new message. The destination is an
// external MDA writing one file per message (getmail's Maildir writer
// refuses to run as root, as CI does).
func TestGetmailIMAP(t *testing.T) {
	need(t, "getmail", "getmail6")
	const user, pass = "gina@example.test", "get mail six"
	in := servedWith(t, user, pass, "imap", "imaps")
	inbox := slices.Clone(testMessages) // what INBOX holds
	for _, mode := range []string{"SimpleIMAPRetriever", "SimpleIMAPSSLRetriever"} {
		t.Run(mode, func(t *testing.T) {
			addr := in.addrs["imap"]
			if mode == "SimpleIMAPSSLRetriever" {
				addr = in.addrs["imaps"]
			}
			host, port := splitHostPort(t, addr)
			dir := t.TempDir()
			outDir := filepath.Join(dir, "out")
			if err := os.Mkdir(outDir, 0o700); err != nil {
				t.Fatal(err)
			}
			rc := fmt.Sprintf("[retriever]\ntype = %s\nserver = %s\nport = %s\nusername = %s\npassword = %s\nmailboxes = (\"INBOX\",)\nrecord_mailbox = false\n"+
				"\n[destination]\ntype = MDA_external\npath = /bin/sh\narguments = (\"-c\", \"cat > %s/$$.eml\")\nallow_root_commands = true\n"+
				"\n[options]\nread_all = false\ndelete = false\nverbose = 2\n",
				mode, host, port, user, pass, outDir)
			rcFile := filepath.Join(dir, "getmailrc")
			if err := os.WriteFile(rcFile, []byte(rc), 0o600); err != nil {
				t.Fatal(err)
			}
			run := func(want ...string) {
				t.Helper()
				before, _ := os.ReadDir(outDir)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				out, err := exec.CommandContext(ctx, "getmail", "--getmaildir", dir, "--rcfile", rcFile).CombinedOutput()
				if err != nil {
					t.Fatalf("getmail: %v\n%s", err, out)
				}
				after, err := os.ReadDir(outDir)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, fi := range after {
					if slices.ContainsFunc(before, func(b os.DirEntry) bool { return b.Name() == fi.Name() }) {
						continue
					}
					b, err := os.ReadFile(filepath.Join(outDir, fi.Name()))
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, withoutDelivered(withoutReceived(string(b))))
				}
				slices.Sort(got)
				wantSorted := slices.Clone(want)
				slices.Sort(wantSorted)
				if !slices.Equal(got, wantSorted) {
					t.Fatalf("getmail delivered %d messages, want %d\n got %q\nwant %q\noutput:\n%s",
						len(got), len(want), truncAll(got), truncAll(wantSorted), out)
				}
			}
			run(inbox...) // a new getmail directory: everything
			run()
			extra := "From: hal@example.org\nTo: gina@example.test\nSubject: " + mode + "\n\nnew\n"
			in.deliver(user, extra)
			inbox = append(inbox, extra)
			run(extra)
		})
	}
}

// withoutDelivered drops the Delivered-To and Return-Path headers getmail
// adds to what it writes into a Maildir.
func withoutDelivered(m string) string {
	for {
		switch {
		case strings.HasPrefix(m, "Delivered-To:"), strings.HasPrefix(m, "Return-Path:"):
			_, m, _ = strings.Cut(m, "\n")
		case strings.HasPrefix(m, "Received:"):
			m = withoutReceived(m)
		default:
			return m
		}
	}
}
