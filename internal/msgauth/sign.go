package msgauth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/pochta-mail/pochta/internal/message"
)

// maxHeader bounds the header section read to find From before signing.
const maxHeader = 1 << 20

// signedFields are RFC 6376 5.4.1's recommended fields. A field is
// signed only as often as it occurs: naming an absent field in h= signs
// its absence, and a receiving MTA that adds it (Postfix adds a missing
// Message-ID or Date) breaks the signature.
var signedFields = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date", "Resent-From",
	"Resent-To", "Resent-Cc", "In-Reply-To", "References", "List-Id", "List-Help",
	"List-Unsubscribe", "List-Subscribe", "List-Post", "List-Owner", "List-Archive",
	"Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
}

// overSigned fields are named once more than they occur (RFC 6376 8.15):
// the signature then breaks when someone adds another instance, which a
// reader might be shown instead of the signed one. These are the fields
// RFC 5322 3.6 allows once. From and Subject are over-signed even when
// absent (From never is): no MTA adds them in transit, so an added one is
// a forgery; the others, when absent, stay unsigned.
var overSigned = map[string]bool{
	"from": true, "reply-to": true, "subject": true, "date": true, "to": true, "cc": true,
	"in-reply-to": true, "references": true, "message-id": true,
	"mime-version": true, "content-type": true, "content-transfer-encoding": true,
}

// headerKeys is the h= list for a header section.
func headerKeys(header []byte) []string {
	count := map[string]int{}
	for _, n := range message.FieldNames(header) {
		count[strings.ToLower(n)]++
	}
	var keys []string
	for _, f := range signedFields {
		lf := strings.ToLower(f)
		n := count[lf]
		if overSigned[lf] && (n > 0 || lf == "from" || lf == "subject") {
			n++
		}
		for range n {
			keys = append(keys, f)
		}
	}
	return keys
}

// Signer signs messages whose From domain has keys, with every key of
// that domain (an Ed25519 and an RSA key side by side is RFC 8463's
// advice while verifiers catch up).
type Signer struct {
	byDomain map[string][]Key
}

// NewSigner indexes keys by domain; nil when there are none.
func NewSigner(keys []Key) *Signer {
	if len(keys) == 0 {
		return nil
	}
	s := &Signer{byDomain: map[string][]Key{}}
	for _, k := range keys {
		s.byDomain[k.Domain] = append(s.byDomain[k.Domain], k)
	}
	return s
}

// Sign returns DKIM-Signature fields (CRLF-terminated) for the message,
// or "" when no key covers its From domain.
func (s *Signer) Sign(ctx context.Context, msg io.Reader) (string, error) {
	br := bufio.NewReader(msg)
	header, err := message.ReadHeader(br, maxHeader)
	if err != nil {
		return "", err
	}
	domain, err := fromDomain(header)
	if err != nil {
		return "", nil // nothing we can align with: send unsigned
	}
	keys := s.byDomain[domain]
	if len(keys) == 0 {
		return "", nil
	}
	fields := headerKeys(header)
	var signers []*dkim.Signer
	var ws []io.Writer
	for _, k := range keys {
		sg, err := dkim.NewSigner(&dkim.SignOptions{
			Domain: k.Domain, Selector: k.Selector, Signer: k.Signer,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed,
			BodyCanonicalization:   dkim.CanonicalizationRelaxed,
			HeaderKeys:             fields,
		})
		if err != nil {
			return "", err
		}
		signers = append(signers, sg)
		ws = append(ws, sg)
	}
	_, err = io.Copy(io.MultiWriter(ws...), io.MultiReader(bytes.NewReader(header), br))
	var sigs strings.Builder
	for _, sg := range signers {
		if cerr := sg.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if err == nil {
			sigs.WriteString(sg.Signature())
		}
	}
	if err != nil {
		return "", fmt.Errorf("dkim: signing: %w", err)
	}
	return sigs.String(), nil
}

// fromDomain is the domain of the single address in From (RFC 7489 6.6.1:
// the RFC5322.From domain DMARC aligns with).
func fromDomain(header []byte) (string, error) {
	br := message.BorrowReader(io.MultiReader(bytes.NewReader(header), strings.NewReader("\r\n")))
	defer message.ReturnReader(br)
	msg, err := mail.ReadMessage(br)
	if err != nil {
		return "", err
	}
	froms := msg.Header["From"]
	if len(froms) != 1 {
		return "", errors.New("msgauth: not exactly one From field")
	}
	addrs, err := mail.ParseAddressList(froms[0])
	if err != nil || len(addrs) != 1 {
		return "", errors.New("msgauth: From is not one address")
	}
	at := strings.LastIndexByte(addrs[0].Address, '@')
	if at < 0 {
		return "", errors.New("msgauth: From address has no domain")
	}
	return strings.ToLower(strings.TrimSuffix(addrs[0].Address[at+1:], ".")), nil
}
