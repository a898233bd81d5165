package fetch

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// wholeLiteral turns a literal that ends before its announced size into an
// error, so the part that arrived is never stored. TestIMAPCutShortNotStored
// shows it over a real connection but cannot run under -race (go-imap's own
// race); this runs in every build.
func TestWholeLiteral(t *testing.T) {
	for _, tc := range []struct {
		sent     string
		announce int64
		want     error
	}{
		{"twelve bytes", 12, nil},
		{"cut", 12, io.ErrUnexpectedEOF},
		{"", 1, io.ErrUnexpectedEOF},
		{"", 0, nil},
	} {
		got, err := io.ReadAll(&wholeLiteral{r: strings.NewReader(tc.sent), left: tc.announce})
		if !errors.Is(err, tc.want) || (tc.want == nil && string(got) != tc.sent) {
			t.Errorf("%q announced as %d: %q, %v; want %v", tc.sent, tc.announce, got, err, tc.want)
		}
	}
}
