package server

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"time"
)

// LingerAfterRefusal is what a session drops with Linger after a refusal
// that ends it (too many bad commands, a command line over the limit):
// more than a pipelined group or the rest of a mistaken line, far less
// than a message.
const LingerAfterRefusal = 64 << 10

// Linger ends a session the server ends while the client may still be
// sending (the rest of a pipelined group or of an over-long line, a
// refused message chunk it did not wait to see refused). Closing a socket
// with unread input sends a reset, and a client that writes before it
// reads then gets ECONNRESET instead of the last reply: a temporary
// failure, retried, where the reply said why (and often for good).
//
// Linger stops writing (a TLS close_notify when the session runs TLS,
// then the TCP FIN), then reads and drops up to limit octets of the
// connection until the client closes. It waits for the client's next
// octets at most the line timeout (limits.line_timeout) and takes the
// rest at the minimum rate, within the session's lifetime (pace): it
// drains what is in flight, and a client that went silent without
// closing does not hold the connection for a protocol's idle timeout.
//
// conn is the session's transport (TLS over raw after STARTTLS, or raw);
// raw is the accepted connection, a *tls.Conn for implicit TLS. The
// octets are read below TLS: they are dropped, not decrypted, and limit
// grows by the records' overhead. pace is
// used by this goroutine alone while Linger runs. Cancelling ctx (a
// shutdown) ends the drain at once. It returns the octets
// dropped and why it stopped: io.EOF when the client closed, nil when
// limit octets were dropped, a timeout when the client was too slow.
func Linger(ctx context.Context, conn, raw net.Conn, pace *Pace, limit int64) (int64, error) {
	tlsOn := false
	if tc, ok := conn.(*tls.Conn); ok {
		_ = tc.CloseWrite()
		tlsOn = true
	}
	if tc, ok := raw.(*tls.Conn); ok {
		if tc != conn {
			_ = tc.CloseWrite()
		}
		raw, tlsOn = tc.NetConn(), true
	}
	if tlsOn {
		// limit counts the client's octets in the clear; below TLS each
		// record of up to 16 KiB adds a header, a tag and padding.
		limit += limit/32 + tlsSlack
	}
	if cw, ok := raw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	pace.Replied()
	stop := context.AfterFunc(ctx, func() { _ = raw.SetReadDeadline(time.Now()) })
	defer stop()
	return io.CopyN(io.Discard, &lingerReader{ctx: ctx, c: raw, pace: pace}, limit)
}

// tlsSlack is the TLS records' share of a drain beyond limit/32: the
// records the client has in flight are not full.
const tlsSlack = 32 << 10

// lingerReader reads c with the deadlines of a drain (see Linger).
type lingerReader struct {
	ctx  context.Context
	c    net.Conn
	pace *Pace
}

func (r *lingerReader) Read(p []byte) (int, error) {
	_ = r.c.SetReadDeadline(r.pace.ReadDeadline(time.Now(), r.pace.p.lineTimeout()))
	if err := r.ctx.Err(); err != nil {
		// Cancelled before the new deadline, which overwrote the one the
		// cancellation set.
		return 0, err
	}
	n, err := r.c.Read(p)
	r.pace.Received(time.Now(), n)
	return n, err
}
