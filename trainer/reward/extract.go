package reward

import (
	"fmt"
	"regexp"
	"strings"
)

// Method tells how an answer was found in a response.
type Method int

const (
	// None: nothing could be extracted.
	None Method = iota
	// Boxed: the last complete \boxed{…} or \fbox{…} (nested braces allowed).
	Boxed
	// AnswerTag: the last <answer>…</answer> block (an unclosed final block
	// counts, since generation usually stops on "</answer>"); a \boxed{…}
	// inside the block wins over the block's raw text.
	AnswerTag
	// DAPOAnswerLine: the last "Answer: …" line (DAPO / Minerva format).
	DAPOAnswerLine
	// GSM8K: the last "#### …" line.
	GSM8K
	// AnswerIs: "the answer is …" (lenient extraction only).
	AnswerIs
	// ProgramOutput: the last ```output block or <interpreter> block
	// (lenient extraction only; ToRA's fallback).
	ProgramOutput
	// LastNumber: the last number in the response (lenient extraction only).
	LastNumber
)

var methodNames = [...]string{"none", "boxed", "answer_tag", "dapo_answer_line", "gsm8k", "answer_is", "program_output", "last_number"}

func (m Method) String() string {
	if m >= 0 && int(m) < len(methodNames) {
		return methodNames[m]
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// MarshalText encodes a Method by its name (for JSON output).
func (m Method) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText decodes a Method name written by MarshalText.
func (m *Method) UnmarshalText(b []byte) error {
	for i, n := range methodNames {
		if n == string(b) {
			*m = Method(i)
			return nil
		}
	}
	return fmt.Errorf("reward: unknown method %q", b)
}

// Extract returns the final answer of a response and how it was found.
//
// Precedence: the last <answer> block (a \boxed inside it wins, then an
// "Answer:" line inside it, then its whole text), else the last complete
// \boxed{…}/\fbox{…}, else the last "Answer: …" line, else the last "#### …".
// An unbalanced (truncated) \boxed{ is ignored in favour of an earlier
// complete one.
func Extract(response string) (answer string, how Method, ok bool) {
	if a, found := lastAnswerTag(response); found {
		if b, ok := LastBoxed(a); ok && strings.TrimSpace(b) != "" {
			return strings.TrimSpace(b), AnswerTag, true
		}
		if l, ok := lastAnswerLine(a); ok {
			return l, AnswerTag, true
		}
		if t := cleanAnswerText(a); t != "" && t != "..." && t != "…" {
			return t, AnswerTag, true
		}
	}
	if b, ok := LastBoxed(response); ok && strings.TrimSpace(b) != "" {
		return strings.TrimSpace(b), Boxed, true
	}
	if l, ok := lastAnswerLine(response); ok {
		return l, DAPOAnswerLine, true
	}
	if g, ok := lastGSM8K(response); ok {
		return g, GSM8K, true
	}
	return "", None, false
}

// ExtractLenient is Extract followed by ToRA's fallbacks: "the answer is …",
// then the last program output (```output block or <interpreter> block),
// then the last number of the response. The paper's reward does not use
// these (no answer → −1); Options.Lenient turns them on.
func ExtractLenient(response string) (answer string, how Method, ok bool) {
	if a, how, ok := Extract(response); ok {
		return a, how, ok
	}
	if m := answerIsRe.FindAllStringSubmatch(response, -1); len(m) > 0 {
		if t := cleanAnswerText(m[len(m)-1][1]); t != "" {
			return t, AnswerIs, true
		}
	}
	if o, ok := lastProgramOutput(response); ok {
		return o, ProgramOutput, true
	}
	if n := lastNumberRe.FindAllString(strings.ReplaceAll(response, ",", ""), -1); len(n) > 0 {
		return n[len(n)-1], LastNumber, true
	}
	return "", None, false
}

// ExtractStrict is DAPO's extraction (verl math_dapo): only the last 300
// characters of the response are looked at; the last "Answer: …" match
// (regex (?i)Answer\s*:\s*([^\n]+)) wins, else the last complete \boxed{…}.
func ExtractStrict(response string) (answer string, how Method, ok bool) {
	tail := response
	if len(tail) > 300 {
		tail = tail[len(tail)-300:]
	}
	if m := dapoAnswerRe.FindAllStringSubmatch(tail, -1); len(m) > 0 {
		return strings.TrimSpace(m[len(m)-1][1]), DAPOAnswerLine, true
	}
	if b, ok := LastBoxed(tail); ok && strings.TrimSpace(b) != "" {
		return strings.TrimSpace(b), Boxed, true
	}
	return "", None, false
}

var (
	dapoAnswerRe  = regexp.MustCompile(`(?i)Answer\s*:\s*([^\n]+)`)
	answerLineRe  = regexp.MustCompile(`(?i)\banswer\s*(?:\*\*|__)?\s*[:：]\s*(?:\*\*|__)?\s*([^\n]+)`)
	answerIsRe    = regexp.MustCompile(`(?i)\bthe (?:final )?answer is[:\s]*([^\n]+)`)
	gsm8kRe       = regexp.MustCompile(`####[ \t]*([^\n]+)`)
	lastNumberRe  = regexp.MustCompile(`-?\d*\.?\d+`)
	finalAnswerRe = regexp.MustCompile(`(?i)^(?:the )?(?:final )?answer is[:\s]*`)
	outputBlockRe = regexp.MustCompile("(?s)```output[ \t]*\n(.*?)```")
	interpBlockRe = regexp.MustCompile(`(?s)<interpreter>(.*?)</interpreter>`)
)

// lastAnswerTag returns the content of the last <answer> block; a final
// block without its closing tag runs to the end of the response.
func lastAnswerTag(s string) (string, bool) {
	i := strings.LastIndex(s, "<answer>")
	if i < 0 {
		return "", false
	}
	body := s[i+len("<answer>"):]
	if j := strings.Index(body, "</answer>"); j >= 0 {
		body = body[:j]
	}
	if strings.TrimSpace(body) == "" {
		return "", false
	}
	return body, true
}

// LastBoxed returns the content of the last complete \boxed{…} or \fbox{…}
// in s (braces balanced; \{ and \} do not count). "\boxed 5" (no braces)
// yields the following run of non-space characters up to a "$".
func LastBoxed(s string) (string, bool) {
	end := len(s)
	for end > 0 {
		i, n := lastBoxCommand(s[:end])
		if i < 0 {
			return "", false
		}
		if c, ok := boxedContent(s[i+n:]); ok {
			return c, true
		}
		end = i
	}
	return "", false
}

func lastBoxCommand(s string) (int, int) {
	b := strings.LastIndex(s, `\boxed`)
	f := strings.LastIndex(s, `\fbox`)
	for b >= 0 && b+6 < len(s) && isLetter(s[b+6]) { // e.g. \boxedx is another command
		b = strings.LastIndex(s[:b], `\boxed`)
	}
	if f > b {
		return f, len(`\fbox`)
	}
	if b >= 0 {
		return b, len(`\boxed`)
	}
	return -1, 0
}

func boxedContent(s string) (string, bool) {
	t := strings.TrimLeft(s, " \t")
	if t == "" {
		return "", false
	}
	if t[0] == '{' {
		if j := matchBrace(t, 0); j > 0 {
			return t[1:j], true
		}
		return "", false
	}
	if len(t) == len(s) { // "\boxedX" without a space: not a box
		return "", false
	}
	j := 0
	for j < len(t) && t[j] != '$' && t[j] != ' ' && t[j] != '\n' && t[j] != '\t' {
		j++
	}
	if j == 0 {
		return "", false
	}
	return strings.TrimRight(t[:j], "."), true
}

// matchBrace returns the index of the brace closing s[open] ('{'), skipping
// escaped braces, or -1.
func matchBrace(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // skip the escaped character (\{, \}, \\)
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func lastAnswerLine(s string) (string, bool) {
	m := answerLineRe.FindAllStringSubmatch(s, -1)
	for k := len(m) - 1; k >= 0; k-- {
		if t := cleanAnswerText(m[k][1]); t != "" {
			return t, true
		}
	}
	return "", false
}

func lastGSM8K(s string) (string, bool) {
	m := gsm8kRe.FindAllStringSubmatch(s, -1)
	for k := len(m) - 1; k >= 0; k-- {
		if t := cleanAnswerText(m[k][1]); t != "" {
			return t, true
		}
	}
	return "", false
}

func lastProgramOutput(s string) (string, bool) {
	var blocks []string
	for _, m := range outputBlockRe.FindAllStringSubmatchIndex(s, -1) {
		blocks = append(blocks, s[m[2]:m[3]])
	}
	if m := interpBlockRe.FindAllStringSubmatchIndex(s, -1); len(m) > 0 {
		last := m[len(m)-1]
		if len(blocks) == 0 || last[0] > strings.LastIndex(s, "```output") {
			blocks = append(blocks, s[last[2]:last[3]])
		}
	}
	if len(blocks) == 0 {
		return "", false
	}
	lines := strings.Split(strings.TrimSpace(blocks[len(blocks)-1]), "\n")
	for k := len(lines) - 1; k >= 0; k-- {
		if t := strings.TrimSpace(lines[k]); t != "" {
			return t, true
		}
	}
	return "", false
}

// cleanAnswerText tidies text found after "Answer:" or inside <answer>:
// a \boxed inside wins, then the first $…$ math segment (Minerva), then the
// text itself without markdown bold, "The final answer is" and a final period.
func cleanAnswerText(t string) string {
	t = strings.TrimSpace(t)
	if b, ok := LastBoxed(t); ok && strings.TrimSpace(b) != "" {
		return strings.TrimSpace(b)
	}
	t = finalAnswerRe.ReplaceAllString(t, "")
	t = strings.Trim(t, "*_ \t\r\n")
	if seg, ok := firstMath(t); ok {
		t = seg
	} else if strings.HasPrefix(t, `\(`) || strings.HasPrefix(t, `\[`) {
		if j := strings.Index(t[2:], `\`+string(closer(t[1]))); j >= 0 {
			t = t[2 : 2+j]
		}
	}
	t = strings.TrimSpace(t)
	t = strings.TrimRight(t, ". \t")
	return strings.TrimSpace(t)
}

func closer(c byte) byte {
	if c == '(' {
		return ')'
	}
	return ']'
}

// firstMath returns the content of the first $…$ (or $$…$$) segment; a "\$"
// (escaped dollar) is not a delimiter.
func firstMath(t string) (string, bool) {
	start := -1
	for i := 0; i < len(t); i++ {
		if t[i] == '\\' {
			i++
			continue
		}
		if t[i] != '$' {
			continue
		}
		if start < 0 {
			if i+1 < len(t) && t[i+1] == '$' {
				i++
			}
			start = i + 1
			continue
		}
		return t[start:i], true
	}
	return "", false
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
