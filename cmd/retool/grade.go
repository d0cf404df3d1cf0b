package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/retool-rl/retool/core/execution"
	"github.com/retool-rl/retool/core/orchestrator"
	"github.com/retool-rl/retool/trainer/reward"
)

type gradeLine struct {
	Response *string         `json:"response"`
	Answer   json.RawMessage `json:"answer"`
}

type gradeResult struct {
	Line      int            `json:"line"`
	Extracted string         `json:"extracted"`
	Method    reward.Method  `json:"method"`
	Correct   bool           `json:"correct"`
	Reward    float64        `json:"reward"`
	Verdict   reward.Verdict `json:"verdict"`
	Error     string         `json:"error,omitempty"`
}

// answerText accepts the ground truth as a JSON string or number.
func answerText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New(`field "answer" is missing`)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf(`field "answer" must be a string or a number, got %s`, raw)
}

func (a *app) gradeCmd() *cobra.Command {
	var out string
	var strict, lenient, noSymbolic bool
	c := &cobra.Command{
		Use:   "grade FILE.jsonl",
		Short: `Grade lines {"response": …, "answer": …}: extracted answer, verdict and ±1 reward per line`,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer in.Close()
			w := cmd.OutOrStdout()
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			opts := reward.Options{Strict: strict, Lenient: lenient}
			if !noSymbolic && !strict {
				cfg, err := a.config("")
				if err != nil {
					return err
				}
				for i := range cfg.Runtimes {
					cfg.Runtimes[i].PoolSize = 1
				}
				o := orchestrator.New(cfg, a.dir(cfg), a.logger(cfg))
				defer o.Close()
				opts.Symbolic = reward.SympySymbolic{Run: sympyRunner(o)}
			}
			return grade(cmd.Context(), in, w, cmd.ErrOrStderr(), opts)
		},
	}
	f := c.Flags()
	f.StringVarP(&out, "output", "o", "-", "where to write the graded JSONL")
	f.BoolVar(&strict, "strict", false, "DAPO-compatible strict mode: last Answer: line or \\boxed, exact match")
	f.BoolVar(&lenient, "lenient", false, "also accept ToRA's fallbacks (\"the answer is\", last output, last number)")
	f.BoolVar(&noSymbolic, "no-symbolic", false, "never ask the sandboxed sympy runtime")
	return c
}

// sympyRunner runs the checker's SymPy program in the sandboxed sympy
// runtime: answers come from model output and are never evaluated on the host.
func sympyRunner(o *orchestrator.Orchestrator) reward.SympyRunner {
	return func(ctx context.Context, code string) (string, error) {
		res, err := o.Execute(ctx, &execution.Request{Language: "sympy", Code: code,
			Limits: execution.Limits{WallTime: 10 * time.Second}})
		if err != nil {
			return "", err
		}
		if res.Status != execution.Finished {
			return "", fmt.Errorf("sympy check %s: %s", res.Status, res.Message)
		}
		return string(res.Stdout), nil
	}
}

// grade reads JSONL and writes one result per input line as it goes, so
// that an interrupted run keeps what it graded.
func grade(ctx context.Context, in io.Reader, w, progress io.Writer, opts reward.Options) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	enc := json.NewEncoder(w)
	bar := progressbar.NewOptions(-1, progressbar.OptionSetWriter(progress), progressbar.OptionSetDescription("grade"),
		progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	var n, correct, failed int
	for sc.Scan() {
		n++
		if len(sc.Bytes()) == 0 {
			continue
		}
		r := gradeResult{Line: n, Reward: -1}
		var l gradeLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			r.Error = "not a JSON object: " + err.Error()
		} else if l.Response == nil {
			r.Error = `field "response" is missing`
		} else if answer, err := answerText(l.Answer); err != nil {
			r.Error = err.Error()
		} else {
			res, err := reward.Reward(ctx, *l.Response, answer, opts)
			r.Extracted, r.Method, r.Reward, r.Verdict, r.Correct = res.Extracted, res.Method, res.Reward, res.Verdict, res.Reward > 0
			if err != nil {
				r.Error = err.Error()
			}
		}
		if r.Error != "" {
			failed++
		}
		if r.Correct {
			correct++
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
		_ = bar.Add(1)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	_ = bar.Finish()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read line %d: %w", n+1, err)
	}
	fmt.Fprintf(progress, "graded %d lines: %d correct, %d with errors\n", n, correct, failed)
	return nil
}
