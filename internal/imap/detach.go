package imap

import (
	"runtime/debug"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// Why commands run on short-lived goroutines: an IDLE connection keeps two
// goroutines of the library parked for hours (its read loop and the one
// running Idle). A goroutine's stack only grows, and shrinks at best by
// half per GC: if SELECT's SQL (the pure-Go SQLite engine has deep frames)
// ran on the read loop's goroutine, every idle connection would keep a
// stack sized for SQL. So the session's store work runs on a fresh
// goroutine that exits when the command is done, and the parked ones stay
// small: at 10,000 IDLE connections this halved the server's memory.

// detach runs fn on its own goroutine and waits for it. A panic in fn is
// contained, logged and counted, like the library does for its own.
func detach[T any](s *session, fn func() (T, error)) (T, error) {
	if s.sel != nil {
		s.sel.endIdle() // any command ends the pushes of a finished IDLE
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				s.srv.panics.Add(1)
				s.logger().Error("imap: panic in command", "panic", p, "stack", string(debug.Stack()))
				ch <- result{err: errInternal}
			}
		}()
		v, err := fn()
		ch <- result{v, err}
	}()
	r := <-ch
	return r.v, r.err
}

func detachErr(s *session, fn func() error) error {
	_, err := detach(s, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

var errInternal = &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCodeServerBug,
	Text: "Internal error occurred. Refer to server log for more information."}

// detached is the session as the library sees it: every method that
// reaches the store runs detached.
type detached struct{ *session }

var (
	_ imapserver.SessionIMAP4rev2   = detached{}
	_ imapserver.SessionSASL        = detached{}
	_ imapserver.SessionAppendLimit = detached{}
)

func (d detached) Login(username, password string) error {
	return detachErr(d.session, func() error { return d.session.Login(username, password) })
}

func (d detached) Select(name string, o *goimap.SelectOptions) (*goimap.SelectData, error) {
	return detach(d.session, func() (*goimap.SelectData, error) { return d.session.Select(name, o) })
}

func (d detached) Create(name string, o *goimap.CreateOptions) error {
	return detachErr(d.session, func() error { return d.session.Create(name, o) })
}

func (d detached) Delete(name string) error {
	return detachErr(d.session, func() error { return d.session.Delete(name) })
}

func (d detached) Rename(from, to string, o *goimap.RenameOptions) error {
	return detachErr(d.session, func() error { return d.session.Rename(from, to, o) })
}

func (d detached) Subscribe(name string) error {
	return detachErr(d.session, func() error { return d.session.Subscribe(name) })
}

func (d detached) Unsubscribe(name string) error {
	return detachErr(d.session, func() error { return d.session.Unsubscribe(name) })
}

func (d detached) List(w *imapserver.ListWriter, ref string, patterns []string, o *goimap.ListOptions) error {
	return detachErr(d.session, func() error { return d.session.List(w, ref, patterns, o) })
}

func (d detached) Status(name string, o *goimap.StatusOptions) (*goimap.StatusData, error) {
	return detach(d.session, func() (*goimap.StatusData, error) { return d.session.Status(name, o) })
}

func (d detached) Append(name string, r goimap.LiteralReader, o *goimap.AppendOptions) (*goimap.AppendData, error) {
	return detach(d.session, func() (*goimap.AppendData, error) { return d.session.Append(name, r, o) })
}

func (d detached) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	return detachErr(d.session, func() error { return d.session.Poll(w, allowExpunge) })
}

func (d detached) Expunge(w *imapserver.ExpungeWriter, uids *goimap.UIDSet) error {
	return detachErr(d.session, func() error { return d.session.Expunge(w, uids) })
}

func (d detached) Search(kind imapserver.NumKind, c *goimap.SearchCriteria, o *goimap.SearchOptions) (*goimap.SearchData, error) {
	return detach(d.session, func() (*goimap.SearchData, error) { return d.session.Search(kind, c, o) })
}

func (d detached) Fetch(w *imapserver.FetchWriter, numSet goimap.NumSet, o *goimap.FetchOptions) error {
	return detachErr(d.session, func() error { return d.session.Fetch(w, numSet, o) })
}

func (d detached) Store(w *imapserver.FetchWriter, numSet goimap.NumSet, f *goimap.StoreFlags, o *goimap.StoreOptions) error {
	return detachErr(d.session, func() error { return d.session.Store(w, numSet, f, o) })
}

func (d detached) Copy(numSet goimap.NumSet, dest string) (*goimap.CopyData, error) {
	return detach(d.session, func() (*goimap.CopyData, error) { return d.session.Copy(numSet, dest) })
}

func (d detached) Move(w *imapserver.MoveWriter, numSet goimap.NumSet, dest string) error {
	return detachErr(d.session, func() error { return d.session.Move(w, numSet, dest) })
}
