package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/message"
)

// maxCompleteHeader bounds the header section submission reads to look
// for Message-ID and Date. A larger one goes on untouched.
const maxCompleteHeader = 1 << 20

// completeHeader adds the Message-ID and Date fields a submitted message
// lacks (RFC 6409 8.3 and 8.2: the MSA SHOULD add them), at the end of
// its header section: the message is then complete before the queue
// signs it, and no receiving MTA adds them after the DKIM signature
// (which would break it). The Message-ID names this server (hostname) and
// carries the Received id, so a log line leads to the message. The MX
// path never calls this: mail in transit is left as it came.
func completeHeader(r io.Reader, hostname, id string, now time.Time) io.Reader {
	br := bufio.NewReaderSize(r, 4096)
	h, err := message.ReadHeader(br, maxCompleteHeader)
	switch {
	case errors.Is(err, message.ErrHeaderTooLarge):
		return io.MultiReader(bytes.NewReader(h), br)
	case err != nil:
		// The body reader's failure (connection, size limit, bare LF)
		// must reach the store, which then stores nothing.
		return io.MultiReader(bytes.NewReader(h), errReader{err})
	}
	var add strings.Builder
	if !message.HasField(h, "Message-ID") {
		add.WriteString("Message-ID: <" + now.UTC().Format("20060102150405") + "." + id + "@" + hostname + ">\r\n")
	}
	if !message.HasField(h, "Date") {
		add.WriteString("Date: " + now.Format(time.RFC1123Z) + "\r\n")
	}
	if add.Len() > 0 {
		h = message.AppendFields(h, add.String())
	}
	return io.MultiReader(bytes.NewReader(h), br)
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
