// Package importer moves mail from another server's store (Maildir++ with
// Dovecot's or Courier's UID files, or an mbox) into Pochta through the
// store.Importer seam, keeping what clients know: UIDVALIDITY and UIDs,
// POP3 UIDLs, flags, keywords and dates, and Dovecot's or Courier's
// subscriptions. `pochta import` is its command line; it parses and
// prints, the Service does the work.
//
// An import is restartable: each message is stored under its source key
// (the Maildir base file name, or a digest of an mbox message), so running
// it again after a crash, or later to catch up, adds only what is new. A
// message that cannot be read is reported and skipped, never a reason to
// stop; a malformed UID file stops its folder only (importing it anyway
// would renumber the messages clients know).
package importer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pochta-mail/pochta/internal/migrate"
	"github.com/pochta-mail/pochta/internal/migrate/maildir"
	"github.com/pochta-mail/pochta/internal/store"
)

// Store is what an import needs of the storage engine.
type Store interface {
	store.Importer
	Account(ctx context.Context, address string) (store.Account, error)
	GetMailbox(ctx context.Context, accountID int64, name string) (store.Mailbox, error)
	SetSubscribed(ctx context.Context, accountID int64, name string, subscribed bool) error
}

// DefaultUIDLFormat is Dovecot's default pop3_uidl_format.
const DefaultUIDLFormat = "%08Xu%08Xv"

// Options configure a Service. The zero value imports for real with
// Dovecot's default UIDL format.
type Options struct {
	// UIDLFormat computes the POP3 UIDLs of INBOX messages the source did
	// not save one for (the old server's pop3_uidl_format); nil means
	// DefaultUIDLFormat.
	UIDLFormat *migrate.UIDLFormat
	// DryRun reads everything and reports what would be imported, storing
	// nothing.
	DryRun bool
	// Progress, when set, is called after every batch stored.
	Progress func(Progress)
	// MboxFolder is the mailbox an mbox file goes into; "" = INBOX.
	MboxFolder string
	// Imported, when set, is called once an account's mail is stored,
	// with the UIDs this run put into its INBOX (in the order stored), so
	// that they can be filtered (`pochta import --sieve`). Not called in
	// a dry run or when the account's import failed; its error is the
	// account's.
	Imported func(ctx context.Context, acct store.Account, inbox []uint32) error
	// BatchMessages and BatchBytes bound one transaction; 0 = 500 and
	// 32 MiB.
	BatchMessages int
	BatchBytes    int64
}

// Progress is where an import stands.
type Progress struct {
	Account  string
	Folder   string
	Done     int // messages of the folder handled (stored or skipped)
	Total    int // messages of the folder; -1 when unknown (mbox)
	Messages int // messages stored so far, all folders
	Bytes    int64
}

// Problem is something skipped, with the reason.
type Problem struct {
	Where  string // file, folder or account
	Reason string
}

func (p Problem) String() string { return p.Where + ": " + p.Reason }

// Summary counts what an import did (or, in a dry run, would do).
type Summary struct {
	Accounts int
	Folders  int
	Messages int   // stored
	Bytes    int64 // octets stored (CRLF)
	Known    int   // already imported by an earlier run
	// Renumbered lists folders whose UIDs could not be kept: the
	// mailbox held mail before the import, or the source had no UIDs.
	Renumbered []string
	// UIDLsReplaced counts INBOX messages whose source UIDL another
	// message of the account already had: they got a new one.
	UIDLsReplaced int
	Problems      []Problem

	inbox []uint32 // UIDs stored into INBOX, for Options.Imported
}

func (s *Summary) add(o Summary) {
	s.Accounts += o.Accounts
	s.Folders += o.Folders
	s.Messages += o.Messages
	s.Bytes += o.Bytes
	s.Known += o.Known
	s.Renumbered = append(s.Renumbered, o.Renumbered...)
	s.UIDLsReplaced += o.UIDLsReplaced
	s.Problems = append(s.Problems, o.Problems...)
}

func (s *Summary) problem(where string, format string, args ...any) {
	s.Problems = append(s.Problems, Problem{Where: where, Reason: fmt.Sprintf(format, args...)})
}

// Service imports mail into a store.
type Service struct {
	Store Store
	Opt   Options
}

func (s *Service) uidlFormat() *migrate.UIDLFormat {
	if s.Opt.UIDLFormat != nil {
		return s.Opt.UIDLFormat
	}
	f, _ := migrate.ParseUIDLFormat(DefaultUIDLFormat)
	return f
}

// Kind is what a path holds.
type Kind uint8

const (
	KindMaildir Kind = iota + 1
	KindMbox
)

// Detect tells what path is: a Maildir++ root (a directory with cur/, or
// with Maildir/cur/ as a Dovecot home has), or an mbox file. It returns
// the Maildir root to read.
func Detect(path string) (Kind, string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, "", err
	}
	if !fi.IsDir() {
		return KindMbox, path, nil
	}
	for _, dir := range []string{path, filepath.Join(path, "Maildir")} {
		if st, err := os.Stat(filepath.Join(dir, "cur")); err == nil && st.IsDir() {
			return KindMaildir, dir, nil
		}
	}
	return 0, "", fmt.Errorf("%s is neither a Maildir (no cur/ or Maildir/cur/) nor an mbox file", path)
}

// Account imports path (detected, see Detect) into the account address,
// which must exist. The error is for what stops the whole account (no
// such account, unreadable path, the store failing); everything smaller
// is a Problem in the summary.
func (s *Service) Account(ctx context.Context, address, path string) (Summary, error) {
	acct, err := s.Store.Account(ctx, address)
	if errors.Is(err, store.ErrNotFound) {
		return Summary{}, fmt.Errorf("no account %s (create it first: pochta user add, or pochta user import)", address)
	} else if err != nil {
		return Summary{}, err
	}
	kind, root, err := Detect(path)
	if err != nil {
		return Summary{}, err
	}
	sum := Summary{Accounts: 1}
	var run error
	if kind == KindMaildir {
		run = s.maildir(ctx, acct, root, &sum)
	} else {
		run = s.mboxFile(ctx, acct, root, &sum)
	}
	if run == nil && s.Opt.Imported != nil && !s.Opt.DryRun {
		run = s.Opt.Imported(ctx, acct, sum.inbox)
	}
	sum.inbox = nil
	return sum, run
}

// Tree imports every account under root laid out as root/DOMAIN/USER
// (each a Maildir, or a Dovecot home with Maildir/ inside) into the
// account USER@DOMAIN. Accounts that do not exist, or fail, are reported
// and the others imported; only a store failure stops the run.
func (s *Service) Tree(ctx context.Context, root string) (Summary, error) {
	var sum Summary
	domains, err := os.ReadDir(root)
	if err != nil {
		return sum, err
	}
	for _, d := range domains {
		if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			continue
		}
		users, err := os.ReadDir(filepath.Join(root, d.Name()))
		if err != nil {
			sum.problem(filepath.Join(root, d.Name()), "%v", err)
			continue
		}
		for _, u := range users {
			if !u.IsDir() || strings.HasPrefix(u.Name(), ".") {
				continue
			}
			address := strings.ToLower(u.Name() + "@" + d.Name())
			path := filepath.Join(root, d.Name(), u.Name())
			one, err := s.Account(ctx, address, path)
			sum.add(one)
			if err != nil {
				if errors.Is(err, store.ErrTemporary) || ctx.Err() != nil {
					return sum, err
				}
				sum.problem(address, "%v", err)
			}
		}
	}
	slices.SortStableFunc(sum.Problems, func(a, b Problem) int { return cmp.Compare(a.Where, b.Where) })
	return sum, nil
}

// maildir imports every folder of a Maildir++ tree.
func (s *Service) maildir(ctx context.Context, acct store.Account, root string, sum *Summary) error {
	refs, warns, err := maildir.Folders(root)
	if err != nil {
		return err
	}
	for _, w := range warns {
		sum.problem(w.File, "%s", w.Msg)
	}
	subs := readSubscriptions(root, sum)
	for _, ref := range refs {
		f, err := maildir.ReadFolder(ref)
		if err != nil {
			sum.problem(ref.Dir, "folder %s not imported: %v", ref.Name, err)
			continue
		}
		for _, w := range f.Warnings {
			sum.problem(w.File, "%s", w.Msg)
		}
		name := store.CanonicalMailboxName(ref.Name)
		_, subscribe := subs[name]
		if err := s.maildirFolder(ctx, acct, f, subs == nil || subscribe, sum); err != nil {
			return err
		}
		delete(subs, name)
	}
	if s.Opt.DryRun {
		return nil
	}
	// Names the old server keeps subscribed that are no folder of the
	// Maildir (Dovecot keeps the subscription of a deleted folder):
	// subscriptions are names in Pochta too.
	for _, name := range slices.Sorted(maps.Keys(subs)) {
		if err := s.Store.SetSubscribed(ctx, acct.ID, name, true); err != nil {
			return err
		}
	}
	return nil
}

// subscriptionFiles are the files at the top of a Maildir that say which
// of its folders are subscribed, the first present one read: Dovecot's,
// then Courier-IMAP's. Courier never writes Dovecot's file; a Maildir
// holding both was moved from Courier to Dovecot (whose migration script
// converts courierimapsubscribed), and Dovecot's is the one it kept
// current since.
var subscriptionFiles = []struct {
	name  string
	parse func(r io.Reader, file string) ([]string, []*migrate.ParseError, error)
}{
	{"subscriptions", maildir.ParseDovecotSubscriptions},
	{"courierimapsubscribed", maildir.ParseCourierSubscriptions},
}

// readSubscriptions reads the subscriptions file of the Maildir root
// (subscriptionFiles): the mailbox names it subscribes, in canonical
// form; nil when there is no such file (or it cannot be read, which is
// reported): then every imported folder is subscribed.
func readSubscriptions(root string, sum *Summary) map[string]struct{} {
	for _, sf := range subscriptionFiles {
		path := filepath.Join(root, sf.name)
		fh, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			sum.problem(path, "%v; every imported folder is subscribed", err)
			return nil
		}
		defer fh.Close()
		names, skipped, err := sf.parse(fh, path)
		if err != nil {
			sum.problem(path, "%v; every imported folder is subscribed", err)
			return nil
		}
		for _, w := range skipped {
			sum.problem(w.File, "%s", w.Msg)
		}
		subs := make(map[string]struct{}, len(names))
		for _, n := range names {
			subs[store.CanonicalMailboxName(n)] = struct{}{}
		}
		return subs
	}
	return nil
}

// folderTarget prepares the mailbox a source folder goes into, subscribed
// or not, and reports whether the source's UIDs can be kept. In a dry run
// nothing is created: an existing mailbox is only looked at.
func (s *Service) folderTarget(ctx context.Context, acct store.Account, im store.ImportMailbox, subscribe bool, sum *Summary) (mb store.Mailbox, keepUIDs bool, known map[string]uint32, err error) {
	sum.Folders++
	if s.Opt.DryRun {
		mb, err = s.Store.GetMailbox(ctx, acct.ID, im.Name)
		if errors.Is(err, store.ErrNotFound) {
			return store.Mailbox{Name: im.Name}, im.UIDValidity != 0, map[string]uint32{}, nil
		} else if err != nil {
			return mb, false, nil, err
		}
		keepUIDs = im.UIDValidity != 0 && (mb.UIDValidity == im.UIDValidity || mb.UIDNext == 1)
	} else {
		mb, err = s.Store.ImportMailbox(ctx, acct.ID, im)
		if err != nil {
			return mb, false, nil, err
		}
		if err := s.Store.SetSubscribed(ctx, acct.ID, mb.Name, subscribe); err != nil {
			return mb, false, nil, err
		}
		keepUIDs = im.UIDValidity != 0 && mb.UIDValidity == im.UIDValidity
	}
	if !keepUIDs {
		sum.Renumbered = append(sum.Renumbered, acct.Address+" "+im.Name)
	}
	known, err = s.Store.ImportedKeys(ctx, mb.ID)
	return mb, keepUIDs, known, err
}

func (s *Service) maildirFolder(ctx context.Context, acct store.Account, f *maildir.Folder, subscribe bool, sum *Summary) error {
	mb, keepUIDs, known, err := s.folderTarget(ctx, acct, store.ImportMailbox{Name: f.Name, SpecialUse: f.SpecialUse,
		UIDValidity: f.UIDValidity, UIDNext: f.UIDNext}, subscribe, sum)
	if err != nil {
		return err
	}
	inbox := f.Name == store.InboxName
	format := s.uidlFormat()
	b := s.newBatch(ctx, acct, mb, len(f.Messages), sum)
	for _, m := range f.Messages {
		key := maildir.ParseName(filepath.Base(m.Path)).Base
		if _, ok := known[key]; ok {
			b.skip()
			continue
		}
		im := store.ImportMessage{Key: key, Flags: slices.Concat(m.Flags, m.Keywords), InternalDate: m.Time}
		if keepUIDs {
			im.UID = m.UID
		}
		if inbox {
			im.UIDL = m.UIDL
			if im.UIDL == "" && (f.UIDValidity != 0 || !format.NeedsUID()) {
				im.UIDL = s.computeUIDL(format, migrate.UIDLVars{UID: m.UID, UIDValidity: f.UIDValidity, FileName: key}, m.Path, sum)
			}
		}
		path := m.Path
		im.Open = func() (io.ReadCloser, error) { return os.Open(path) }
		if err := b.add(im, m.Size, path); err != nil {
			return err
		}
	}
	return b.flush()
}

// computeUIDL returns the UIDL the old server computed, or "" (a
// generated one) when the format cannot make a valid one.
func (s *Service) computeUIDL(format *migrate.UIDLFormat, v migrate.UIDLVars, where string, sum *Summary) string {
	u, err := format.Format(v)
	if err == nil && !store.ValidUIDL(u) {
		err = fmt.Errorf("%q is not a valid POP3 UIDL", u)
	}
	if err != nil {
		sum.problem(where, "UIDL from format %s: %v; a new one is given", format, err)
		return ""
	}
	return u
}
