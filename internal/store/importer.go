package store

import (
	"context"
	"io"
	"time"
)

// This file is the part of the seam `pochta import` and `pochta export`
// use: mail moved in from another server keeps the identities its clients
// already know (each mailbox's UIDVALIDITY and UIDNEXT, each message's UID
// and POP3 UIDL), so they resume instead of downloading everything again.

// ImportMailbox is a mailbox as the source server had it.
type ImportMailbox struct {
	Name string
	// SpecialUse is given to a mailbox created by the import, and to an
	// existing one that has none.
	SpecialUse string
	// UIDValidity is the source's (0: it had none, the engine picks).
	// UIDNext is the source's next UID (0: none); the mailbox's UIDNEXT
	// is raised to it when the mailbox has the source's UIDVALIDITY.
	UIDValidity uint32
	UIDNext     uint32
	// ModSeq is the source's HIGHESTMODSEQ (RFC 7162; 0: none). When
	// the mailbox has the source's UIDVALIDITY, its mod-sequence is
	// raised to at least ModSeq and removals up to it count as unknown
	// (Expunged is incomplete for them): a client's HIGHESTMODSEQ cached
	// from the source is then never ahead of the mailbox, and QRESYNC
	// from it gets a full resynchronisation rather than a wrong answer.
	ModSeq uint64
}

// ImportMessage is one message to import.
type ImportMessage struct {
	// Key is the message's identity in the source (a Maildir base file
	// name, a digest of an mbox message), 1-255 octets. The mailbox keeps
	// a record of every Key imported into it, apart from the messages: a
	// message whose Key it has recorded is not stored again, so an import
	// run again (after a crash, or to catch up) adds only what is new,
	// also when the message it stored was moved to another mailbox
	// (IMAP MOVE, COPY and EXPUNGE, Sieve fileinto) or deleted since.
	// The record goes only with the mailbox (DeleteMailbox).
	Key string
	// UID is the source's UID: kept when no message of the mailbox has
	// it, otherwise (or when 0) the message gets the mailbox's UIDNEXT.
	// Callers pass source UIDs only into a mailbox that has the source's
	// UIDVALIDITY (see Importer.ImportMailbox).
	UID uint32
	// UIDL is the POP3 unique-id to keep ("" = generated, as for
	// delivered mail). One the account already uses elsewhere is replaced
	// by a generated one (see ImportedMessage.UIDL); one that is not 1-70
	// characters in 0x21-0x7E is ErrInvalid for the whole call.
	UIDL         string
	Flags        []string // system flags and keywords; \Recent is ignored
	InternalDate time.Time
	// Open opens the raw message. It is called at most once, and only
	// for a message that is stored. Line endings are normalised to CRLF
	// as in Deliver.
	Open func() (io.ReadCloser, error)
}

// ImportedMessage is what became of one ImportMessage.
type ImportedMessage struct {
	// Skipped: the Key was imported into the mailbox before; UID is the
	// one its message was given then (it may have moved or gone since).
	Skipped bool
	UID     uint32
	UIDL    string // the UIDL stored ("" when Skipped or Err)
	Size    int64  // octets stored (CRLF)
	// Err is a failure of this message's Open or read: it was not
	// stored, the others were.
	Err error
}

// Importer stores mail moved from another server, and reads back what
// export needs. Quotas do not apply to imports: an operator moving mail in
// must not lose any of it.
type Importer interface {
	// ImportMailbox returns the account's mailbox m.Name, created (with
	// its parents) when missing. A mailbox created here, or one that has
	// never held a message (UIDNEXT 1), takes m.UIDValidity; one that has
	// held messages keeps its own. When the result's UIDValidity is the
	// source's, the source's UIDs can be kept.
	ImportMailbox(ctx context.Context, accountID int64, m ImportMailbox) (Mailbox, error)
	// ImportMessages stores msgs in the mailbox (in this order) in one
	// transaction, durably, and returns one result per message. An
	// engine failure stores nothing and returns an error; a message whose
	// body cannot be read is reported in its result alone (and its Key is
	// not recorded). Messages with a Key imported into the mailbox
	// before, or repeated within msgs, are Skipped.
	ImportMessages(ctx context.Context, mailboxID int64, msgs []ImportMessage) ([]ImportedMessage, error)
	// ImportedKeys returns the Keys imported into the mailbox, wherever
	// their messages are now, each with the UID its message was given,
	// so an importer can skip known messages without reading them.
	ImportedKeys(ctx context.Context, mailboxID int64) (map[string]uint32, error)
	// RecordImported adds keys, each with the UID its message was given,
	// to the mailbox's record of what was imported into it, without
	// storing messages: pochta migrate copies the record with the
	// mailbox. A key recorded already keeps its UID. A key that is not
	// 1-255 octets is ErrInvalid for the whole call.
	RecordImported(ctx context.Context, mailboxID int64, keys map[string]uint32) error
	// UIDLs returns the POP3 unique-id of every message of the mailbox,
	// by UID (export writes them to dovecot-uidlist).
	UIDLs(ctx context.Context, mailboxID int64) (map[uint32]string, error)
}
