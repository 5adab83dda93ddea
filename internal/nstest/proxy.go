package nstest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy listens on the test's loopback and forwards each connection to addr
// inside ns, so that a program outside (Prometheus, a browser) reaches an
// exporter that samples only the namespace's devices. It returns the
// listening address; the listener and every connection end with the test.
func Proxy(t testing.TB, ns *NS, addr string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close() // a stream (server-sent events) would not end by itself
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				var up net.Conn
				if err := ns.Do(func() error {
					var err error
					up, err = net.DialTimeout("tcp", addr, 2*time.Second)
					return err
				}); err != nil {
					return
				}
				defer up.Close()
				mu.Lock()
				conns = append(conns, c, up)
				mu.Unlock()
				done := make(chan struct{})
				go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); close(done) }()
				io.Copy(c, up)
				<-done
			}()
		}
	}()
	return l.Addr().String()
}
