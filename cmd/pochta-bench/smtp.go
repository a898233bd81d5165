package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// The smtp mode sends messages to any SMTP server, -c connections at once,
// each connection reused for message after message (as an MTA's connection
// cache does). A message counts when the server answered 250 to its data:
// for Pochta that means stored durably, for Postfix queued durably (the
// queue file fsynced). The latency of a message is from MAIL FROM sent to
// that 250 read. Commands are pipelined (RFC 2920): MAIL, RCPT and DATA go
// in one write, the body after 354.

// smtpMessage returns a message of about size octets (CRLF lines of text,
// dot-stuffing never needed), different per worker and sequence number so
// no layer can deduplicate.
func smtpMessage(size, worker, seq int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: bench@bench.test\r\nTo: rcpt@bench.test\r\nSubject: bench %d-%d\r\nMessage-ID: <%d.%d@bench.test>\r\n\r\n",
		worker, seq, worker, seq)
	for i := 0; b.Len() < size-2; i++ {
		line := fmt.Sprintf("%d-%d line %d: the quick brown fox jumps over the lazy dog 0123456789\r\n", worker, seq, i)
		if rest := size - b.Len(); len(line) > rest && rest > 2 {
			line = line[:rest-2] + "\r\n"
		}
		b.WriteString(line)
	}
	return b.String()
}

// smtpClient is one connection with every reply checked.
type smtpClient struct {
	nc      net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

func dialSMTP(ctx context.Context, o dialOptions) (*smtpClient, error) {
	nc, timeout, err := o.connect(ctx, nil)
	if err != nil {
		return nil, err
	}
	c := &smtpClient{nc: nc, r: bufio.NewReaderSize(nc, 4096), timeout: timeout}
	if err := c.expect("220"); err != nil {
		nc.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if err := c.send("EHLO bench.test\r\n"); err != nil {
		nc.Close()
		return nil, err
	}
	if err := c.expect("250"); err != nil {
		nc.Close()
		return nil, fmt.Errorf("EHLO: %w", err)
	}
	return c, nil
}

func (c *smtpClient) send(s string) error {
	c.nc.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.nc.Write([]byte(s))
	return err
}

// expect reads one reply (all its lines) and checks its code.
func (c *smtpClient) expect(code string) error {
	c.nc.SetReadDeadline(time.Now().Add(c.timeout))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return err
		}
		if len(line) < 4 || !strings.HasPrefix(line, code) {
			return fmt.Errorf("server answered %q, want %s", strings.TrimSpace(line), code)
		}
		if line[3] == ' ' {
			return nil
		}
	}
}

// sendOne runs one pipelined transaction.
func (c *smtpClient) sendOne(from, rcpt, body string) error {
	if err := c.send("MAIL FROM:<" + from + ">\r\nRCPT TO:<" + rcpt + ">\r\nDATA\r\n"); err != nil {
		return err
	}
	for _, code := range []string{"250", "250", "354"} {
		if err := c.expect(code); err != nil {
			return err
		}
	}
	if err := c.send(body + ".\r\n"); err != nil {
		return err
	}
	return c.expect("250")
}

func (c *smtpClient) close() {
	c.send("QUIT\r\n")
	c.nc.Close()
}

// smtpLoad runs the smtp mode: c.Conc workers, each on its own connection
// (reconnecting after an error), sending to the accounts in turn until
// c.N messages were sent or c.Duration is over.
func smtpLoad(ctx context.Context, c *config) (*tally, time.Duration) {
	return runWorkers(ctx, c, func(w int) (func(int, *tally) error, func()) {
		mine := workerAccounts(c.Accounts, w, c.Conc)
		var cl *smtpClient
		step := func(k int, t *tally) error {
			if cl == nil {
				var err error
				if cl, err = dialSMTP(ctx, c.Dial); err != nil {
					return err
				}
				t.Sessions++
			}
			body := smtpMessage(c.Size, w, k)
			t0 := time.Now()
			if err := cl.sendOne(c.From, mine[k%len(mine)].User, body); err != nil {
				cl.nc.Close()
				cl = nil
				return err
			}
			t.Messages++
			t.Bytes += int64(len(body))
			t.OpLat = append(t.OpLat, time.Since(t0))
			return nil
		}
		done := func() {
			if cl != nil {
				cl.close()
			}
		}
		return step, done
	})
}
