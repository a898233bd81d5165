package message

import (
	"bufio"
	"io"
	"sync"
)

// lineReaders holds the default-sized bufio.Readers of BorrowReader.
var lineReaders = sync.Pool{New: func() any { return bufio.NewReader(nil) }}

// BorrowReader returns a bufio.Reader of the default size (4 KiB) reading
// r, from a pool; give it back with ReturnReader once nothing reads it.
// An MX delivery reads its message's header several times (the SMTP
// session, the SPF/DKIM/DMARC checks, net/mail, go-msgauth), each through
// a fresh 4 KiB reader; bufio.NewReader(br) of a borrowed reader returns
// br itself, so the libraries take it as it is.
func BorrowReader(r io.Reader) *bufio.Reader {
	br := lineReaders.Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

// ReturnReader gives a reader of BorrowReader back.
func ReturnReader(br *bufio.Reader) {
	br.Reset(nil)
	lineReaders.Put(br)
}
