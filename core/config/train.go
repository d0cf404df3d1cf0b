package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
)

// Train is the job "train": ReTool in miniature — a cold start on
// code-integrated traces, RL with the sandbox, evaluation on held-out
// problems — for each arm and seed.
type Train struct {
	RunDir string // resolved against the config file's directory
	Seeds  int
	// Arms: "retool" (tools on) and "text" (the text-only baseline: a
	// text-only cold start, RL with the tools off).
	Arms      []string
	Tasks     TrainTasks
	Model     TrainModel
	ColdStart TrainColdStart
	RL        TrainRL
	Eval      TrainEval
	// profiles are the job's `profile "name"` blocks, applied by Profile.
	profiles map[string]*trainBlock
	dir      string
}

// TrainTasks sizes the generated problem sets.
type TrainTasks struct {
	Families        []string // empty: all
	ColdStart       int      // problems the cold-start traces are made from
	RLPool          int      // problems RL draws its prompts from
	HeldOut         int      // unseen numbers, seen phrasings
	HeldOutPhrasing int      // unseen numbers and phrasings
}

// TrainModel is the embedded transformer's shape.
type TrainModel struct {
	Hidden, Layers, Heads, Intermediate, MaxSeq int
}

// TrainColdStart configures supervised fine-tuning on the traces.
type TrainColdStart struct {
	// Code, Text and Fix are the shares of trace styles (normalised);
	// Sympy the share of symbolic problems solved with the sympy runtime.
	Code, Text, Fix, Sympy float64
	Batch                  int
	LR                     float64
	// MaxEpochs bounds the epochs; training stops earlier when the
	// held-out loss has not improved for Patience evaluations.
	MaxEpochs, Patience int
	// CodeFirstEpochs is a curriculum: the first epochs see only the
	// traces that call a tool, so that copying numbers into code is
	// learned before the guesses of text traces blur it.
	CodeFirstEpochs int
}

// TrainRL configures the RL stage.
type TrainRL struct {
	Algorithm                     string // grpo | ppo
	Tools                         []string
	Steps, Prompts, Group         int
	LR, ClipLow, ClipHigh, KLCoef float64
	Temperature, TopP             float64
	MaxToolCalls, MaxTokens       int
	EvalEvery, CheckpointEvery    int
}

// TrainEval configures the evaluations on the held-out problems.
type TrainEval struct {
	Samples           int
	Temperature, TopP float64
}

// The blocks mirror Train field for field (same Go names), every
// attribute optional, so that a file, and then a profile, set only what
// they name.
type trainBlock struct {
	RunDir    *hcl.Attribute       `hcl:"run_dir,optional"`
	Seeds     *hcl.Attribute       `hcl:"seeds,optional"`
	Arms      *hcl.Attribute       `hcl:"arms,optional"`
	Tasks     *trainTasksBlock     `hcl:"tasks,block"`
	Model     *trainModelBlock     `hcl:"model,block"`
	ColdStart *trainColdStartBlock `hcl:"cold_start,block"`
	RL        *trainRLBlock        `hcl:"rl,block"`
	Eval      *trainEvalBlock      `hcl:"eval,block"`
	Profiles  []profileBlock       `hcl:"profile,block"`
}

type profileBlock struct {
	Name string   `hcl:"name,label"`
	Body hcl.Body `hcl:",remain"`
}

type trainTasksBlock struct {
	Families        *hcl.Attribute `hcl:"families,optional"`
	ColdStart       *hcl.Attribute `hcl:"cold_start,optional"`
	RLPool          *hcl.Attribute `hcl:"rl_pool,optional"`
	HeldOut         *hcl.Attribute `hcl:"heldout,optional"`
	HeldOutPhrasing *hcl.Attribute `hcl:"heldout_phrasing,optional"`
}

type trainModelBlock struct {
	Hidden       *hcl.Attribute `hcl:"hidden,optional"`
	Layers       *hcl.Attribute `hcl:"layers,optional"`
	Heads        *hcl.Attribute `hcl:"heads,optional"`
	Intermediate *hcl.Attribute `hcl:"intermediate,optional"`
	MaxSeq       *hcl.Attribute `hcl:"max_seq,optional"`
}

type trainColdStartBlock struct {
	Code      *hcl.Attribute `hcl:"code,optional"`
	Text      *hcl.Attribute `hcl:"text,optional"`
	Fix       *hcl.Attribute `hcl:"fix,optional"`
	Sympy     *hcl.Attribute `hcl:"sympy,optional"`
	Batch     *hcl.Attribute `hcl:"batch,optional"`
	LR        *hcl.Attribute `hcl:"lr,optional"`
	MaxEpochs *hcl.Attribute `hcl:"max_epochs,optional"`
	Patience  *hcl.Attribute `hcl:"patience,optional"`
	// CodeFirstEpochs mirrors TrainColdStart.CodeFirstEpochs.
	CodeFirstEpochs *hcl.Attribute `hcl:"code_first_epochs,optional"`
}

type trainRLBlock struct {
	Algorithm       *hcl.Attribute `hcl:"algorithm,optional"`
	Tools           *hcl.Attribute `hcl:"tools,optional"`
	Steps           *hcl.Attribute `hcl:"steps,optional"`
	Prompts         *hcl.Attribute `hcl:"prompts,optional"`
	Group           *hcl.Attribute `hcl:"group,optional"`
	LR              *hcl.Attribute `hcl:"lr,optional"`
	ClipLow         *hcl.Attribute `hcl:"clip_low,optional"`
	ClipHigh        *hcl.Attribute `hcl:"clip_high,optional"`
	KLCoef          *hcl.Attribute `hcl:"kl_coef,optional"`
	Temperature     *hcl.Attribute `hcl:"temperature,optional"`
	TopP            *hcl.Attribute `hcl:"top_p,optional"`
	MaxToolCalls    *hcl.Attribute `hcl:"max_tool_calls,optional"`
	MaxTokens       *hcl.Attribute `hcl:"max_tokens,optional"`
	EvalEvery       *hcl.Attribute `hcl:"eval_every,optional"`
	CheckpointEvery *hcl.Attribute `hcl:"checkpoint_every,optional"`
}

type trainEvalBlock struct {
	Samples     *hcl.Attribute `hcl:"samples,optional"`
	Temperature *hcl.Attribute `hcl:"temperature,optional"`
	TopP        *hcl.Attribute `hcl:"top_p,optional"`
}

// Job kinds.
var (
	// Arms are the values of arms.
	TrainArms = []string{"retool", "text"}
	// Algorithms are the values of rl.algorithm.
	TrainAlgorithms = []string{"grpo", "ppo"}
)

// DefaultTrain is the train job's settings where neither retool.hcl nor a
// profile sets them.
var DefaultTrain = Train{
	RunDir: "runs/retool", Seeds: 1, Arms: []string{"retool", "text"},
	Tasks:     TrainTasks{ColdStart: 1000, RLPool: 2000, HeldOut: 200, HeldOutPhrasing: 100},
	Model:     TrainModel{Hidden: 64, Layers: 2, Heads: 4, Intermediate: 176, MaxSeq: 256},
	ColdStart: TrainColdStart{Code: 0.5, Text: 0.35, Fix: 0.15, Sympy: 0.5, Batch: 16, LR: 3e-3, MaxEpochs: 20, Patience: 2, CodeFirstEpochs: 0},
	RL: TrainRL{Algorithm: "grpo", Tools: []string{"python", "sympy"}, Steps: 40, Prompts: 8, Group: 8,
		LR: 5e-4, ClipLow: 0.2, ClipHigh: 0.28, Temperature: 1, TopP: 1, MaxToolCalls: 3, MaxTokens: 192,
		EvalEvery: 10, CheckpointEvery: 10},
	Eval: TrainEval{Samples: 4, Temperature: 1, TopP: 0.7},
}

// decodeTrain applies a train job's body over DefaultTrain.
func (d *decoder) train(body hcl.Body) *Train {
	var tb trainBlock
	if diags := gohcl.DecodeBody(body, nil, &tb); diags.HasErrors() {
		d.diags = append(d.diags, diags...)
		return nil
	}
	t := DefaultTrain
	t.Arms = slices.Clone(t.Arms)
	t.RL.Tools = slices.Clone(t.RL.Tools)
	t.dir = d.dir
	d.overlay(reflect.ValueOf(&tb).Elem(), reflect.ValueOf(&t).Elem(), "job")
	t.RunDir = d.path(t.RunDir)
	t.profiles = map[string]*trainBlock{}
	for _, p := range tb.Profiles {
		var pb trainBlock
		if diags := gohcl.DecodeBody(p.Body, nil, &pb); diags.HasErrors() {
			d.diags = append(d.diags, diags...)
			continue
		}
		if len(pb.Profiles) > 0 {
			d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Nested profile",
				Detail: fmt.Sprintf("profile %q holds a profile block; profiles do not nest.", p.Name), Subject: pb.Profiles[0].Body.MissingItemRange().Ptr()})
			continue
		}
		t.profiles[p.Name] = &pb
	}
	return &t
}

// overlay decodes every attribute src sets into the field of dst with the
// same Go name, recording where it came from under key.attr_name.
func (d *decoder) overlay(src, dst reflect.Value, key string) {
	st := src.Type()
	for i := range st.NumField() {
		f := st.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("hcl"), ",")
		sv := src.Field(i)
		switch {
		case f.Type == reflect.TypeFor[*hcl.Attribute]():
			a, _ := sv.Interface().(*hcl.Attribute)
			if a == nil {
				continue
			}
			out := dst.FieldByName(f.Name)
			ptr := reflect.New(out.Type())
			diags := gohcl.DecodeExpression(a.Expr, nil, ptr.Interface())
			if diags.HasErrors() {
				for _, dg := range diags {
					if dg.Summary == "Unsuitable value type" {
						dg.Summary = "Invalid " + a.Name
						dg.Detail = fmt.Sprintf("got %s, expected %s.", describe(a.Expr), typeName(out.Type()))
					}
				}
				d.diags = append(d.diags, diags...)
				continue
			}
			out.Set(ptr.Elem())
			d.c.setOrigin(key+"."+name, origin{rng: a.Expr.Range().Ptr()})
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
			if !sv.IsNil() {
				d.overlay(sv.Elem(), dst.FieldByName(f.Name), key+"."+name)
			}
		}
	}
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list of strings"
	}
	return t.String()
}

// Profiles lists the profile names the job defines.
func (t *Train) Profiles() []string {
	var names []string
	for n := range t.profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Profile returns the job with the named profile applied ("" returns it
// as is), validated.
func (c *Config) Profile(name string) (*Train, error) {
	if c.Job == nil || c.Job.Train == nil {
		return nil, fmt.Errorf("config %s has no train job", c.Path)
	}
	t := *c.Job.Train
	if name == "" {
		return &t, nil
	}
	pb, ok := t.profiles[name]
	if !ok {
		return nil, fmt.Errorf("profile %q is not defined in the train job (defined: %s)", name, strings.Join(t.Profiles(), ", "))
	}
	t.Arms = slices.Clone(t.Arms)
	t.RL.Tools = slices.Clone(t.RL.Tools)
	d := &decoder{c: c, dir: t.dir}
	before := t.RunDir
	d.overlay(reflect.ValueOf(pb).Elem(), reflect.ValueOf(&t).Elem(), "job")
	if t.RunDir != before {
		t.RunDir = d.path(t.RunDir)
	}
	v := &validator{c: c}
	v.train(&t)
	if diags := append(d.diags, v.diags...); diags.HasErrors() {
		return nil, &Error{Diagnostics: diags}
	}
	return &t, nil
}

// train validates a train job.
func (v *validator) train(t *Train) {
	v.intRange("job.seeds", "seeds", int64(t.Seeds), 1, 64, "seeds")
	if len(t.Arms) == 0 {
		v.add("job.arms", "Invalid arms", "arms is empty; expected one or both of \"retool\", \"text\".")
	}
	for _, a := range t.Arms {
		v.enum("job.arms", "Unknown arm", "an arm", a, TrainArms)
	}
	k := t.Tasks
	v.intRange("job.tasks.cold_start", "cold_start", int64(k.ColdStart), 10, 1_000_000, "problems")
	v.intRange("job.tasks.rl_pool", "rl_pool", int64(k.RLPool), 1, 1_000_000, "problems")
	v.intRange("job.tasks.heldout", "heldout", int64(k.HeldOut), 1, 100_000, "problems")
	v.intRange("job.tasks.heldout_phrasing", "heldout_phrasing", int64(k.HeldOutPhrasing), 0, 100_000, "problems")
	m := t.Model
	v.intRange("job.model.hidden", "hidden", int64(m.Hidden), 8, 4096, "units")
	v.intRange("job.model.layers", "layers", int64(m.Layers), 1, 64, "layers")
	v.intRange("job.model.heads", "heads", int64(m.Heads), 1, 64, "heads")
	v.intRange("job.model.intermediate", "intermediate", int64(m.Intermediate), 8, 16384, "units")
	v.intRange("job.model.max_seq", "max_seq", int64(m.MaxSeq), 32, 8192, "tokens")
	if m.Heads > 0 && (m.Hidden%m.Heads != 0 || (m.Hidden/m.Heads)%2 != 0) {
		v.add("job.model.heads", "Invalid heads",
			fmt.Sprintf("hidden %d is not split into %d heads of an even size; expected heads dividing hidden into even head sizes, e.g. hidden 64 and heads 4.", m.Hidden, m.Heads))
	}
	cs := t.ColdStart
	for _, s := range []struct {
		key string
		v   float64
	}{{"code", cs.Code}, {"text", cs.Text}, {"fix", cs.Fix}, {"sympy", cs.Sympy}} {
		if s.v < 0 || s.v > 1 {
			v.add("job.cold_start."+s.key, "Invalid "+s.key, fmt.Sprintf("%s is %g; expected a share between 0 and 1.", s.key, s.v))
		}
	}
	if cs.Code+cs.Text+cs.Fix <= 0 {
		v.add("job.cold_start.code", "Invalid trace mix", "code, text and fix are all 0; expected a mix of trace styles, e.g. code = 0.5, text = 0.35, fix = 0.15.")
	}
	v.intRange("job.cold_start.batch", "batch", int64(cs.Batch), 1, 4096, "traces")
	v.positive("job.cold_start.lr", "lr", cs.LR)
	v.intRange("job.cold_start.max_epochs", "max_epochs", int64(cs.MaxEpochs), 1, 10_000, "epochs")
	v.intRange("job.cold_start.patience", "patience", int64(cs.Patience), 1, 1000, "evaluations")
	v.intRange("job.cold_start.code_first_epochs", "code_first_epochs", int64(cs.CodeFirstEpochs), 0, int64(max(0, cs.MaxEpochs-1)), "epochs (fewer than max_epochs)")
	r := t.RL
	v.enum("job.rl.algorithm", "Unknown algorithm", "an RL algorithm", r.Algorithm, TrainAlgorithms)
	for _, tool := range r.Tools {
		if _, ok := v.c.Runtime(tool); !ok {
			v.add("job.rl.tools", "Unknown tool", fmt.Sprintf("tool %q has no runtime block; expected runtimes such as \"python\", \"sympy\".", tool))
		}
	}
	v.intRange("job.rl.steps", "steps", int64(r.Steps), 0, 1_000_000, "steps")
	v.intRange("job.rl.prompts", "prompts", int64(r.Prompts), 1, 4096, "prompts per step")
	v.intRange("job.rl.group", "group", int64(r.Group), 2, 256, "samples per prompt")
	v.positive("job.rl.lr", "lr", r.LR)
	for _, s := range []struct {
		key string
		v   float64
	}{{"clip_low", r.ClipLow}, {"clip_high", r.ClipHigh}} {
		if s.v <= 0 || s.v >= 1 {
			v.add("job.rl."+s.key, "Invalid "+s.key, fmt.Sprintf("%s is %g; expected a bound between 0 and 1, e.g. 0.2.", s.key, s.v))
		}
	}
	if r.KLCoef < 0 {
		v.add("job.rl.kl_coef", "Invalid kl_coef", fmt.Sprintf("kl_coef is %g; expected 0 (none) or more.", r.KLCoef))
	}
	v.sampling("job.rl", r.Temperature, r.TopP)
	v.intRange("job.rl.max_tool_calls", "max_tool_calls", int64(r.MaxToolCalls), 0, 64, "calls")
	v.intRange("job.rl.max_tokens", "max_tokens", int64(r.MaxTokens), 8, int64(max(8, t.Model.MaxSeq)), "tokens (at most max_seq)")
	v.intRange("job.rl.eval_every", "eval_every", int64(r.EvalEvery), 0, 1_000_000, "steps (0: only at the end)")
	v.intRange("job.rl.checkpoint_every", "checkpoint_every", int64(r.CheckpointEvery), 1, 1_000_000, "steps")
	v.intRange("job.eval.samples", "samples", int64(t.Eval.Samples), 1, 1024, "samples per problem")
	v.sampling("job.eval", t.Eval.Temperature, t.Eval.TopP)
}

func (v *validator) positive(key, name string, x float64) {
	if !(x > 0) {
		v.add(key, "Invalid "+name, fmt.Sprintf("%s is %g; expected a positive number, e.g. 0.001.", name, x))
	}
}

func (v *validator) sampling(key string, temp, topP float64) {
	if temp < 0 || temp > 10 {
		v.add(key+".temperature", "Invalid temperature", fmt.Sprintf("temperature is %g; expected 0 (greedy) to 10.", temp))
	}
	if topP <= 0 || topP > 1 {
		v.add(key+".top_p", "Invalid top_p", fmt.Sprintf("top_p is %g; expected more than 0 and at most 1.", topP))
	}
}

// MachineRAM is this machine's RAM in bytes (0 if unknown), for checks
// such as a model too large to train here.
func MachineRAM() int64 { return totalRAM() }
