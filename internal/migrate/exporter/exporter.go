// Package exporter writes an account's mail out of Pochta as a Maildir++
// tree that Dovecot reads without renumbering anything: every folder gets
// a dovecot-uidlist (UIDVALIDITY, next UID, each message's UID and, in
// INBOX, its POP3 UIDL) and a dovecot-keywords, message files carry the
// flags in their names and the arrival time as mtime. `pochta export` is
// its command line; `pochta import` reads the result back with the same
// UIDs and UIDLs.
package exporter

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/migrate/maildir"
	"github.com/pochta-mail/pochta/internal/store"
)

// Store is what an export needs of the storage engine.
type Store interface {
	Account(ctx context.Context, address string) (store.Account, error)
	ListMailboxes(ctx context.Context, accountID int64) ([]store.Mailbox, error)
	ListMessages(ctx context.Context, mailboxID int64, q store.MessageQuery) ([]store.Message, error)
	UIDLs(ctx context.Context, mailboxID int64) (map[uint32]string, error)
}

// Summary counts what an export wrote.
type Summary struct {
	Folders  int
	Messages int
	Bytes    int64
	// Problems are things not exported as they were, with the reason.
	Problems []string
}

// batchSize is how many messages are listed (with their bodies) at once.
const batchSize = 200

// Maildir writes the account's mailboxes under dir (created; it must not
// hold a Maildir already): dir itself is INBOX, ".Sent" is Sent, and so
// on. Files are written to tmp/ and renamed into cur/ once complete, as
// Maildir delivery does, so a crash never leaves a half message in cur/;
// dovecot-uidlist is written last in each folder.
func Maildir(ctx context.Context, st Store, address, dir string) (Summary, error) {
	var sum Summary
	acct, err := st.Account(ctx, address)
	if err != nil {
		return sum, err
	}
	if _, err := os.Stat(filepath.Join(dir, "cur")); err == nil {
		return sum, fmt.Errorf("%s holds a Maildir already: export into a new directory", dir)
	}
	mbs, err := st.ListMailboxes(ctx, acct.ID)
	if err != nil {
		return sum, err
	}
	for _, mb := range mbs {
		sub, err := maildir.DirName(mb.Name)
		if err != nil {
			sum.Problems = append(sum.Problems, fmt.Sprintf("%s: not exported: %v", mb.Name, err))
			continue
		}
		if err := exportFolder(ctx, st, mb, filepath.Join(dir, sub), &sum); err != nil {
			return sum, fmt.Errorf("exporting %s: %w", mb.Name, err)
		}
	}
	return sum, nil
}

// flagLetters are the Maildir info letters of the system flags, in the
// ASCII order the name must list them in. $Forwarded is written as a
// keyword, not as "P": Dovecot 2.3 does not show "P" as $Forwarded.
var flagLetters = []struct {
	letter byte
	flag   string
}{{'D', store.FlagDraft}, {'F', store.FlagFlagged}, {'R', store.FlagAnswered},
	{'S', store.FlagSeen}, {'T', store.FlagDeleted}}

func exportFolder(ctx context.Context, st Store, mb store.Mailbox, dir string, sum *Summary) error {
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	sum.Folders++
	var uidls map[uint32]string
	if mb.Name == store.InboxName {
		var err error
		if uidls, err = st.UIDLs(ctx, mb.ID); err != nil {
			return err
		}
	}
	var keywords []string // index = letter - 'a'
	var list bytes.Buffer
	var guid [16]byte
	rand.Read(guid[:])
	fmt.Fprintf(&list, "3 V%d N%d G%s\n", mb.UIDValidity, mb.UIDNext, hex.EncodeToString(guid[:]))
	err := eachMessage(ctx, st, mb.ID, true, func(m store.Message) error {
		letters := ""
		for _, fl := range flagLetters {
			if m.HasFlag(fl.flag) {
				letters += string(fl.letter)
			}
		}
		var kws []byte
		for _, f := range m.Flags {
			if strings.HasPrefix(f, `\`) {
				continue
			}
			i := slices.Index(keywords, f)
			if i < 0 && len(keywords) < 26 {
				keywords = append(keywords, f)
				i = len(keywords) - 1
			}
			if i < 0 {
				sum.Problems = append(sum.Problems, fmt.Sprintf("%s UID %d: keyword %s not exported (a Maildir folder holds 26)", mb.Name, m.UID, f))
				continue
			}
			kws = append(kws, byte('a'+i))
		}
		slices.Sort(kws)
		base, size, err := writeMessage(m, dir)
		if errors.Is(err, store.ErrNotFound) {
			return nil // expunged since the listing
		} else if err != nil {
			return err
		}
		name := base + ":2," + letters + string(kws)
		if err := os.Rename(filepath.Join(dir, "tmp", base), filepath.Join(dir, "cur", name)); err != nil {
			return err
		}
		if err := os.Chtimes(filepath.Join(dir, "cur", name), m.InternalDate, m.InternalDate); err != nil {
			return err
		}
		fmt.Fprintf(&list, "%d", m.UID)
		if u := uidls[m.UID]; u != "" {
			fmt.Fprintf(&list, " P%s", u)
		}
		fmt.Fprintf(&list, " W%d :%s\n", m.Size, base)
		sum.Messages++
		sum.Bytes += size
		return nil
	})
	if err != nil {
		return err
	}
	var kw bytes.Buffer
	for i, k := range keywords {
		fmt.Fprintf(&kw, "%d %s\n", i, k)
	}
	if err := writeFile(filepath.Join(dir, "dovecot-keywords"), kw.Bytes()); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, "dovecot-uidlist"), list.Bytes())
}

// eachMessage calls fn for every message of the mailbox in UID order,
// listing them in batches (with Open when bodies).
func eachMessage(ctx context.Context, st Store, mailboxID int64, bodies bool, fn func(store.Message) error) error {
	for after := uint32(0); ; {
		msgs, err := st.ListMessages(ctx, mailboxID, store.MessageQuery{MinUID: after + 1, Limit: batchSize, Bodies: bodies})
		if err != nil || len(msgs) == 0 {
			return err
		}
		for _, m := range msgs {
			after = m.UID
			if err := fn(m); err != nil {
				return err
			}
		}
	}
}

// writeMessage writes m's body into dir/tmp with LF line ends (as Maildir
// files have them) under a new unique base name, fsynced, and returns the
// base name ("<time>.P<id>Q<uid>.pochta,S=<size>") and the file's size.
func writeMessage(m store.Message, dir string) (string, int64, error) {
	r, err := m.Open()
	if err != nil {
		return "", 0, err
	}
	defer r.Close()
	tmp := filepath.Join(dir, "tmp", fmt.Sprintf("export.%d", m.UID))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", 0, err
	}
	w := bufio.NewWriter(f)
	size, err := copyLF(w, r)
	if err == nil {
		err = w.Flush()
	}
	if err := syncClose(f, tmp, err); err != nil {
		return "", 0, err
	}
	base := fmt.Sprintf("%d.P%dQ%d.pochta,S=%d", m.InternalDate.Unix(), m.ID, m.UID, size)
	if err := os.Rename(tmp, filepath.Join(dir, "tmp", base)); err != nil {
		return "", 0, err
	}
	return base, size, nil
}

// copyLF copies r to w turning CRLF into LF (a CR that ends a buffer is
// held until the next byte is known).
func copyLF(w io.Writer, r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var n int64
	heldCR := false
	write := func(b []byte) error {
		k, err := w.Write(b)
		n += int64(k)
		return err
	}
	for {
		chunk, err := br.ReadSlice('\n')
		if heldCR && !(len(chunk) > 0 && chunk[0] == '\n') {
			if werr := write([]byte{'\r'}); werr != nil {
				return n, werr
			}
		}
		heldCR = false
		if k := len(chunk); k >= 2 && chunk[k-2] == '\r' && chunk[k-1] == '\n' {
			chunk = append(chunk[:k-2], '\n')
		} else if k > 0 && chunk[k-1] == '\r' {
			chunk, heldCR = chunk[:k-1], true
		}
		if werr := write(chunk); werr != nil {
			return n, werr
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			if heldCR {
				return n, write([]byte{'\r'})
			}
			return n, nil
		default:
			return n, err
		}
	}
}

// writeFile writes data to path through a temporary name, fsynced.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err := syncClose(f, tmp, err); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// syncClose ends writing f (at path) after err, the outcome so far:
// fsync and close, and on any failure remove the file.
func syncClose(f *os.File, path string, err error) error {
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// All exports every account of the store under root as root/DOMAIN/USER
// (the layout `pochta import --all` reads), with export (Maildir or
// Mbox); an account that fails stops the run, since its export would be
// incomplete.
func All(ctx context.Context, st interface {
	Store
	Accounts(ctx context.Context, domain string) ([]store.Account, error)
}, root string, export func(context.Context, Store, string, string) (Summary, error)) (Summary, int, error) {
	var sum Summary
	accts, err := st.Accounts(ctx, "")
	if err != nil {
		return sum, 0, err
	}
	for _, a := range accts {
		local, domain, _ := strings.Cut(a.Address, "@")
		one, err := export(ctx, st, a.Address, filepath.Join(root, domain, local))
		sum.Folders += one.Folders
		sum.Messages += one.Messages
		sum.Bytes += one.Bytes
		sum.Problems = append(sum.Problems, one.Problems...)
		if err != nil {
			return sum, len(accts), fmt.Errorf("exporting %s: %w", a.Address, err)
		}
	}
	return sum, len(accts), nil
}
