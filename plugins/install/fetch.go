package install

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// defaultClient bounds connection set-up and the wait for headers tightly, and a whole download
// loosely (a 1 GiB release over a slow link still fits).
var defaultClient = &http.Client{
	Timeout: 30 * time.Minute,
	Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	},
}

func (d *Dir) client() *http.Client {
	if d.HTTPClient != nil {
		return d.HTTPClient
	}
	return defaultClient
}

func (d *Dir) get(ctx context.Context, u *url.URL) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, newError(ErrBadSource, err, "invalid URL: %v", err)
	}
	req.Header.Set("User-Agent", "retool-plugin-install")
	resp, err := d.client().Do(req) // *url.Error already strips passwords
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("download failed: %w", err)
	}
	return resp, nil
}

func statusError(u *url.URL, resp *http.Response) error {
	return newError(ErrBadSource, nil, "GET %s: server returned %s", u.Redacted(), resp.Status)
}

// fetchSmall GETs a checksum file. found is false on 404/410; other non-2xx statuses are errors.
func (d *Dir) fetchSmall(ctx context.Context, u *url.URL) (data []byte, found bool, err error) {
	resp, err := d.get(ctx, u)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone {
		return nil, false, nil
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, false, statusError(u, resp)
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, maxSumsBytes+1))
	if err != nil {
		return nil, false, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	if len(data) > maxSumsBytes {
		return nil, false, newError(ErrBadSource, nil, "GET %s: checksum file larger than %d bytes", u.Redacted(), maxSumsBytes)
	}
	return data, true, nil
}

// download GETs u into dst (a new file), refusing bodies over MaxBytes and reporting progress.
func (d *Dir) download(ctx context.Context, u *url.URL, dst string, progress io.Writer) error {
	resp, err := d.get(ctx, u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return statusError(u, resp)
	}
	limit := d.maxBytes()
	tooBig := func() error {
		return newError(ErrBadSource, nil, "GET %s: download larger than %s; refusing", u.Redacted(), humanBytes(limit))
	}
	if resp.ContentLength > limit {
		return tooBig()
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	var w io.Writer = out
	var p *progressWriter
	if progress != nil {
		p = &progressWriter{w: progress, label: u.Redacted(), total: resp.ContentLength}
		w = io.MultiWriter(out, p)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, limit+1))
	if err == nil && n > limit {
		err = tooBig()
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, ok := err.(*kindError); ok {
			return err
		}
		return fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	if p != nil {
		p.done(n)
	}
	return nil
}

// progressWriter prints a line at every 10% (or every 16 MiB when the size is unknown).
type progressWriter struct {
	w     io.Writer
	label string
	total int64 // -1 if unknown
	n     int64
	next  int64 // byte count at which to print next
}

const unknownSizeStep = 16 << 20

func (p *progressWriter) Write(b []byte) (int, error) {
	if p.n == 0 && p.next == 0 {
		if p.total > 0 {
			fmt.Fprintf(p.w, "downloading %s (%s)\n", p.label, humanBytes(p.total))
		} else {
			fmt.Fprintf(p.w, "downloading %s\n", p.label)
		}
		p.next = p.step()
	}
	p.n += int64(len(b))
	if p.n >= p.next && (p.total <= 0 || p.n < p.total) {
		if p.total > 0 {
			fmt.Fprintf(p.w, "  %s of %s (%d%%)\n", humanBytes(p.n), humanBytes(p.total), p.n*100/p.total)
		} else {
			fmt.Fprintf(p.w, "  %s\n", humanBytes(p.n))
		}
		for p.next <= p.n {
			p.next += p.step()
		}
	}
	return len(b), nil
}

func (p *progressWriter) step() int64 {
	if p.total > 0 {
		return max(p.total/10, 1)
	}
	return unknownSizeStep
}

func (p *progressWriter) done(n int64) {
	fmt.Fprintf(p.w, "downloaded %s (%s)\n", p.label, humanBytes(n))
}
