package redistest

// Stop stops the server (a persistent one writes its data on the way out)
// and returns when it is down; Resume starts it again on the same address
// and data. Between the two, a test sees Redis as unreachable.
func (s *Server) Stop() { s.stop() }

// Resume starts a server stopped by Stop, on the same address and data.
func (s *Server) Resume() error { return s.start() }
