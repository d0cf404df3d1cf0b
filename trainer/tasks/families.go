package tasks

import (
	"cmp"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// family is one kind of question: how its operands are drawn, how it is
// phrased, its exact answer and the code that computes it.
type family struct {
	name, kind string
	// train and heldout are question templates; {0}, {1}, … stand for the
	// arguments. Questions stay short: the model reads bytes.
	train, heldout []string
	draw           func(r *rand.Rand) []string
	// args are the template arguments (nil: the operands themselves).
	args func(ops []string) []string
	// commutative: operand order does not change the problem, so both
	// orders must fall on the same side of the split.
	commutative bool
	// valid checks operands that come from outside (nil: arity decimal
	// integers), so that code is never written from malformed ones.
	valid  func(ops []string) bool
	arity  int
	answer func(ops []string) string
	// code is the program for lang ("python", or "sympy" for symbolic
	// families); renames are wrong names a first attempt may use.
	code    func(ops []string, lang string) program
	renames []rename

	// small lists every operand tuple of a family that has few. A hash
	// threshold could leave such a family without held-out problems (or
	// without training ones), so the split holds back exactly
	// HeldoutPercent of its tuples instead, those of smallest hash.
	small       func() [][]string
	heldoutOnce sync.Once
	heldoutKeys map[string]bool
}

// program is a short script: imports, definitions, then one print.
type program struct {
	imports string // whole lines, each ending in "\n"
	setup   string // definitions (SymPy symbols), whole lines
	expr    string // the printed expression
}

func (p program) String() string { return p.imports + p.setup + "print(" + p.expr + ")" }

// rename is a realistic wrong name: writing wrong for right in the printed
// expression makes the code fail.
type rename struct{ right, wrong, note string }

func (f *family) key(ops []string) string {
	if f.commutative {
		ops = slices.Clone(ops)
		slices.Sort(ops)
	}
	return strings.Join(ops, ",")
}

// isHeldout decides the split of a family's operands by a hash, so that the
// decision needs no state and every generator makes the same one.
func (f *family) isHeldout(ops []string) bool {
	if f.small == nil {
		return hashString(f.name+"|"+f.key(ops))%100 < HeldoutPercent
	}
	f.heldoutOnce.Do(func() {
		var keys []string
		seen := map[string]bool{}
		for _, o := range f.small() {
			if k := f.key(o); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
		slices.SortFunc(keys, func(a, b string) int {
			return cmp.Compare(hashString(f.name+"|"+a), hashString(f.name+"|"+b))
		})
		n := max(1, (len(keys)*HeldoutPercent+50)/100)
		f.heldoutKeys = map[string]bool{}
		for _, k := range keys[:n] {
			f.heldoutKeys[k] = true
		}
	})
	return f.heldoutKeys[f.key(ops)]
}

func (f *family) question(k int, ops []string) string {
	t := f.train
	if k >= len(f.train) {
		t, k = f.heldout, k-len(f.train)
	}
	args := ops
	if f.args != nil {
		args = f.args(ops)
	}
	return fill(t[k], args)
}

func (f *family) validOps(ops []string) bool {
	if f.valid != nil {
		return f.valid(ops)
	}
	if len(ops) != f.arity {
		return false
	}
	for _, o := range ops {
		if _, err := strconv.ParseInt(o, 10, 64); err != nil {
			return false
		}
	}
	return true
}

// fill replaces {i} in t by args[i].
func fill(t string, args []string) string {
	kv := make([]string, 0, 2*len(args))
	for i, a := range args {
		kv = append(kv, "{"+strconv.Itoa(i)+"}", a)
	}
	return strings.NewReplacer(kv...).Replace(t)
}

// families lists every family; Families reports them in this order.
var families = []*family{
	// ---------------------------------------------------------------- tool
	{
		name: "mul", kind: KindTool, arity: 2, commutative: true,
		train:   []string{"What is {0} * {1}?", "Compute {0} * {1}.", "{0} * {1} = ?", "Multiply {0} by {1}."},
		heldout: []string{"Find the product of {0} and {1}.", "What is {0} times {1}?"},
		draw:    func(r *rand.Rand) []string { return strs(digits(r, 3, 5), digits(r, 3, 5)) },
		answer: func(o []string) string {
			return new(big.Int).Mul(bigInt(o[0]), bigInt(o[1])).String()
		},
		code: func(o []string, _ string) program { return program{expr: o[0] + " * " + o[1]} },
	},
	{
		name: "modpow", kind: KindTool, arity: 3,
		train:   []string{"Compute {0}^{1} mod {2}.", "What is {0}^{1} mod {2}?", "pow({0}, {1}, {2}) = ?", "{0}^{1} modulo {2} = ?"},
		heldout: []string{"Find the remainder of {0}^{1} divided by {2}.", "What is {0} to the power {1}, mod {2}?"},
		draw: func(r *rand.Rand) []string {
			return strs(between(r, 2, 99), between(r, 20, 999), between(r, 7, 9999))
		},
		answer: func(o []string) string {
			return new(big.Int).Exp(bigInt(o[0]), bigInt(o[1]), bigInt(o[2])).String()
		},
		code: func(o []string, _ string) program {
			return program{expr: "pow(" + o[0] + ", " + o[1] + ", " + o[2] + ")"}
		},
		renames: []rename{{"pow(", "powmod(", "The built-in is pow, not powmod."}},
	},
	{
		name: "gcd", kind: KindTool, arity: 2, commutative: true,
		train:   []string{"gcd({0}, {1}) = ?", "What is gcd({0}, {1})?", "Find the GCD of {0} and {1}."},
		heldout: []string{"Greatest common divisor of {0} and {1}?", "What is the largest number dividing {0} and {1}?"},
		// A shared factor makes the answer more than 1 or 2.
		draw: func(r *rand.Rand) []string {
			g, x, y := between(r, 2, 300), between(r, 3, 200), between(r, 3, 200)
			if x == y {
				y++
			}
			return strs(g*x, g*y)
		},
		answer: func(o []string) string {
			return new(big.Int).GCD(nil, nil, bigInt(o[0]), bigInt(o[1])).String()
		},
		code: func(o []string, _ string) program {
			return program{imports: "import math\n", expr: "math.gcd(" + o[0] + ", " + o[1] + ")"}
		},
		renames: []rename{{"math.gcd(", "math.gdc(", "It is math.gcd, not math.gdc."}},
	},
	{
		name: "lcm", kind: KindTool, arity: 2, commutative: true,
		train:   []string{"lcm({0}, {1}) = ?", "What is lcm({0}, {1})?", "Find the LCM of {0} and {1}."},
		heldout: []string{"Least common multiple of {0} and {1}?", "Smallest number divisible by {0} and {1}?"},
		draw: func(r *rand.Rand) []string {
			g, x, y := between(r, 2, 60), between(r, 3, 150), between(r, 3, 150)
			if x == y {
				y++
			}
			return strs(g*x, g*y)
		},
		answer: func(o []string) string {
			a, b := bigInt(o[0]), bigInt(o[1])
			g := new(big.Int).GCD(nil, nil, a, b)
			return new(big.Int).Mul(new(big.Int).Quo(a, g), b).String()
		},
		code: func(o []string, _ string) program {
			return program{imports: "import math\n", expr: "math.lcm(" + o[0] + ", " + o[1] + ")"}
		},
		renames: []rename{{"math.lcm(", "math.lcd(", "It is math.lcm, not math.lcd."}},
	},
	{
		name: "digitsum", kind: KindTool, arity: 2,
		train:   []string{"Sum of the digits of {0}^{1}?", "What is the digit sum of {0}^{1}?", "Digit sum of {0}^{1} = ?"},
		heldout: []string{"Add up the digits of {0}^{1}.", "What do the digits of {0}^{1} add up to?"},
		draw:    func(r *rand.Rand) []string { return strs(between(r, 2, 9), between(r, 30, 400)) },
		answer: func(o []string) string {
			s := 0
			for _, d := range new(big.Int).Exp(bigInt(o[0]), bigInt(o[1]), nil).String() {
				s += int(d - '0')
			}
			return strconv.Itoa(s)
		},
		code: func(o []string, _ string) program {
			return program{expr: "sum(int(d) for d in str(" + o[0] + "**" + o[1] + "))"}
		},
		renames: []rename{{"str(", "string(", "It is str, not string."}},
	},
	{
		name: "primes", kind: KindTool, arity: 1,
		train:   []string{"How many primes are less than {0}?", "Count the primes below {0}.", "Number of primes < {0}?"},
		heldout: []string{"How many prime numbers are smaller than {0}?", "Count primes p with p < {0}."},
		draw:    func(r *rand.Rand) []string { return strs(between(r, 100, maxPrimesBelow)) },
		valid: func(o []string) bool {
			n, err := strconv.Atoi(single(o))
			return err == nil && n >= 0 && n <= maxPrimesBelow
		},
		answer: func(o []string) string { return strconv.Itoa(primesBelow(int(bigInt(o[0]).Int64()))) },
		code: func(o []string, _ string) program {
			return program{
				imports: "import math\n",
				expr:    "sum(all(n % d for d in range(2, math.isqrt(n) + 1)) for n in range(2, " + o[0] + "))",
			}
		},
		renames: []rename{{"math.isqrt(", "math.sqrti(", "It is math.isqrt, not math.sqrti."}},
	},
	{
		name: "binom", kind: KindTool, arity: 2,
		train:   []string{"What is C({0}, {1})?", "Compute {0} choose {1}.", "binomial({0}, {1}) = ?"},
		heldout: []string{"How many ways to choose {1} of {0} items?", "Number of {1}-element subsets of a {0}-set?"},
		draw: func(r *rand.Rand) []string {
			n := between(r, 20, 90)
			return strs(n, between(r, 3, n-3))
		},
		answer: func(o []string) string {
			return new(big.Int).Binomial(bigInt(o[0]).Int64(), bigInt(o[1]).Int64()).String()
		},
		code: func(o []string, _ string) program {
			return program{imports: "import math\n", expr: "math.comb(" + o[0] + ", " + o[1] + ")"}
		},
		renames: []rename{{"math.comb(", "math.choose(", "It is math.comb, not math.choose."}},
	},
	// Conversions answer in decimal or binary only: trainer/reward reads
	// hex digits as a product of variables ("ab" would equal "ba").
	{
		name: "to-binary", kind: KindTool, arity: 1,
		train:   []string{"Write {0} in binary.", "{0} in base 2 = ?", "Convert {0} to binary."},
		heldout: []string{"What is {0} in base two?", "Binary form of {0}?"},
		draw:    func(r *rand.Rand) []string { return strs(between(r, 100, 65535)) },
		answer:  func(o []string) string { return bigInt(o[0]).Text(2) },
		code: func(o []string, _ string) program {
			return program{expr: "format(" + o[0] + ", 'b')"}
		},
		renames: []rename{{"format(", "fmt(", "The function is format, not fmt."}},
	},
	{
		name: "from-binary", kind: KindTool, arity: 1,
		train:   []string{"Convert binary {0} to decimal.", "What is {0} (base 2) in decimal?", "{0}_2 in base 10 = ?"},
		heldout: []string{"Decimal value of the binary number {0}?", "Binary {0} equals what number?"},
		draw:    func(r *rand.Rand) []string { return []string{strconv.FormatInt(between(r, 64, 65535), 2)} },
		valid:   func(o []string) bool { return isBase(single(o), 2) },
		answer:  func(o []string) string { return parseBase(o[0], 2).String() },
		code: func(o []string, _ string) program {
			return program{expr: "int('" + o[0] + "', 2)"}
		},
	},
	{
		name: "from-hex", kind: KindTool, arity: 1,
		train:   []string{"Convert hex {0} to decimal.", "What is 0x{0} in decimal?", "Hexadecimal {0} in base 10 = ?"},
		heldout: []string{"Decimal value of the hex number {0}?", "0x{0} equals what number?"},
		draw:    func(r *rand.Rand) []string { return []string{strconv.FormatInt(between(r, 256, 1<<20-1), 16)} },
		valid:   func(o []string) bool { return isBase(single(o), 16) },
		answer:  func(o []string) string { return parseBase(o[0], 16).String() },
		code: func(o []string, _ string) program {
			return program{expr: "int('" + o[0] + "', 16)"}
		},
	},
	{
		name: "sum-k", kind: KindTool, arity: 1,
		train:   []string{"What is 1 + 2 + ... + {0}?", "Sum of the integers from 1 to {0}?", "Compute the sum of k for k = 1..{0}."},
		heldout: []string{"Add all whole numbers 1 through {0}.", "What is the total of 1, 2, ..., {0}?"},
		draw:    func(r *rand.Rand) []string { return strs(between(r, 50, 9999)) },
		answer:  func(o []string) string { return powerSum(bigInt(o[0]), 1).String() },
		code: func(o []string, _ string) program {
			return program{expr: "sum(range(1, " + plus1(o[0]) + "))"}
		},
		renames: []rename{{"sum(", "total(", "The built-in is sum, not total."}},
	},
	{
		name: "sum-k2", kind: KindTool, arity: 1,
		train:   []string{"What is 1^2 + 2^2 + ... + {0}^2?", "Sum of k^2 for k = 1..{0}?", "Sum of the squares from 1 to {0}?"},
		heldout: []string{"Add the squares of 1 through {0}.", "What is the total of k*k for k from 1 to {0}?"},
		draw:    func(r *rand.Rand) []string { return strs(between(r, 20, 2000)) },
		answer:  func(o []string) string { return powerSum(bigInt(o[0]), 2).String() },
		code: func(o []string, _ string) program {
			return program{expr: "sum(k**2 for k in range(1, " + plus1(o[0]) + "))"}
		},
		renames: []rename{{"k**", "i**", "The loop variable is k, not i."}},
	},
	{
		name: "sum-k3", kind: KindTool, arity: 1,
		train:   []string{"What is 1^3 + 2^3 + ... + {0}^3?", "Sum of k^3 for k = 1..{0}?", "Sum of the cubes from 1 to {0}?"},
		heldout: []string{"Add the cubes of 1 through {0}.", "What is the total of k*k*k for k from 1 to {0}?"},
		draw:    func(r *rand.Rand) []string { return strs(between(r, 10, 1000)) },
		answer:  func(o []string) string { return powerSum(bigInt(o[0]), 3).String() },
		code: func(o []string, _ string) program {
			return program{expr: "sum(k**3 for k in range(1, " + plus1(o[0]) + "))"}
		},
		renames: []rename{{"k**", "i**", "The loop variable is k, not i."}},
	},
	{
		// Operands: first term, difference, number of terms.
		name: "arith-series", kind: KindTool, arity: 3,
		train:   []string{"What is {0} + {1} + {2} + ... + {3}?", "Sum the series {0}, {1}, {2}, ..., {3}.", "{0} + {1} + {2} + ... + {3} = ?"},
		heldout: []string{"Add the arithmetic series {0}, {1}, {2}, ..., {3}.", "What is the total of {0} + {1} + ... + {3}?"},
		draw: func(r *rand.Rand) []string {
			return strs(between(r, 1, 60), between(r, 2, 19), between(r, 8, 200))
		},
		valid: func(o []string) bool {
			v, ok := ints(o, 3)
			return ok && v[1] > 0 && v[2] > 1
		},
		args: func(o []string) []string {
			a, d, n := mustInts(o)
			return strs(a, a+d, a+2*d, a+(n-1)*d)
		},
		answer: func(o []string) string {
			a, d, n := mustInts(o)
			return strconv.FormatInt(n*(2*a+(n-1)*d)/2, 10)
		},
		code: func(o []string, _ string) program {
			a, d, n := mustInts(o)
			v := strs(a, a+(n-1)*d+1, d)
			return program{expr: "sum(range(" + v[0] + ", " + v[1] + ", " + v[2] + "))"}
		},
		renames: []rename{{"sum(", "total(", "The built-in is sum, not total."}},
	},

	// ---------------------------------------------------------------- text
	{
		name: "add", kind: KindText, arity: 2, commutative: true,
		train:   []string{"What is {0} + {1}?", "{0} + {1} = ?", "Add {0} and {1}."},
		heldout: []string{"Compute {0} plus {1}.", "{0} plus {1} is?"},
		draw:    func(r *rand.Rand) []string { return strs(between(r, 0, 9), between(r, 0, 9)) },
		small:   func() [][]string { return pairs(0, 9, func(a, b int64) bool { return true }) },
		answer: func(o []string) string {
			return new(big.Int).Add(bigInt(o[0]), bigInt(o[1])).String()
		},
		code: func(o []string, _ string) program { return program{expr: o[0] + " + " + o[1]} },
	},
	{
		name: "sub", kind: KindText, arity: 2,
		train:   []string{"What is {0} - {1}?", "{0} - {1} = ?", "Subtract {1} from {0}."},
		heldout: []string{"{0} minus {1} is?", "Compute {0} minus {1}."},
		draw: func(r *rand.Rand) []string {
			a := between(r, 0, 9)
			return strs(a, between(r, 0, a))
		},
		small: func() [][]string { return pairs(0, 9, func(a, b int64) bool { return b <= a }) },
		answer: func(o []string) string {
			return new(big.Int).Sub(bigInt(o[0]), bigInt(o[1])).String()
		},
		code: func(o []string, _ string) program { return program{expr: o[0] + " - " + o[1]} },
	},
	{
		name: "max", kind: KindText, arity: 2, commutative: true,
		train:   []string{"Which is larger, {0} or {1}?", "max({0}, {1}) = ?", "Larger of {0} and {1}?"},
		heldout: []string{"Pick the bigger number: {0} or {1}.", "Which is greater: {0} or {1}?"},
		draw: func(r *rand.Rand) []string {
			a, b := between(r, 0, 99), between(r, 0, 98)
			if b >= a {
				b++ // never equal: "the larger" must be one of them
			}
			return strs(a, b)
		},
		answer: func(o []string) string {
			a, b := bigInt(o[0]), bigInt(o[1])
			if a.Cmp(b) < 0 {
				a = b
			}
			return a.String()
		},
		code: func(o []string, _ string) program { return program{expr: "max(" + o[0] + ", " + o[1] + ")"} },
	},
	{
		name: "double", kind: KindText, arity: 1,
		train:   []string{"Double {0}.", "What is 2 * {0}?", "Twice {0} is?"},
		heldout: []string{"What is {0} doubled?", "What is {0} times two?"},
		draw:    func(r *rand.Rand) []string { return strs(between(r, 1, 9)) },
		small: func() [][]string {
			var out [][]string
			for a := int64(1); a <= 9; a++ {
				out = append(out, strs(a))
			}
			return out
		},
		answer: func(o []string) string { return new(big.Int).Lsh(bigInt(o[0]), 1).String() },
		code:   func(o []string, _ string) program { return program{expr: "2 * " + o[0]} },
	},

	// ------------------------------------------------------------ symbolic
	// Root families have distinct integer roots, the operands, in
	// increasing order. The answer lists each root once, "2, 3": the
	// grader compares a bare list as a multiset, but SymPy's "[2, 3]" as
	// a bracketed tuple, so a trace boxes the output without its brackets
	// (AnswerFromOutput).
	{
		name: "quad-roots", kind: KindSymbolic, arity: 2,
		train:   []string{"Solve {0} = 0.", "Roots of {0} = 0?", "Find x: {0} = 0."},
		heldout: []string{"For which x is {0} = 0?", "What x satisfy {0} = 0?"},
		draw:    func(r *rand.Rand) []string { return distinctSorted(r, 2, -9, 9) },
		valid:   validRoots(2),
		args:    func(o []string) []string { return []string{polyText(rootsPoly(o), false)} },
		answer:  func(o []string) string { return strings.Join(o, ", ") },
		code:    solveCode(""),
		renames: []rename{{"solve(", "solv(", "It is solve, not solv."}},
	},
	{
		name: "cubic-roots", kind: KindSymbolic, arity: 3,
		train:   []string{"Solve {0} = 0.", "Roots of {0} = 0?", "Find x: {0} = 0."},
		heldout: []string{"For which x is {0} = 0?", "What x satisfy {0} = 0?"},
		draw:    func(r *rand.Rand) []string { return distinctSorted(r, 3, -6, 6) },
		valid:   validRoots(3),
		args:    func(o []string) []string { return []string{polyText(rootsPoly(o), false)} },
		answer:  func(o []string) string { return strings.Join(o, ", ") },
		code:    solveCode(""),
		renames: []rename{{"solve(", "solv(", "It is solve, not solv."}},
	},
	{
		name: "root-sum", kind: KindSymbolic, arity: 3,
		train:   []string{"Sum of the roots of {0} = 0?", "Add the roots of {0} = 0.", "What do the roots of {0} = 0 add up to?"},
		heldout: []string{"Find the sum of the solutions of {0} = 0.", "Total of all x with {0} = 0?"},
		draw:    func(r *rand.Rand) []string { return distinctSorted(r, 3, -7, 7) },
		valid:   validRoots(3),
		args:    func(o []string) []string { return []string{polyText(rootsPoly(o), false)} },
		answer: func(o []string) string {
			s := new(big.Int)
			for _, x := range o {
				s.Add(s, bigInt(x))
			}
			return s.String()
		},
		code:    solveCode("sum"),
		renames: []rename{{"solve(", "solv(", "It is solve, not solv."}},
	},
	{
		name: "root-max", kind: KindSymbolic, arity: 3,
		train:   []string{"Largest root of {0} = 0?", "What is the largest x with {0} = 0?", "Greatest solution of {0} = 0?"},
		heldout: []string{"Find the biggest x solving {0} = 0.", "Max root of {0} = 0?"},
		draw:    func(r *rand.Rand) []string { return distinctSorted(r, 3, -7, 7) },
		valid:   validRoots(3),
		args:    func(o []string) []string { return []string{polyText(rootsPoly(o), false)} },
		answer:  func(o []string) string { return o[len(o)-1] },
		code:    solveCode("max"),
		renames: []rename{{"solve(", "solv(", "It is solve, not solv."}},
	},
	{
		// Operands a, b, n, k: the coefficient of x^k in (ax + b)^n.
		name: "coeff", kind: KindSymbolic, arity: 4,
		train:   []string{"Coefficient of x^{1} in {0}?", "In {0}, the coefficient of x^{1} is?", "What multiplies x^{1} in {0} expanded?"},
		heldout: []string{"Find the x^{1} coefficient of {0}.", "Expand {0}: coefficient of x^{1}?"},
		draw: func(r *rand.Rand) []string {
			b := between(r, 1, 6)
			if r.IntN(2) == 0 {
				b = -b
			}
			n := between(r, 4, 12)
			return strs(between(r, 1, 5), b, n, between(r, 1, n-1))
		},
		valid: func(o []string) bool {
			v, ok := ints(o, 4)
			return ok && v[2] >= 0 && v[2] <= 100 && v[3] >= 0 && v[3] <= v[2]
		},
		args: func(o []string) []string {
			return []string{"(" + polyText(coeffs(o[0], o[1]), false) + ")^" + o[2], o[3]}
		},
		answer: func(o []string) string {
			n, k := bigInt(o[2]).Int64(), bigInt(o[3]).Int64()
			c := new(big.Int).Binomial(n, k)
			c.Mul(c, new(big.Int).Exp(bigInt(o[0]), big.NewInt(k), nil))
			c.Mul(c, new(big.Int).Exp(bigInt(o[1]), big.NewInt(n-k), nil))
			return c.String()
		},
		code: func(o []string, lang string) program {
			p := program{
				setup: "x = symbols('x')\n",
				expr:  "expand((" + polyText(coeffs(o[0], o[1]), true) + ")**" + o[2] + ").coeff(x, " + o[3] + ")",
			}
			if lang != LangSympy {
				p.imports = "from sympy import symbols, expand\n"
			}
			return p
		},
		renames: []rename{{".coeff(", ".coef(", "The method is coeff, not coef."}},
	},
	{
		name: "telescope", kind: KindSymbolic, arity: 1,
		train: []string{"Sum of 1/(k(k+1)) for k = 1..{0}?", "Compute the sum of 1/(k(k+1)), k = 1 to {0}.",
			"1/(1*2) + 1/(2*3) + ... + 1/({0}*{1}) = ?"},
		heldout: []string{"Add 1/(k(k+1)) over k = 1..{0} as a fraction.", "Exact sum of 1/(k^2+k) for k from 1 to {0}?"},
		draw:    func(r *rand.Rand) []string { return strs(between(r, 5, 999)) },
		valid: func(o []string) bool {
			n, err := strconv.Atoi(single(o))
			return err == nil && n >= 1 && n <= 100000
		},
		args: func(o []string) []string { return []string{o[0], plus1(o[0])} },
		answer: func(o []string) string {
			n := bigInt(o[0])
			return new(big.Rat).SetFrac(n, new(big.Int).Add(n, big.NewInt(1))).RatString()
		},
		code: func(o []string, lang string) program {
			if lang == LangSympy {
				return program{setup: "k = symbols('k')\n", expr: "summation(1/(k*(k + 1)), (k, 1, " + o[0] + "))"}
			}
			return program{
				imports: "from fractions import Fraction\n",
				expr:    "sum(Fraction(1, k * (k + 1)) for k in range(1, " + plus1(o[0]) + "))",
			}
		},
		renames: []rename{
			{"Fraction(", "Frac(", "It is Fraction, not Frac."},
			{"summation(", "summate(", "It is summation, not summate."},
		},
	},
	{
		name: "harmonic", kind: KindSymbolic, arity: 1,
		train:   []string{"Sum of 1/k for k = 1..{0}?", "What is 1 + 1/2 + ... + 1/{0}?", "Compute 1 + 1/2 + 1/3 + ... + 1/{0}."},
		heldout: []string{"Exact value of the harmonic sum up to 1/{0}?", "Add 1/k over k = 1..{0} as a fraction."},
		draw:    func(r *rand.Rand) []string { return strs(between(r, 4, 40)) },
		valid: func(o []string) bool {
			n, err := strconv.Atoi(single(o))
			return err == nil && n >= 1 && n <= 1000
		},
		answer: func(o []string) string {
			n := bigInt(o[0]).Int64()
			s := new(big.Rat)
			for k := int64(1); k <= n; k++ {
				s.Add(s, big.NewRat(1, k))
			}
			return s.RatString()
		},
		code: func(o []string, lang string) program {
			if lang == LangSympy {
				return program{setup: "k = symbols('k')\n", expr: "summation(1/k, (k, 1, " + o[0] + "))"}
			}
			return program{
				imports: "from fractions import Fraction\n",
				expr:    "sum(Fraction(1, k) for k in range(1, " + plus1(o[0]) + "))",
			}
		},
		renames: []rename{
			{"Fraction(", "Frac(", "It is Fraction, not Frac."},
			{"summation(", "summate(", "It is summation, not summate."},
		},
	},
}

// solveCode writes SymPy's solve for the polynomial with the operands as
// roots, wrapped in agg ("sum", "max") unless agg is empty.
func solveCode(agg string) func(o []string, lang string) program {
	return func(o []string, lang string) program {
		if lang != LangSympy {
			// Plain Python searches the integers: the roots are integers
			// in [-9, 9], and importing SymPy in a fresh interpreter costs
			// half a second, which the sympy runtime has paid once.
			expr := "[x for x in range(-20, 21) if " + polyText(rootsPoly(o), true) + " == 0]"
			if agg != "" {
				expr = agg + "(" + expr + ")"
			}
			return program{expr: expr}
		}
		expr := "solve(" + polyText(rootsPoly(o), true) + ", x)"
		if agg != "" {
			expr = agg + "(" + expr + ")"
		}
		return program{setup: "x = symbols('x')\n", expr: expr}
	}
}

// ---------------------------------------------------------------- helpers

// pairs lists the operand pairs in [lo, hi]² that keep allows.
func pairs(lo, hi int64, keep func(a, b int64) bool) [][]string {
	var out [][]string
	for a := lo; a <= hi; a++ {
		for b := lo; b <= hi; b++ {
			if keep(a, b) {
				out = append(out, strs(a, b))
			}
		}
	}
	return out
}

// between is a uniform integer in [lo, hi].
func between(r *rand.Rand, lo, hi int64) int64 { return lo + r.Int64N(hi-lo+1) }

// digits is a uniform number of lo to hi digits, the length drawn first so
// that short numbers are as common as long ones.
func digits(r *rand.Rand, lo, hi int) int64 {
	n := lo + r.IntN(hi-lo+1)
	low := int64(1)
	for range n - 1 {
		low *= 10
	}
	return between(r, low, 10*low-1)
}

func strs(xs ...int64) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strconv.FormatInt(x, 10)
	}
	return out
}

// bigInt parses a decimal operand; operands are validated before use.
func bigInt(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic("tasks: bad operand " + strconv.Quote(s))
	}
	return n
}

func plus1(s string) string { return new(big.Int).Add(bigInt(s), big.NewInt(1)).String() }

func single(o []string) string {
	if len(o) != 1 {
		return ""
	}
	return o[0]
}

// ints parses n decimal operands.
func ints(o []string, n int) ([]int64, bool) {
	if len(o) != n {
		return nil, false
	}
	v := make([]int64, n)
	for i, s := range o {
		x, err := strconv.ParseInt(s, 10, 64)
		if err != nil || x < -1e6 || x > 1e6 {
			return nil, false
		}
		v[i] = x
	}
	return v, true
}

func mustInts(o []string) (a, b, c int64) {
	v, ok := ints(o, 3)
	if !ok {
		panic("tasks: bad operands " + strings.Join(o, ","))
	}
	return v[0], v[1], v[2]
}

func isBase(s string, base int) bool {
	if s == "" || s[0] == '-' || s[0] == '+' {
		return false
	}
	_, ok := new(big.Int).SetString(s, base)
	return ok && strings.ToLower(s) == s
}

func parseBase(s string, base int) *big.Int {
	n, ok := new(big.Int).SetString(s, base)
	if !ok {
		panic("tasks: bad operand " + strconv.Quote(s))
	}
	return n
}

// powerSum is 1^p + 2^p + … + n^p for p = 1, 2, 3, by the closed forms.
func powerSum(n *big.Int, p int) *big.Int {
	one := big.NewInt(1)
	n1 := new(big.Int).Add(n, one)
	tri := new(big.Int).Mul(n, n1)
	tri.Rsh(tri, 1) // n(n+1)/2
	switch p {
	case 1:
		return tri
	case 2: // n(n+1)(2n+1)/6
		s := new(big.Int).Mul(tri, new(big.Int).Add(new(big.Int).Lsh(n, 1), one))
		return s.Quo(s, big.NewInt(3))
	case 3:
		return new(big.Int).Mul(tri, tri)
	}
	panic("tasks: powerSum of power " + strconv.Itoa(p))
}

// maxPrimesBelow bounds the primes family's N.
const maxPrimesBelow = 20000

// primeCounts[n] is the number of primes below n, for n ≤ maxPrimesBelow.
var primeCounts = sync.OnceValue(func() []int {
	composite := make([]bool, maxPrimesBelow)
	for i := 2; i*i < maxPrimesBelow; i++ {
		if !composite[i] {
			for j := i * i; j < maxPrimesBelow; j += i {
				composite[j] = true
			}
		}
	}
	counts := make([]int, maxPrimesBelow+1)
	for n := 3; n <= maxPrimesBelow; n++ {
		counts[n] = counts[n-1]
		if !composite[n-1] {
			counts[n]++
		}
	}
	return counts
})

// primesBelow counts the primes p < n, 0 ≤ n ≤ maxPrimesBelow.
func primesBelow(n int) int { return primeCounts()[n] }

// distinctSorted draws n distinct integers in [lo, hi], increasing.
func distinctSorted(r *rand.Rand, n int, lo, hi int64) []string {
	var v []int64
	for len(v) < n {
		x := between(r, lo, hi)
		if !slices.Contains(v, x) {
			v = append(v, x)
		}
	}
	slices.Sort(v)
	return strs(v...)
}

func validRoots(n int) func([]string) bool {
	return func(o []string) bool {
		v, ok := ints(o, n)
		if !ok {
			return false
		}
		for i := 1; i < n; i++ {
			if v[i] <= v[i-1] {
				return false
			}
		}
		for _, x := range v {
			if x < -100 || x > 100 {
				return false
			}
		}
		return true
	}
}

// rootsPoly is the monic polynomial with the given roots, coefficients from
// the highest power down.
func rootsPoly(roots []string) []int64 {
	c := []int64{1}
	for _, s := range roots {
		r, _ := strconv.ParseInt(s, 10, 64)
		next := make([]int64, len(c)+1)
		for i, a := range c { // (… + a x^m + …)(x - r)
			next[i] += a
			next[i+1] -= a * r
		}
		c = next
	}
	return c
}

// coeffs is the linear polynomial ax + b.
func coeffs(a, b string) []int64 {
	x, _ := strconv.ParseInt(a, 10, 64)
	y, _ := strconv.ParseInt(b, 10, 64)
	return []int64{x, y}
}

// polyText writes a polynomial given highest power first: "x^2 - 5x + 6"
// for questions, "x**2 - 5*x + 6" for code.
func polyText(c []int64, code bool) string {
	var b strings.Builder
	deg := len(c) - 1
	for i, a := range c {
		if a == 0 {
			continue
		}
		p := deg - i
		switch {
		case b.Len() == 0 && a < 0:
			b.WriteString("-")
		case b.Len() > 0 && a < 0:
			b.WriteString(" - ")
		case b.Len() > 0:
			b.WriteString(" + ")
		}
		if a < 0 {
			a = -a
		}
		if a != 1 || p == 0 {
			b.WriteString(strconv.FormatInt(a, 10))
			if p > 0 && code {
				b.WriteString("*")
			}
		}
		switch {
		case p == 1:
			b.WriteString("x")
		case p > 1 && code:
			b.WriteString("x**" + strconv.Itoa(p))
		case p > 1:
			b.WriteString("x^" + strconv.Itoa(p))
		}
	}
	if b.Len() == 0 {
		return "0"
	}
	return b.String()
}
