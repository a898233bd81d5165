package imap

import (
	"strconv"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/message"
	"github.com/pochta-mail/pochta/internal/store"
)

// The sort cache bounds its entries, not their size: a message's
// References field (sender-controlled) must not make one entry hold
// thousands of identifiers. The nearest ancestors are the ones kept.
func TestMsgKeysRefsBounded(t *testing.T) {
	var b strings.Builder
	for i := range 5000 {
		b.WriteString("<r" + strconv.Itoa(i) + "@x> ")
	}
	k := newMsgKeys(&store.Message{}, &message.Envelope{References: b.String()})
	if len(k.refs) != maxThreadRefs {
		t.Fatalf("%d references kept, want %d", len(k.refs), maxThreadRefs)
	}
	if k.refs[len(k.refs)-1] != "<r4999@x>" {
		t.Errorf("last reference %q, want <r4999@x> (the parent)", k.refs[len(k.refs)-1])
	}
}
