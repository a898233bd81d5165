// Package sieve parses and runs Sieve mail filtering scripts (RFC 5228).
//
// This is the first, self-contained layer of issue 14: a lexer and parser
// producing a small AST, a compile step that checks every command, test and
// argument (including require) and yields a Program, and an interpreter that
// runs a Program over an abstract message and returns the list of actions
// the script asks for. Nothing here touches the store, the delivery path or
// the network: wiring the filter step into delivery, delivery targets in the
// store, ManageSieve, sending vacation replies and the CLI come later.
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
// variables from :matches and :regex, imap4flags' variable forms) and the
// :regex match type (draft-ietf-sieve-regex, RE2: linear time).
//
// Every input is bounded: script size, nesting depth, command count and
// string-list length at compile time; match work, redirects and actions at
// run time (see Limits), including the number and size of variables and
// the size of an expanded string.
package sieve
