package pool

import (
	"bytes"
	"io"
	"os"
	"sync"
)

// capture collects one execution's stdout and stderr under a cap per
// stream. Past the cap it keeps draining (so the writer never blocks
// before it is killed) but stores nothing more, and signals once.
type capture struct {
	limit    int64
	mu       sync.Mutex
	out, err bytes.Buffer
	outTrunc bool
	errTrunc bool
	over     chan struct{}
	overOnce sync.Once
	wg       sync.WaitGroup
}

func newCapture(limit int64) *capture {
	return &capture{limit: limit, over: make(chan struct{})}
}

// start reads both pipes until EOF; wait returns when both are done.
func (c *capture) start(stdout, stderr *os.File) {
	c.wg.Add(2)
	go c.read(stdout, &c.out, &c.outTrunc)
	go c.read(stderr, &c.err, &c.errTrunc)
}

// chunks are the readers' buffers: a fresh 64 KiB pair per execution was
// a visible share of the host's CPU (allocating and zeroing them).
var chunks = sync.Pool{New: func() any { return new([64 << 10]byte) }}

func (c *capture) read(f *os.File, buf *bytes.Buffer, trunc *bool) {
	defer c.wg.Done()
	defer f.Close()
	arr := chunks.Get().(*[64 << 10]byte)
	defer chunks.Put(arr)
	chunk := arr[:]
	for {
		n, err := f.Read(chunk)
		if n > 0 {
			c.mu.Lock()
			room := c.limit - int64(buf.Len())
			if int64(n) > room {
				if room > 0 {
					buf.Write(chunk[:room])
				}
				*trunc = true
				c.overOnce.Do(func() { close(c.over) })
			} else {
				buf.Write(chunk[:n])
			}
			c.mu.Unlock()
		}
		if err != nil {
			if err != io.EOF {
				c.mu.Lock()
				*trunc = true
				c.mu.Unlock()
			}
			return
		}
	}
}

func (c *capture) wait() { c.wg.Wait() }

// result hands over the buffers themselves, not copies: it is called once
// both readers are done (after waitCapture), and a copy of a megabyte of
// output was a tenth of the plugin's CPU under an output flood.
func (c *capture) result() (out, errOut []byte, outTrunc, errTrunc bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Bytes(), c.err.Bytes(), c.outTrunc, c.errTrunc
}
