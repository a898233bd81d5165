package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/pochta-mail/pochta/internal/store"
)

// TestDeliverBatch: a batch of fetched messages through the Sieve step,
// each filed where its account's script says, in the batch's order: those
// that need a transaction of their own (a redirect) and those the script
// discards keep their place; a message spooled to a file (a size test) is
// read at the batch's commit; a message fetched before is refused alone;
// replies go once the batch is stored.
func TestDeliverBatch(t *testing.T) {
	f, src := newFetching(t)
	ctx := context.Background()
	alice := f.accts["alice@example.org"]
	f.script(t, "alice@example.org", `require ["fileinto", "mailbox", "vacation"];
if header :contains "Subject" "work" { fileinto :create "Work"; }
elsif header :contains "Subject" "fwd" { redirect "far@remote.example"; }
elsif header :contains "Subject" "drop" { discard; }
elsif size :over 2M { fileinto :create "Big"; }
elsif header :contains "Subject" "away" { vacation "Not here."; }`)
	subjects := []string{"keep 0", "work 1", "keep 2", "fwd 3", "keep 4", "drop 5", "big 6", "away 7", "keep 8", "keep 9"}
	msg := func(i int, subject string) Message {
		body := fmt.Sprintf("From: dan@remote.example\r\nTo: alice@example.org\r\nSubject: %s\r\nMessage-ID: <%d@remote.example>\r\n\r\nhi\r\n", subject, i)
		if strings.HasPrefix(subject, "big") {
			body += strings.Repeat("0123456789abcdef\r\n", 200000) // 3.6 MB: spooled to a file
		}
		return Message{Local: []store.Account{alice}, From: "dan@remote.example", Body: strings.NewReader(body),
			Fetched: &store.FetchMark{SourceID: src.ID, FetchedID: store.FetchedID{ID: fmt.Sprint(i)}}}
	}
	var ms []Message
	for i, s := range subjects {
		ms = append(ms, msg(i, s))
	}
	if err := f.st.AddFetchedIDs(ctx, src.ID, []store.FetchedID{{ID: "9"}}); err != nil {
		t.Fatal(err)
	}
	errs := f.d.DeliverBatch(ctx, ms)
	for i, err := range errs {
		if i == 9 {
			if !errors.Is(err, store.ErrExists) {
				t.Errorf("message fetched before: %v, want ErrExists", err)
			}
		} else if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	}
	subjectsIn := func(box string) []string {
		msgs, _ := f.messages(t, "alice@example.org", box)
		mb, _ := f.st.GetMailbox(ctx, alice.ID, box)
		var out []string
		for _, m := range msgs {
			r, err := f.st.OpenMessage(ctx, mb.ID, m.UID)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			_, rest, _ := strings.Cut(string(b), "\r\nSubject: ")
			s, _, _ := strings.Cut(rest, "\r\n")
			out = append(out, s)
		}
		return out
	}
	for box, want := range map[string][]string{
		"INBOX": {"keep 0", "keep 2", "keep 4", "away 7", "keep 8"},
		"Work":  {"work 1"},
		"Big":   {"big 6"},
	} {
		if got := subjectsIn(box); !slices.Equal(got, want) {
			t.Errorf("%s holds %q, want %q", box, got, want)
		}
	}
	q := f.queued(t)
	if len(q) != 2 || !strings.Contains(q[0]+q[1], "Subject: fwd 3\r\n") || !strings.Contains(q[0]+q[1], "Not here.") {
		t.Errorf("queue (the redirect and the vacation reply): %q", q)
	}
	ids, err := f.st.FetchedIDs(ctx, src.ID, "")
	if err != nil || len(ids) != len(subjects) {
		t.Errorf("%d fetched ids recorded, %v; want all %d (discarded and redirected ones too)", len(ids), err, len(subjects))
	}
}

// TestDeliverBatchBodies: every message of a batch through the filter
// step is stored with its own body, though the bodies are read at the
// batch's commit, after the step has read the next messages' headers
// (the step's readers are reused only once their message is stored).
func TestDeliverBatchBodies(t *testing.T) {
	f := newFiltering(t)
	f.d.PlusFolders = false
	f.script(t, "alice@example.org", `require "fileinto"; if header :contains "Subject" "none" { discard; }`)
	alice, err := f.st.Account(context.Background(), "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	var ms []Message
	var want []string
	for i := range 8 {
		body := fmt.Sprintf("From: dan@remote.example\r\nSubject: %d\r\n\r\n%s\r\n", i, strings.Repeat(fmt.Sprint(i), 100*(i+1)))
		ms = append(ms, Message{Local: []store.Account{alice}, From: "dan@remote.example", Body: strings.NewReader(body)})
		want = append(want, body)
	}
	for round := range 2 { // the second batch takes the first one's readers
		for i, err := range f.d.DeliverBatch(context.Background(), ms) {
			if err != nil {
				t.Fatalf("round %d, message %d: %v", round, i, err)
			}
		}
		for i := range ms {
			ms[i].Body = strings.NewReader(want[i])
		}
	}
	for n := 1; n <= 2*len(want); n++ {
		if got := f.storedBody(t, "alice@example.org", "INBOX", n); got != want[(n-1)%len(want)] {
			t.Errorf("message %d stored as\n%q\nwant\n%q", n, got, want[(n-1)%len(want)])
		}
	}
}
