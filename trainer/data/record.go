package data

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// lookup follows a dotted path through maps (JSON objects, Parquet groups)
// and lists (numeric segments).
func lookup(v any, path string) (any, bool) {
	if path == "" {
		return nil, false
	}
	for seg := range strings.SplitSeq(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, v != nil
}

// scalarString renders a value as the file wrote it: strings as they are,
// JSON numbers verbatim, Parquet integers in decimal.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case []byte:
		return string(x), true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	case int:
		return strconv.Itoa(x), true
	case int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x), true
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case map[string]any, []any:
		b, err := json.Marshal(x)
		if err != nil {
			return fmt.Sprint(x), true
		}
		return string(b), true
	}
	return fmt.Sprint(v), true
}

// builder turns decoded records into Problems for one file.
type builder struct {
	m     Mapping
	name  string
	seen  map[string]int
	guess bool // the mapping is guessed from the first record
}

func newBuilder(path string, m Mapping) (*builder, error) {
	b := &builder{m: m, name: m.Name, seen: map[string]int{}}
	if b.name == "" {
		b.name = defaultName(path)
	}
	if m.IsZero() {
		b.guess = true
		return b, nil
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("data: %s: %v", path, err)
	}
	return b, nil
}

// fieldError is an error about one mapped field.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return fmt.Sprintf("field %q: %v", e.field, e.err) }

func missing(field string) *fieldError { return &fieldError{field, ErrMissingField} }

// build maps one record; index is its 0-based position in the file.
func (b *builder) build(rec any, index int) (Problem, *fieldError) {
	if b.guess {
		b.m = guessMapping(rec)
		b.m.Name = b.name
		b.guess = false
	}
	m := b.m
	var p Problem

	// Answer.
	av, ok := lookup(rec, m.Answer)
	if !ok {
		return p, missing(m.Answer)
	}
	ans, _ := scalarString(av)
	if m.AnswerAfter != "" {
		i := strings.LastIndex(ans, m.AnswerAfter)
		if i < 0 {
			return p, &fieldError{m.Answer, fmt.Errorf("no %q marker", m.AnswerAfter)}
		}
		ans = ans[i+len(m.AnswerAfter):]
	}
	ans = strings.TrimSpace(ans)
	if ans == "" {
		return p, &fieldError{m.Answer, fmt.Errorf("%w (empty)", ErrMissingField)}
	}
	p.Answer = ans

	// Messages and prompt.
	if m.Messages != "" {
		mv, ok := lookup(rec, m.Messages)
		if !ok {
			return p, missing(m.Messages)
		}
		msgs, err := toMessages(mv)
		if err != nil {
			return p, &fieldError{m.Messages, err}
		}
		p.Messages = msgs
	}
	if m.Prompt != "" {
		pv, ok := lookup(rec, m.Prompt)
		if !ok {
			return p, missing(m.Prompt)
		}
		s, _ := scalarString(pv)
		if strings.TrimSpace(s) == "" {
			return p, &fieldError{m.Prompt, fmt.Errorf("%w (empty)", ErrMissingField)}
		}
		p.Prompt = s
	} else {
		for i := len(p.Messages) - 1; i >= 0; i-- {
			if p.Messages[i].Role == "user" {
				p.Prompt = p.Messages[i].Content
				break
			}
		}
		if strings.TrimSpace(p.Prompt) == "" {
			return p, &fieldError{m.Messages, fmt.Errorf("%w (no user message with content)", ErrMissingField)}
		}
	}
	if p.Messages == nil {
		p.Messages = []Message{{Role: "user", Content: p.Prompt}}
	}

	// ID.
	id := strconv.Itoa(index)
	if m.ID != "" {
		iv, ok := lookup(rec, m.ID)
		if !ok {
			return p, missing(m.ID)
		}
		id, _ = scalarString(iv)
		if id == "" {
			return p, &fieldError{m.ID, fmt.Errorf("%w (empty)", ErrMissingField)}
		}
	}
	p.Group = b.name + "-" + id
	p.ID = p.Group
	if k := b.seen[p.Group]; k > 0 {
		p.ID = p.Group + "#" + strconv.Itoa(k)
	}

	// Source.
	p.Source = b.name
	if m.Source != "" {
		sv, ok := lookup(rec, m.Source)
		if !ok {
			return p, missing(m.Source)
		}
		p.Source, _ = scalarString(sv)
	}

	// Meta: best effort.
	for k, path := range m.Meta {
		if v, ok := lookup(rec, path); ok {
			if s, ok := scalarString(v); ok {
				if p.Meta == nil {
					p.Meta = make(map[string]string, len(m.Meta))
				}
				p.Meta[k] = s
			}
		}
	}
	b.seen[p.Group]++
	return p, nil
}

// toMessages accepts a list of {role, content} objects (content may be a
// list of {type, text} parts) or a plain string (one user message).
func toMessages(v any) ([]Message, error) {
	switch x := v.(type) {
	case string:
		return []Message{{Role: "user", Content: x}}, nil
	case []any:
		out := make([]Message, 0, len(x))
		for i, e := range x {
			obj, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("message %d is not an object", i)
			}
			role, _ := scalarString(obj["role"])
			if role == "" {
				return nil, fmt.Errorf("message %d has no role", i)
			}
			out = append(out, Message{Role: role, Content: contentString(obj["content"])})
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%w (empty chat)", ErrMissingField)
		}
		return out, nil
	}
	return nil, fmt.Errorf("not a list of messages (%T)", v)
}

func contentString(v any) string {
	if parts, ok := v.([]any); ok {
		var sb strings.Builder
		for _, p := range parts {
			if obj, ok := p.(map[string]any); ok {
				if s, ok := obj["text"].(string); ok {
					sb.WriteString(s)
				}
			}
		}
		return sb.String()
	}
	s, _ := scalarString(v)
	return s
}

// guessMapping picks common field names from the first record: verl's
// layout, or problem/question/prompt with answer/ground_truth/gt.
func guessMapping(rec any) Mapping {
	has := func(p string) bool { _, ok := lookup(rec, p); return ok }
	first := func(cands ...string) string {
		for _, c := range cands {
			if has(c) {
				return c
			}
		}
		return ""
	}
	if v, ok := lookup(rec, "prompt"); ok {
		if _, isList := v.([]any); isList && has("reward_model.ground_truth") {
			m := VerlMapping
			m.Meta = maps.Clone(VerlMapping.Meta)
			if !has("extra_info.index") {
				m.ID = ""
			}
			return m
		}
	}
	m := Mapping{
		ID:     first("id", "unique_id", "idx", "extra_info.index"),
		Answer: first("answer", "ground_truth", "gt", "final_answer", "reward_model.ground_truth"),
	}
	if v, ok := lookup(rec, "messages"); ok {
		if _, isList := v.([]any); isList {
			m.Messages = "messages"
		}
	}
	if m.Messages == "" {
		m.Prompt = first("problem", "question", "prompt", "query", "input")
	}
	if m.Answer == "" {
		m.Answer = "answer" // reported as missing
	} else if v, ok := lookup(rec, m.Answer); ok {
		if s, ok := v.(string); ok && strings.Contains(s, "\n#### ") {
			m.AnswerAfter = "####" // GSM8K's worked solution
			m.Meta = map[string]string{"solution": m.Answer}
		}
	}
	if m.Prompt == "" && m.Messages == "" {
		m.Prompt = "problem"
	}
	return m
}
