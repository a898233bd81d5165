package store

import (
	"context"
	"io"
	"strings"
	"time"
)

// This file is the IMAP-facing part of the seam: folders, messages by UID
// with flags, and the operations an IMAP session performs on them. The types
// are plain values; no IMAP library type crosses the seam.
//
// Mailbox names use "/" as the hierarchy delimiter. "INBOX" is matched
// case-insensitively and always stored and returned as "INBOX" (also as the
// first component of its children, "INBOX/Lists").

// Delimiter separates the levels of the mailbox hierarchy.
const Delimiter = '/'

// InboxName is the name of the mailbox mail is delivered to and POP3 serves.
const InboxName = "INBOX"

// Special-use attributes (RFC 6154) engines store for mailboxes.
const (
	UseSent    = `\Sent`
	UseDrafts  = `\Drafts`
	UseTrash   = `\Trash`
	UseJunk    = `\Junk`
	UseArchive = `\Archive`
	UseAll     = `\All`
	UseFlagged = `\Flagged`
)

// DefaultFolder is a mailbox every new account gets besides INBOX.
type DefaultFolder struct {
	Name       string
	SpecialUse string
}

// DefaultFolders returns the special-use mailboxes created with every
// account (and added to accounts created before they existed).
func DefaultFolders() []DefaultFolder {
	return []DefaultFolder{
		{"Sent", UseSent}, {"Drafts", UseDrafts}, {"Trash", UseTrash},
		{"Junk", UseJunk}, {"Archive", UseArchive},
	}
}

// Flags engines treat specially. Flags are stored in this canonical case;
// engines compare flags case-insensitively.
const (
	FlagSeen     = `\Seen`
	FlagAnswered = `\Answered`
	FlagFlagged  = `\Flagged`
	FlagDeleted  = `\Deleted`
	FlagDraft    = `\Draft`
)

// CanonicalFlag returns a flag in its stored form: system flags in their
// RFC spelling, keywords as given.
func CanonicalFlag(f string) string {
	for _, sys := range []string{FlagSeen, FlagAnswered, FlagFlagged, FlagDeleted, FlagDraft} {
		if strings.EqualFold(f, sys) {
			return sys
		}
	}
	return f
}

// CanonicalMailboxName turns the first component "inbox" (any case) into
// "INBOX" and leaves the rest alone.
func CanonicalMailboxName(name string) string {
	first, rest, found := strings.Cut(name, string(Delimiter))
	if strings.EqualFold(first, InboxName) {
		if found {
			return InboxName + string(Delimiter) + rest
		}
		return InboxName
	}
	return name
}

// Mailbox is one folder of an account.
type Mailbox struct {
	// ID is never reused and stays the same when the mailbox is renamed
	// (the mailbox RENAME INBOX creates gets a new one), so it can serve
	// as the RFC 8474 MAILBOXID.
	ID          int64
	AccountID   int64
	Name        string
	UIDValidity uint32
	// UIDNext is the UID the next message added will get; UIDs are
	// strictly ascending and never reused within a UIDVALIDITY.
	UIDNext    uint32
	SpecialUse string // "" or one of the Use constants
	// Subscribed reports whether the account subscribes to the name
	// (subscriptions are names: see Mailboxes.SetSubscribed).
	Subscribed bool
	// ModSeq grows whenever anything in the mailbox changes (a message
	// added, flags changed, a message removed), in the transaction of the
	// change: it is the HIGHESTMODSEQ of RFC 7162, at least every
	// message's ModSeq. Watchers compare it.
	ModSeq uint64
	// RecentUID is the highest UID an IMAP session has claimed as
	// \Recent (see ClaimRecent): messages above it are still recent.
	RecentUID uint32
}

// MailboxStatus is a mailbox with its counters.
type MailboxStatus struct {
	Mailbox
	Messages int
	Unseen   int   // messages without \Seen
	Deleted  int   // messages with \Deleted
	Size     int64 // octets of all messages
	Recent   int   // messages above RecentUID, not yet claimed as \Recent
}

// Message is one message of a mailbox as IMAP sees it.
type Message struct {
	ID           int64 // engine's message id
	UID          uint32
	Size         int64 // octets of the CRLF body
	InternalDate time.Time
	Flags        []string // canonical, sorted
	// ModSeq is the mailbox ModSeq of the message's last change: its
	// addition (delivery, APPEND, COPY, MOVE) or a change of its flags.
	// Never 0.
	ModSeq uint64
	// EmailID identifies the message's content for its whole life (RFC
	// 8474 EMAILID): a copy or a moved message keeps it, and it is never
	// given to another message.
	EmailID int64
	// SaveDate is when the message was added to this mailbox (RFC 8514):
	// by delivery, APPEND, COPY or MOVE. Zero when unknown (messages
	// stored before engines recorded it).
	SaveDate time.Time
	// Summary is an opaque cache of the parsed message (see
	// internal/message) set with SetSummaries; nil until then. Only
	// returned when asked for (MessageQuery.Summary).
	Summary []byte
	// Open opens the body, like OpenMessage but without another lookup.
	// Only set when asked for (MessageQuery.Bodies); a body expunged
	// since the listing is ErrNotFound. It may be called again (by one
	// goroutine at a time); each reader reads the whole body.
	Open func() (io.ReadCloser, error)
}

// HasFlag reports whether the message has flag f (case-insensitive).
func (m *Message) HasFlag(f string) bool {
	for _, g := range m.Flags {
		if strings.EqualFold(f, g) {
			return true
		}
	}
	return false
}

// MessageQuery selects messages of one mailbox, in UID order.
type MessageQuery struct {
	MinUID, MaxUID uint32 // inclusive; MaxUID 0 = no upper bound
	// SinceModSeq, when not 0, selects only messages changed (added or
	// flags updated) after that mod-sequence.
	SinceModSeq uint64
	Limit       int  // 0 = no limit
	Summary     bool // also return Message.Summary
	// Bodies also returns Message.Open. Engines may hold small bodies in
	// memory for it, so callers list bodies in small batches.
	Bodies bool
}

// FlagOp is how UpdateFlags combines the given flags with the current ones.
type FlagOp uint8

const (
	FlagsSet FlagOp = iota
	FlagsAdd
	FlagsRemove
)

// CopyResult tells which UIDs the copies (or moved messages) got in the
// destination mailbox (RFC 4315 COPYUID). Source[i] became Dest[i].
type CopyResult struct {
	UIDValidity uint32
	Source      []uint32
	Dest        []uint32
}

// AppendMessage is a message added to a mailbox by a client.
type AppendMessage struct {
	Body         io.Reader
	Flags        []string
	InternalDate time.Time // zero = now
	// Binary stores Body byte for byte, without line-ending
	// normalisation: it came as an IMAP literal8 (RFC 3516) and may hold
	// binary parts that must come back exact.
	Binary bool
}

// Quota is an account's storage limit and use, in octets.
type Quota struct {
	Limit int64 // 0 = unlimited
	Used  int64
}

// SummaryUpdate stores the parsed-message cache of one message.
type SummaryUpdate struct {
	MessageID int64
	Summary   []byte
}

// Mailboxes is what the IMAP server needs from the store. Methods taking
// a mailboxID work on that mailbox only; an id that does not exist (any
// more) is ErrNotFound. Every change publishes an Event.
type Mailboxes interface {
	// ListMailboxes returns the account's mailboxes ordered by name.
	ListMailboxes(ctx context.Context, accountID int64) ([]Mailbox, error)
	// GetMailbox looks a mailbox up by name (INBOX case-insensitively).
	GetMailbox(ctx context.Context, accountID int64, name string) (Mailbox, error)
	// CreateMailbox creates a mailbox and any missing parents. An existing
	// name is ErrExists; an invalid name is ErrInvalid.
	CreateMailbox(ctx context.Context, accountID int64, name, specialUse string) (Mailbox, error)
	// DeleteMailbox deletes a mailbox and its messages. INBOX cannot be
	// deleted (ErrInvalid); a mailbox with children is ErrExists.
	DeleteMailbox(ctx context.Context, accountID int64, name string) error
	// RenameMailbox renames a mailbox and its children. Renaming INBOX
	// moves its messages into a new mailbox and leaves INBOX empty
	// (RFC 9051 section 6.3.6).
	RenameMailbox(ctx context.Context, accountID int64, from, to string) error
	// SetSubscribed adds a name to the account's subscriptions or removes
	// it. Subscriptions are names (RFC 9051 §6.3.7): a name may be
	// subscribed whether or not its mailbox exists, CreateMailbox adds no
	// subscription, DeleteMailbox keeps it and RenameMailbox leaves the
	// subscriptions as they are (as Dovecot does). New accounts subscribe
	// to INBOX and their DefaultFolders.
	SetSubscribed(ctx context.Context, accountID int64, name string, subscribed bool) error
	// Subscriptions returns the account's subscribed names, ordered.
	Subscriptions(ctx context.Context, accountID int64) ([]string, error)
	// ClaimRecent makes the caller the session that sees the mailbox's
	// newest messages as \Recent (RFC 3501 §2.3.2): atomically, across
	// every session and process, it moves the mailbox's RecentUID up to
	// UIDNEXT-1 and returns the old and new value; the messages with UIDs
	// in (after, upTo] are recent for the caller and for no one else.
	ClaimRecent(ctx context.Context, mailboxID int64) (after, upTo uint32, err error)
	// MailboxStatus returns a mailbox's counters.
	MailboxStatus(ctx context.Context, mailboxID int64) (MailboxStatus, error)
	// MailboxModSeq returns the mailbox's current ModSeq: the cheap check
	// a session runs before looking for changes.
	MailboxModSeq(ctx context.Context, mailboxID int64) (uint64, error)
	// ListMessages returns the messages q selects, in UID order.
	ListMessages(ctx context.Context, mailboxID int64, q MessageQuery) ([]Message, error)
	// ListUIDs returns every UID of the mailbox in ascending order.
	ListUIDs(ctx context.Context, mailboxID int64) ([]uint32, error)
	// OpenMessage opens a message body (CRLF line endings) by UID.
	OpenMessage(ctx context.Context, mailboxID int64, uid uint32) (io.ReadCloser, error)
	// SetSummaries stores parsed-message caches; messages gone meanwhile
	// are skipped.
	SetSummaries(ctx context.Context, updates []SummaryUpdate) error
	// UpdateFlags changes the flags of the given messages (missing UIDs are
	// skipped) and returns the messages whose flags changed, with their new
	// flags and ModSeq. All of them get the same, new ModSeq; a message
	// whose flags do not change keeps its ModSeq.
	UpdateFlags(ctx context.Context, mailboxID int64, uids []uint32, op FlagOp, flags []string) ([]Message, error)
	// UpdateFlagsIf is UpdateFlags with the UNCHANGEDSINCE test of RFC
	// 7162 §3.1.3, in one transaction: a message whose ModSeq is above
	// unchangedSince is left alone and its UID returned in modified
	// (ascending); the others are updated as by UpdateFlags.
	UpdateFlagsIf(ctx context.Context, mailboxID int64, uids []uint32, op FlagOp, flags []string, unchangedSince uint64) (changed []Message, modified []uint32, err error)
	// Expunged returns the UIDs removed from the mailbox (EXPUNGE, MOVE,
	// POP3 deletion, RENAME INBOX) with a mod-sequence above since,
	// ascending: the tombstones QRESYNC (RFC 7162 §3.2.5) answers from.
	// Engines may prune old tombstones; complete is false when some with a
	// mod-sequence above since are gone, and the caller must then treat
	// every UID it knows that the mailbox lacks as removed.
	Expunged(ctx context.Context, mailboxID int64, since uint64) (uids []uint32, complete bool, err error)
	// CopyMessages copies messages into another mailbox of the same
	// account, sharing their bodies. Missing UIDs are skipped. Copies
	// count towards the quota: over it, nothing is copied (ErrQuota).
	CopyMessages(ctx context.Context, mailboxID int64, uids []uint32, destID int64) (CopyResult, error)
	// MoveMessages is CopyMessages and removal from the source in one
	// transaction (RFC 6851).
	MoveMessages(ctx context.Context, mailboxID int64, uids []uint32, destID int64) (CopyResult, error)
	// Expunge removes the messages that have \Deleted, of all the mailbox
	// or only among uids when uids is not nil. It returns the removed UIDs.
	Expunge(ctx context.Context, mailboxID int64, uids []uint32) ([]uint32, error)
	// Append stores a message in a mailbox, durably, through the same body
	// path as Deliver. It returns the mailbox's UIDVALIDITY and the UID.
	// A message that would exceed the account's quota is ErrQuota.
	Append(ctx context.Context, mailboxID int64, m AppendMessage) (uidValidity, uid uint32, err error)
	// AppendMessages stores several messages in a mailbox in one
	// transaction (RFC 3502 MULTIAPPEND): all of them, with ascending
	// UIDs in the given order, or on any error (a body that fails to
	// read, the quota) none. uids[i] is the UID of ms[i].
	AppendMessages(ctx context.Context, mailboxID int64, ms []AppendMessage) (uidValidity uint32, uids []uint32, err error)
	// Quota returns the account's storage limit and use.
	Quota(ctx context.Context, accountID int64) (Quota, error)
	// Subscribe reports changes of the account's mailboxes; see Events.
	Subscribe(accountID int64) *Subscription
}
