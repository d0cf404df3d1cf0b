package model

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The safetensors format: an 8-byte little-endian header length, a JSON
// header mapping each tensor's name to its dtype, shape and byte range
// (data_offsets, relative to the end of the header) plus an optional
// "__metadata__" of strings, then the tensors' bytes. We write and read
// F32 only.

// maxHeader bounds the JSON header, as the reference implementation does.
const maxHeader = 100 << 20

type namedTensor struct {
	name  string
	shape []int
	data  []float32
}

type headerEntry struct {
	Dtype       string  `json:"dtype"`
	Shape       []int   `json:"shape"`
	DataOffsets []int64 `json:"data_offsets"`
}

// writeSafetensors writes the tensors, in order, atomically.
func writeSafetensors(path string, tensors []namedTensor, meta map[string]string) error {
	header := make(map[string]any, len(tensors)+1)
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	for _, t := range tensors {
		n := int64(len(t.data)) * 4
		header[t.name] = headerEntry{Dtype: "F32", Shape: t.shape, DataOffsets: []int64{off, off + n}}
		off += n
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return err
	}
	// Pad with spaces so that the data starts 8-byte aligned, as the
	// reference writer does (readers may map the tensors in place).
	for (8+len(hj))%8 != 0 {
		hj = append(hj, ' ')
	}
	return writeAtomic(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(hj)))
		if _, err := w.Write(n[:]); err != nil {
			return err
		}
		if _, err := w.Write(hj); err != nil {
			return err
		}
		buf := make([]byte, 0, 64<<10)
		for _, t := range tensors {
			for i, v := range t.data {
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				if len(buf) == cap(buf) || i == len(t.data)-1 {
					if _, err := w.Write(buf); err != nil {
						return err
					}
					buf = buf[:0]
				}
			}
		}
		return nil
	})
}

// readSafetensors reads and checks a safetensors file of F32 tensors:
// the error, one line, says what is wrong with it (truncated, bad
// header, wrong dtype, offsets out of range, non-finite values).
func readSafetensors(path string) (map[string]namedTensor, map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("truncated: %d bytes, shorter than the 8-byte header length", len(data))
	}
	hlen := binary.LittleEndian.Uint64(data[:8])
	if hlen > maxHeader {
		return nil, nil, fmt.Errorf("header length %d is implausible (over %d bytes): not a safetensors file?", hlen, maxHeader)
	}
	if uint64(len(data)-8) < hlen {
		return nil, nil, fmt.Errorf("truncated: the header says %d bytes, the file has %d after the length", hlen, len(data)-8)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+hlen], &raw); err != nil {
		return nil, nil, fmt.Errorf("bad header JSON: %v", err)
	}
	body := data[8+hlen:]
	var meta map[string]string
	type entry struct {
		name string
		headerEntry
		numel int64
	}
	var entries []entry
	var end int64
	for name, r := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(r, &meta); err != nil {
				return nil, nil, fmt.Errorf("bad header JSON: __metadata__: %v", err)
			}
			continue
		}
		var e headerEntry
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, nil, fmt.Errorf("bad header JSON: tensor %q: %v", name, err)
		}
		entries = append(entries, entry{name: name, headerEntry: e})
	}
	// Check in the data's order, so that the first problem reported does
	// not depend on map iteration.
	slices.SortFunc(entries, func(a, b entry) int {
		if c := cmpOffset(a.DataOffsets, b.DataOffsets); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	for i := range entries {
		e := &entries[i]
		if e.Dtype != "F32" {
			return nil, nil, fmt.Errorf("tensor %q has dtype %q; only F32 is supported", e.name, e.Dtype)
		}
		if len(e.DataOffsets) != 2 {
			return nil, nil, fmt.Errorf("bad header: tensor %q: data_offsets has %d values, want 2", e.name, len(e.DataOffsets))
		}
		e.numel = 1
		for _, s := range e.Shape {
			if s < 0 || (s > 0 && e.numel > math.MaxInt32/int64(s)) {
				return nil, nil, fmt.Errorf("bad header: tensor %q: shape %v", e.name, e.Shape)
			}
			e.numel *= int64(s)
		}
		lo, hi := e.DataOffsets[0], e.DataOffsets[1]
		if lo < 0 || hi < lo {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] are not a byte range", e.name, lo, hi)
		}
		if hi-lo != e.numel*4 {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] hold %d bytes, shape %v needs %d", e.name, lo, hi, hi-lo, e.Shape, e.numel*4)
		}
		if i > 0 && lo < entries[i-1].DataOffsets[1] {
			return nil, nil, fmt.Errorf("tensors %q and %q overlap", entries[i-1].name, e.name)
		}
		end = max(end, hi)
	}
	if end > int64(len(body)) {
		return nil, nil, fmt.Errorf("truncated or offsets out of range: the tensors need %d data bytes, the file has %d", end, len(body))
	}
	tensors := make(map[string]namedTensor, len(entries))
	for _, e := range entries {
		t := namedTensor{name: e.name, shape: e.Shape, data: make([]float32, e.numel)}
		b := body[e.DataOffsets[0]:e.DataOffsets[1]]
		for i := range t.data {
			v := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, nil, fmt.Errorf("tensor %q: element %d is %v", e.name, i, v)
			}
			t.data[i] = v
		}
		tensors[e.name] = t
	}
	return tensors, meta, nil
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, so that a crash leaves either the old file or the new one.
func writeFileAtomic(path string, data []byte) error {
	return writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

func writeAtomic(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := write(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	// Sync before the rename: otherwise a power loss can leave the new
	// name pointing at an empty file.
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// Make the rename itself durable; not all systems allow syncing a
	// directory, and the data is safe either way.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func cmpOffset(a, b []int64) int {
	if len(a) == 0 || len(b) == 0 {
		return len(a) - len(b)
	}
	return cmp.Compare(a[0], b[0])
}

func metaInt(meta map[string]string, key string) (int64, error) {
	s, ok := meta[key]
	if !ok {
		return 0, fmt.Errorf("__metadata__ has no %q", key)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("__metadata__ %q is %q, not an integer", key, s)
	}
	return v, nil
}
