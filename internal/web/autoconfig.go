package web

import (
	"encoding/xml"
	"net/http"
	"strings"
)

// Thunderbird's autoconfig format ("config-v1.1.xml"), the fields of
// https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat
// that a mail server needs.

type clientConfig struct {
	XMLName  xml.Name      `xml:"clientConfig"`
	Version  string        `xml:"version,attr"`
	Provider emailProvider `xml:"emailProvider"`
}

type emailProvider struct {
	ID               string     `xml:"id,attr"`
	Domain           []string   `xml:"domain"`
	DisplayName      string     `xml:"displayName"`
	DisplayShortName string     `xml:"displayShortName"`
	Incoming         []acServer `xml:"incomingServer"`
	Outgoing         []acServer `xml:"outgoingServer"`
}

type acServer struct {
	Type           string `xml:"type,attr"`
	Hostname       string `xml:"hostname"`
	Port           int    `xml:"port"`
	SocketType     string `xml:"socketType"`
	Authentication string `xml:"authentication"`
	Username       string `xml:"username"`
}

func (sec Security) socketType() string {
	switch sec {
	case Implicit:
		return "SSL"
	case StartTLS:
		return "STARTTLS"
	}
	return "plain"
}

// autoconfig answers Thunderbird. The domain comes from the emailaddress
// parameter Thunderbird sends, else from the Host (autoconfig.DOMAIN or
// DOMAIN itself for the .well-known path).
func (s *Site) autoconfig(w http.ResponseWriter, r *http.Request) {
	domain := ""
	if _, d, ok := addressDomain(r.URL.Query().Get("emailaddress")); ok {
		domain = d
	} else {
		domain = strings.TrimPrefix(requestHost(r), "autoconfig.")
	}
	if !s.served(w, r, domain) {
		return
	}
	sv := s.svc()
	cc := clientConfig{Version: "1.1", Provider: emailProvider{
		ID: domain, Domain: []string{domain}, DisplayName: domain, DisplayShortName: domain,
	}}
	add := func(list *[]acServer, typ string, eps []Endpoint) {
		for _, ep := range eps {
			if ep.Port == 0 {
				continue
			}
			*list = append(*list, acServer{Type: typ, Hostname: s.Hostname, Port: ep.Port,
				SocketType: ep.Security.socketType(), Authentication: "password-cleartext",
				// Thunderbird replaces %EMAILADDRESS%: logins are full addresses.
				Username: "%EMAILADDRESS%"})
		}
	}
	add(&cc.Provider.Incoming, "imap", sv.IMAP)
	add(&cc.Provider.Incoming, "pop3", sv.POP3)
	add(&cc.Provider.Outgoing, "smtp", sv.Submission)
	writeXML(w, "application/xml", cc)
}

// writeXML writes v with the XML declaration; an encoding error cannot
// happen for these fixed types and is only logged by net/http.
func writeXML(w http.ResponseWriter, contentType string, v any) {
	out, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType+"; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write([]byte(xml.Header))
	w.Write(out)
	w.Write([]byte("\n"))
}
