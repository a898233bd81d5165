package imap

// cmdFetch: FETCH and UID FETCH. A stub until E2's FETCH lands.
func (s *session) cmdFetch(string, bool) error {
	return no(codeCannot, "FETCH is not implemented yet")
}
