package data

import (
	"encoding/binary"
	"hash/fnv"
	"math"
	"strings"
)

// Dedup keeps the first problem of each prompt text (compared exactly) and
// counts the texts that appear with more than one distinct answer (compared
// after trimming spaces). The loaders never dedup.
func Dedup(ps []Problem) (out []Problem, conflicts int) {
	type seen struct {
		answer   string
		conflict bool
	}
	first := make(map[string]*seen, len(ps))
	out = make([]Problem, 0, len(ps))
	for _, p := range ps {
		s, ok := first[p.Prompt]
		if !ok {
			first[p.Prompt] = &seen{answer: strings.TrimSpace(p.Answer)}
			out = append(out, p)
			continue
		}
		if !s.conflict && strings.TrimSpace(p.Answer) != s.answer {
			s.conflict = true
			conflicts++
		}
	}
	return out, conflicts
}

// Split puts each problem in test with probability heldOut, decided by a
// hash of its Group (its ID when Group is empty) and seed: the same problem
// lands on the same side whatever the order of ps, and copies of one problem
// stay together. Both halves keep the input order.
func Split(ps []Problem, heldOut float64, seed int64) (train, test []Problem) {
	for _, p := range ps {
		key := p.Group
		if key == "" {
			key = p.ID
		}
		if HeldOut(key, heldOut, seed) {
			test = append(test, p)
		} else {
			train = append(train, p)
		}
	}
	return train, test
}

// HeldOut reports whether key falls in the held-out fraction for seed.
func HeldOut(key string, heldOut float64, seed int64) bool {
	if heldOut <= 0 || math.IsNaN(heldOut) {
		return false
	}
	if heldOut >= 1 {
		return true
	}
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	h.Write([]byte(key))
	x := mix(h.Sum64())
	return float64(x>>11)/(1<<53) < heldOut
}

// mix is splitmix64's finaliser, to spread FNV's low-entropy high bits.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
