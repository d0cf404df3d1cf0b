package rollout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Template is a tool-calling format: how the prompt is written, where
// generation pauses for a tool, how the call is read and how its output is
// shown to the model.
//
// The engine hands ParseCall the text of one generation with the stop
// sequence removed (policies strip it), and Feedback's text follows that
// text directly, so Feedback starts with the stop sequence it closes
// (ReTool's "</code>", ToRL's "```output").
type Template interface {
	Name() string
	Prompt(question string, langs []string) string // the full prompt text
	Stop() []string                                // stop sequences that pause for a tool
	// ParseCall reads the tool call at the end of the generated text; the
	// language is "" when the call names none (the engine's default).
	ParseCall(generated string) (lang, code string, ok bool)
	Feedback(output string) string   // what is appended after a call
	AnswerDone(response string) bool // the response reached its final answer
}

// The built-in templates implement Template.
var (
	_ Template = ReTool{}
	_ Template = Hermes{}
	_ Template = ToRL{}
)

// TemplateNames are the names TemplateByName knows, for retool.hcl.
var TemplateNames = []string{"retool", "retool-runtimes", "retool-mini", "hermes", "torl"}

// TemplateByName returns a built-in template: "retool" (the released ReTool
// prompt, Python only), "retool-runtimes" (the same format, the prompt
// listing the installed runtimes), "hermes" (verl's <tool_call> JSON) or
// "torl" (```python / ```output).
func TemplateByName(name string) (Template, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "retool", "":
		return ReTool{}, nil
	case "retool-runtimes":
		return ReTool{ListRuntimes: true}, nil
	case "retool-mini":
		return ReTool{Mini: true}, nil
	case "hermes":
		return Hermes{}, nil
	case "torl", "tora":
		return ToRL{}, nil
	}
	return nil, fmt.Errorf("unknown rollout template %q (known: %s)", name, strings.Join(TemplateNames, ", "))
}

// callState says what a parser found at the end of a generation.
type callState int

const (
	noCall     callState = iota // no tool call
	openCall                    // a call that began but never closed (an unclosed fence)
	closedCall                  // a complete call
	badCall                     // a complete call that cannot be read (malformed JSON)
)

// parsedCall is a tool call found in one generation's text.
type parsedCall struct {
	state      callState
	lang, code string
	// start is the offset where the call begins (its "<code>", fence or
	// "<tool_call>"); end where its last character ends.
	start, end int
	// msg says why a badCall cannot be read, for the model.
	msg string
}

// atEnd reports whether only white space follows the call in text.
func (p parsedCall) atEnd(text string) bool {
	return p.state == closedCall && strings.TrimSpace(text[p.end:]) == ""
}

// callParser is implemented by the built-in templates: it also says where a
// call starts and whether one was left open. Other templates fall back on
// ParseCall.
type callParser interface {
	parseCall(generated string) parsedCall
}

// parse reads the call at the end of text with tmpl.
func parse(tmpl Template, text string) parsedCall {
	if p, ok := tmpl.(callParser); ok {
		return p.parseCall(text)
	}
	lang, code, ok := tmpl.ParseCall(text)
	if !ok {
		return parsedCall{}
	}
	return parsedCall{state: closedCall, lang: lang, code: code, start: len(text), end: len(text)}
}

// fence is one Markdown code fence.
type fence struct {
	lang       string // the info string's first word, lower-cased
	code       string
	start, end int // the opening line's start; the closing line's end
	closed     bool
}

// fences lists the ``` fences of s in order; the last may be unclosed.
func fences(s string) []fence {
	var out []fence
	var cur fence
	open, codeStart := false, 0
	for pos := 0; pos < len(s); {
		nl := strings.IndexByte(s[pos:], '\n')
		line, next := s[pos:], len(s)
		if nl >= 0 {
			line, next = s[pos:pos+nl], pos+nl+1
		}
		trimmed := strings.TrimLeft(line, " \t")
		switch {
		case !open && strings.HasPrefix(trimmed, "```"):
			open = true
			cur = fence{start: pos, lang: infoLang(trimmed[3:])}
			codeStart = next
			if nl < 0 { // "```python" with nothing after it
				codeStart = len(s)
			}
		case open && strings.TrimRight(trimmed, " \t\r") == "```":
			cur.code = s[codeStart:pos]
			cur.code = strings.TrimSuffix(strings.TrimSuffix(cur.code, "\n"), "\r")
			cur.end = pos + len(line)
			cur.closed = true
			out = append(out, cur)
			open = false
		}
		pos = next
	}
	if open {
		cur.code = s[codeStart:]
		cur.end = len(s)
		out = append(out, cur)
	}
	return out
}

// infoLang is the language of a fence's info string ("python {.x}" → "python").
func infoLang(info string) string {
	f := strings.Fields(info)
	if len(f) == 0 {
		return ""
	}
	return strings.ToLower(strings.Trim(f[0], "{}."))
}

// lastFence is the last fence of s that is not an output block.
func lastFence(s string) (fence, bool) {
	fs := fences(s)
	for i := len(fs) - 1; i >= 0; i-- {
		if fs[i].lang != "output" {
			return fs[i], true
		}
	}
	return fence{}, false
}

// ---------------------------------------------------------------- ReTool

// ReTool is the format of the ReTool paper: code as
// <code>\n```python\n…\n```\n</code>, generation paused at "</code>", the
// output appended as </code>\n<interpreter>\n…</interpreter>\n\n and the
// final answer as <answer>\n\boxed{…}\n</answer>.
type ReTool struct {
	// ListRuntimes writes the installed runtimes into the prompt and lets
	// the model choose one by the fence's language (```sympy, ```julia).
	ListRuntimes bool
	// Mini keeps the format but shortens the prompt to the question alone
	// (MiniPrompt), for the small embedded model, which learns the format
	// from its cold start instead of reading instructions.
	Mini bool
}

// MiniPrompt is the prompt of ReTool{Mini: true}.
const MiniPrompt = "Problem: %s\n"

func (t ReTool) Name() string {
	if t.Mini {
		return "retool-mini"
	}
	if t.ListRuntimes {
		return "retool-runtimes"
	}
	return "retool"
}

// retoolPrompt is the released ReTool prompt (key "retool" of the
// evaluation's prompt_template.json).
const retoolPrompt = "Solve the following problem step by step. You now have the ability to selectively write executable Python code to enhance your reasoning process. The Python code will be executed by an external sandbox, and the output (wrapped in `<interpreter>output_str</interpreter>`) can be returned to aid your reasoning and help you arrive at the final answer. The Python code should be complete scripts, including necessary imports. \n" +
	"Each code snippet is wrapped with `<code>\n```python\ncode snippet\n```\n</code>`.\n" +
	"The last part of your response should be in the following format:\n" +
	"<answer>\n\\boxed{'The final answer goes here.'}\n</answer>\n\n" +
	"*user question:*\n%s\n\n" +
	"Remember to place the final answer in the last part using the format: \n" +
	"<answer>\n\\boxed{'The final answer goes here.'}\n</answer>"

// runtimeNotes describe the built-in runtimes in the prompt.
var runtimeNotes = map[string]string{
	"python": "Python 3; write complete scripts, including necessary imports",
	"sympy":  "Python 3 with everything from SymPy already imported (`from sympy import *`)",
	"julia":  "Julia",
}

func (t ReTool) Prompt(question string, langs []string) string {
	if t.Mini {
		return fmt.Sprintf(MiniPrompt, question)
	}
	if !t.ListRuntimes {
		return fmt.Sprintf(retoolPrompt, question)
	}
	if len(langs) == 0 {
		langs = []string{"python"}
	}
	var b strings.Builder
	b.WriteString("Solve the following problem step by step. You now have the ability to selectively write executable code to enhance your reasoning process. The code will be executed by an external sandbox, and the output (wrapped in `<interpreter>output_str</interpreter>`) can be returned to aid your reasoning and help you arrive at the final answer. Each code snippet should be a complete script, including necessary imports.\n")
	b.WriteString("The sandbox has these runtimes; choose one for each snippet by the language of its code fence:\n")
	for _, l := range langs {
		if note, ok := runtimeNotes[l]; ok {
			fmt.Fprintf(&b, "- %s: %s\n", l, note)
		} else {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	fmt.Fprintf(&b, "Each code snippet is wrapped with `<code>\n```%s\ncode snippet\n```\n</code>`.\n", langs[0])
	b.WriteString("The last part of your response should be in the following format:\n" +
		"<answer>\n\\boxed{'The final answer goes here.'}\n</answer>\n\n" +
		"*user question:*\n" + question + "\n\n" +
		"Remember to place the final answer in the last part using the format: \n" +
		"<answer>\n\\boxed{'The final answer goes here.'}\n</answer>")
	return b.String()
}

func (ReTool) Stop() []string { return []string{"</code>"} }

func (t ReTool) ParseCall(generated string) (string, string, bool) {
	p := t.parseCall(generated)
	return p.lang, p.code, p.state == closedCall
}

// parseCall takes the last fence inside the last open <code>; without one,
// a fence that ends the text (the model forgot <code>); inside a <code>
// with no fence at all, the bare text is the code.
func (ReTool) parseCall(g string) parsedCall {
	open := strings.LastIndex(g, "<code>")
	if open < 0 || strings.LastIndex(g, "</code>") > open {
		f, ok := lastFence(g)
		if !ok {
			return parsedCall{}
		}
		if !f.closed {
			return parsedCall{state: openCall, lang: f.lang, code: f.code, start: f.start, end: f.end}
		}
		return parsedCall{state: closedCall, lang: f.lang, code: f.code, start: f.start, end: f.end}
	}
	body := open + len("<code>")
	f, ok := lastFence(g[body:])
	if !ok {
		code := strings.TrimSpace(g[body:])
		end := len(strings.TrimRight(g, " \t\r\n"))
		if end < body {
			end = body
		}
		return parsedCall{state: closedCall, code: code, start: open, end: end}
	}
	p := parsedCall{state: closedCall, lang: f.lang, code: f.code, start: open, end: body + f.end}
	if !f.closed {
		p.state = openCall
	}
	return p
}

func (ReTool) Feedback(output string) string {
	return "</code>\n<interpreter>\n" + output + "</interpreter>\n\n"
}

// AnswerDone: an <answer>…</answer> after the last interpreter output.
func (ReTool) AnswerDone(response string) bool {
	tail := afterLast(response, "</interpreter>")
	i := strings.Index(tail, "<answer>")
	return i >= 0 && strings.Contains(tail[i:], "</answer>")
}

// ---------------------------------------------------------------- Hermes

// Hermes is verl's tool-call format (Hermes/Qwen): a call is
// <tool_call>{"name": "code_interpreter", "arguments": {"code": "…",
// "language": "python"}}</tool_call>, generation pauses at "</tool_call>"
// and the output comes back in <tool_response>…</tool_response>. A tool
// named after a language ({"name": "sympy", …}) picks that runtime.
type Hermes struct{}

func (Hermes) Name() string { return "hermes" }

func (Hermes) Prompt(question string, langs []string) string {
	if len(langs) == 0 {
		langs = []string{"python"}
	}
	enum, _ := json.Marshal(langs)
	var b strings.Builder
	b.WriteString("# Tools\n\nYou may call one or more functions to assist with the user query.\n\n")
	b.WriteString("You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n")
	fmt.Fprintf(&b, `{"type": "function", "function": {"name": "code_interpreter", "description": "Runs code in a sandbox and returns what it prints (a bare last expression is printed too). Each call starts afresh: include every import and definition it needs.", "parameters": {"type": "object", "properties": {"code": {"type": "string", "description": "The code to run."}, "language": {"type": "string", "enum": %s, "description": "The runtime to run it with (default %s)."}}, "required": ["code"]}}}`, enum, langs[0])
	b.WriteString("\n</tools>\n\n")
	b.WriteString("For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>\n\n")
	b.WriteString("Solve the following problem step by step, using the code interpreter where it helps. Put your final answer within \\boxed{}.\n\n")
	b.WriteString(question)
	b.WriteString("\n")
	return b.String()
}

func (Hermes) Stop() []string { return []string{"</tool_call>"} }

func (t Hermes) ParseCall(generated string) (string, string, bool) {
	p := t.parseCall(generated)
	return p.lang, p.code, p.state == closedCall
}

func (Hermes) parseCall(g string) parsedCall {
	open := strings.LastIndex(g, "<tool_call>")
	if open < 0 || strings.LastIndex(g, "</tool_call>") > open {
		return parsedCall{}
	}
	body := strings.TrimSpace(g[open+len("<tool_call>"):])
	end := len(strings.TrimRight(g, " \t\r\n"))
	if body == "" {
		return parsedCall{state: openCall, start: open, end: end}
	}
	var call struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := decodeLenient(body, &call); err != nil {
		return parsedCall{state: badCall, start: open, end: end, msg: "the tool call is not valid JSON: " + err.Error()}
	}
	var args struct {
		Code     string `json:"code"`
		Language string `json:"language"`
	}
	raw := bytes.TrimSpace(call.Arguments)
	if len(raw) > 0 && raw[0] == '"' { // arguments as a JSON string, OpenAI style
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			raw = []byte(s)
		}
	}
	if len(raw) > 0 {
		if err := decodeLenient(string(raw), &args); err != nil {
			return parsedCall{state: badCall, start: open, end: end, msg: "the tool call's arguments are not a JSON object: " + err.Error()}
		}
	}
	lang := strings.ToLower(strings.TrimSpace(args.Language))
	name := strings.ToLower(strings.TrimSpace(call.Name))
	if lang == "" && name != "code_interpreter" && name != "" {
		lang = name // the tool named after its language
	}
	return parsedCall{state: closedCall, lang: lang, code: args.Code, start: open, end: end}
}

// decodeLenient decodes one JSON value, retrying with raw control
// characters inside strings escaped (models write literal newlines).
func decodeLenient(s string, v any) error {
	err := decodeOne(s, v)
	if err == nil {
		return nil
	}
	if fixed := escapeControlInStrings(s); fixed != s && decodeOne(fixed, v) == nil {
		return nil
	}
	return err
}

func decodeOne(s string, v any) error {
	d := json.NewDecoder(strings.NewReader(s))
	if err := d.Decode(v); err != nil {
		return err
	}
	var extra json.RawMessage
	if d.Decode(&extra) == nil {
		return fmt.Errorf("unexpected text after the JSON object")
	}
	return nil
}

func escapeControlInStrings(s string) string {
	var b strings.Builder
	in, esc := false, false
	for _, r := range s {
		switch {
		case esc:
			esc = false
		case in && r == '\\':
			esc = true
		case r == '"':
			in = !in
		case in && r == '\n':
			b.WriteString(`\n`)
			continue
		case in && r == '\r':
			b.WriteString(`\r`)
			continue
		case in && r == '\t':
			b.WriteString(`\t`)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (Hermes) Feedback(output string) string {
	return "</tool_call>\n<tool_response>\n" + output + "</tool_response>\n"
}

// AnswerDone: a complete \boxed{…} or <answer>…</answer> after the last
// tool response.
func (Hermes) AnswerDone(response string) bool {
	return hasAnswer(afterLast(response, "</tool_response>"))
}

// ---------------------------------------------------------------- ToRL

// ToRL is the ToRA/ToRL format: code in a ```python fence, generation
// paused at "```output", the output appended as ```output\n…\n```\n.
type ToRL struct{}

func (ToRL) Name() string { return "torl" }

func (ToRL) Prompt(question string, langs []string) string {
	var b strings.Builder
	b.WriteString("Solve the following math problem step by step, integrating natural language reasoning with programs. ")
	b.WriteString("Write code in a fenced block such as ```python ... ```; it is executed and its output is returned in an ```output ... ``` block. ")
	if len(langs) > 1 {
		fmt.Fprintf(&b, "The fence's language picks the runtime: %s. ", strings.Join(langs, ", "))
	}
	b.WriteString("Put your final answer within \\boxed{}.\n\n")
	b.WriteString("Problem: ")
	b.WriteString(question)
	b.WriteString("\n\nSolution:\n")
	return b.String()
}

func (ToRL) Stop() []string { return []string{"```output"} }

func (t ToRL) ParseCall(generated string) (string, string, bool) {
	p := t.parseCall(generated)
	return p.lang, p.code, p.state == closedCall
}

func (ToRL) parseCall(g string) parsedCall {
	f, ok := lastFence(g)
	if !ok {
		return parsedCall{}
	}
	p := parsedCall{state: closedCall, lang: f.lang, code: f.code, start: f.start, end: f.end}
	if !f.closed {
		p.state = openCall
	}
	return p
}

func (ToRL) Feedback(output string) string {
	return "```output\n" + strings.TrimRight(output, "\n") + "\n```\n"
}

// AnswerDone: a complete \boxed{…} after the last output block.
func (ToRL) AnswerDone(response string) bool {
	return hasAnswer(afterLast(response, "```output\n"))
}

// ---------------------------------------------------------------- helpers

// afterLast is s after the last sep (all of s without one).
func afterLast(s, sep string) string {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return s
}

// hasAnswer reports a complete <answer>…</answer> or \boxed{…} (braces
// balanced) in s.
func hasAnswer(s string) bool {
	if i := strings.Index(s, "<answer>"); i >= 0 && strings.Contains(s[i:], "</answer>") {
		return true
	}
	for from := 0; ; {
		i := strings.Index(s[from:], `\boxed{`)
		if i < 0 {
			return false
		}
		depth := 0
		for _, r := range s[from+i+len(`\boxed`):] {
			if r == '{' {
				depth++
			} else if r == '}' {
				depth--
				if depth == 0 {
					return true
				}
			}
		}
		from += i + len(`\boxed{`)
	}
}

// promptLanguages lists one language per runtime for prompts and error
// messages (the one named like its runtime, else the first), def first.
func promptLanguages(langs map[string]string, def string) []string {
	byRuntime := map[string]string{}
	for l, rt := range langs {
		cur, seen := byRuntime[rt]
		switch {
		case !seen, l == rt, cur != rt && l < cur:
			byRuntime[rt] = l
		}
	}
	out := make([]string, 0, len(byRuntime))
	for _, l := range byRuntime {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i] == def) != (out[j] == def) {
			return out[i] == def
		}
		return out[i] < out[j]
	})
	return out
}
