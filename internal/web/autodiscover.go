package web

import (
	"encoding/xml"
	"net/http"
)

// Outlook's "plain old XML" autodiscover ([MS-OXDSCLI]): the client POSTs
// its address, the server answers with the account's IMAP, POP3 and SMTP
// settings.

// maxAutodiscoverRequest bounds the request body; a real one is ~400 bytes.
const maxAutodiscoverRequest = 16 << 10

const (
	adResponseNS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
	adOutlookNS  = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
)

type adRequest struct {
	XMLName xml.Name `xml:"Autodiscover"`
	Request struct {
		EMailAddress             string `xml:"EMailAddress"`
		AcceptableResponseSchema string `xml:"AcceptableResponseSchema"`
	} `xml:"Request"`
}

type adResponse struct {
	XMLName  xml.Name `xml:"Autodiscover"`
	XMLNS    string   `xml:"xmlns,attr"`
	Response struct {
		XMLNS   string `xml:"xmlns,attr"`
		Account struct {
			AccountType string       `xml:"AccountType"`
			Action      string       `xml:"Action"`
			Protocol    []adProtocol `xml:"Protocol"`
		} `xml:"Account"`
	} `xml:"Response"`
}

type adProtocol struct {
	Type         string `xml:"Type"`
	Server       string `xml:"Server"`
	Port         int    `xml:"Port"`
	LoginName    string `xml:"LoginName"`
	SPA          string `xml:"SPA"`
	Encryption   string `xml:"Encryption"`
	AuthRequired string `xml:"AuthRequired"`
}

func (sec Security) encryption() string {
	switch sec {
	case Implicit:
		return "SSL"
	case StartTLS:
		return "TLS"
	}
	return "None"
}

func (s *Site) autodiscover(w http.ResponseWriter, r *http.Request) {
	var req adRequest
	if err := xml.NewDecoder(http.MaxBytesReader(w, r.Body, maxAutodiscoverRequest)).Decode(&req); err != nil {
		http.Error(w, "bad autodiscover request", http.StatusBadRequest)
		return
	}
	address, domain, ok := addressDomain(req.Request.EMailAddress)
	if !ok {
		http.Error(w, "bad autodiscover request: no EMailAddress", http.StatusBadRequest)
		return
	}
	if !s.served(w, r, domain) {
		return
	}
	sv := s.svc()
	var resp adResponse
	resp.XMLNS = adResponseNS
	resp.Response.XMLNS = adOutlookNS
	resp.Response.Account.AccountType = "email"
	resp.Response.Account.Action = "settings"
	add := func(typ string, eps []Endpoint) {
		for _, ep := range eps {
			if ep.Port == 0 {
				continue
			}
			resp.Response.Account.Protocol = append(resp.Response.Account.Protocol, adProtocol{
				Type: typ, Server: s.Hostname, Port: ep.Port, LoginName: address, SPA: "off",
				Encryption: ep.Security.encryption(), AuthRequired: "on",
			})
			return // Outlook takes one entry per type: the preferred one
		}
	}
	add("IMAP", sv.IMAP)
	add("POP3", sv.POP3)
	add("SMTP", sv.Submission)
	writeXML(w, "application/xml", resp)
}
