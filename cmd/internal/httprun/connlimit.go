package httprun

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// PerIP is a cap on the open connections of each client address.
type PerIP struct {
	// Max is the most connections one address may hold open; below 1
	// there is no cap.
	Max int
	// Exempt are the networks without a cap: the reverse proxies and load
	// balancers every client's connections come through.
	Exempt []netip.Prefix
	// Log, if not nil, gets at most one warning a minute while
	// connections are refused.
	Log *slog.Logger
}

// LimitPerIP wraps ln so that each client address holds at most lim.Max
// open connections; IPv6 addresses are counted per /64, the block one host
// usually has. A connection over the cap is closed as soon as it is
// accepted, before a byte is read. Connections whose remote address is not
// an IP (a Unix socket) have no cap.
func LimitPerIP(ln net.Listener, lim PerIP) *PerIPListener {
	return &PerIPListener{Listener: ln, lim: lim, open: map[netip.Prefix]int{}}
}

// PerIPListener is a listener that caps the open connections per client
// address (see LimitPerIP).
type PerIPListener struct {
	net.Listener
	lim      PerIP
	mu       sync.Mutex
	open     map[netip.Prefix]int
	rejected atomic.Uint64
	warned   time.Time // guarded by mu
}

// Accept returns the next connection within the limit, closing the ones
// over it.
func (l *PerIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.lim.Max < 1 {
			return c, err
		}
		key, ok := clientKey(c.RemoteAddr())
		if !ok || l.exempt(key.Addr()) {
			return c, nil
		}
		l.mu.Lock()
		if l.open[key] >= l.lim.Max {
			n := l.rejected.Add(1)
			warn := l.lim.Log != nil && time.Since(l.warned) >= time.Minute
			if warn {
				l.warned = time.Now()
			}
			l.mu.Unlock()
			c.Close()
			if warn {
				l.lim.Log.Warn("refusing connections over the per-address limit", "client", key.String(), "limit", l.lim.Max, "refused_total", n)
			}
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &countedConn{Conn: c, release: func() { l.release(key) }}, nil
	}
}

func (l *PerIPListener) exempt(a netip.Addr) bool {
	for _, p := range l.lim.Exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Rejected is the number of connections closed for being over the limit.
func (l *PerIPListener) Rejected() uint64 { return l.rejected.Load() }

func (l *PerIPListener) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// clientKey is the address a connection counts against: the IPv4
// address, or the /64 of an IPv6 one.
func clientKey(a net.Addr) (netip.Prefix, bool) {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ip = ip.Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.WithZone("").Prefix(bits)
	return p, err == nil
}

// countedConn gives its slot back once, on the first Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
