package queue

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// Bounce limits: the original headers are copied up to maxBounceHeader
// octets; with RET=FULL the whole message up to maxBounceFull, else only
// its headers.
const (
	maxBounceHeader = 64 << 10
	maxBounceFull   = 1 << 20
)

// bounce sends one DSN for the recipients that failed since the last
// one, and marks them bounced. A bounce is never bounced: a message
// from the null sender has its failures only logged (RFC 5321 6.1, RFC
// 3464 2).
func (w *Worker) bounce(ctx context.Context, m store.QueuedMessage, now time.Time, log *slog.Logger) error {
	var failed, notify []store.QueueRecipient
	for _, r := range m.Envelope.Recipients {
		if r.Status == store.RecipientFailed {
			failed = append(failed, r)
			if wantsBounce(r) {
				notify = append(notify, r)
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	for _, r := range failed {
		log.Warn("delivery failed", "rcpt", r.Address, "reason", r.Reply)
	}
	if m.Envelope.From != "" && len(notify) > 0 && w.Bouncer != nil {
		msg, err := w.dsn(ctx, m, notify, now)
		if err != nil {
			return err
		}
		if err := w.Bouncer.Bounce(ctx, m.Envelope.From, msg); err != nil {
			return err
		}
		log.Info("bounce sent", "to", m.Envelope.From, "recipients", len(notify))
	}
	for i := range failed {
		failed[i].Status = store.RecipientBounced
	}
	if err := w.Queue.RecordRecipients(ctx, m.ID, failed); err != nil {
		// Sent but not recorded: the next attempt sends it again, a
		// duplicate bounce rather than a lost one.
		return err
	}
	for _, r := range failed {
		setStatus(&m, r)
	}
	return nil
}

// dsn builds the RFC 3464 report: a multipart/report with a readable
// part, the message/delivery-status part and the original headers (or,
// with RET=FULL, the original message).
func (w *Worker) dsn(ctx context.Context, m store.QueuedMessage, failed []store.QueueRecipient, now time.Time) ([]byte, error) {
	original, full, err := w.original(ctx, m)
	if err != nil {
		return nil, err
	}
	boundary := randomHex(12)
	host := w.hostname()
	var b bytes.Buffer
	h := func(format string, a ...any) { fmt.Fprintf(&b, format+"\r\n", a...) }
	h("From: Mail Delivery System <MAILER-DAEMON@%s>", host)
	h("To: <%s>", m.Envelope.From)
	h("Subject: Undelivered Mail Returned to Sender")
	h("Date: %s", now.Format(time.RFC1123Z))
	h("Message-ID: <%s.dsn@%s>", randomHex(10), host)
	h("Auto-Submitted: auto-replied") // RFC 3834: no auto-reply loops
	h("MIME-Version: 1.0")
	h("Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"", boundary)
	h("")
	h("This is a MIME-encapsulated delivery status notification.")
	h("")
	h("--%s", boundary)
	h("Content-Type: text/plain; charset=utf-8")
	h("Content-Description: Notification")
	h("")
	h("This is the mail system at %s.", host)
	h("")
	h("Your message could not be delivered to one or more recipients.")
	h("It has been given up on for good; the reasons follow.")
	h("")
	for _, r := range failed {
		h("<%s>: %s", r.Address, oneLine(r.Reply))
	}
	h("")
	h("--%s", boundary)
	h("Content-Type: message/delivery-status")
	h("Content-Description: Delivery report")
	h("")
	h("Reporting-MTA: dns; %s", host)
	if m.Envelope.DSNEnvelopeID != "" {
		h("Original-Envelope-Id: %s", m.Envelope.DSNEnvelopeID)
	}
	h("Arrival-Date: %s", m.Created.Format(time.RFC1123Z))
	for _, r := range failed {
		h("")
		h("Final-Recipient: rfc822; %s", r.Address)
		if r.ORcpt != "" {
			h("Original-Recipient: %s", r.ORcpt)
		}
		h("Action: failed")
		h("Status: %s", statusOf(r.Reply))
		if code := replyCode(r.Reply); code != "" {
			h("Diagnostic-Code: smtp; %s", oneLine(r.Reply))
		} else {
			h("Diagnostic-Code: x-pochta; %s", oneLine(r.Reply))
		}
		h("Last-Attempt-Date: %s", now.Format(time.RFC1123Z))
	}
	h("")
	h("--%s", boundary)
	if full {
		h("Content-Type: message/rfc822")
	} else {
		h("Content-Type: text/rfc822-headers")
	}
	h("Content-Description: Undelivered message")
	h("")
	b.Write(original)
	if !bytes.HasSuffix(original, []byte("\r\n")) {
		h("")
	}
	h("--%s--", boundary)
	return b.Bytes(), nil
}

// original returns the returned part: the whole message for RET=FULL
// when small enough, else the header section.
func (w *Worker) original(ctx context.Context, m store.QueuedMessage) ([]byte, bool, error) {
	body, err := w.Queue.QueuedBody(ctx, m.ID)
	if err != nil {
		return nil, false, err
	}
	defer body.Close()
	if strings.EqualFold(m.Envelope.DSNReturn, "FULL") && m.Size <= maxBounceFull {
		b, err := io.ReadAll(body)
		return b, true, err
	}
	var out bytes.Buffer
	r := bufio.NewReader(io.LimitReader(body, maxBounceHeader))
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimRight(line, "\r\n")) == 0 && (len(line) > 0 || err != nil) {
			return out.Bytes(), false, nil // end of the header section
		}
		out.Write(line)
		if err != nil {
			return out.Bytes(), false, nil
		}
	}
}

// statusOf extracts the RFC 3463 code from a recorded reply ("550 5.1.1
// ..." or "4.4.7 ..."), defaulting to 5.0.0. A transient code is kept for
// an expired message, as other MTAs do: it says what kept failing.
func statusOf(reply string) string {
	f := strings.Fields(reply)
	for _, s := range f[:min(2, len(f))] {
		if len(s) >= 5 && (s[0] == '4' || s[0] == '5') && isEnhanced(s, int(s[0]-'0')) {
			return s
		}
	}
	return "5.0.0"
}

func replyCode(reply string) string {
	if len(reply) >= 3 && (reply[0] == '4' || reply[0] == '5') && reply[1] >= '0' && reply[1] <= '9' &&
		reply[2] >= '0' && reply[2] <= '9' && (len(reply) == 3 || reply[3] == ' ') {
		return reply[:3]
	}
	return ""
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
