package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

const maxLine = 64 << 20

func loadJSONL(path string, m Mapping, opt LoadOptions) ([]Problem, int, error) {
	b, err := newBuilder(path, m)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("data: %w", err)
	}
	defer f.Close()

	r := bufio.NewReaderSize(f, 1<<20)
	var (
		out     []Problem
		skipped int
		line    int
		index   int
	)
	fail := func(e *RecordError) error {
		if !opt.SkipInvalid {
			return e
		}
		skipped++
		if opt.OnSkip != nil {
			opt.OnSkip(e)
		}
		return nil
	}
	for {
		raw, rerr := r.ReadSlice('\n')
		var long []byte
		for errors.Is(rerr, bufio.ErrBufferFull) {
			long = append(long, raw...)
			if len(long) > maxLine {
				return out, skipped, fmt.Errorf("data: %s:%d: line longer than %d bytes", path, line+1, maxLine)
			}
			raw, rerr = r.ReadSlice('\n')
		}
		if long != nil {
			raw = append(long, raw...)
		}
		if rerr != nil && rerr != io.EOF {
			return out, skipped, fmt.Errorf("data: %s:%d: %w", path, line+1, rerr)
		}
		if len(raw) == 0 && rerr == io.EOF {
			break
		}
		line++
		raw = bytes.TrimSpace(raw)
		if len(raw) > 0 {
			if p, e := decodeLine(b, raw, index); e != nil {
				e.File, e.Line = path, line
				if err := fail(e); err != nil {
					return out, skipped, err
				}
			} else {
				out = append(out, p)
			}
			index++
		}
		if rerr == io.EOF {
			break
		}
	}
	return out, skipped, nil
}

func decodeLine(b *builder, raw []byte, index int) (Problem, *RecordError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var rec any
	if err := dec.Decode(&rec); err != nil {
		return Problem{}, &RecordError{Err: fmt.Errorf("not JSON: %v", err)}
	}
	if dec.More() {
		return Problem{}, &RecordError{Err: errors.New("not JSON: more than one value on the line")}
	}
	if _, ok := rec.(map[string]any); !ok {
		return Problem{}, &RecordError{Err: fmt.Errorf("not a JSON object")}
	}
	p, fe := b.build(rec, index)
	if fe != nil {
		return Problem{}, &RecordError{Field: fe.field, Err: fe.err}
	}
	return p, nil
}
