// Package sieve parses and runs Sieve mail filtering scripts (RFC 5228).
//
// A lexer and parser produce a small AST, a compile step checks every
// command, test and argument (including require) and yields a Program,
// and an interpreter runs a Program over an abstract message (Input) and
// returns the list of actions the script asks for. Nothing here touches
// the store or the network: internal/delivery carries the actions out
// (and answers mailboxexists and duplicate through Input).
//
// Implemented: RFC 5228 base (require, if/elsif/else, stop, keep, discard,
// redirect, address, header, exists, size, allof, anyof, not, true, false,
// envelope, encoded-character, :is/:contains/:matches, i;octet and i;ascii-casemap,
// :localpart/:domain/:all), fileinto, :copy (RFC 3894), :create and
// mailboxexists (RFC 5490 "mailbox"), subaddress :user/:detail with "+"
// as the separator (RFC 5233), relational :count/:value with the
// i;ascii-numeric comparator (RFC 5231, RFC 4790), imap4flags (RFC 5232) and vacation
// (RFC 5230) as an action carrying its parameters (no reply is sent here),
// variables (RFC 5229: set and its modifiers, the string test, match
// variables from :matches and :regex, imap4flags' variable forms), the
// :regex match type (draft-ietf-sieve-regex, RE2: linear time), body
// (RFC 5173, over a bounded prefix of the message), date, currentdate and
// :index (RFC 5260), editheader (RFC 5293: the edited header travels with
// each action) and duplicate (RFC 7352: the ids to record are actions,
// recorded by the delivery once the message is stored).
//
// Every input is bounded: script size, nesting depth, command count and
// string-list length at compile time; match work, redirects and actions at
// run time (see Limits), including the number and size of variables and
// the size of an expanded string, the message prefix the body test reads
// and the header editheader may grow.
package sieve
