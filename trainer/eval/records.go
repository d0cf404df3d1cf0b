package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// ReadRecords reads a JSONL file of records, as an eval run appends them.
// A run that was interrupted may leave its last line torn: that line is
// dropped and counted in dropped, not an error. So is a torn record that
// a resumed run glued its first record onto (the line is split where a new
// record starts and the whole records are kept). Any other line that is
// not a record is an error naming it. Blank lines are skipped.
func ReadRecords(path string) (records []Record, dropped int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	records, dropped, err = DecodeRecords(f)
	if err != nil {
		return records, dropped, fmt.Errorf("%s: %w", path, err)
	}
	return records, dropped, nil
}

// recordStart is how every encoded Record begins (Dataset is its first
// field); inside a JSON string the quotes would be escaped, so it marks
// the start of a record wherever it occurs.
var recordStart = []byte(`{"dataset":`)

// DecodeRecords is ReadRecords on a reader.
func DecodeRecords(r io.Reader) (records []Record, dropped int, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	lineNo := 0
	// A line whose end is not a record is an error unless it is the last.
	var pending struct {
		bad     []byte
		line    int
		records []Record
		torn    int
	}
	for {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return records, dropped, rerr
		}
		if len(line) > 0 {
			lineNo++
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if pending.bad != nil {
				return records, dropped, fmt.Errorf("line %d: not a record: %s", pending.line, excerpt(pending.bad))
			}
			var rec Record
			if json.Unmarshal(line, &rec) == nil {
				records = append(records, rec)
			} else if recs, torn, tail := splitGlued(line); !tail {
				records = append(records, recs...)
				dropped += torn
			} else {
				pending.bad, pending.line, pending.records, pending.torn = line, lineNo, recs, torn
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	if pending.bad != nil {
		records = append(records, pending.records...)
		dropped += pending.torn + 1
	}
	return records, dropped, nil
}

// splitGlued splits a line at each record start (where a resumed run may
// have glued a record onto a torn one) and decodes the pieces: the whole
// records, the number of torn pieces before the last, and whether the last
// piece is not a record either (then the line is bad unless it ends the
// file).
func splitGlued(line []byte) (recs []Record, torn int, tail bool) {
	starts := []int{0}
	for i := 1; ; {
		j := bytes.Index(line[i:], recordStart)
		if j < 0 {
			break
		}
		starts = append(starts, i+j)
		i += j + len(recordStart)
	}
	for i, s := range starts {
		end := len(line)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		var rec Record
		switch {
		case json.Unmarshal(bytes.TrimSpace(line[s:end]), &rec) == nil:
			recs = append(recs, rec)
		case i < len(starts)-1:
			torn++ // cut short by the next record
		default:
			tail = true
		}
	}
	return recs, torn, tail
}

func excerpt(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}

// Done lists, per problem id, the samples already in records, so that a
// resumed run samples only what is missing.
func Done(records []Record) map[string]map[int]bool {
	done := map[string]map[int]bool{}
	for _, r := range records {
		if done[r.Problem] == nil {
			done[r.Problem] = map[int]bool{}
		}
		done[r.Problem][r.Trajectory.Sample] = true
	}
	return done
}
