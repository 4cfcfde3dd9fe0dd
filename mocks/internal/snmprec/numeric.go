package snmprec

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Numeric holds the parameters of the "numeric" variation, written as
// `OID|TAG:numeric|key=value,key=value`. It is modelled on snmpsim's numeric
// module, reduced to what is deterministic:
//
//	initial=N     value at start (default: min if set, else 0)
//	min=N, max=N  bounds; a gauge never leaves them, a counter wraps at max
//	rate=R        counter growth in units per second (implies cumulative)
//	cumulative=1  the value only grows (a counter); rate or source drive it
//	deviation=D   gauge: wander up to ±D around initial (bounded by min/max)
//	period=S      seconds of the gauge's slowest wave (default 300)
//	source=OID    counter: grow by factor × the live value of OID per second
//	factor=F      multiplier for source (default 1)
//
// A gauge with source set is not allowed: sources feed counters only.
type Numeric struct {
	Initial    float64
	Min, Max   float64
	HasMin     bool
	HasMax     bool
	Rate       float64
	Cumulative bool
	Deviation  float64
	Period     float64
	Source     OID
	Factor     float64
}

// ParseNumeric parses numeric variation parameters.
func ParseNumeric(s string) (Numeric, error) {
	p := Numeric{Period: 300, Factor: 1}
	hasInitial := false
	if strings.TrimSpace(s) == "" {
		return p, errors.New("numeric variation needs parameters, e.g. initial=100,deviation=5")
	}
	seen := map[string]bool{}
	for kv := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return p, fmt.Errorf("numeric parameter %q: want key=value", kv)
		}
		if seen[k] {
			return p, fmt.Errorf("numeric parameter %q given twice", k)
		}
		seen[k] = true
		if k == "source" {
			oid, err := ParseOID(v)
			if err != nil {
				return p, fmt.Errorf("numeric parameter source: %w", err)
			}
			p.Source = oid
			p.Cumulative = true
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return p, fmt.Errorf("numeric parameter %s=%q: want a finite number", k, v)
		}
		switch k {
		case "initial":
			p.Initial, hasInitial = f, true
		case "min":
			p.Min, p.HasMin = f, true
		case "max":
			p.Max, p.HasMax = f, true
		case "rate":
			p.Rate, p.Cumulative = f, true
		case "cumulative":
			p.Cumulative = f != 0
		case "deviation":
			p.Deviation = f
		case "period":
			p.Period = f
		case "factor":
			p.Factor = f
		default:
			return p, fmt.Errorf("unknown numeric parameter %q (known: initial, min, max, rate, cumulative, deviation, period, source, factor)", k)
		}
	}
	if !hasInitial && p.HasMin {
		p.Initial = p.Min
	}
	switch {
	case p.HasMin && p.HasMax && p.Min > p.Max:
		return p, fmt.Errorf("numeric: min=%v is above max=%v", p.Min, p.Max)
	case p.HasMin && p.Initial < p.Min, p.HasMax && p.Initial > p.Max:
		return p, fmt.Errorf("numeric: initial=%v is outside [min, max]", p.Initial)
	case p.Period <= 0:
		return p, fmt.Errorf("numeric: period=%v must be positive", p.Period)
	case p.Deviation < 0:
		return p, fmt.Errorf("numeric: deviation=%v must not be negative", p.Deviation)
	case p.Rate < 0:
		return p, fmt.Errorf("numeric: rate=%v must not be negative (counters only grow)", p.Rate)
	case p.Cumulative && p.Deviation != 0:
		return p, errors.New("numeric: deviation is for gauges; a counter (rate, source or cumulative=1) cannot wander")
	case p.Source != nil && p.Rate != 0:
		return p, errors.New("numeric: give rate or source, not both")
	}
	return p, nil
}
