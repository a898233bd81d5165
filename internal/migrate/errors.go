// Package migrate holds what the readers of other servers' mail stores share.
// The readers themselves live in the subpackages maildir and mbox; they only
// read, never write, and know nothing of Pochta's store.
package migrate

import "fmt"

// ParseError is malformed input at a known place: the file and, where the
// format has lines, the 1-based line number (0 when the error is about the
// file as a whole).
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Errorf returns a *ParseError for file at line.
func Errorf(file string, line int, format string, args ...any) *ParseError {
	return &ParseError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}
