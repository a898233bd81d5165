package main

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/prototest"
)

// refusingMX is a receiving SMTP server on loopback that accepts
// ok@remote.test, defers later@remote.test (451) and refuses
// nobody@remote.test (550) at RCPT.
func refusingMX(t *testing.T) string {
	t.Helper()
	return prototest.ServeLoopback(t, func(c net.Conn) {
		defer c.Close()
		r := bufio.NewReader(c)
		fmt.Fprint(c, "220 mx.remote.test\r\n")
		for data := false; ; {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if data {
				if line == "." {
					data = false
					fmt.Fprint(c, "250 2.0.0 queued\r\n")
				}
				continue
			}
			cmd := strings.ToUpper(line)
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				fmt.Fprint(c, "250-mx.remote.test\r\n250 PIPELINING\r\n")
			case strings.HasPrefix(cmd, "RCPT TO:<NOBODY@"):
				fmt.Fprint(c, "550 5.1.1 no such user\r\n")
			case strings.HasPrefix(cmd, "RCPT TO:<LATER@"):
				fmt.Fprint(c, "451 4.3.0 try later\r\n")
			case strings.HasPrefix(cmd, "DATA"):
				data = true
				fmt.Fprint(c, "354 go on\r\n")
			case strings.HasPrefix(cmd, "QUIT"):
				fmt.Fprint(c, "221 bye\r\n")
				return
			default: // MAIL, RCPT, RSET
				fmt.Fprint(c, "250 ok\r\n")
			}
		}
	})
}

var recipientLine = regexp.MustCompile(`msg="recipient (delivered|deferred|failed)" .*rcpt=(\S+) .*reply="([^"]*)"`)

// TestQueueShowAndMetricsAgreeWithLog: after an attempt in which one
// recipient is accepted, one deferred and one refused, the serve log's
// line for each recipient, what `pochta queue show` prints for it and the
// delivery-attempt metrics say the same thing.
func TestQueueShowAndMetricsAgreeWithLog(t *testing.T) {
	t.Parallel()
	dir := newMailDir(t)
	must(t, "", "-d", dir, "alias", "add", "out@example.test", "ok@remote.test", "later@remote.test", "nobody@remote.test")
	must(t, msg, "-d", dir, "deliver", "-f", "alice@example.test", "out@example.test")
	s := serve(t, dir, "queue.routes=remote.test="+refusingMX(t), "queue.poll_interval=100ms", "queue.retry_base=1h")
	eventually(t, "the attempt to end", func() bool { return strings.Contains(s.logText(), `msg="delivery deferred"`) })
	logged := map[string][2]string{} // rcpt -> outcome, reply
	for _, m := range recipientLine.FindAllStringSubmatch(s.logText(), -1) {
		if _, twice := logged[m[2]]; twice {
			t.Errorf("%s logged twice in one attempt", m[2])
		}
		logged[m[2]] = [2]string{m[1], m[3]}
	}
	want := map[string]string{"ok@remote.test": "delivered", "later@remote.test": "deferred", "nobody@remote.test": "failed"}
	show := must(t, "", "-d", dir, "queue", "show", "1")
	// A refusal is final: by the time the attempt ends its DSN is sent,
	// so the queue shows the recipient as bounced, as the metric counts it.
	status := map[string]string{"delivered": "delivered", "deferred": "pending", "failed": "bounced"}
	for rcpt, outcome := range want {
		l := logged[rcpt]
		if l[0] != outcome {
			t.Errorf("log says %s %q, want %s:\n%s", rcpt, l, outcome, s.logText())
		}
		line := fmt.Sprintf("to: <%s> %s (%s)\n", rcpt, status[outcome], l[1])
		if !strings.Contains(show, line) {
			t.Errorf("queue show lacks %q, what the log says:\n%s", line, show)
		}
	}
	page := scrape(t, s)
	for _, r := range []string{"delivered", "deferred", "bounced"} {
		if v := metricValue(page, `pochta_delivery_attempts_total{result="`+r+`"}`); v != 1 {
			t.Errorf("pochta_delivery_attempts_total{result=%q} = %v, want 1 (one log line each)", r, v)
		}
	}
}
