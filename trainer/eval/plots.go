package eval

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"unicode/utf8"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Plot file names, in the order WritePlots returns them.
const (
	PlotResponseLength = "response_length.png"
	PlotCodePosition   = "code_position.png"
	PlotCodeLines      = "code_lines.png"
	PlotToolCalls      = "tool_calls.png"
	PlotToolChoice     = "tool_choice.png"
)

var (
	colorCalls    = color.RGBA{R: 0x4c, G: 0x72, B: 0xb0, A: 0xff}
	colorFinished = color.RGBA{R: 0x55, G: 0xa8, B: 0x68, A: 0xff}
)

// WritePlots draws the distributions over all records as PNGs in dir
// (created if need be): response length, code invocation position, code
// lines per response, tool calls per response, and the tools chosen
// (calls and finished calls per language, the success rate in the
// label). It returns the file names (in dir), every plot being written
// even with no data.
func WritePlots(dir string, records []Record) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var lengths, positions, lines []float64
	callsPer := map[int]int{}
	maxCalls := 0
	tools := map[string]*ToolStat{}
	for _, r := range records {
		t := &r.Trajectory
		lengths = append(lengths, float64(utf8.RuneCountInString(t.Response)))
		calls := ranCalls(t.ToolCalls)
		callsPer[len(calls)]++
		maxCalls = max(maxCalls, len(calls))
		n := 0
		for _, c := range calls {
			n += CodeLines(c.Code)
			countCall(tools, c)
		}
		lines = append(lines, float64(n))
		if len(calls) > 0 && len(t.Response) > 0 {
			positions = append(positions, math.Min(1, math.Max(0, float64(calls[0].Position)/float64(len(t.Response)))))
		}
	}

	var files []string
	save := func(p *plot.Plot, name string, width vg.Length) error {
		if err := p.Save(width, 4*vg.Inch, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		files = append(files, name)
		return nil
	}

	if err := save(histogram("Response length", "characters", lengths, 0), PlotResponseLength, 6*vg.Inch); err != nil {
		return files, err
	}
	if err := save(histogram("Code invocation position", "first call's offset ÷ response length", positions, 20), PlotCodePosition, 6*vg.Inch); err != nil {
		return files, err
	}
	if err := save(histogram("Code lines per response", "non-blank lines of code run", lines, 0), PlotCodeLines, 6*vg.Inch); err != nil {
		return files, err
	}

	p := plot.New()
	p.Title.Text = "Tool calls per response"
	p.X.Label.Text = "calls run"
	p.Y.Label.Text = "responses"
	if len(records) == 0 {
		p.Title.Text += " (no data)"
	} else {
		vals := make(plotter.Values, maxCalls+1)
		names := make([]string, maxCalls+1)
		for i := range vals {
			vals[i] = float64(callsPer[i])
			names[i] = strconv.Itoa(i)
		}
		bars, err := plotter.NewBarChart(vals, barWidth(len(vals), 5*vg.Inch))
		if err != nil {
			return files, err
		}
		bars.Color = colorCalls
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.NominalX(names...)
	}
	if err := save(p, PlotToolCalls, 6*vg.Inch); err != nil {
		return files, err
	}

	p = plot.New()
	p.Title.Text = "Tools chosen"
	p.Y.Label.Text = "calls"
	if len(tools) == 0 {
		p.Title.Text += " (no tool calls)"
	} else {
		var stats []ToolStat
		for _, ts := range tools {
			ts.SuccessRate = ratio(ts.Finished, ts.Calls)
			stats = append(stats, *ts)
		}
		slices.SortFunc(stats, func(a, b ToolStat) int {
			if a.Calls != b.Calls {
				return b.Calls - a.Calls
			}
			if a.Language < b.Language {
				return -1
			}
			return 1
		})
		calls := make(plotter.Values, len(stats))
		finished := make(plotter.Values, len(stats))
		names := make([]string, len(stats))
		for i, s := range stats {
			calls[i], finished[i] = float64(s.Calls), float64(s.Finished)
			names[i] = fmt.Sprintf("%s\n%.0f%% ok", label(s.Language), 100*s.SuccessRate)
		}
		w := barWidth(2*len(stats), 5*vg.Inch)
		b1, err := plotter.NewBarChart(calls, w)
		if err != nil {
			return files, err
		}
		b2, err := plotter.NewBarChart(finished, w)
		if err != nil {
			return files, err
		}
		b1.Color, b2.Color = colorCalls, colorFinished
		b1.LineStyle.Width, b2.LineStyle.Width = 0, 0
		b1.Offset, b2.Offset = -w/2, w/2
		p.Add(b1, b2)
		p.Y.Max *= 1.15 // room for the legend
		p.Legend.Add("calls", b1)
		p.Legend.Add("finished", b2)
		p.Legend.Top = true
		p.NominalX(names...)
	}
	width := max(6*vg.Inch, vg.Length(len(tools))*vg.Inch)
	if err := save(p, PlotToolChoice, width); err != nil {
		return files, err
	}
	return files, nil
}

// histogram plots values in bins (0: about √n, between 5 and 50).
func histogram(title, xlabel string, values []float64, bins int) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = "responses"
	if len(values) == 0 {
		p.Title.Text += " (no data)"
		return p
	}
	if bins == 0 {
		bins = min(50, max(5, int(math.Ceil(math.Sqrt(float64(len(values)))))))
	}
	h, err := plotter.NewHist(plotter.Values(values), bins)
	if err != nil { // only for NaN or infinite values, which there are not
		p.Title.Text += " (" + err.Error() + ")"
		return p
	}
	h.FillColor = colorCalls
	h.LineStyle.Width = vg.Length(0.5)
	p.Add(h)
	return p
}

// barWidth divides the plot's width among n bars.
func barWidth(n int, total vg.Length) vg.Length {
	return min(vg.Length(40), total/vg.Length(max(n, 1)+1))
}
