package delivery

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"github.com/pochta-mail/pochta/internal/sieve"
)

// VacationReply composes the reply a vacation action asks for (RFC 5230),
// or returns false when the rules say none is due: never to the null
// sender or a mailer daemon, list software or the user itself (4.6),
// never to automatic, list or bulk mail, and only to mail addressed to
// one of the user's addresses (4.5). Once per period is the store's
// claim (Reply.Key), made after the message is stored.
func VacationReply(in *FilterInput, v *sieve.Vacation, hostname string, now time.Time) (Reply, bool) {
	sender := strings.ToLower(in.From)
	if sender == "" || !autoReplyable(sender) || automatic(in.Header) {
		return Reply{}, false
	}
	own := map[string]bool{strings.ToLower(in.Account.Address): true, strings.ToLower(in.To): true}
	for _, a := range v.Addresses {
		if addr, err := mail.ParseAddress(a); err == nil {
			own[strings.ToLower(addr.Address)] = true
		} else {
			own[strings.ToLower(a)] = true
		}
	}
	if own[sender] {
		return Reply{}, false
	}
	addressed := false
	for _, a := range in.Header.Addresses("To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc") {
		addressed = addressed || own[a]
	}
	if !addressed {
		return Reply{}, false
	}
	key := sha256.Sum256([]byte(v.Handle + "\x00" + sender))
	return Reply{
		Key:     hex.EncodeToString(key[:16]),
		Period:  time.Duration(v.Days) * 24 * time.Hour,
		To:      in.From,
		Message: composeVacation(in, v, hostname, now),
	}, true
}

// autoReplyable is false for senders that are software (RFC 5230 4.6,
// RFC 3834 section 2).
func autoReplyable(sender string) bool {
	local := sender[:max(strings.LastIndexByte(sender, '@'), 0)]
	switch {
	case local == "mailer-daemon", local == "listserv", local == "majordomo", local == "postmaster":
		return false
	case strings.HasPrefix(local, "owner-"), strings.HasSuffix(local, "-request"), strings.HasSuffix(local, "-owner"):
		return false
	}
	return true
}

// automatic reports mail no one should auto-reply to: automatically
// submitted (RFC 3834), from a mailing list (RFC 2369, RFC 2919) or bulk.
func automatic(h *Header) bool {
	if v := h.Get("Auto-Submitted"); v != "" {
		kw, _, _ := strings.Cut(v, ";")
		if !strings.EqualFold(strings.TrimSpace(kw), "no") {
			return true
		}
	}
	for _, f := range []string{"List-Id", "List-Post", "List-Help", "List-Subscribe", "List-Unsubscribe",
		"List-Owner", "List-Archive", "X-Auto-Response-Suppress"} {
		if h.Values(f) != nil {
			return true
		}
	}
	switch strings.ToLower(h.Get("Precedence")) {
	case "bulk", "list", "junk":
		return true
	}
	return false
}

// oneLine removes line breaks from text that goes into a header field.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func encodeWord(s string) string {
	return mime.QEncoding.Encode("utf-8", oneLine(s))
}

// composeVacation writes the reply message (RFC 5230 section 5).
func composeVacation(in *FilterInput, v *sieve.Vacation, hostname string, now time.Time) []byte {
	var b bytes.Buffer
	from := "<" + headerAddr(in.To) + ">"
	if v.From != "" {
		if a, err := mail.ParseAddress(v.From); err == nil {
			from = a.String()
		}
	}
	subject := v.Subject
	if subject == "" {
		// RFC 5230 5.4: "Auto:" and the original subject.
		subject = "Auto: " + strings.Join(in.Header.Decoded("Subject"), " ")
	}
	var id [12]byte
	rand.Read(id[:])
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: <%s>\r\n", headerAddr(in.From))
	fmt.Fprintf(&b, "Subject: %s\r\n", encodeWord(subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), headerToken(hostname))
	if mid := oneLine(in.Header.Get("Message-ID")); mid != "" {
		fmt.Fprintf(&b, "In-Reply-To: %s\r\n", mid)
		refs := oneLine(in.Header.Get("References"))
		if refs != "" {
			refs += " "
		}
		fmt.Fprintf(&b, "References: %s%s\r\n", refs, mid)
	}
	b.WriteString("Auto-Submitted: auto-replied (vacation)\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	reason := strings.ReplaceAll(strings.ReplaceAll(v.Reason, "\r\n", "\n"), "\n", "\r\n")
	if v.MIME {
		// :mime: the reason is a MIME entity, its own header included.
		b.WriteString(reason)
		if !strings.HasSuffix(reason, "\r\n") {
			b.WriteString("\r\n")
		}
		return b.Bytes()
	}
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(reason))
	w.Close()
	b.WriteString("\r\n")
	return b.Bytes()
}
