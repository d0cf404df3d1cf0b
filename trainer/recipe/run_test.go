package recipe

import (
	"context"
	"strings"
	"testing"

	"github.com/retool-rl/retool/core/config"
)

func TestRunRefusesBadSetups(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*config.Train)
		want string
	}{
		{"more memory than the machine", func(c *config.Train) {
			c.Model = config.TrainModel{Hidden: 1024, Layers: 24, Heads: 16, Intermediate: 4096, MaxSeq: 2048}
			c.ColdStart.Batch, c.RL.Prompts, c.RL.Group = 512, 64, 16
		}, "this machine has"},
		{"no problems", func(c *config.Train) { c.Tasks.Families = []string{"mul"}; c.Tasks.ColdStart = 5 }, "too few problems"},
		{"unknown family", func(c *config.Train) { c.Tasks.Families = []string{"poetry"} }, "poetry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.DefaultTrain
			c.RunDir = t.TempDir()
			tc.edit(&c)
			_, err := (&Runner{Cfg: &c}).Run(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// A run directory started with other settings is not mixed into.
	c := config.DefaultTrain
	c.RunDir = t.TempDir()
	c.Tasks.Families = []string{"poetry"}
	(&Runner{Cfg: &c}).Run(context.Background())
	c.Seeds = 2
	if _, err := (&Runner{Cfg: &c}).Run(context.Background()); err == nil || !strings.Contains(err.Error(), "other settings") {
		t.Fatalf("other settings: %v", err)
	}
}
