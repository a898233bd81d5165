// Package storetest is the conformance suite every storage engine must
// pass. An engine's test calls
//
//	storetest.Run(t, func(t *testing.T) store.Store { ... })
//
// where the function returns a fresh, empty engine and registers its Close
// with t.Cleanup. Subtests run in parallel, each on its own engine.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/store"
)

// Run runs every conformance test against engines made by open.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Domains", testDomains},
		{"Accounts", testAccounts},
		{"RecordLogins", testRecordLogins},
		{"InvalidNames", testInvalidNames},
		{"DeleteAccountRemovesMail", testDeleteAccountRemovesMail},
		{"DeliverOne", testDeliverOne},
		{"DeliverSeveralRecipients", testDeliverSeveral},
		{"LineEndingsAndSize", testLineEndings},
		{"DotLines", testDotLines},
		{"AllOrNothing", testAllOrNothing},
		{"DeliverTargets", testDeliverTargets},
		{"SieveScripts", testSieveScripts},
		{"SieveVersion", testSieveVersion},
		{"VacationReplies", testVacationReplies},
		{"SieveDuplicates", testSieveDuplicates},
		{"SendLog", testSendLog},
		{"UIDLGenerated", testUIDLGenerated},
		{"UIDLImported", testUIDLImported},
		{"SnapshotFixedAtOpen", testSnapshot},
		{"Lock", testLock},
		{"Delete", testDelete},
		{"DeleteLeavesOtherRecipients", testDeleteShared},
		{"MarkRetrievedAndExpire", testExpire},
		{"ConcurrentDeliveries", testConcurrent},
		{"DefaultFolders", testDefaultFolders},
		{"CreateDeleteMailbox", testCreateDeleteMailbox},
		{"RecreatedAccountUIDLs", testRecreatedAccountUIDLs},
		{"RenameMailbox", testRenameMailbox},
		{"SubscribeAndStatus", testSubscribeAndStatus},
		{"SubscriptionsAreNames", testSubscriptionsAreNames},
		{"ClaimRecent", testClaimRecent},
		{"AppendAndList", testAppendAndList},
		{"FlagsAndModSeq", testFlagsAndModSeq},
		{"CopyMoveExpunge", testCopyMoveExpunge},
		{"ModSeqOnEveryChange", testModSeqOnEveryChange},
		{"UpdateFlagsIf", testUpdateFlagsIf},
		{"Tombstones", testTombstones},
		{"ImportModSeq", testImportModSeq},
		{"POP3SnapshotAfterIMAPExpunge", testPOP3SnapshotAfterIMAPExpunge},
		{"SummariesAndQuota", testSummariesAndQuota},
		{"QuotaAppendCopy", testQuotaAppendCopy},
		{"ObjectIDsAndSaveDate", testObjectIDs},
		{"AppendMessages", testAppendMessages},
		{"SparseUIDSets", testSparseUIDSets},
		{"Events", testEvents},
		{"Aliases", testAliases},
		{"Quota", testQuota},
		{"Queue", testQueue},
		{"QueueClaimAndProgress", testQueueWork},
		{"QueueClaimConcurrent", testQueueClaimConcurrent},
		{"ImportMailbox", testImportMailbox},
		{"ImportMessages", testImportMessages},
		{"ImportKeysKept", testImportKeysKept},
		{"FetchSources", testFetchSources},
		{"FetchMark", testFetchMark},
		{"DeliverBatch", testDeliverBatch},
		{"TextIndex", testTextIndex},
		{"TextIndexNeverMisses", testTextIndexNeverMisses},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}

// account creates address (and its domain when needed).
func account(t *testing.T, s store.Store, address string) store.Account {
	t.Helper()
	ctx := context.Background()
	domain := address[strings.LastIndexByte(address, '@')+1:]
	if err := s.AddDomain(ctx, domain); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatalf("AddDomain(%q): %v", domain, err)
	}
	a, err := s.CreateAccount(ctx, address, store.Credentials{PasswordHash: "hash-of-" + address})
	if err != nil {
		t.Fatalf("CreateAccount(%q): %v", address, err)
	}
	return a
}

// deliver delivers body to the given accounts with generated UIDLs.
func deliver(t *testing.T, s store.Store, body string, to ...store.Account) {
	t.Helper()
	var rs []store.Recipient
	for _, a := range to {
		rs = append(rs, store.Recipient{AccountID: a.ID})
	}
	if err := s.Deliver(context.Background(), store.Delivery{Recipients: rs, Body: strings.NewReader(body)}); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
}

// open opens a's maildrop and closes it at the end of the test.
func open(t *testing.T, s store.Store, a store.Account) store.Maildrop {
	t.Helper()
	m, err := s.OpenMaildrop(context.Background(), a.ID)
	if err != nil {
		t.Fatalf("OpenMaildrop(%s): %v", a.Address, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// Bodies opens the account's maildrop, reads every body in delivery order,
// checks each against its Size, and closes the maildrop. Engine and
// protocol tests use it to look at what a store holds.
func Bodies(t testing.TB, s store.Maildrops, accountID int64) []string {
	t.Helper()
	m, err := s.OpenMaildrop(context.Background(), accountID)
	if err != nil {
		t.Fatalf("OpenMaildrop(%d): %v", accountID, err)
	}
	defer m.Close()
	var out []string
	for _, msg := range m.Messages() {
		b := read(t, m, msg.ID)
		if int64(len(b)) != msg.Size {
			t.Errorf("message %d: Size %d, but Body has %d octets", msg.ID, msg.Size, len(b))
		}
		out = append(out, b)
	}
	return out
}

// bodies is Bodies for an account.
func bodies(t *testing.T, s store.Store, a store.Account) []string {
	t.Helper()
	return Bodies(t, s, a.ID)
}

func read(t testing.TB, m store.Maildrop, id int64) string {
	t.Helper()
	r, err := m.Body(context.Background(), id)
	if err != nil {
		t.Fatalf("Body(%d): %v", id, err)
	}
	defer r.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		t.Fatalf("reading body %d: %v", id, err)
	}
	return buf.String()
}

func ids(msgs []store.MaildropMessage) []int64 {
	var out []int64
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

// wantErr fails unless errors.Is(err, want).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func msgBody(i int) string {
	return fmt.Sprintf("Subject: message %d\r\n\r\nbody %d\r\n", i, i)
}

// date is a fixed, whole-second time: every engine stores it exactly.
var date = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
