//go:build !linux

package prober

// openConn is Linux-only: the prober relies on ICMP datagram sockets,
// SO_TIMESTAMPING and the socket error queue.
func openConn(v6 bool, mode Mode, dev string, rawID uint16) (conn, error) {
	return nil, ErrUnsupported
}
