package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/pochta-mail/pochta/internal/server"
)

// Refusal is the answer written to a plain HTTP connection refused by a
// connection limit.
const Refusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 10\r\n\r\n"

// Limits bounding what one HTTP client may take.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
)

// Server serves one http.Handler on internal/server listeners: register
// Server as their Handler. net/http runs the protocol; internal/server
// accepts, applies the connection limits, does implicit TLS and shuts
// down gracefully (its read interruptions end idle keep-alive
// connections; a request in flight finishes first).
type Server struct {
	bridge *server.Bridge
	hs     *http.Server
	done   chan struct{}
}

var _ server.Handler = (*Server)(nil)

// NewServer starts serving h; Close stops it once internal/server has shut
// down.
func NewServer(h http.Handler, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		bridge: server.NewBridge(),
		hs: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.hs.Serve(s.bridge); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
			log.Error("web: HTTP server stopped", "err", err)
		}
	}()
	return s
}

// ServeConn implements server.Handler.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) { s.bridge.ServeConn(ctx, c) }

// Close stops the HTTP server and closes its connections.
func (s *Server) Close() error {
	s.bridge.Close()
	err := s.hs.Close()
	<-s.done
	return err
}
