package reward

import "testing"

func TestNormalize(t *testing.T) {
	tests := []struct{ in, want string }{
		{"025", "25"},
		{"-007", "-7"},
		{"0", "0"},
		{"70.0", "70"},
		{"18.90", "18.9"},
		{".5", "0.5"},
		{"5.", "5"},
		{`$\frac{1}{2}$`, `\frac{1}{2}`},
		{`\boxed{42}`, "42"},
		{`\dfrac{14}{3}`, `\frac{14}{3}`},
		{`\tfrac12`, `\frac{1}{2}`},
		{`\frac 34`, `\frac{3}{4}`},
		{`\frac9{19}`, `\frac{9}{19}`},
		{`\frac\pi2`, `\frac{\pi}{2}`},
		{`11\sqrt2`, `11\sqrt{2}`},
		{`\sqrt[3]{16}`, `\sqrt[3]{16}`},
		{`\left( 3, \frac{\pi}{2} \right)`, `(3,\frac{\pi}{2})`},
		{`\left\{ 1, 2 \right\}`, `\{1,2\}`},
		{`10,\!080`, "10080"},
		{`11,\! 111,\! 111,\! 100`, "11111111100"},
		{"2,125", "2125"},
		{"1,234,567.5", "1234567.5"},
		{"3,5,7", "3,5,7"},
		{"1, 234", "1, 234"},
		{`\$32,\!348`, "32348"},
		{`50\%`, "50"},
		{`90^\circ`, "90"},
		{`90^{\circ}`, "90"},
		{"90°", "90"},
		{`864 \mbox{ inches}^2`, "864"},
		{`15\mbox{ cm}^2`, "15"},
		{`5.4 \text{ cents}`, "5.4"},
		{`\frac{270}7\text{ degrees}`, `\frac{270}{7}`},
		{"18 dollars", "18"},
		{"864 square inches", "864"},
		{"2 k", "2k"},
		{`\text{(C)}`, "C"},
		{`\textbf{(B)}`, "B"},
		{`\text{Evelyn}`, "Evelyn"},
		{"x = 5", "5"},
		{"y = 2x + 3", "2x+3"},
		{`\theta = 30`, "30"},
		{"x=1, x=-2", "1,-2"},
		{`x \in [-2,7]`, "[-2,7]"},
		{"5x - 7y + 11z + 4 = 0", "5x-7y+11z+4=0"},
		{"52_8", "52_8"},
		{"4210_{5}", "4210_5"},
		{`x^{2}`, "x^2"},
		{`x^{10}`, "x^{10}"},
		{`\log_2 8`, `\log_{2}8`},
		{`\cot x`, `\cot x`},
		{`\pi r^2`, `\pi r^2`},
		{"−3", "-3"},
		{"1 and 2", "1,2"},
		{`1 \text{ and } 2`, "1,2"},
		{`\infty`, `\infty`},
		{`\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}`, `\begin{pmatrix}1&2\\3&4\end{pmatrix}`},
		{"", ""},
		{"  ", ""},
	}
	for _, tt := range tests {
		got := Normalize(tt.in)
		if got != tt.want {
			t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := Normalize(got); again != got {
			t.Errorf("Normalize not idempotent on %q: %q → %q", tt.in, got, again)
		}
	}
}
