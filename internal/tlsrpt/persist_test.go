package tlsrpt

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/resolver"
	"github.com/pochta-mail/pochta/internal/store"
)

// The counts survive a restart: what one Recorder saved, a new one loads
// and adds to what it counted since, and the day's report carries both.
func TestCountsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tlsrpt-counts.json")
	day1 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	sts := Policy{Type: "sts", Domain: "a.test", Strings: []string{"version: STSv1", "mode: enforce"}, MXHosts: []string{"mx.a.test"}}
	expired := Failure{ResultType: ResultCertExpired, ReceivingMX: "mx.a.test", ReceivingIP: "192.0.2.7"}

	var before Recorder
	before.Success(day1, sts)
	before.Success(day1, sts)
	before.Fail(day1, sts, expired)
	before.Fail(day1, Policy{Type: "no-policy-found", Domain: "b.test"}, Failure{ResultType: ResultSTARTTLSNotSupported})
	if err := before.Save(path); err != nil {
		t.Fatal(err)
	}

	var after Recorder // the restarted process, which counted one session already
	after.Fail(day1.Add(time.Hour), sts, expired)
	if err := after.Load(path); err != nil {
		t.Fatal(err)
	}
	days := after.Take(day1.Add(24 * time.Hour))
	if len(days) != 1 || len(days[0].Domains) != 2 {
		t.Fatalf("after the restart: %+v", days)
	}
	a := days[0].Domains["a.test"]
	if a.Success != 2 || a.Failures[expired] != 2 || !reflect.DeepEqual(a.Policy, sts) {
		t.Errorf("a.test after the restart: %+v, want 2 successes and 2 %s", a, expired.ResultType)
	}
	if b := days[0].Domains["b.test"]; b.FailureCount() != 1 || b.Policy.Type != "no-policy-found" {
		t.Errorf("b.test after the restart: %+v", b)
	}

	// A damaged file is an error (serve starts afresh, saying so), not a panic.
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	var broken Recorder
	if err := broken.Load(path); err == nil {
		t.Error("loading a damaged file: no error")
	}
	if err := broken.Load(filepath.Join(t.TempDir(), "missing.json")); err != nil {
		t.Errorf("a missing file: %v", err)
	}
}

// Reports sent are taken out of the file too (or a restart would send
// them again), and days that ended while the server was down are sent when
// Run starts.
func TestReporterSavesWhatItSent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tlsrpt-counts.json")
	day1 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	var saved Recorder
	saved.Success(day1, Policy{Type: "sts", Domain: "a.test"})
	saved.Success(day1.Add(24*time.Hour), Policy{Type: "sts", Domain: "a.test"}) // the next day, not over yet
	if err := saved.Save(path); err != nil {
		t.Fatal(err)
	}

	res := resolver.NewStatic()
	if err := res.Add("_smtp._tls.a.test", "TXT", `"v=TLSRPTv1; rua=mailto:reports@a.test"`); err != nil {
		t.Fatal(err)
	}
	var st captureStore
	rp := &Reporter{Recorder: &Recorder{}, Resolver: res, Store: &st, Submitter: "mail.b.test",
		From: "tlsrpt-noreply@mail.b.test", Path: path, Now: func() time.Time { return day1.Add(25 * time.Hour) }}
	if err := rp.Recorder.Load(path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // Run reports the overdue day, then sees ctx ended
	rp.Run(ctx)
	if st.n != 1 {
		t.Fatalf("%d reports queued at start, want the one of the day that ended", st.n)
	}
	var reloaded Recorder
	if err := reloaded.Load(path); err != nil {
		t.Fatal(err)
	}
	if days := reloaded.Take(day1.Add(72 * time.Hour)); len(days) != 1 || !days[0].Start.Equal(day(day1).Add(24*time.Hour)) {
		t.Errorf("saved after sending: %+v, want only the day not over yet", days)
	}
}

// captureStore counts the reports handed to the queue.
type captureStore struct{ n int }

func (c *captureStore) Deliver(context.Context, store.Delivery) error {
	c.n++
	return nil
}
