package collect

import (
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

func TestDiff(t *testing.T) {
	a := types.NamespacedName{Namespace: "dc1", Name: "a"}
	b := types.NamespacedName{Namespace: "dc1", Name: "b"}
	at := time.Unix(1000, 0)
	snap := func(err error, r map[types.NamespacedName]Reading) *Snapshot {
		return &Snapshot{Err: err, readings: r}
	}
	up := Reading{Scraped: true, Up: 1, Watts: map[string]float64{"device": 1230}, SampleTime: at}
	cases := []struct {
		name     string
		old, cur *Snapshot
		want     []types.NamespacedName
	}{
		{"first poll signals everyone", nil, snap(nil, map[types.NamespacedName]Reading{a: up}), []types.NamespacedName{a}},
		{"no change", snap(nil, map[types.NamespacedName]Reading{a: up}), snap(nil, map[types.NamespacedName]Reading{a: up}), nil},
		{"power changed", snap(nil, map[types.NamespacedName]Reading{a: up}), snap(nil, map[types.NamespacedName]Reading{a: {Scraped: true, Up: 1, Watts: map[string]float64{"device": 1240}, SampleTime: at}}), []types.NamespacedName{a}},
		{"went down", snap(nil, map[types.NamespacedName]Reading{a: up, b: up}), snap(nil, map[types.NamespacedName]Reading{a: up, b: {Scraped: true}}), []types.NamespacedName{b}},
		{"disappeared", snap(nil, map[types.NamespacedName]Reading{a: up, b: up}), snap(nil, map[types.NamespacedName]Reading{a: up}), []types.NamespacedName{b}},
		{"prometheus failed", snap(nil, map[types.NamespacedName]Reading{a: up, b: up}), snap(errors.New("down"), map[types.NamespacedName]Reading{}), []types.NamespacedName{a, b}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := diff(tc.old, tc.cur)
			if len(got) != len(tc.want) {
				t.Fatalf("diff = %v, want %v", got, tc.want)
			}
			for _, k := range tc.want {
				if _, ok := got[k]; !ok {
					t.Fatalf("diff = %v, want %v", got, tc.want)
				}
			}
		})
	}
}
