package queue

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// Reply is one SMTP reply: a three-digit code and its text lines.
type Reply struct {
	Code  int
	Lines []string
}

// String is the reply as one line, "550 5.1.1 no such user", for logs,
// queue listings and the Diagnostic-Code of a bounce.
func (r Reply) String() string {
	return strconv.Itoa(r.Code) + " " + strings.Join(r.Lines, " / ")
}

// Enhanced returns the RFC 3463 status code the reply starts with
// ("5.1.1"), or a generic one derived from the code class.
func (r Reply) Enhanced() string {
	if len(r.Lines) > 0 {
		f := strings.Fields(r.Lines[0])
		if len(f) > 0 && isEnhanced(f[0], r.Code/100) {
			return f[0]
		}
	}
	switch r.Code / 100 {
	case 2:
		return "2.0.0"
	case 4:
		return "4.0.0"
	}
	return "5.0.0"
}

func isEnhanced(s string, class int) bool {
	p := strings.Split(s, ".")
	if len(p) != 3 || p[0] != strconv.Itoa(class) {
		return false
	}
	for _, n := range p[1:] {
		if v, err := strconv.Atoi(n); err != nil || v < 0 || v > 999 {
			return false
		}
	}
	return true
}

// Positive is 2xx/3xx; Permanent is 5xx. Anything else (4xx) is a
// transient failure.
func (r Reply) Positive() bool  { return r.Code >= 200 && r.Code < 400 }
func (r Reply) Permanent() bool { return r.Code >= 500 }

// ReplyError is a negative reply as an error.
type ReplyError struct {
	Command string // what was sent, without arguments: "MAIL", "RCPT", "DATA"
	Reply   Reply
}

func (e *ReplyError) Error() string { return e.Command + ": " + e.Reply.String() }

// failure is why a recipient could not be delivered on this attempt, for
// the queue's records and the bounce.
type failure struct {
	permanent  bool
	overloaded bool   // the destination wants fewer sessions (see overloaded)
	status     string // RFC 3463, "5.1.1"
	text       string // "550 5.1.1 no such user" or our own words
	remoteMTA  string // host that answered, "" when none did
}

// failureOf classifies an error of a delivery attempt. Only a 5xx reply
// is permanent: network trouble, timeouts and TLS failures are retried.
func failureOf(err error, host string) failure {
	var re *ReplyError
	if errors.As(err, &re) {
		return failure{permanent: re.Reply.Permanent(), status: re.Reply.Enhanced(), text: re.Reply.String(), remoteMTA: host}
	}
	var pe *policyError
	if errors.As(err, &pe) {
		return failure{permanent: pe.permanent, status: pe.status, text: pe.text, remoteMTA: host}
	}
	return failure{status: "4.4.1", text: err.Error(), remoteMTA: host}
}

// policyError is a failure we decide ourselves (no MX, TLS required but
// not offered, message too large for the peer).
type policyError struct {
	permanent bool
	status    string
	text      string
	cause     error // the failure under ours, when there is one (a TLS handshake's)
}

func (e *policyError) Error() string { return e.text }
func (e *policyError) Unwrap() error { return e.cause }

func permanentf(status, format string, a ...any) error {
	return &policyError{permanent: true, status: status, text: status + " " + fmt.Sprintf(format, a...)}
}

func temporaryf(status, format string, a ...any) error {
	return &policyError{status: status, text: status + " " + fmt.Sprintf(format, a...)}
}

// tlsFailed is the temporary failure of a TLS handshake the policy
// required, keeping the handshake's error for TLS reporting.
func tlsFailed(hop Hop, err error) error {
	return &policyError{status: "4.7.5", text: fmt.Sprintf("4.7.5 TLS with %s failed: %v", hop, err), cause: err}
}

// overloaded reports whether a session's failure says the destination
// wants fewer sessions from us at once: 421 (the server is closing the
// channel, RFC 5321 3.8), any 4xx to the greeting, MAIL or DATA, or a
// connection refused, reset or timed out. A 4xx to RCPT is about one
// mailbox (greylisting, a full mailbox) and does not count, nor do our
// own policy decisions.
func overloaded(err error) bool {
	var re *ReplyError
	if errors.As(err, &re) {
		return re.Reply.Code == 421 || (re.Reply.Code/100 == 4 && re.Command != "RCPT")
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
