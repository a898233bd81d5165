package exporter

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// Mbox writes each of the account's mailboxes as an mbox file under dir
// (created, must not hold files of the same names): INBOX is dir/INBOX,
// "Lists/foo" is dir/Lists/foo, the layout of Dovecot's
// "mbox:DIR:INBOX=DIR/INBOX". The files are mboxcl2 as Dovecot writes
// them: no "From " quoting, each body's length in Content-Length, and the
// IMAP state in the headers Dovecot and c-client read: X-IMAPbase
// (UIDVALIDITY, next UID, keywords) in the first message, X-UID, Status,
// X-Status, X-Keywords, and X-UIDL in INBOX. Each message is read whole
// into memory (an mbox needs its body length before the body).
func Mbox(ctx context.Context, st Store, address, dir string) (Summary, error) {
	var sum Summary
	acct, err := st.Account(ctx, address)
	if err != nil {
		return sum, err
	}
	mbs, err := st.ListMailboxes(ctx, acct.ID)
	if err != nil {
		return sum, err
	}
	for _, mb := range mbs {
		path := filepath.Join(dir, filepath.FromSlash(mb.Name))
		if _, err := os.Stat(path); err == nil {
			return sum, fmt.Errorf("%s exists: export into a new directory", path)
		}
	}
	parents := map[string]bool{}
	for _, mb := range mbs {
		for i := range len(mb.Name) {
			if mb.Name[i] == store.Delimiter {
				parents[mb.Name[:i]] = true
			}
		}
	}
	for _, mb := range mbs {
		path := filepath.Join(dir, filepath.FromSlash(mb.Name))
		if parents[mb.Name] {
			// In this layout a mailbox with children is a directory and
			// cannot be a file as well.
			msgs, err := st.ListMessages(ctx, mb.ID, store.MessageQuery{Limit: 1})
			if err != nil {
				return sum, err
			}
			if len(msgs) > 0 {
				sum.Problems = append(sum.Problems, fmt.Sprintf("%s: not exported: it has child mailboxes, and an mbox directory cannot hold messages", mb.Name))
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return sum, err
		}
		if err := exportMbox(ctx, st, mb, path, &sum); err != nil {
			return sum, fmt.Errorf("exporting %s: %w", mb.Name, err)
		}
	}
	return sum, nil
}

func exportMbox(ctx context.Context, st Store, mb store.Mailbox, path string, sum *Summary) error {
	var uidls map[uint32]string
	if mb.Name == store.InboxName {
		var err error
		if uidls, err = st.UIDLs(ctx, mb.ID); err != nil {
			return err
		}
	}
	tmp := path + ".exporting"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = writeMbox(ctx, st, mb, uidls, w, sum)
	if err == nil {
		err = w.Flush()
	}
	if err := syncClose(f, tmp, err); err != nil {
		return err
	}
	sum.Folders++
	return os.Rename(tmp, path)
}

func writeMbox(ctx context.Context, st Store, mb store.Mailbox, uidls map[uint32]string, w io.Writer, sum *Summary) error {
	var keywords []string // the folder's, for X-IMAPbase
	var all []store.Message
	err := eachMessage(ctx, st, mb.ID, false, func(m store.Message) error {
		for _, f := range m.Flags {
			if !strings.HasPrefix(f, `\`) && !slices.Contains(keywords, f) {
				keywords = append(keywords, f)
			}
		}
		all = append(all, m)
		return nil
	})
	if err != nil {
		return err
	}
	for i, m := range all {
		r, err := openUID(ctx, st, mb.ID, m.UID)
		if err != nil {
			continue // expunged since the listing
		}
		var text bytes.Buffer
		_, err = copyLF(&text, r)
		r.Close()
		if err != nil {
			return err
		}
		head, body := splitMessage(text.Bytes())
		var hdr strings.Builder
		if i == 0 {
			fmt.Fprintf(&hdr, "X-IMAPbase: %d %010d", mb.UIDValidity, mb.UIDNext)
			for _, k := range keywords {
				hdr.WriteString(" " + k)
			}
			hdr.WriteString("\n")
		}
		fmt.Fprintf(&hdr, "X-UID: %d\n", m.UID)
		status, xstatus := "O", ""
		if m.HasFlag(store.FlagSeen) {
			status = "RO"
		}
		for _, f := range []struct {
			c    byte
			flag string
		}{{'A', store.FlagAnswered}, {'F', store.FlagFlagged}, {'T', store.FlagDraft}, {'D', store.FlagDeleted}} {
			if m.HasFlag(f.flag) {
				xstatus += string(f.c)
			}
		}
		fmt.Fprintf(&hdr, "Status: %s\n", status)
		if xstatus != "" {
			fmt.Fprintf(&hdr, "X-Status: %s\n", xstatus)
		}
		var kws []string
		for _, f := range m.Flags {
			if !strings.HasPrefix(f, `\`) {
				kws = append(kws, f)
			}
		}
		if len(kws) > 0 {
			fmt.Fprintf(&hdr, "X-Keywords: %s\n", strings.Join(kws, " "))
		}
		if u := uidls[m.UID]; u != "" {
			fmt.Fprintf(&hdr, "X-UIDL: %s\n", u)
		}
		fmt.Fprintf(&hdr, "Content-Length: %d\n", len(body))
		if _, err := fmt.Fprintf(w, "From MAILER-DAEMON %s\n%s%s\n%s\n",
			m.InternalDate.UTC().Format("Mon Jan _2 15:04:05 2006"), head, hdr.String(), body); err != nil {
			return err
		}
		sum.Messages++
		sum.Bytes += int64(len(head) + len(body))
	}
	return nil
}

// openUID opens one message body.
func openUID(ctx context.Context, st Store, mailboxID int64, uid uint32) (io.ReadCloser, error) {
	msgs, err := st.ListMessages(ctx, mailboxID, store.MessageQuery{MinUID: uid, MaxUID: uid, Bodies: true})
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, store.ErrNotFound
	}
	return msgs[0].Open()
}

// splitMessage splits an LF message into its header (with its last
// newline, without the empty line) and its body; a body that does not end
// with a newline gets one, as an mbox needs.
func splitMessage(text []byte) (head, body []byte) {
	if bytes.HasPrefix(text, []byte("\n")) {
		head, body = nil, text[1:]
	} else if i := bytes.Index(text, []byte("\n\n")); i >= 0 {
		head, body = text[:i+1], text[i+2:]
	} else {
		head = text
		if len(head) > 0 && head[len(head)-1] != '\n' {
			head = append(head, '\n')
		}
	}
	if len(body) > 0 && body[len(body)-1] != '\n' {
		body = append(body, '\n')
	}
	return head, body
}
