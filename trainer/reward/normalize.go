package reward

import (
	"regexp"
	"strings"
)

// Normalize returns a canonical string form of an answer. It
//   - takes the content of a \boxed{…} and strips $ delimiters, "\$", \( \);
//   - drops \left/\right/\big…, \displaystyle, spacing commands (\! \, \; \quad ~);
//   - removes thousands separators ("10,\!080", "{,}", and a whole answer such
//     as "2,125" or "11,111,111,100" whose groups are exactly three digits);
//   - drops percent signs ("50\%" → "50"), degrees (^\circ, ^{\circ}, °,
//     \degree) and units: a \text{…}/\mbox{…} of words that follows a value
//     (with a trailing ^2/^3), or a trailing plain word such as "cm", "dollars";
//   - unwraps \text{…}, \textbf{…}, \mathrm{…} otherwise, "(C)" → "C";
//   - rewrites \dfrac/\tfrac/\cfrac → \frac, braces the arguments of \frac,
//     \sqrt and \binom ("\frac12" → "\frac{1}{2}", "\sqrt2" → "\sqrt{2}"),
//     and "x^{2}" → "x^2", "52_{8}" → "52_8" (base subscripts are kept);
//   - removes spaces (one is kept after a command followed by a letter: "\cot x");
//   - "x = 5" → "5" and "x \in [a,b]" → "[a,b]" when the left side is a single
//     variable (also per element of a comma list);
//   - canonical numbers: leading zeros ("025" → "25"), ".5" → "0.5",
//     trailing decimal zeros ("70.0" → "70", "18.90" → "18.9"), a trailing
//     period.
//
// Normalize is idempotent.
func Normalize(s string) string {
	return normalize(s, true)
}

// normalize does the work of Normalize; with stripVar false, "x = 5" is kept
// (Equivalent needs to see equations).
func normalize(s string, stripVar bool) string {
	s = strings.TrimSpace(s)
	if b, ok := LastBoxed(s); ok {
		s = b
	}
	s = unicodeRepl.Replace(s)
	s = stripDelimiters(s)
	s = strings.ReplaceAll(s, `\$`, "")
	s = strings.ReplaceAll(s, "$", "")
	s = thousandsMarkRe.ReplaceAllString(s, "${1}${2}")
	s = strings.ReplaceAll(s, "{,}", "")
	s = rewriteCommands(s)
	s = degreeRe.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, `\%`, "")
	s = strings.ReplaceAll(s, "%", "")
	s = unwrapText(s)
	s = andRe.ReplaceAllString(s, ",")
	s = strings.TrimSpace(s)
	s = stripTrailingUnit(s)
	s = strings.TrimRight(s, " .")
	s = strings.TrimSuffix(s, `\\`)
	if thousandsRe.MatchString(s) { // "2,125" but not the list "1, 234"
		s = strings.ReplaceAll(s, ",", "")
	}
	s = scriptSpaceRe.ReplaceAllString(s, "$1{$2}") // "\log_2 8": the subscript is one character
	s = removeSpaces(s)
	if thousandsRe.MatchString(s) { // the list "1, 234" keeps its spaces
		s = strings.ReplaceAll(s, ",", ", ")
	}
	s = fixArgs(s)
	s = collapseScripts(s)
	if m := choiceRe.FindStringSubmatch(s); m != nil {
		s = m[1]
	}
	if stripVar {
		s = stripAssignments(s)
	}
	s = canonNumbers(s)
	s = strings.TrimRight(s, ".")
	return s
}

var (
	unicodeRepl = strings.NewReplacer(
		"−", "-", "–", "-", "×", `\times `, "·", `\cdot `, "⋅", `\cdot `, "π", `\pi `,
		"∞", `\infty `, "√", `\sqrt`, "°", "", "÷", `\div `, "\u00a0", " ", "≤", `\le `,
		"≥", `\ge `, "∪", `\cup `, "∩", `\cap `, "±", `\pm `, "∈", `\in `, "，", ",",
		"⟨", `\langle `, "⟩", `\rangle `,
	)
	thousandsMarkRe = regexp.MustCompile(`(\d),\\!\s*(\d)`)
	degreeRe        = regexp.MustCompile(`\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\^\s*\{\s*\\degree\s*\}|\^\s*\\degree|\\degree`)
	singleScriptRe  = regexp.MustCompile(`([\^_])\{([0-9A-Za-z])\}`)
	scriptSpaceRe   = regexp.MustCompile(`([\^_])([0-9])\s+`)
	thousandsRe     = regexp.MustCompile(`^-?\d{1,3}(,\d{3})+(\.\d+)?$`)
	choiceRe        = regexp.MustCompile(`^\(([A-Za-z])\)$`)
	numberRe        = regexp.MustCompile(`\d*\.?\d+`)
	andRe           = regexp.MustCompile(`\s+(?:and|or)\s+|,\s*(?:and|or)\s+`)
)

// collapseScripts rewrites "x^{2}" as "x^2" and "52_{8}" as "52_8", unless a
// digit follows (x^{2}3 must not become x^23).
func collapseScripts(s string) string {
	idx := singleScriptRe.FindAllStringSubmatchIndex(s, -1)
	if idx == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range idx {
		if m[1] < len(s) && isDigit(s[m[1]]) {
			continue
		}
		b.WriteString(s[last:m[0]])
		b.WriteString(s[m[2]:m[3]] + s[m[4]:m[5]])
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// stripDelimiters removes math delimiters around the whole answer.
func stripDelimiters(s string) string {
	for {
		t := strings.TrimSpace(s)
		switch {
		case strings.HasPrefix(t, `\(`) && strings.HasSuffix(t, `\)`) && len(t) >= 4:
			s = t[2 : len(t)-2]
		case strings.HasPrefix(t, `\[`) && strings.HasSuffix(t, `\]`) && len(t) >= 4:
			s = t[2 : len(t)-2]
		default:
			return t
		}
	}
}

// dropped commands (a \left. or \right. loses its dot too).
var droppedCommands = map[string]bool{
	"left": true, "right": true, "big": true, "Big": true, "bigg": true, "Bigg": true,
	"bigl": true, "bigr": true, "Bigl": true, "Bigr": true, "biggl": true, "biggr": true,
	"Biggl": true, "Biggr": true, "middle": true, "displaystyle": true, "textstyle": true,
	"scriptstyle": true, "quad": true, "qquad": true, "enspace": true, "thinspace": true,
	"negthinspace": true, "limits": true, "nolimits": true, "!": true, ",": true,
	";": true, ":": true, " ": true, "\t": true, "\n": true,
}

var renamedCommands = map[string]string{
	"dfrac": "frac", "tfrac": "frac", "cfrac": "frac", "dbinom": "binom", "tbinom": "binom",
	"inf": "infty", "infin": "infty", "infinity": "infty", "lvert": "|", "rvert": "|",
	"vert": "|", "lbrace": "{", "rbrace": "}", "leq": "le", "geq": "ge", "leqslant": "le",
	"geqslant": "ge", "ne": "neq", "varnothing": "emptyset", "lbrack": "[", "rbrack": "]", "arcsec": "operatorname{arcsec}",
}

// rewriteCommands drops layout commands and renames synonyms, leaving
// everything else byte for byte.
func rewriteCommands(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c == '~' {
			b.WriteByte(' ')
			i++
			continue
		}
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		j := i + 1
		if isLetter(s[j]) {
			for j < len(s) && isLetter(s[j]) {
				j++
			}
		} else {
			j++
		}
		name := s[i+1 : j]
		if droppedCommands[name] {
			if (name == "left" || name == "right") && j < len(s) && s[j] == '.' {
				j++
			}
			if !isLetter(name[0]) {
				b.WriteByte(' ')
			}
			i = j
			continue
		}
		if r, ok := renamedCommands[name]; ok {
			if r == "|" || r == "[" || r == "]" {
				b.WriteString(r)
			} else if r == "{" || r == "}" {
				b.WriteString(`\` + r)
			} else {
				b.WriteString(`\` + r)
			}
			i = j
			continue
		}
		b.WriteString(s[i:j])
		i = j
	}
	return b.String()
}

var textCommands = map[string]bool{
	"text": true, "textbf": true, "textit": true, "textrm": true, "textsf": true, "texttt": true,
	"mbox": true, "mathrm": true, "mathbf": true, "mathit": true, "mathsf": true, "mathtt": true,
	"operatorname": true, "boldsymbol": true, "bm": true, "textnormal": true, "hbox": true,
	"emph": true, "textup": true, "mathbb": false,
}

// unit-capable text commands: their word content after a value is a unit.
var unitCommands = map[string]bool{"text": true, "mbox": true, "textrm": true, "mathrm": true, "hbox": true, "textnormal": true, "textup": true}

var unitPowerRe = regexp.MustCompile(`^\s*\^\s*(?:\{\s*[23]\s*\}|[23])`)

// unwrapText replaces \text{…}-like groups by their content, drops units
// and turns \text{and}/\text{or} into commas.
func unwrapText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isLetter(s[j]) {
			j++
		}
		name := s[i+1 : j]
		k := j
		for k < len(s) && s[k] == ' ' {
			k++
		}
		if !textCommands[name] || k >= len(s) || s[k] != '{' {
			if j == i+1 && j < len(s) { // \{ \} \\ …
				j++
			}
			b.WriteString(s[i:j])
			i = j
			continue
		}
		end := matchBrace(s, k)
		if end < 0 {
			b.WriteString(s[i:j])
			i = j
			continue
		}
		inner := unwrapText(s[k+1 : end])
		word := strings.TrimSpace(inner)
		i = end + 1
		switch {
		case word == "and" || word == "or" || word == "," || word == "and," || word == ", and":
			b.WriteByte(',')
		case word == "":
		case unitCommands[name] && isUnitText(word, name) && strings.TrimSpace(b.String()) != "" && !endsWithOperator(b.String()):
			if m := unitPowerRe.FindString(s[i:]); m != "" {
				i += len(m)
			}
		case name == "operatorname" && isLetters(word):
			b.WriteString(`\` + word + " ")
		default:
			b.WriteString(" " + inner + " ")
		}
	}
	return b.String()
}

func endsWithOperator(s string) bool {
	t := strings.TrimSpace(s)
	if t == "" {
		return true
	}
	switch t[len(t)-1] {
	case '+', '-', '*', '/', '=', '(', '[', '{', ',', '^', '_':
		return true
	}
	return false
}

// isUnitText reports whether the content of a \text{…} after a value is a
// unit ("inches", "cm", "square feet", "m/s"); a lone "e" or "i" under
// \mathrm is a constant, not a unit.
func isUnitText(w, cmd string) bool {
	if len(w) == 1 && cmd == "mathrm" {
		return false
	}
	letters := 0
	for i := 0; i < len(w); i++ {
		c := w[i]
		switch {
		case isLetter(c):
			letters++
		case c == ' ' || c == '.' || c == '/' || c == '-' || c == '\'':
		default:
			return false
		}
	}
	return letters > 0
}

func isLetters(w string) bool {
	if w == "" {
		return false
	}
	for i := 0; i < len(w); i++ {
		if !isLetter(w[i]) {
			return false
		}
	}
	return true
}

var (
	trailingWordsRe = regexp.MustCompile(`^(.*[0-9}.)])\s*\b([A-Za-z]+(?:[ \-][A-Za-z]+)*)\s*(\^\s*\{?[23]\}?)?$`)
	shortUnits      = map[string]bool{
		"cm": true, "mm": true, "km": true, "m": true, "ft": true, "in": true, "yd": true, "mi": true,
		"kg": true, "g": true, "mg": true, "lb": true, "lbs": true, "oz": true, "s": true, "ms": true,
		"h": true, "hr": true, "hrs": true, "min": true, "mph": true, "kph": true, "ml": true, "mL": true,
		"L": true, "sq": true, "cc": true, "st": true, "nd": true, "rd": true, "th": true,
	}
	mathWords = map[string]bool{
		"pi": true, "sqrt": true, "sin": true, "cos": true, "tan": true, "cot": true, "sec": true,
		"csc": true, "log": true, "ln": true, "exp": true, "infty": true, "inf": true, "frac": true,
		"and": false, "or": false, "arcsin": true, "arccos": true, "arctan": true, "sinh": true,
		"cosh": true, "tanh": true, "abs": true, "mod": true, "pmod": true, "bmod": true, "cdot": true,
		"times": true, "pm": true, "mp": true, "cup": true, "cap": true, "in": false, "i": true, "e": true,
	}
)

// stripTrailingUnit drops trailing plain-text unit words after a value:
// "18 dollars", "5 cm^2", "864 square inches". The words must be three or
// more letters long, or a known short unit, and not a math name.
func stripTrailingUnit(s string) string {
	m := trailingWordsRe.FindStringSubmatch(s)
	if m == nil {
		return s
	}
	prefix, words := m[1], m[2]
	// the word must not be glued to the value ("2k" is a product)
	if !strings.HasPrefix(s[len(prefix):], " ") {
		return s
	}
	for _, w := range strings.FieldsFunc(words, func(r rune) bool { return r == ' ' || r == '-' }) {
		if mathWords[w] || mathWords[strings.ToLower(w)] {
			return s
		}
		if len(w) < 3 && !shortUnits[w] {
			return s
		}
	}
	return strings.TrimSpace(prefix)
}

// removeSpaces deletes whitespace, keeping one space after a command name
// that is followed by a letter ("\cot x", "\pi r").
func removeSpaces(s string) string {
	var b strings.Builder
	inCmd := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			j := i
			for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r') {
				j++
			}
			if inCmd && j < len(s) && isLetter(s[j]) {
				b.WriteByte(' ')
			}
			inCmd = false
			i = j - 1
			continue
		}
		if c == '\\' {
			b.WriteByte(c)
			if i+1 < len(s) && !isLetter(s[i+1]) {
				b.WriteByte(s[i+1])
				i++
				inCmd = false
				continue
			}
			inCmd = true
			continue
		}
		if !isLetter(c) {
			inCmd = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// fixArgs braces the arguments of \frac, \sqrt and \binom:
// "\frac12" → "\frac{1}{2}", "\frac 34" → "\frac{3}{4}", "\sqrt2" → "\sqrt{2}",
// "\frac\pi2" → "\frac{\pi}{2}".
func fixArgs(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i + 1
		for j < len(s) && isLetter(s[j]) {
			j++
		}
		if j == i+1 {
			if j < len(s) {
				j++
			}
			b.WriteString(s[i:j])
			i = j
			continue
		}
		name := s[i+1 : j]
		nargs := 0
		switch name {
		case "frac", "binom":
			nargs = 2
		case "sqrt":
			nargs = 1
		}
		if nargs == 0 {
			b.WriteString(s[i:j])
			i = j
			continue
		}
		b.WriteString(`\` + name)
		if name == "sqrt" {
			k := skipSpace(s, j)
			if k < len(s) && s[k] == '[' {
				if e := strings.IndexByte(s[k:], ']'); e > 0 {
					b.WriteString("[" + fixArgs(strings.TrimSpace(s[k+1:k+e])) + "]")
					j = k + e + 1
				}
			}
		}
		for a := 0; a < nargs; a++ {
			arg, next, ok := readArg(s, j)
			if !ok {
				break
			}
			b.WriteString("{" + fixArgs(arg) + "}")
			j = next
		}
		i = j
	}
	return b.String()
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
		i++
	}
	return i
}

// readArg reads one TeX argument at s[i:]: a {group}, a \command or one
// character.
func readArg(s string, i int) (arg string, next int, ok bool) {
	i = skipSpace(s, i)
	if i >= len(s) {
		return "", i, false
	}
	switch c := s[i]; {
	case c == '{':
		e := matchBrace(s, i)
		if e < 0 {
			return "", i, false
		}
		return strings.TrimSpace(s[i+1 : e]), e + 1, true
	case c == '\\':
		j := i + 1
		for j < len(s) && isLetter(s[j]) {
			j++
		}
		if j == i+1 && j < len(s) {
			j++
		}
		return s[i:j], j, true
	case c == '}' || c == '^' || c == '_' || c == '&':
		return "", i, false
	default:
		return s[i : i+1], i + 1, true
	}
}

// stripAssignments turns "x=5" into "5" and "x\in[a,b]" into "[a,b]" when the
// left side is a single variable; in a comma list each element is treated.
func stripAssignments(s string) string {
	parts := splitTop(s, ',')
	if len(parts) > 1 {
		changed := false
		for k, p := range parts {
			if q := stripAssignment(p); q != p {
				parts[k] = q
				changed = true
			}
		}
		if changed {
			return strings.Join(parts, ",")
		}
		// "x\in(1,2)" splits at the interval's comma: try the whole string
	}
	return stripAssignment(s)
}

var assignRe = regexp.MustCompile(`^(?:[A-Za-z](?:_\{?[A-Za-z0-9]+\}?)?|\\[A-Za-z]+)(?:=|\\in\b)(.+)$`)

func stripAssignment(s string) string {
	m := assignRe.FindStringSubmatch(s)
	if m == nil {
		return s
	}
	if strings.HasPrefix(s, `\`) {
		name := s[1 : strings.IndexAny(s[1:], `=\`)+1]
		if !greek[name] {
			return s
		}
	}
	rhs := m[1]
	if strings.Contains(rhs, "=") {
		return s
	}
	return rhs
}

var greek = map[string]bool{
	"alpha": true, "beta": true, "gamma": true, "delta": true, "epsilon": true, "varepsilon": true,
	"zeta": true, "eta": true, "theta": true, "vartheta": true, "iota": true, "kappa": true,
	"lambda": true, "mu": true, "nu": true, "xi": true, "rho": true, "sigma": true, "tau": true,
	"upsilon": true, "phi": true, "varphi": true, "chi": true, "psi": true, "omega": true,
	"Gamma": true, "Delta": true, "Theta": true, "Lambda": true, "Xi": true, "Sigma": true,
	"Phi": true, "Psi": true, "Omega": true,
}

// splitTop splits s at sep characters that are outside (), [], {} and \{ \}.
// Unbalanced interval ends such as "(3,4]" count as one level.
func splitTop(s string, sep byte) []string { return splitTopStr(s, string(sep)) }

// canonNumbers rewrites number literals: leading zeros go ("025" → "25"),
// ".5" → "0.5", trailing decimal zeros go ("70.0" → "70"). Digits that follow
// a letter (x_1, a2) or an underscore (base subscripts) are left alone.
func canonNumbers(s string) string {
	idx := numberRe.FindAllStringIndex(s, -1)
	if idx == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range idx {
		lo, hi := m[0], m[1]
		if lo > 0 && (isLetter(s[lo-1]) || s[lo-1] == '_' || s[lo-1] == '.') {
			continue
		}
		if hi < len(s) && s[hi] == '.' && hi+1 < len(s) && isDigit(s[hi+1]) {
			continue // "1.2.3": leave it
		}
		b.WriteString(s[last:lo])
		b.WriteString(canonNumber(s[lo:hi]))
		last = hi
	}
	b.WriteString(s[last:])
	return b.String()
}

func canonNumber(n string) string {
	intPart, frac, hasDot := strings.Cut(n, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	if !hasDot {
		return intPart
	}
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		return intPart
	}
	return intPart + "." + frac
}
