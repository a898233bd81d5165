package managesieve

import (
	"errors"
	"strconv"
	"strings"
)

// protoError is a refusal of the protocol layer; bad ones (malformed or
// out of place) count towards MaxBadCommands.
type protoError struct {
	code string
	msg  string
	bad  bool
}

func (e *protoError) Error() string { return "managesieve: " + e.msg }

// quote writes s as a quoted string, or as a literal when it holds what
// a quoted string cannot (CR, LF, NUL) or is long.
func quote(s string) string {
	if len(s) > 1024 || strings.ContainsAny(s, "\r\n\x00") {
		return literal(s)
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// literal is a server-to-client literal (RFC 5804 literal-s2c).
func literal(s string) string {
	return "{" + strconv.Itoa(len(s)) + "}\r\n" + s
}

func okReply(text string) string {
	if text == "" {
		return "OK\r\n"
	}
	return "OK " + quote(text) + "\r\n"
}

func byeReply(text string) string { return "BYE " + quote(text) + "\r\n" }

func noReply(code, text string) string {
	r := "NO"
	if code != "" {
		r += " (" + code + ")"
	}
	return r + " " + quote(text) + "\r\n"
}

// replyFor is the one place errors become wire replies: refusals keep
// their code and text, anything else (the store's trouble) is logged and
// answered TRYLATER without detail.
func (ss *session) replyFor(err error) string {
	var se *Error
	var pe *protoError
	switch {
	case errors.As(err, &se):
		return noReply(se.Code, se.Msg)
	case errors.As(err, &pe):
		return noReply(pe.code, pe.msg)
	}
	ss.log.Warn("managesieve: command failed", "err", err)
	return noReply(CodeTryLater, "Temporary failure, try again later")
}
