package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pochta-mail/pochta/internal/mtasts"
)

// FuzzSite sends arbitrary hosts, paths, queries and bodies through the
// public handler: it must answer every request without panicking, and only
// with the statuses it documents.
func FuzzSite(f *testing.F) {
	f.Add("GET", "autoconfig.example.test", "/mail/config-v1.1.xml", "emailaddress=alice%40example.test", "")
	f.Add("POST", "autodiscover.example.test", "/Autodiscover/Autodiscover.xml", "", adRequestBody)
	f.Add("GET", "example.test", "/mail.mobileconfig", "emailaddress=%D0%B8@%D0%BF%D1%80.test", "")
	f.Add("GET", "mta-sts.example.test:443", "/.well-known/mta-sts.txt", "", "")
	f.Add("POST", "x", "/autodiscover/autodiscover.xml", "", "<Autodiscover><Request><EMailAddress>@</EMailAddress></Request></Autodiscover>")
	site := &Site{
		Hostname: "mail.example.test",
		IsDomain: func(_ context.Context, d string) (bool, error) { return d == "example.test", nil },
		MTASTS:   mtasts.Policy{Mode: mtasts.ModeTesting, MX: []string{"mail.example.test"}, MaxAge: time.Hour},
	}
	site.SetServices(testServices)
	h := site.Handler()
	f.Fuzz(func(t *testing.T, method, host, path, query, body string) {
		if method != "GET" && method != "POST" {
			method = "GET"
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://placeholder"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.URL.RawQuery = query
		req.Host = host
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 301, 307, 308, 400, 404, 405:
		default:
			t.Fatalf("%s %s%s?%s: status %d", method, host, path, query, rec.Code)
		}
	})
}
