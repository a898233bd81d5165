package message

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
)

// ErrHeaderTooLarge is ReadHeader's error for a header section over its
// bound.
var ErrHeaderTooLarge = errors.New("message: header section too large")

// ReadHeader reads a message's header section from br, its blank line
// included, refusing one longer than limit octets (what was read is
// returned with the error). A message that ends without a blank line is
// all header: ReadHeader returns it whole with a nil error.
func ReadHeader(br *bufio.Reader, limit int) ([]byte, error) {
	var h bytes.Buffer
	partial := false // the last read ended inside a long line
	for {
		line, err := br.ReadSlice('\n')
		h.Write(line)
		if h.Len() > limit {
			return h.Bytes(), ErrHeaderTooLarge
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			partial = true
			continue
		}
		blank := !partial && (string(line) == "\r\n" || string(line) == "\n")
		partial = false
		if err == io.EOF || (err == nil && blank) {
			return h.Bytes(), nil
		}
		if err != nil {
			return h.Bytes(), err
		}
	}
}

// FieldNames returns the name of every field of a header section, in
// order, as written. Continuation lines belong to the field above them;
// a line without a colon names nothing.
func FieldNames(header []byte) []string {
	var names []string
	for len(header) > 0 {
		line := header
		if i := bytes.IndexByte(header, '\n'); i >= 0 {
			line, header = header[:i], header[i+1:]
		} else {
			header = nil
		}
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' || line[0] == '\r' {
			continue
		}
		if name, _, ok := bytes.Cut(line, []byte(":")); ok {
			names = append(names, strings.TrimRight(string(name), " \t"))
		}
	}
	return names
}

// HasField reports whether a header section has a field of this name
// (case-insensitive, RFC 5322 1.2.2).
func HasField(header []byte, name string) bool {
	for _, n := range FieldNames(header) {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// AppendFields returns the header section with fields (CRLF-terminated
// lines) added at its end, before the blank line when there is one.
func AppendFields(header []byte, fields string) []byte {
	out := make([]byte, 0, len(header)+len(fields)+2)
	blank := 0
	switch {
	case bytes.Equal(header, []byte("\r\n")) || bytes.HasSuffix(header, []byte("\n\r\n")):
		blank = 2
	case bytes.Equal(header, []byte("\n")) || bytes.HasSuffix(header, []byte("\n\n")):
		blank = 1
	}
	out = append(out, header[:len(header)-blank]...)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, "\r\n"...) // a last line cut off by the end of the message
	}
	out = append(out, fields...)
	return append(out, header[len(header)-blank:]...)
}
