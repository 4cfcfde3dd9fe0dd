package device

import (
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"time"
)

// The gauge wave is the mean of two sines whose periods are P and P·φ
// (φ the golden ratio), so the sum never repeats exactly yet stays smooth and
// its integral has a closed form. Phases come from the seed.
const phi = 1.618033988749895

type wave struct {
	w1, w2, p1, p2 float64
}

func newWave(period float64, seed uint64, index int) wave {
	h := fnv.New64a()
	var b [16]byte
	for i := range 8 {
		b[i] = byte(seed >> (8 * i))
		b[8+i] = byte(uint64(index) >> (8 * i))
	}
	h.Write(b[:])
	s := h.Sum64()
	return wave{
		w1: 2 * math.Pi / period,
		w2: 2 * math.Pi / (period * phi),
		p1: float64(s&0xffffffff) / (1 << 32) * 2 * math.Pi,
		p2: float64(s>>32) / (1 << 32) * 2 * math.Pi,
	}
}

// at returns the wave's value in [-1, 1] at t seconds.
func (w wave) at(t float64) float64 {
	return (math.Sin(w.w1*t+w.p1) + math.Sin(w.w2*t+w.p2)) / 2
}

// integral returns ∫₀ᵗ at(τ) dτ.
func (w wave) integral(t float64) float64 {
	return ((math.Cos(w.p1)-math.Cos(w.w1*t+w.p1))/w.w1 + (math.Cos(w.p2)-math.Cos(w.w2*t+w.p2))/w.w2) / 2
}

// gauge returns the value of a non-cumulative variable at t.
func (d *Device) gauge(i int, t float64) float64 {
	v := &d.T.Vars[i]
	if v.Live == nil {
		return staticNumber(v.Static)
	}
	l := v.Live
	if l.amp == 0 {
		return l.Initial
	}
	return l.Initial + l.amp*newWave(l.Period, d.seed, i).at(t)
}

// gaugeIntegral returns ∫₀ᵗ gauge(i) dτ, exactly.
func (d *Device) gaugeIntegral(i int, t float64) float64 {
	v := &d.T.Vars[i]
	if v.Live == nil {
		return staticNumber(v.Static) * t
	}
	l := v.Live
	if l.amp == 0 {
		return l.Initial * t
	}
	return l.Initial*t + l.amp*newWave(l.Period, d.seed, i).integral(t)
}

// growth returns how much counter i has grown from time 0 to t.
func (d *Device) growth(i int, t float64) float64 {
	l := d.T.Vars[i].Live
	if l.source >= 0 {
		return l.Factor * d.gaugeIntegral(l.source, t)
	}
	return l.Rate * t
}

// number returns the live value of variable i at device time t, with a
// counter reset at resetAt (seconds; negative for none) taken into account.
func (d *Device) number(i int, t, resetAt float64) float64 {
	l := d.T.Vars[i].Live
	if !l.Cumulative {
		return d.gauge(i, t)
	}
	var v float64
	if resetAt >= 0 && t >= resetAt {
		// A reset device counts up from zero, like one that rebooted.
		v = d.growth(i, t) - d.growth(i, resetAt)
	} else {
		v = l.Initial + d.growth(i, t)
	}
	// Floor, not round: a floored increasing function never goes back.
	return math.Mod(math.Floor(v), l.limit)
}

func staticNumber(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case uint32:
		return float64(x)
	case uint64:
		return float64(x)
	}
	return 0
}

// Growth returns how much the live counter at index i really grows between the wall-clock times
// from and to: the exact integral of its source (times its factor), or its rate times the
// duration, neither floored nor wrapped, with no fault applied (a frozen or scaled device still
// consumes energy). It is the truth a long-term store's energy over a window is compared with.
func (d *Device) Growth(i int, from, to time.Time) (float64, error) {
	v := &d.T.Vars[i]
	if v.Live == nil || !v.Live.Cumulative {
		return 0, fmt.Errorf("%s is not a live counter", strings.TrimPrefix(v.Name, "."))
	}
	if to.Before(from) {
		return 0, fmt.Errorf("to %s is before from %s", to.Format(time.RFC3339Nano), from.Format(time.RFC3339Nano))
	}
	t0, t1 := from.Sub(d.store.start).Seconds(), to.Sub(d.store.start).Seconds()
	return d.growth(i, t1) - d.growth(i, t0), nil
}
