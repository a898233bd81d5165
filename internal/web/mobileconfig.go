package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
)

// mobileconfig serves an Apple configuration profile (iOS, iPadOS, macOS)
// with one com.apple.mail.managed payload for the address in the
// emailaddress parameter: GET /mail.mobileconfig?emailaddress=alice@example.com.
// The profile is unsigned (the device says "Unverified"); it carries no
// password, the device asks for it.
func (s *Site) mobileconfig(w http.ResponseWriter, r *http.Request) {
	address, domain, ok := addressDomain(r.URL.Query().Get("emailaddress"))
	if !ok {
		http.Error(w, "want ?emailaddress=user@domain", http.StatusBadRequest)
		return
	}
	if !s.served(w, r, domain) {
		return
	}
	sv := s.svc()
	in, inType := first(sv.IMAP), "EmailTypeIMAP"
	if in.Port == 0 {
		in, inType = first(sv.POP3), "EmailTypePOP"
	}
	out := first(sv.Submission)
	if in.Port == 0 || out.Port == 0 {
		http.Error(w, "this server offers no IMAP/POP3 and submission to configure", http.StatusNotFound)
		return
	}
	// Identifiers are stable per address, so downloading the profile again
	// replaces the installed one instead of adding a second account.
	ident := "mail." + reverseDNS(domain) + "." + strings.ReplaceAll(address, "@", ".")
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	b.WriteString(`<plist version="1.0">` + "\n<dict>\n")
	b.WriteString("<key>PayloadContent</key>\n<array>\n<dict>\n")
	plistString(&b, "EmailAccountDescription", address)
	plistString(&b, "EmailAccountType", inType)
	plistString(&b, "EmailAddress", address)
	plistString(&b, "IncomingMailServerAuthentication", "EmailAuthPassword")
	plistString(&b, "IncomingMailServerHostName", s.Hostname)
	plistInt(&b, "IncomingMailServerPortNumber", in.Port)
	plistBool(&b, "IncomingMailServerUseSSL", in.Security != Plain)
	plistString(&b, "IncomingMailServerUsername", address)
	plistString(&b, "OutgoingMailServerAuthentication", "EmailAuthPassword")
	plistString(&b, "OutgoingMailServerHostName", s.Hostname)
	plistInt(&b, "OutgoingMailServerPortNumber", out.Port)
	plistBool(&b, "OutgoingMailServerUseSSL", out.Security != Plain)
	plistString(&b, "OutgoingMailServerUsername", address)
	plistBool(&b, "OutgoingPasswordSameAsIncomingPassword", true)
	plistString(&b, "PayloadDisplayName", "Mail: "+address)
	plistString(&b, "PayloadIdentifier", ident+".account")
	plistString(&b, "PayloadType", "com.apple.mail.managed")
	plistString(&b, "PayloadUUID", uuidFor(ident+".account"))
	plistInt(&b, "PayloadVersion", 1)
	b.WriteString("</dict>\n</array>\n")
	plistString(&b, "PayloadDisplayName", "Mail for "+address)
	plistString(&b, "PayloadIdentifier", ident)
	plistBool(&b, "PayloadRemovalDisallowed", false)
	plistString(&b, "PayloadType", "Configuration")
	plistString(&b, "PayloadUUID", uuidFor(ident))
	plistInt(&b, "PayloadVersion", 1)
	b.WriteString("</dict>\n</plist>\n")
	w.Header().Set("Content-Type", "application/x-apple-aspen-config")
	w.Header().Set("Content-Disposition", `attachment; filename="`+domain+`.mobileconfig"`)
	w.Write(b.Bytes())
}

func first(eps []Endpoint) Endpoint {
	for _, ep := range eps {
		if ep.Port != 0 {
			return ep
		}
	}
	return Endpoint{}
}

func plistString(b *bytes.Buffer, key, value string) {
	fmt.Fprintf(b, "<key>%s</key>\n<string>", key)
	xml.EscapeText(b, []byte(value))
	b.WriteString("</string>\n")
}

func plistInt(b *bytes.Buffer, key string, v int) {
	fmt.Fprintf(b, "<key>%s</key>\n<integer>%d</integer>\n", key, v)
}

func plistBool(b *bytes.Buffer, key string, v bool) {
	fmt.Fprintf(b, "<key>%s</key>\n<%t/>\n", key, v)
}

// reverseDNS turns example.com into com.example.
func reverseDNS(domain string) string {
	labels := strings.Split(domain, ".")
	for i, j := 0, len(labels)-1; i < j; i, j = i+1, j-1 {
		labels[i], labels[j] = labels[j], labels[i]
	}
	return strings.Join(labels, ".")
}

// uuidFor derives a stable version-8 style UUID from a name.
func uuidFor(name string) string {
	h := sha256.Sum256([]byte(name))
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16]))
}
