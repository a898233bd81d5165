package fetch

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

func TestBackoff(t *testing.T) {
	f := &Fetcher{}
	src := store.FetchSource{Interval: 2 * time.Minute}
	for failures, want := range []time.Duration{2 * time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour} {
		if got := f.backoff(src, failures); got != want {
			t.Errorf("backoff after %d failures = %s, want %s", failures, got, want)
		}
	}
	if got := f.interval(store.FetchSource{Interval: time.Second}); got != MinInterval {
		t.Errorf("interval of 1s = %s, want the minimum %s", got, MinInterval)
	}
	if got := f.interval(store.FetchSource{}); got != DefaultInterval {
		t.Errorf("default interval = %s", got)
	}
}

func TestSizeLimit(t *testing.T) {
	for _, tt := range []struct {
		body string
		err  error
	}{{"12345", nil}, {"1234", nil}, {"123456", errTooLarge}, {strings.Repeat("x", 100000), errTooLarge}} {
		got, err := io.ReadAll(&sizeLimit{r: strings.NewReader(tt.body), n: 5})
		if !errors.Is(err, tt.err) || (err == nil && string(got) != tt.body) || len(got) > 5 {
			t.Errorf("sizeLimit(5) of %d octets: %d read, %v; want %v", len(tt.body), len(got), err, tt.err)
		}
	}
}
