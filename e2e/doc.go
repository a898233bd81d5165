// Package e2e holds black-box tests: they build the real pochta binary, run
// it on a temporary data directory and talk to it with third-party clients
// (Python's poplib and imaplib, curl, mbsync). The package has no non-test code.
package e2e
