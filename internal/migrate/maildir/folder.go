package maildir

import (
	"cmp"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/migrate"
	"github.com/pochta-mail/pochta/internal/mutf7"
	"github.com/pochta-mail/pochta/internal/store"
)

// FolderRef is one mailbox of a Maildir++ tree.
type FolderRef struct {
	Dir        string // the directory holding cur/ and new/
	Name       string // the mailbox name in Pochta's hierarchy ("INBOX", "Lists/foo")
	SpecialUse string // store.Use* from the usual names, "" for others
}

// specialUse maps the folder names clients and servers commonly create to
// their RFC 6154 use. Only top-level folders are mapped.
var specialUse = map[string]string{
	"sent": store.UseSent, "sent items": store.UseSent, "sent messages": store.UseSent,
	"drafts": store.UseDrafts,
	"trash":  store.UseTrash, "deleted items": store.UseTrash,
	"junk": store.UseJunk, "spam": store.UseJunk,
	"archive": store.UseArchive,
}

// Folders lists the mailboxes of the Maildir++ tree at root: root itself
// is INBOX, each subdirectory ".a.b" with a cur/ directory is the mailbox
// "a/b" (names in IMAP's modified UTF-7 are decoded). Sorted by name.
// Directories whose names do not decode are reported in warnings and left
// out.
func Folders(root string) ([]FolderRef, []*migrate.ParseError, error) {
	if !isMaildir(root) {
		return nil, nil, migrate.Errorf(root, 0, "not a Maildir: no cur/ directory")
	}
	out := []FolderRef{{Dir: root, Name: store.InboxName}}
	var warns []*migrate.ParseError
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		n := e.Name()
		if !e.IsDir() || len(n) < 2 || n[0] != '.' || n == ".." {
			continue
		}
		dir := filepath.Join(root, n)
		if !isMaildir(dir) {
			continue
		}
		name, err := FolderName(n)
		if err != nil {
			warns = append(warns, migrate.Errorf(dir, 0, "%v", err))
			continue
		}
		ref := FolderRef{Dir: dir, Name: name}
		if !strings.ContainsRune(name, store.Delimiter) {
			ref.SpecialUse = specialUse[strings.ToLower(name)]
		}
		out = append(out, ref)
	}
	slices.SortFunc(out[1:], func(a, b FolderRef) int { return cmp.Compare(a.Name, b.Name) })
	return out, warns, nil
}

func isMaildir(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "cur"))
	return err == nil && fi.IsDir()
}

// FolderName maps a Maildir++ directory name (".Lists.foo") to a mailbox
// name ("Lists/foo").
func FolderName(dir string) (string, error) {
	parts := strings.Split(strings.TrimPrefix(dir, "."), ".")
	for i, p := range parts {
		if p == "" {
			return "", errors.New("empty level in folder name " + dir)
		}
		d, err := decodeMUTF7(p)
		if err != nil {
			return "", err
		}
		if strings.ContainsRune(d, store.Delimiter) {
			return "", errors.New("folder name " + dir + " holds the delimiter " + string(store.Delimiter))
		}
		parts[i] = d
	}
	return strings.Join(parts, string(store.Delimiter)), nil
}

// Folder is one mailbox read from disk.
type Folder struct {
	FolderRef
	// UIDSource is "dovecot-uidlist", "courierimapuiddb" or "" (plain).
	UIDSource   string
	UIDValidity uint32 // 0 when the source had none
	UIDNext     uint32 // greater than every UID in Messages
	Messages    []Message
	Warnings    []*migrate.ParseError
}

// Message is one message file.
type Message struct {
	Path string
	UID  uint32
	// UIDFromSource says the UID came from dovecot-uidlist or
	// courierimapuiddb; otherwise it was assigned here, after the known
	// ones, in order of delivery time then file name.
	UIDFromSource bool
	// UIDL is the POP3 UIDL the old server showed: dovecot-uidlist's P
	// field, or Courier's (courierpop3dsizelist); "" if none.
	UIDL  string
	Flags []string // system flags, sorted
	// Keywords come from the keyword letters, P ($Forwarded) and
	// Courier's courierimapkeywords/.
	Keywords []string
	Recent   bool // in new/: no client has seen it
	Time     time.Time
	Size     int64
}

// ReadFolder reads the messages of the folder ref: their UIDs from
// dovecot-uidlist (preferred) or courierimapuiddb, flags and keywords from
// the file names and dovecot-keywords, and without a dovecot-uidlist
// Courier's POP3 UIDLs (courierpop3dsizelist) and keywords
// (courierimapkeywords/). A UID file or dovecot-keywords that is present
// but malformed is an error: importing without it would lose the UIDs the
// operator expects kept. Courier's files are read as Courier reads them,
// skipping (and reporting in Warnings) what it would skip.
func ReadFolder(ref FolderRef) (*Folder, error) {
	f := &Folder{FolderRef: ref}
	var list *UIDList
	for _, src := range []string{"dovecot-uidlist", "courierimapuiddb"} {
		l, ok, err := parseFile(filepath.Join(ref.Dir, src), ParseUIDList)
		if err != nil {
			return nil, err
		}
		if ok {
			list, f.UIDSource = l, src
			f.UIDValidity, f.UIDNext = l.UIDValidity, l.UIDNext
			break
		}
	}
	kw, haveKW, err := parseFile(filepath.Join(ref.Dir, "dovecot-keywords"), ParseKeywords)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var fresh []int // messages without a listed UID
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(ref.Dir, sub))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			path := filepath.Join(ref.Dir, sub, e.Name())
			info, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // renamed by a running server since ReadDir
			}
			if err != nil {
				return nil, err
			}
			if !info.Mode().IsRegular() {
				continue
			}
			n := ParseName(e.Name())
			if seen[n.Base] {
				f.Warnings = append(f.Warnings, migrate.Errorf(path, 0, "second file for message %s, skipped", n.Base))
				continue
			}
			seen[n.Base] = true
			m := Message{Path: path, Flags: n.Flags, Recent: sub == "new", Size: info.Size(), Time: info.ModTime()}
			if n.Time > 0 && info.ModTime().IsZero() {
				m.Time = time.Unix(n.Time, 0)
			}
			for _, c := range n.Letters {
				if !haveKW || kw[c-'a'] == "" {
					f.Warnings = append(f.Warnings, migrate.Errorf(path, 0, "keyword letter %c has no entry in dovecot-keywords, ignored", c))
					continue
				}
				m.Keywords = append(m.Keywords, kw[c-'a'])
			}
			if n.Forwarded {
				m.Keywords = append(m.Keywords, "$Forwarded")
			}
			if list != nil {
				if ent := list.Entries[n.Base]; ent != nil {
					m.UID, m.UIDL, m.UIDFromSource = ent.UID, ent.UIDL, true
				}
			}
			if !m.UIDFromSource {
				fresh = append(fresh, len(f.Messages))
			}
			f.Messages = append(f.Messages, m)
		}
	}
	// Messages the list does not know get UIDs after the known ones, in
	// delivery order, as Dovecot would assign them on its next sync.
	slices.SortStableFunc(fresh, func(a, b int) int {
		ma, mb := &f.Messages[a], &f.Messages[b]
		ta, tb := deliveryTime(ma), deliveryTime(mb)
		if c := ta.Compare(tb); c != 0 {
			return c
		}
		return cmp.Compare(filepath.Base(ma.Path), filepath.Base(mb.Path))
	})
	if f.UIDNext == 0 {
		f.UIDNext = 1
	}
	for _, i := range fresh {
		f.Messages[i].UID = f.UIDNext
		f.UIDNext++
	}
	if f.UIDSource != "dovecot-uidlist" {
		f.courierUIDLs()
		if err := f.courierKeywords(seen); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(f.Messages, func(a, b Message) int { return cmp.Compare(a.UID, b.UID) })
	return f, nil
}

// courierUIDLs gives the messages the POP3 UIDLs Courier's pop3d shows
// them: those of courierpop3dsizelist, and for a message it does not list
// the one Courier would give at the next login (the next UID, in its
// order of file names). A list Courier would ignore (another version,
// unreadable) is reported, and the UIDLs are then computed from the
// import's format (section "POP3 UIDLs" of docs/MIGRATION.md).
func (f *Folder) courierUIDLs() {
	path := filepath.Join(f.Dir, "courierpop3dsizelist")
	l, ok, err := parseFile(path, ParseCourierPOP3List)
	if err != nil {
		var pe *migrate.ParseError
		if !errors.As(err, &pe) {
			pe = migrate.Errorf(path, 0, "%v", err)
		}
		pe.Msg += "; Courier ignores such a list too: POP3 UIDLs computed from the UIDL format instead"
		f.Warnings = append(f.Warnings, pe)
		return
	}
	if !ok {
		return
	}
	f.Warnings = append(f.Warnings, l.Skipped...)
	var fresh []*Message
	for i := range f.Messages {
		m := &f.Messages[i]
		if uidl, ok := l.Entries[ParseName(filepath.Base(m.Path)).Base]; ok {
			m.UIDL = uidl
		} else {
			fresh = append(fresh, m)
		}
	}
	if l.UIDValidity == 0 {
		return // Courier would take the time of the login as UIDVALIDITY
	}
	slices.SortFunc(fresh, func(a, b *Message) int {
		return courierOrder(ParseName(filepath.Base(a.Path)).Base, ParseName(filepath.Base(b.Path)).Base)
	})
	next := max(l.NextUID, 1)
	for _, m := range fresh {
		m.UIDL = "UID" + strconv.FormatUint(next, 10) + "-" + strconv.FormatUint(l.UIDValidity, 10)
		next++
	}
}

// courierKeywords adds the keywords Courier-IMAP keeps in
// courierimapkeywords/ to the messages (present names the base file names
// of the folder's messages). Next to a dovecot-uidlist the directory is
// not read: Dovecot ignores it, so it would be older than what Dovecot
// kept in dovecot-keywords.
func (f *Folder) courierKeywords(present map[string]bool) error {
	kw, ok, err := ReadCourierKeywords(f.Dir, func(base string) bool { return present[base] })
	if err != nil || !ok {
		return err
	}
	f.Warnings = append(f.Warnings, kw.Skipped...)
	for i := range f.Messages {
		m := &f.Messages[i]
		for _, k := range kw.Keywords[ParseName(filepath.Base(m.Path)).Base] {
			if !slices.ContainsFunc(m.Keywords, func(have string) bool { return strings.EqualFold(have, k) }) {
				m.Keywords = append(m.Keywords, k)
			}
		}
	}
	return nil
}

// deliveryTime is the time in the file name (set at delivery) or else the
// file's mtime.
func deliveryTime(m *Message) time.Time {
	if n := ParseName(filepath.Base(m.Path)); n.Time > 0 {
		return time.Unix(n.Time, 0)
	}
	return m.Time
}

// parseFile opens and parses path; ok is false when there is no such file.
func parseFile[T any](path string, parse func(r io.Reader, file string) (T, error)) (v T, ok bool, err error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return v, false, nil
	}
	if err != nil {
		return v, false, err
	}
	defer fh.Close()
	v, err = parse(fh, path)
	return v, err == nil, err
}

// DirName is FolderName's inverse: the Maildir++ directory of a mailbox
// ("Lists/foo" is ".Lists.foo", "Entwürfe" ".Entw&APw-rfe"); "" for INBOX.
// A level holding "." has no Maildir++ form (the dot is the separator).
func DirName(name string) (string, error) {
	if name == store.InboxName {
		return "", nil
	}
	levels := strings.Split(name, string(store.Delimiter))
	for i, l := range levels {
		if l == "" || strings.Contains(l, ".") {
			return "", errors.New("mailbox name " + name + " has no Maildir++ form (a level is empty or holds \".\")")
		}
		levels[i] = mutf7.Encode(l)
	}
	return "." + strings.Join(levels, "."), nil
}
