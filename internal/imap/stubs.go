package imap

// Handlers E1 has not landed yet. Each returns NO until its file lands.

func notYet(string, bool) error { return no(codeCannot, "Not implemented yet") }

func (s *session) cmdCreate(t string, u bool) error      { return notYet(t, u) }
func (s *session) cmdDelete(t string, u bool) error      { return notYet(t, u) }
func (s *session) cmdRename(t string, u bool) error      { return notYet(t, u) }
func (s *session) cmdSubscribe(t string, u bool) error   { return notYet(t, u) }
func (s *session) cmdUnsubscribe(t string, u bool) error { return notYet(t, u) }
func (s *session) cmdList(t string, u bool) error        { return notYet(t, u) }
func (s *session) cmdLsub(t string, u bool) error        { return notYet(t, u) }
func (s *session) cmdStatus(t string, u bool) error      { return notYet(t, u) }
func (s *session) cmdAppend(t string, u bool) error      { return notYet(t, u) }
func (s *session) cmdIdle(t string, u bool) error        { return notYet(t, u) }
func (s *session) cmdExpunge(t string, u bool) error     { return notYet(t, u) }
func (s *session) cmdStore(t string, u bool) error       { return notYet(t, u) }
func (s *session) cmdCopy(t string, u bool) error        { return notYet(t, u) }
func (s *session) cmdMove(t string, u bool) error        { return notYet(t, u) }
