package store

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/pochta-mail/pochta/internal/message"
)

// This file holds the protocol-neutral rules every engine applies the same
// way: POP3 unique-ids, mailbox names, the stored form of flags, UID
// ranges and the CRLF normalisation of bodies. Engines call them instead
// of keeping copies, so a message moved between engines (or served by
// either) looks the same to clients.

// ValidUIDL reports whether u is a valid POP3 unique-id (RFC 1939 section
// 7: 1 to 70 characters in the range 0x21 to 0x7E).
func ValidUIDL(u string) bool {
	if len(u) < 1 || len(u) > 70 {
		return false
	}
	for i := 0; i < len(u); i++ {
		if u[i] < 0x21 || u[i] > 0x7e {
			return false
		}
	}
	return true
}

// UIDL returns the unique-id an engine generates for the message with uid
// in mailbox mb: "%08x%08x" of UIDVALIDITY and UID in INBOX (what POP3
// serves; new by construction, since UIDVALIDITY is never handed out
// twice), "m<mailbox id>.<uid>" elsewhere. When an imported UIDL happens
// to be the same string, engines try UIDLVariant(base, 1), 2, ... instead.
func UIDL(mb Mailbox, uid uint32) string {
	if mb.Name == InboxName {
		return InboxUIDL(mb.UIDValidity, uid)
	}
	return fmt.Sprintf("m%d.%d", mb.ID, uid)
}

// InboxUIDL is the generated unique-id of an INBOX message.
func InboxUIDL(uidValidity, uid uint32) string {
	return fmt.Sprintf("%08x%08x", uidValidity, uid)
}

// UIDLVariant is the n-th alternative (n >= 1) of a generated UIDL that
// collided with an imported one.
func UIDLVariant(base string, n int) string {
	return fmt.Sprintf("%s-%d", base, n)
}

// MaxUIDLVariants bounds how many variants an engine tries.
const MaxUIDLVariants = 100

// ValidDomain accepts a lower-cased domain name: non-empty, at most 253
// octets, printable, no spaces or '@'. Full DNS syntax is the caller's job.
func ValidDomain(name string) bool {
	if name == "" || len(name) > 253 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f || c == '@' {
			return false
		}
	}
	return true
}

// SplitAddress lower-cases an account address and splits it at its last
// '@'; an address engines cannot store is ErrInvalid.
func SplitAddress(address string) (addr, domain string, err error) {
	addr = strings.ToLower(address)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || len(addr) > 320 || !ValidDomain(addr[at+1:]) || strings.ContainsAny(addr[:at], " \t\r\n") {
		return "", "", fmt.Errorf("store: address %q: %w", address, ErrInvalid)
	}
	return addr, addr[at+1:], nil
}

// AliasAddress lower-cases an alias address, "user@domain" or "@domain"
// (a catch-all), and returns its domain.
func AliasAddress(address string) (addr, domain string, err error) {
	addr = strings.ToLower(address)
	if strings.HasPrefix(addr, "@") && ValidDomain(addr[1:]) {
		return addr, addr[1:], nil
	}
	return SplitAddress(addr)
}

// MaxMailboxName bounds a mailbox name in octets.
const MaxMailboxName = 512

// ValidMailboxName accepts a canonical name: UTF-8, no control
// characters, no LIST wildcards, no empty hierarchy levels, at most
// MaxMailboxName octets.
func ValidMailboxName(name string) bool {
	if name == "" || len(name) > MaxMailboxName || !utf8.ValidString(name) {
		return false
	}
	for _, level := range strings.Split(name, string(Delimiter)) {
		if level == "" {
			return false
		}
	}
	return !strings.ContainsFunc(name, func(r rune) bool {
		return r < 0x20 || r == 0x7f || r == '*' || r == '%'
	})
}

// CheckMailboxName returns the canonical form of name, or ErrInvalid.
func CheckMailboxName(name string) (string, error) {
	name = CanonicalMailboxName(name)
	if !ValidMailboxName(name) {
		return "", fmt.Errorf("store: mailbox name %q: %w", name, ErrInvalid)
	}
	return name, nil
}

// Flags are stored as one string: canonical, sorted, without duplicates,
// separated by single spaces. A flag containing white space is dropped.

// ParseFlags splits a stored flag string.
func ParseFlags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

// FormatFlags returns the stored form of flags.
func FormatFlags(flags []string) string {
	out := make([]string, 0, len(flags))
	for _, f := range flags {
		if f = CanonicalFlag(f); f != "" && !strings.ContainsAny(f, " \t\r\n") {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), " ")
}

// ApplyFlags returns the stored form of current combined with given by op
// (removal compares case-insensitively).
func ApplyFlags(current []string, op FlagOp, given []string) string {
	switch op {
	case FlagsSet:
		return FormatFlags(given)
	case FlagsAdd:
		return FormatFlags(append(slices.Clone(current), given...))
	default:
		out := make([]string, 0, len(current))
		for _, f := range current {
			if !slices.ContainsFunc(given, func(g string) bool { return strings.EqualFold(f, g) }) {
				out = append(out, f)
			}
		}
		return FormatFlags(out)
	}
}

// FlagUpdate is the rule every engine applies to each message of an
// UpdateFlags call: a conditional update (UNCHANGEDSINCE, RFC 7162 section
// 3.1.3) leaves a message whose mod-sequence is above the given one alone
// and reports it modified; otherwise the message gets its new stored flags,
// and only a change counts (an update that changes nothing bumps no
// mod-sequence and wakes no watcher).
type FlagUpdate struct {
	op             FlagOp
	given          []string
	conditional    bool
	unchangedSince uint64
}

// NewFlagUpdate prepares an update of flags by op; conditional with
// unchangedSince for UpdateFlagsIf.
func NewFlagUpdate(op FlagOp, flags []string, conditional bool, unchangedSince uint64) FlagUpdate {
	return FlagUpdate{op: op, given: ParseFlags(FormatFlags(flags)), conditional: conditional, unchangedSince: unchangedSince}
}

// Apply returns m's new stored flags and whether they differ from its
// current ones, or modified when the condition refuses the change.
func (u FlagUpdate) Apply(m Message) (next string, changed, modified bool) {
	if u.conditional && m.ModSeq > u.unchangedSince {
		return "", false, true
	}
	next = ApplyFlags(m.Flags, u.op, u.given)
	return next, next != strings.Join(m.Flags, " "), false
}

// UIDRange is a closed interval of UIDs.
type UIDRange struct{ Lo, Hi uint32 }

// UIDRanges turns a UID list into ascending closed intervals, so an engine
// runs a statement once per range instead of once per UID.
func UIDRanges(uids []uint32) []UIDRange {
	sorted := slices.Clone(uids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var out []UIDRange
	for _, u := range sorted {
		if n := len(out); n > 0 && out[n-1].Hi+1 == u {
			out[n-1].Hi = u
			continue
		}
		out = append(out, UIDRange{u, u})
	}
	return out
}

// ReadError marks a failure of the caller's body reader, which is not an
// engine failure and so not ErrTemporary.
type ReadError struct{ Err error }

func (e ReadError) Error() string { return "store: reading message: " + e.Err.Error() }
func (e ReadError) Unwrap() error { return e.Err }

// BodyInfo is what CopyBody learns about a body while storing it.
type BodyInfo struct {
	Size     int64 // octets written
	DotLines bool  // some line starts with "." (see MaildropMessage)
}

// CopyBody copies a message body from r to w as engines store it: bare LF
// and bare CR line endings become CRLF. A failure of r is a ReadError, a
// failure of w is returned as it is. raw copies byte for byte (see
// AppendMessage.Binary); the lines not being checked, the body is then
// marked as possibly needing dot-stuffing.
func CopyBody(w io.Writer, r io.Reader, raw bool) (BodyInfo, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	if raw {
		n, err := io.CopyBuffer(w, onlyReader{r}, buf)
		var re ReadError
		if err != nil && !errors.As(err, &re) {
			return BodyInfo{}, err
		}
		return BodyInfo{Size: n, DotLines: true}, err
	}
	cw := message.NewCRLFWriter(w)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := cw.Write(buf[:n]); err != nil {
				return BodyInfo{}, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return BodyInfo{}, ReadError{rerr}
		}
	}
	if err := cw.Close(); err != nil {
		return BodyInfo{}, err
	}
	return BodyInfo{Size: cw.Size(), DotLines: cw.DotLines()}, nil
}

// copyBuffers holds CopyBody's read buffers. A fresh one per body was
// most of what an SMTP delivery allocated (32 KiB, zeroed, for a 10 KB
// message), and the GC it caused a sixth of the CPU of a PostgreSQL
// node under SMTP load.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// onlyReader hides a reader's WriteTo and marks its errors as read errors.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if err != nil && err != io.EOF {
		err = ReadError{err}
	}
	return n, err
}

// CheckDelivery checks what Deliver refuses before storing anything: no
// recipients at all, an outbound envelope without recipients, a given
// UIDL that is not valid (ErrInvalid) or given twice for one account
// (ErrExists).
func CheckDelivery(d Delivery) error {
	if d.Outbound != nil && len(d.Outbound.Recipients) == 0 {
		return fmt.Errorf("store: outbound envelope without recipients: %w", ErrInvalid)
	}
	if len(d.Recipients) == 0 && d.Outbound == nil {
		return fmt.Errorf("store: delivery without recipients: %w", ErrInvalid)
	}
	type key struct {
		account int64
		uidl    string
	}
	given := map[key]bool{}
	for _, r := range d.Recipients {
		if r.UIDL == "" {
			continue
		}
		if !ValidUIDL(r.UIDL) {
			return fmt.Errorf("store: UIDL %q: %w", r.UIDL, ErrInvalid)
		}
		k := key{r.AccountID, r.UIDL}
		if given[k] {
			return fmt.Errorf("store: UIDL %q given twice: %w", r.UIDL, ErrExists)
		}
		given[k] = true
	}
	return nil
}

// CheckAlias checks the arguments of AddAlias and returns them in stored
// form: the alias address, its domain and the lower-cased targets.
func CheckAlias(address string, targets []string) (addr, domain string, clean []string, err error) {
	if addr, domain, err = AliasAddress(address); err != nil {
		return "", "", nil, err
	}
	if len(targets) == 0 {
		return "", "", nil, fmt.Errorf("store: alias %q without targets: %w", addr, ErrInvalid)
	}
	for _, t := range targets {
		ta, _, err := SplitAddress(t)
		if err != nil {
			return "", "", nil, err
		}
		if ta == addr {
			return "", "", nil, fmt.Errorf("store: alias %q points to itself: %w", addr, ErrInvalid)
		}
		clean = append(clean, ta)
	}
	return addr, domain, clean, nil
}

// MaxImportKey bounds ImportMessage.Key.
const MaxImportKey = 255

// CheckImportKey checks that an import key is 1 to MaxImportKey octets
// (else ErrInvalid).
func CheckImportKey(key string) error {
	if key == "" || len(key) > MaxImportKey {
		return fmt.Errorf("store: import key of %d octets: %w", len(key), ErrInvalid)
	}
	return nil
}

// CheckImport checks the arguments of ImportMessages: every Key 1 to
// MaxImportKey octets, every given UIDL valid (else ErrInvalid).
func CheckImport(msgs []ImportMessage) error {
	for _, m := range msgs {
		if err := CheckImportKey(m.Key); err != nil {
			return err
		}
		if m.UIDL != "" && !ValidUIDL(m.UIDL) {
			return fmt.Errorf("store: UIDL %q: %w", m.UIDL, ErrInvalid)
		}
	}
	return nil
}
