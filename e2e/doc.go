// Package e2e holds black-box tests: they build the real pochta binary, run
// it on a temporary data directory and talk to it with third-party clients
// (Python's poplib and imaplib, curl, mbsync, fetchmail, getmail6, swaks).
//
// Two IMAP tests hold Pochta against Dovecot 2.3, which each test starts on
// loopback with its own configuration (dovecot_test.go; skipped only when
// dovecot is not installed, and .ci/run installs it):
//   - TestIMAPDifferentialDovecot runs the same scripted sessions against
//     both servers and compares the responses step by step, once what
//     legitimately differs is normalised; every normalisation and every
//     known Dovecot deviation is listed with its RFC section in
//     imap_diff_norm_test.go and imap_diff_scripts_test.go.
//   - TestIMAPStress runs internal/imap/imaptest.Stress (concurrent random
//     sessions, each checked against a model of its mailbox) against both.
//
// The package has no non-test code.
package e2e
