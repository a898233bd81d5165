package web

import (
	"net/http"
	"strings"

	"github.com/pochta-mail/pochta/internal/mtasts"
)

// Policy is the MTA-STS policy this server publishes for its domains.
type Policy = mtasts.Policy

// mtaSTS serves https://mta-sts.DOMAIN/.well-known/mta-sts.txt
// (RFC 8461 section 3.3). Senders fetch it only over HTTPS with a valid
// certificate for mta-sts.DOMAIN; plain HTTP answers too, for checks.
func (s *Site) mtaSTS(w http.ResponseWriter, r *http.Request) {
	domain, ok := strings.CutPrefix(requestHost(r), "mta-sts.")
	if !ok || s.MTASTS.Mode == "" {
		http.NotFound(w, r)
		return
	}
	if !s.served(w, r, domain) {
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write([]byte(s.MTASTS.Text()))
}
