package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// rawClient is one client of the HTTP phase: a keep-alive HTTP/1.1
// connection that sends GETs and reads the answers with as little work as
// it can, as wrk does. The clients run on the node's machine, and net/http's
// client took a fifth of its two cores at 3,000 searches/s (goroutines and
// channels a request, headers parsed into maps): CPU the node then lacked.
// This one parses the status and the body's length (Content-Length or
// chunks), and skips the rest.
type rawClient struct {
	addr string // host:port
	conn net.Conn
	br   *bufio.Reader
	req  []byte
}

// rawTimeout bounds one request, from dialing to the last byte.
const rawTimeout = 10 * time.Second

// get requests target (a path and query) and reads the whole answer. It
// returns the body's length; an answer other than 200 is an error.
func (c *rawClient) get(target string) (int64, error) {
	n, status, err := c.roundTrip(target)
	if err != nil {
		c.close()
		return n, fmt.Errorf("GET %s: %w", target, err)
	}
	if status != 200 {
		return n, fmt.Errorf("GET %s: status %d", target, status)
	}
	return n, nil
}

func (c *rawClient) roundTrip(target string) (n int64, status int, err error) {
	if c.conn == nil {
		if c.conn, err = net.DialTimeout("tcp", c.addr, rawTimeout); err != nil {
			return 0, 0, err
		}
		c.br = bufio.NewReaderSize(c.conn, answerBuffer)
	}
	if err := c.conn.SetDeadline(time.Now().Add(rawTimeout)); err != nil {
		return 0, 0, err
	}
	c.req = append(append(append(append(c.req[:0], "GET "...), target...), " HTTP/1.1\r\nHost: "...), c.addr...)
	c.req = append(c.req, "\r\n\r\n"...)
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, 0, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, 0, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, 0, fmt.Errorf("bad status line %q", line)
	}
	if status, err = strconv.Atoi(string(line[9:12])); err != nil {
		return 0, 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closing := int64(-1), false, false
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, status, err
		}
		if len(line) <= 2 { // the blank line after the headers
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return 0, status, fmt.Errorf("bad header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(value), 10, 64); err != nil || length < 0 {
				return 0, status, fmt.Errorf("bad Content-Length %q", value)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			closing = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		n, err = c.skipChunks()
	case length >= 0:
		var skipped int
		skipped, err = c.br.Discard(int(length))
		n = int64(skipped)
	default:
		return 0, status, errors.New("the answer has neither a Content-Length nor chunks")
	}
	if err == nil && closing {
		c.close()
	}
	return n, status, err
}

// skipChunks reads a chunked body and its trailer, and returns its length.
func (c *rawClient) skipChunks() (int64, error) {
	var n int64
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return n, err
		}
		hex, _, _ := bytes.Cut(bytes.TrimSpace(line), []byte(";"))
		size, err := strconv.ParseInt(string(hex), 16, 64)
		if err != nil || size < 0 {
			return n, fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			break
		}
		if _, err := c.br.Discard(int(size) + 2); err != nil { // and its CRLF
			return n, err
		}
		n += size
	}
	for { // the trailer, up to a blank line
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return n, err
		}
		if len(line) <= 2 {
			return n, nil
		}
	}
}

func (c *rawClient) close() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br = nil, nil
	}
}
