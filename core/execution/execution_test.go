package execution

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRequestValidate(t *testing.T) {
	cases := map[string]struct {
		req  Request
		want string // "" = valid
	}{
		"ok":                {Request{Code: "print(1)"}, ""},
		"empty":             {Request{Code: " \n\t"}, "code is empty"},
		"too large":         {Request{Code: strings.Repeat("a", MaxCodeBytes+1)}, "more than the"},
		"invalid utf-8":     {Request{Code: "print(1)\xff"}, "not valid UTF-8"},
		"absolute file":     {Request{Code: "1", Files: []File{{Path: "/etc/passwd"}}}, "must be relative"},
		"escaping file":     {Request{Code: "1", Files: []File{{Path: "a/../../x"}}}, "escapes the work dir"},
		"escaping fetch":    {Request{Code: "1", FetchFiles: []string{".."}}, "escapes the work dir"},
		"nested file ok":    {Request{Code: "1", Files: []File{{Path: "a/b/../c.txt"}}}, ""},
		"negative wall":     {Request{Code: "1", Limits: Limits{WallTime: -time.Second}}, "wall_time_ms is negative"},
		"absurd memory":     {Request{Code: "1", Limits: Limits{MemoryBytes: MaxMemory + 1}}, "exceeds the maximum"},
		"sub-millisecond":   {Request{Code: "1", Limits: Limits{WallTime: 900 * time.Microsecond}}, "below the minimum 1ms"},
		"tiny memory":       {Request{Code: "1", Limits: Limits{MemoryBytes: 1 << 20}}, "below the minimum"},
		"negative pids":     {Request{Code: "1", Limits: Limits{Pids: -1}}, "pids is negative"},
		"two problems kept": {Request{Code: "", Limits: Limits{OpenFiles: -1}}, "code is empty; limit open_files is negative"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := c.req.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want ErrInvalid containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func TestLimitsWithDefaults(t *testing.T) {
	got := Limits{WallTime: time.Second, Pids: 3}.WithDefaults(DefaultLimits)
	want := DefaultLimits
	want.WallTime, want.Pids = time.Second, 3
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestStatusNames(t *testing.T) {
	for s := Finished; s <= SandboxError; s++ {
		back, err := ParseStatus(s.String())
		if err != nil || back != s {
			t.Errorf("%v: round trip gave %v, %v", s, back, err)
		}
	}
	if _, err := ParseStatus("exploded"); err == nil {
		t.Error("unknown status accepted")
	}
}
