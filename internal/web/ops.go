package web

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Check is one readiness check: nil when the part is ready.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Ops is the operator's HTTP side, on its own (loopback by default)
// address: /metrics, /healthz (the process answers) and /readyz (every
// check passes: the store is reachable, the listeners are up).
type Ops struct {
	Metrics http.Handler
	Checks  []Check
}

// Handler returns the operator handler.
func (o *Ops) Handler() http.Handler {
	mux := http.NewServeMux()
	if o.Metrics != nil {
		mux.Handle("GET /metrics", o.Metrics)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", o.ready)
	return mux
}

// ready runs every check with a short timeout; any failure is 503 and
// names the part, so a load balancer's log says what is wrong.
func (o *Ops) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	status, body := http.StatusOK, ""
	for _, c := range o.Checks {
		if err := c.Func(ctx); err != nil {
			status = http.StatusServiceUnavailable
			body += fmt.Sprintf("%s: not ready: %v\n", c.Name, err)
			continue
		}
		body += c.Name + ": ok\n"
	}
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}
