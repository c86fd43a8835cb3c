package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// rawConn sends the busiest request of a run, the plain refresh, on a
// keep-alive connection of the worker's own: the request is written in one
// system call and the response read in the worker's goroutine with
// http.ReadResponse. net/http's client hands every request to two
// goroutines of the connection and back, which on a small machine costs
// the load client about as much CPU as the rest of the request; the
// server cannot tell the difference. Plain http only: for https the
// worker uses the shared client.
type rawConn struct {
	base    string // http://host:port, as configured
	host    string // the Host header
	addr    string // where to dial
	timeout time.Duration
	conn    net.Conn
	br      *bufio.Reader
	buf     []byte
}

// newRawConn returns the connection for the issuer at base, not yet
// dialled, or nil when base is not a plain http URL.
func newRawConn(base string, timeout time.Duration) *rawConn {
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &rawConn{base: base, host: u.Host, addr: addr, timeout: timeout}
}

// post sends body as JSON to path and reads the whole response. A
// connection that fails or that the server closes is dropped and the next
// request dials again; a request is never sent twice.
func (rc *rawConn) post(ctx context.Context, path string, body []byte) response {
	start := time.Now()
	r, err := rc.roundTrip(ctx, path, body)
	r.latency = time.Since(start)
	if err != nil {
		rc.close()
		r.err = err
	}
	return r
}

func (rc *rawConn) roundTrip(ctx context.Context, path string, body []byte) (response, error) {
	if err := ctx.Err(); err != nil {
		return response{}, err
	}
	deadline := time.Now().Add(rc.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if rc.conn == nil {
		d := net.Dialer{Deadline: deadline, KeepAlive: 30 * time.Second}
		c, err := d.DialContext(ctx, "tcp", rc.addr)
		if err != nil {
			return response{}, err
		}
		rc.conn, rc.br = c, bufio.NewReaderSize(c, 4096)
	}
	// The run ends by cancelling ctx: a request in flight then ends at once.
	stop := context.AfterFunc(ctx, func() { rc.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := rc.conn.SetDeadline(deadline); err != nil {
		return response{}, err
	}
	b := rc.buf[:0]
	b = append(b, "POST "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, rc.host...)
	b = append(b, "\r\nUser-Agent: signet-load\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	rc.buf = b
	if _, err := rc.conn.Write(b); err != nil {
		return response{}, err
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return response{}, err
	}
	if len(data) > maxBody {
		return response{}, fmt.Errorf("response body over %d bytes", maxBody)
	}
	if resp.Close {
		rc.close()
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}, nil
}

func (rc *rawConn) close() {
	if rc.conn != nil {
		rc.conn.Close()
		rc.conn, rc.br = nil, nil
	}
}
