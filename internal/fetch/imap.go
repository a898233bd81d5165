package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/pochta-mail/pochta/internal/store"
)

// imapSession is a logged-in IMAP connection.
type imapSession struct {
	c    *imapclient.Client
	conn net.Conn // the TCP connection under any TLS, for deadlines
	// budget bounds the octets read in one step (see budgetConn).
	budget *budgetConn
	limit  int64
	// exists is signalled by a new-mail (EXISTS) notice outside a
	// command's own responses, e.g. during IDLE.
	exists chan struct{}
	// expunges counts EXPUNGE responses (see imapMeta).
	expunges atomic.Int64
}

// step arms the deadline and the octet budget for one command.
func (s *imapSession) step(d time.Duration) {
	s.conn.SetDeadline(time.Now().Add(d))
	s.budget.left.Store(s.limit)
}

// maxIMAPStep bounds what one step of an IMAP session may read besides a
// message body: go-imap's client keeps a response (a UID SEARCH listing,
// a LIST, an envelope) whole in memory however long the server makes it,
// so a server that never ends one must not grow the fetcher's memory for
// as long as it sends. 64 MiB is some 6 million UIDs. A variable for the
// tests.
var maxIMAPStep int64 = 64 << 20

// errResponseTooLong ends a session whose step read more than its bound.
var errResponseTooLong = errors.New("imap: response too long")

// budgetConn fails reads once the octets left for the current step are
// spent (the server then looks like it closed the connection).
type budgetConn struct {
	net.Conn
	left atomic.Int64
}

func (c *budgetConn) Read(p []byte) (int, error) {
	left := c.left.Load()
	if left <= 0 {
		return 0, errResponseTooLong
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.left.Add(-int64(n))
	return n, err
}

// imap runs an IMAP source: one folder or all of them. With onPass and a
// server that offers IDLE, it stays in the folder and runs again as soon
// as new mail arrives (or the interval passes), until an error.
func (j *job) imap(ctx context.Context, onPass func(Result)) (Result, error) {
	s, err := j.imapLogin(ctx)
	if err != nil {
		return j.res, err
	}
	defer s.c.Close()
	stop := context.AfterFunc(ctx, func() { s.conn.SetDeadline(time.Now()) })
	defer stop()
	for {
		folders, err := j.imapFolders(s)
		if err != nil {
			return j.res, j.ctxErr(ctx, err)
		}
		for _, fo := range folders {
			if err := j.imapFolder(ctx, s, fo); err != nil {
				return j.res, j.ctxErr(ctx, fmt.Errorf("folder %s: %w", fo.remote, err))
			}
		}
		if onPass == nil || j.f.NoIdle || !s.c.Caps().Has(imap.CapIdle) {
			s.step(j.f.timeout())
			s.c.Logout().Wait()
			return j.res, ctx.Err()
		}
		onPass(j.res)
		j.res = Result{}
		if j.spec.All {
			// IDLE watches the selected folder only: with every folder
			// fetched it waits in INBOX, where new mail arrives; the
			// others are looked at by each pass (new mail in INBOX, or
			// the interval).
			s.step(j.f.timeout())
			if _, err := s.c.Select("INBOX", &imap.SelectOptions{ReadOnly: !j.src.Delete}).Wait(); err != nil {
				return j.res, j.ctxErr(ctx, fmt.Errorf("SELECT INBOX: %w", err))
			}
		}
		if err := j.idle(ctx, s); err != nil {
			return j.res, j.ctxErr(ctx, err)
		}
	}
}

// idle waits in IDLE (RFC 2177) for new mail, at most the source's
// interval.
func (j *job) idle(ctx context.Context, s *imapSession) error {
	wait := j.f.interval(j.src)
	s.step(wait + j.f.timeout())
	cmd, err := s.c.Idle()
	if err != nil {
		return fmt.Errorf("IDLE: %w", err)
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-s.exists:
	case <-timer.C:
	case <-ctx.Done():
	case <-s.c.Closed():
	}
	s.step(j.f.timeout())
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("ending IDLE: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("IDLE: %w", err)
	}
	return ctx.Err()
}

func (j *job) imapLogin(ctx context.Context) (*imapSession, error) {
	conn, err := j.dial(ctx)
	if err != nil {
		return nil, err
	}
	raw := conn
	if u, ok := conn.(interface{ NetConn() net.Conn }); ok {
		raw = u.NetConn()
	}
	// A step reads at most its bound plus one message (each body is
	// read in a step of its own).
	s := &imapSession{conn: raw, budget: &budgetConn{Conn: conn}, limit: maxIMAPStep + j.f.maxSize(),
		exists: make(chan struct{}, 1)}
	conn = s.budget
	opts := &imapclient.Options{
		TLSConfig: j.tlsConfig(),
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Expunge: func(uint32) { s.expunges.Add(1) },
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case s.exists <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	s.step(j.f.timeout())
	switch j.spec.TLS {
	case TLSStart:
		c, err := imapclient.NewStartTLS(conn, opts)
		if err != nil {
			conn.Close()
			if strings.Contains(err.Error(), "x509") || strings.Contains(err.Error(), "tls") {
				return nil, fmt.Errorf("TLS handshake with %s: %w", j.spec.Addr, err)
			}
			return nil, fmt.Errorf("STARTTLS with %s: %w", j.spec.Addr, err)
		}
		s.c = c
	default:
		s.c = imapclient.New(conn, opts)
		if err := s.c.WaitGreeting(); err != nil {
			s.c.Close()
			return nil, j.ctxErr(ctx, fmt.Errorf("IMAP greeting: %w", err))
		}
	}
	s.step(j.f.timeout())
	caps := s.c.Caps()
	mech := j.spec.Auth
	if mech == "" {
		mech = "login"
		if caps.Has(imap.Cap("AUTH=PLAIN")) {
			mech = "plain"
		}
	}
	if mech == "plain" {
		err = s.c.Authenticate(sasl.NewPlainClient("", j.spec.User, j.password))
	} else {
		err = s.c.Login(j.spec.User, j.password).Wait()
	}
	if err != nil {
		s.c.Close()
		return nil, j.ctxErr(ctx, fmt.Errorf("login as %s: %w", j.spec.User, err))
	}
	return s, nil
}

// imapFolder is a remote folder and the local mailbox it goes to ("" is
// INBOX).
type imapFolder struct {
	remote, local string
}

// localBySpecialUse maps RFC 6154 attributes to Pochta's default folders.
var localBySpecialUse = map[imap.MailboxAttr]string{
	imap.MailboxAttrSent: "Sent", imap.MailboxAttrDrafts: "Drafts", imap.MailboxAttrTrash: "Trash",
	imap.MailboxAttrJunk: "Junk", imap.MailboxAttrArchive: "Archive",
}

// imapFolders lists the folders of the pass: the URL's one, or every
// selectable folder.
func (j *job) imapFolders(s *imapSession) ([]imapFolder, error) {
	if !j.spec.All {
		return []imapFolder{{remote: j.spec.Folder}}, nil
	}
	s.step(j.f.timeout())
	opts := &imap.ListOptions{ReturnSpecialUse: s.c.Caps().Has(imap.CapSpecialUse)}
	list, err := s.c.List("", "*", opts).Collect()
	if err != nil {
		return nil, fmt.Errorf("LIST: %w", err)
	}
	var out []imapFolder
	for _, l := range list {
		if slices.Contains(l.Attrs, imap.MailboxAttrNoSelect) || slices.Contains(l.Attrs, imap.MailboxAttrNonExistent) {
			continue
		}
		fo := imapFolder{remote: l.Mailbox}
		switch {
		case strings.EqualFold(l.Mailbox, "INBOX"):
		default:
			fo.local = l.Mailbox
			if l.Delim != 0 && l.Delim != store.Delimiter {
				fo.local = strings.ReplaceAll(l.Mailbox, string(l.Delim), string(store.Delimiter))
			}
			for _, a := range l.Attrs {
				if name, ok := localBySpecialUse[a]; ok {
					fo.local = name
				}
			}
		}
		out = append(out, fo)
	}
	return out, nil
}

// imapFolder runs one folder. Ids are "UIDVALIDITY/UID"; those of an
// older UIDVALIDITY are matched to the renumbered messages by fingerprint
// first, so a server that renumbers does not make us fetch it all again.
func (j *job) imapFolder(ctx context.Context, s *imapSession, fo imapFolder) error {
	s.step(j.f.timeout())
	sel, err := s.c.Select(fo.remote, &imap.SelectOptions{ReadOnly: !j.src.Delete}).Wait()
	if err != nil {
		return fmt.Errorf("SELECT: %w", err)
	}
	prefix := strconv.FormatUint(uint64(sel.UIDValidity), 10) + "/"
	k, err := j.known(ctx, fo.remote)
	if err != nil {
		return err
	}
	if stale := staleIDs(k, prefix); len(stale) > 0 {
		if err := j.revalidate(ctx, s, k, prefix, stale); err != nil {
			return err
		}
		if k, err = j.known(ctx, fo.remote); err != nil {
			return err
		}
	}
	var uids []imap.UID
	if sel.NumMessages > 0 {
		s.step(j.f.timeout())
		sd, err := s.c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			return fmt.Errorf("UID SEARCH: %w", err)
		}
		uids = sd.AllUIDs()
		slices.Sort(uids)
	}
	present := map[string]bool{}
	var fresh []imap.UID
	var del imap.UIDSet
	for _, uid := range uids {
		id := prefix + strconv.FormatUint(uint64(uid), 10)
		present[id] = true
		if _, done := k.fetched[id]; done {
			del.AddNum(uid)
		} else if _, skipped := k.skipped[id]; !skipped {
			fresh = append(fresh, uid)
		}
	}
	// In chunks: the envelopes of a large folder's first run are not all
	// held at once.
	for chunk := range slices.Chunk(fresh, metaChunk) {
		if ctx.Err() != nil {
			break
		}
		metas, err := j.imapMeta(s, imap.UIDSetNum(chunk...))
		if err != nil {
			return err
		}
		var batch []imap.UID
		for _, uid := range chunk {
			m, ok := metas[uid]
			if !ok {
				continue // expunged meanwhile
			}
			if m.RFC822Size > j.f.maxSize() {
				if err := j.skip(ctx, j.imapID(fo, prefix, uid, m), m.RFC822Size); err != nil {
					return err
				}
				continue
			}
			batch = append(batch, uid)
		}
		stored, err := j.imapFetchBatch(ctx, s, batch, metas, fo, prefix)
		del.AddNum(stored...)
		if err != nil {
			return err
		}
	}
	if j.src.Delete && len(del) > 0 {
		if err := j.imapDelete(s, del); err != nil {
			return err
		}
	}
	return j.prune(ctx, k, present)
}

// metaChunk is how many messages' envelopes are asked for at once.
const metaChunk = 500

// metaTries bounds the envelope FETCHes of a chunk asked again because
// messages were expunged meanwhile.
const metaTries = 3

// imapMeta fetches the size, envelope, date and sequence number of
// messages. The bodies are then asked for by those sequence numbers
// (imapFetchBatch), so they must hold until then: a server may send
// EXPUNGE during a UID command (RFC 9051 section 7.5.1), which renumbers
// the messages after it, and then the FETCH is asked again (up to
// metaTries times; past that the sequence numbers may be off, which costs
// messages not fetched this pass, never a wrong one: each is keyed by the
// UID it comes with). Between its end and the body FETCH no command runs,
// and none may be sent during a FETCH.
func (j *job) imapMeta(s *imapSession, set imap.UIDSet) (map[imap.UID]*imapclient.FetchMessageBuffer, error) {
	var msgs []*imapclient.FetchMessageBuffer
	for try := 0; try < metaTries; try++ {
		before := s.expunges.Load()
		s.step(j.f.timeout())
		var err error
		msgs, err = s.c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true, Envelope: true, InternalDate: true}).Collect()
		if err != nil {
			return nil, fmt.Errorf("UID FETCH: %w", err)
		}
		if s.expunges.Load() == before {
			break
		}
	}
	out := make(map[imap.UID]*imapclient.FetchMessageBuffer, len(msgs))
	for _, m := range msgs {
		out[m.UID] = m
	}
	return out, nil
}

// imapID is the recorded id of a message of the folder.
func (j *job) imapID(fo imapFolder, prefix string, uid imap.UID, m *imapclient.FetchMessageBuffer) store.FetchedID {
	return store.FetchedID{Scope: fo.remote, ID: prefix + strconv.FormatUint(uint64(uid), 10),
		Fingerprint: fingerprint(m.Envelope, m.RFC822Size)}
}

// imapFetchBatch fetches the bodies of uids in one FETCH and stores
// the messages as the response streams in, in batches (see batch.go): one
// round trip per FETCH, not per message (what matters with a distant
// server). It returns the UIDs stored here (now, or by a concurrent run);
// a body larger than the limit after all (the announced size was wrong) is
// recorded as skipped.
func (j *job) imapFetchBatch(ctx context.Context, s *imapSession, uids []imap.UID,
	metas map[imap.UID]*imapclient.FetchMessageBuffer, fo imapFolder, prefix string) (stored []imap.UID, err error) {
	if len(uids) == 0 {
		return nil, nil
	}
	defer func() {
		// What was read is stored, even after a failure (not after ctx
		// ended): the caller deletes only what is returned.
		if ferr := j.flush(ctx); err == nil {
			err = ferr
		}
	}()
	want := map[imap.UID]bool{}
	for _, uid := range uids {
		want[uid] = true
	}
	storeOne := func(uid imap.UID, body io.Reader) error {
		m := metas[uid]
		if !want[uid] || m == nil {
			return nil // not asked for: discarded
		}
		want[uid] = false
		id := j.imapID(fo, prefix, uid, m)
		err := j.take(ctx, body, id, fo.local, m.InternalDate, func() error {
			stored = append(stored, uid)
			return nil
		})
		if errors.Is(err, errTooLarge) {
			return j.skip(ctx, id, m.RFC822Size)
		}
		return err
	}
	// By sequence number (the envelope FETCH just gave them, see
	// imapMeta), with the UID asked for
	// and each message keyed by the UID it comes with: go-imap hands the
	// response of a UID FETCH to the command only when the UID comes
	// before the body, and a server that sends BODY[] first would have
	// its messages discarded unseen, run after run.
	var seqs imap.SeqSet
	for _, uid := range uids {
		seqs.AddNum(metas[uid].SeqNum)
	}
	s.step(j.f.timeout())
	cmd := s.c.Fetch(seqs, &imap.FetchOptions{UID: true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	defer cmd.Close()
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		if err := ctx.Err(); err != nil {
			return stored, err
		}
		s.step(j.f.timeout())
		if err := j.imapMessage(ctx, s, msg, storeOne); err != nil {
			return stored, err
		}
	}
	if err := cmd.Close(); err != nil {
		return stored, fmt.Errorf("FETCH: %w", err)
	}
	return stored, nil // a UID not answered was expunged meanwhile: the next pass forgets it
}

// imapMessage reads one message of a body FETCH's response and stores it
// (storeOne) once its UID is known: as the body streams in when the UID
// came first, else from a spool (a body sent before the UID is read whole
// before the UID can be, and is not held in memory meanwhile).
func (j *job) imapMessage(ctx context.Context, s *imapSession, msg *imapclient.FetchMessageData,
	storeOne func(imap.UID, io.Reader) error) error {
	var uid imap.UID
	var early *spool
	defer func() {
		if early != nil {
			early.close()
		}
	}()
	for item := msg.Next(); item != nil; item = msg.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			uid = it.UID
		case imapclient.FetchItemDataBodySection:
			if it.Literal == nil || early != nil {
				continue
			}
			var body io.Reader = &deadlineReader{r: &wholeLiteral{r: it.Literal, left: it.Literal.Size()}, conn: s.conn, timeout: j.f.timeout()}
			if uid != 0 {
				if err := storeOne(uid, body); err != nil {
					return err
				}
				continue
			}
			var err error
			if early, err = newSpool(&sizeLimit{r: body, n: j.f.maxSize()}); err != nil {
				return err
			}
		}
	}
	if early != nil && uid != 0 {
		return storeOne(uid, early.reader())
	}
	return nil
}

// wholeLiteral fails with io.ErrUnexpectedEOF when the connection ends
// before a literal's announced size: go-imap's literal reader then just
// ends (io.EOF), and the message cut short would be stored.
type wholeLiteral struct {
	r    io.Reader
	left int64
}

func (w *wholeLiteral) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	w.left -= int64(n)
	if err == io.EOF && w.left > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// imapDelete removes messages that are durably stored here: \Deleted,
// then UID EXPUNGE where the server has UIDPLUS (else EXPUNGE, which also
// removes what others marked \Deleted in the folder, as any client's
// would).
func (j *job) imapDelete(s *imapSession, set imap.UIDSet) error {
	s.step(j.f.timeout())
	err := s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	if err != nil {
		return fmt.Errorf("UID STORE \\Deleted: %w", err)
	}
	s.step(j.f.timeout())
	if s.c.Caps().Has(imap.CapUIDPlus) {
		err = s.c.UIDExpunge(set).Close()
	} else {
		err = s.c.Expunge().Close()
	}
	if err != nil {
		return fmt.Errorf("EXPUNGE: %w", err)
	}
	if uids, ok := set.Nums(); ok {
		j.res.Deleted += len(uids)
	}
	return nil
}

// staleIDs are the recorded ids (fetched or skipped) of another
// UIDVALIDITY than prefix's.
func staleIDs(k *known, prefix string) []store.FetchedID {
	var out []store.FetchedID
	for _, m := range []map[string]store.FetchedID{k.fetched, k.skipped} {
		for id, f := range m {
			if !strings.HasPrefix(id, prefix) {
				out = append(out, f)
			}
		}
	}
	return out
}

// revalidate handles a new UIDVALIDITY (RFC 9051 section 2.3.1.1: every
// UID of the old one is void): the messages of the folder whose
// fingerprint matches one fetched (or skipped) under the old UIDVALIDITY
// are recorded under their new UID without being fetched again; the old
// ids are forgotten. A message without a Message-ID has no fingerprint and
// is fetched again.
func (j *job) revalidate(ctx context.Context, s *imapSession, k *known, prefix string, stale []store.FetchedID) error {
	j.log.Warn("the remote folder's UIDVALIDITY changed: matching its messages to the ones fetched before",
		"folder", k.scope, "uidvalidity", strings.TrimSuffix(prefix, "/"))
	old := map[string]bool{}        // fingerprints fetched
	oldSkipped := map[string]bool{} // fingerprints skipped
	var forget, forgetSkipped []string
	for _, f := range stale {
		skippedOne := k.skipped[f.ID].ID != "" && k.fetched[f.ID].ID == ""
		if skippedOne {
			forgetSkipped = append(forgetSkipped, f.ID)
		} else {
			forget = append(forget, f.ID)
		}
		if f.Fingerprint == "" {
			continue
		}
		if skippedOne {
			oldSkipped[f.Fingerprint] = true
		} else {
			old[f.Fingerprint] = true
		}
	}
	var again, againSkipped []store.FetchedID
	var all []imap.UID
	if len(old)+len(oldSkipped) > 0 {
		s.step(j.f.timeout())
		sd, err := s.c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			return fmt.Errorf("UID SEARCH: %w", err)
		}
		all = sd.AllUIDs()
	}
	for chunk := range slices.Chunk(all, metaChunk) {
		metas, err := j.imapMeta(s, imap.UIDSetNum(chunk...))
		if err != nil {
			return err
		}
		for uid, m := range metas {
			fp := fingerprint(m.Envelope, m.RFC822Size)
			id := store.FetchedID{Scope: k.scope, ID: prefix + strconv.FormatUint(uint64(uid), 10), Fingerprint: fp}
			switch {
			case fp == "":
			case old[fp]:
				again = append(again, id)
			case oldSkipped[fp]:
				id.Scope = skippedScope(k.scope)
				againSkipped = append(againSkipped, id)
			}
		}
	}
	if err := j.f.Store.AddFetchedIDs(ctx, j.src.ID, append(again, againSkipped...)); err != nil {
		return err
	}
	if err := j.f.Store.ForgetFetchedIDs(ctx, j.src.ID, k.scope, forget); err != nil {
		return err
	}
	return j.f.Store.ForgetFetchedIDs(ctx, j.src.ID, skippedScope(k.scope), forgetSkipped)
}

// fingerprint identifies a message across UIDVALIDITY changes: its
// Message-ID and size. "" when it has no Message-ID.
func fingerprint(env *imap.Envelope, size int64) string {
	if env == nil || env.MessageID == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(env.MessageID))
	return hex.EncodeToString(sum[:12]) + "/" + strconv.FormatInt(size, 10)
}
