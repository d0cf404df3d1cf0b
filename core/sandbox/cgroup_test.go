//go:build linux

package sandbox

import "testing"

func TestCgroupResources(t *testing.T) {
	cases := []struct {
		name                string
		l                   Limits
		shares, v2Weight    uint64 // 0: unset
		quota, memory, pids int64
	}{
		{"nothing set", Limits{}, 0, 0, 0, 0, 0},
		{"default weight", Limits{CPUShares: 1024}, 1024, 100, 0, 0, 0},
		{"demoted", Limits{CPUShares: 256}, 256, 25, 0, 0, 0},
		{"smallest", Limits{CPUShares: 2}, 2, 1, 0, 0, 0},
		{"largest", Limits{CPUShares: 262144}, 262144, 10000, 0, 0, 0},
		{"all", Limits{MemoryBytes: 1 << 30, Pids: 64, CPUs: 1, CPUShares: 1024}, 1024, 100, cpuPeriod, 1 << 30, 64},
		{"quota without weight", Limits{CPUs: 0.5}, 0, 0, cpuPeriod / 2, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := OCIResources(c.l)
			var shares uint64
			var quota int64
			if r.CPU != nil {
				if r.CPU.Shares != nil {
					shares = *r.CPU.Shares
				}
				if r.CPU.Quota != nil {
					quota = *r.CPU.Quota
				}
			}
			if shares != c.shares || quota != c.quota {
				t.Errorf("v1: shares %d quota %d, want %d %d", shares, quota, c.shares, c.quota)
			}
			if (r.Memory != nil && *r.Memory.Limit != c.memory) || (r.Memory == nil && c.memory != 0) {
				t.Errorf("v1 memory: %+v, want %d", r.Memory, c.memory)
			}
			if (r.Pids != nil && r.Pids.Limit != nil && *r.Pids.Limit != c.pids) || (r.Pids == nil && c.pids != 0) {
				t.Errorf("v1 pids: %+v, want %d", r.Pids, c.pids)
			}
			v2 := v2Resources(c.l)
			var weight uint64
			if v2.CPU != nil && v2.CPU.Weight != nil {
				weight = *v2.CPU.Weight
			}
			if weight != c.v2Weight {
				t.Errorf("v2 weight %d, want %d", weight, c.v2Weight)
			}
			if (c.quota != 0) != (v2.CPU != nil && v2.CPU.Max != "") {
				t.Errorf("v2 cpu.max %+v with quota %d", v2.CPU, c.quota)
			}
		})
	}
}
