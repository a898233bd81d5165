package imap

// cmdSearch: SEARCH and UID SEARCH. A stub until E3's SEARCH lands.
func (s *session) cmdSearch(string, bool) error {
	return no(codeCannot, "SEARCH is not implemented yet")
}
