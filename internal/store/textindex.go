package store

import "context"

// TextSearcher is what an engine with a full-text index offers IMAP
// SEARCH: a candidate filter for the string keys BODY, TEXT and HEADER.
// The index holds each message's message.IndexTerms, kept in the same
// transaction as the delivery, APPEND, COPY, MOVE, import or removal
// that changes the messages; the terms of a search string are
// message.QueryTerms. A candidate need not match (the caller reads it
// to decide); a message that matches is always a candidate.
//
// Both engines implement it (storetest checks the contract); callers
// find it by interface upgrade from Mailboxes, so a store without an
// index still answers every search by reading the messages.
type TextSearcher interface {
	// TextCandidates returns, ascending, the UIDs of the mailbox's
	// messages that may contain text whose terms are terms (not empty):
	// those whose index terms include every one of them, and those that
	// are not indexed (stored before the index existed and not indexed
	// by IndexText yet, or with more than message.MaxTerms terms).
	TextCandidates(ctx context.Context, mailboxID int64, terms []uint32) ([]uint32, error)
	// IndexText indexes up to limit of the messages that are not indexed
	// yet (stored before the engine had the index) and returns how many
	// it indexed; 0 means none is left. Searches are correct before,
	// during and after: a message not indexed is always a candidate.
	IndexText(ctx context.Context, limit int) (int, error)
}
