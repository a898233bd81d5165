package maildir

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pochta-mail/pochta/internal/store"
)

// Name is what a Maildir file name says about its message.
type Name struct {
	Base string // the part before ":2,": the message's stable identity
	// Flags are the system flags of the info part: S \Seen, R \Answered,
	// F \Flagged, T \Deleted, D \Draft (store canonical form, sorted).
	Flags []string
	// Forwarded is the info flag P ("passed"), IMAP's $Forwarded keyword.
	Forwarded bool
	// Letters are the keyword letters a-z of the info part, in order; a
	// dovecot-keywords file says which keyword each stands for.
	Letters string
	Time    int64 // the leading delivery time in seconds, 0 if the name has none
	Size    int64 // ",S=" size, -1 if absent
}

// ParseName splits a Maildir file name "<base>:2,<flags>[,<ext>]".
func ParseName(name string) Name {
	n := Name{Base: name, Size: -1}
	if base, info, ok := strings.Cut(name, ":2,"); ok {
		n.Base = base
		info, _, _ = strings.Cut(info, ",") // Dovecot's non-standard fields follow a comma
		for _, c := range info {
			switch {
			case c == 'S':
				n.Flags = append(n.Flags, store.FlagSeen)
			case c == 'R':
				n.Flags = append(n.Flags, store.FlagAnswered)
			case c == 'F':
				n.Flags = append(n.Flags, store.FlagFlagged)
			case c == 'T':
				n.Flags = append(n.Flags, store.FlagDeleted)
			case c == 'D':
				n.Flags = append(n.Flags, store.FlagDraft)
			case c == 'P':
				n.Forwarded = true
			case c >= 'a' && c <= 'z' && !strings.ContainsRune(n.Letters, c):
				n.Letters += string(c)
			}
		}
		slices.Sort(n.Flags)
		n.Flags = slices.Compact(n.Flags)
	}
	if i := strings.IndexByte(n.Base, '.'); i > 0 {
		if t, err := strconv.ParseInt(n.Base[:i], 10, 64); err == nil && t > 0 {
			n.Time = t
		}
	}
	for _, f := range strings.Split(n.Base, ",")[1:] {
		if v, ok := strings.CutPrefix(f, "S="); ok {
			if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
				n.Size = s
			}
		}
	}
	return n
}
