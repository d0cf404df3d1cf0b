package data

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/parquet-go/parquet-go"
)

func loadParquet(path string, m Mapping, opt LoadOptions) (out []Problem, skipped int, err error) {
	b, err := newBuilder(path, m)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("data: %w", err)
	}

	row := 0
	// A corrupt file can make the decoder panic; report it as an error.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("data: %s: broken Parquet file (row %d): %v", path, row+1, r)
		}
	}()

	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, 0, fmt.Errorf("data: %s: not a readable Parquet file: %v", path, err)
	}
	r := parquet.NewReader(pf)
	defer r.Close()
	out = make([]Problem, 0, pf.NumRows())
	for ; ; row++ {
		rec := map[string]any{}
		if err := r.Read(&rec); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, skipped, fmt.Errorf("data: %s: broken Parquet file (row %d): %v", path, row+1, err)
		}
		p, fe := b.build(rec, row)
		if fe != nil {
			e := &RecordError{File: path, Line: row + 1, Row: true, Field: fe.field, Err: fe.err}
			if !opt.SkipInvalid {
				return nil, skipped, e
			}
			skipped++
			if opt.OnSkip != nil {
				opt.OnSkip(e)
			}
			continue
		}
		out = append(out, p)
	}
	if int64(row) != pf.NumRows() {
		return nil, skipped, fmt.Errorf("data: %s: broken Parquet file: read %d of %d rows", path, row, pf.NumRows())
	}
	return out, skipped, nil
}
