package pool

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

// maxFrame bounds a driver message: code and files are limited well below.
const maxFrame = 256 << 20

// conn speaks the driver protocol: 4-byte big-endian length, then JSON;
// file descriptors ride along with a frame's first byte.
type conn struct{ c *net.UnixConn }

func (c conn) send(v any, files ...*os.File) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = syscall.UnixRights(fds...)
	}
	n, _, err := c.c.WriteMsgUnix(buf, oob, nil)
	if err != nil {
		return err
	}
	if n < len(buf) {
		_, err = c.c.Write(buf[n:])
	}
	return err
}

// recv reads one frame from r, which buffers a conn's reads: a frame then
// usually takes one read, not two. Frames from a driver carry no
// descriptors, so a buffered read loses none.
func recv(r *bufio.Reader, v any) error {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n > maxFrame {
		return fmt.Errorf("driver frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// socketPair returns the host's end as a conn and the driver's as a file.
func socketPair() (conn, *os.File, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return conn{}, nil, fmt.Errorf("socketpair: %w", err)
	}
	host := os.NewFile(uintptr(fds[0]), "driver-host")
	defer host.Close()
	fc, err := net.FileConn(host)
	if err != nil {
		syscall.Close(fds[1])
		return conn{}, nil, err
	}
	return conn{fc.(*net.UnixConn)}, os.NewFile(uintptr(fds[1]), "driver"), nil
}
