// Package report holds the runtime's own record of a suite run and its specs, built from a
// Ginkgo JSON report. Every other package (metrics, store, web, JUnit output) works on these types,
// so the Ginkgo report format is parsed in exactly one place.
package report

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/onsi/ginkgo/v2/types"
)

// Result of a run. A run is complete when it is passed or failed: the suite ran and said something
// about the system. Error means the harness broke (binary missing, build failed, no report, no specs
// ran), which says nothing about the system and must not be counted as green or red.
type Result string

// The results of a run.
const (
	Passed Result = "passed"
	Failed Result = "failed"
	Error  Result = "error"
)

// Complete reports whether the run said something about the system under test.
func (r Result) Complete() bool { return r == Passed || r == Failed }

// Limits that keep one run's record bounded whatever a suite prints.
const (
	// MaxSpecOutput bounds the captured output kept per spec (the end is kept).
	MaxSpecOutput = 64 << 10
	// MaxRunOutput bounds the process output kept per run (the end is kept).
	MaxRunOutput = 256 << 10
	// MaxMessage bounds a failure message.
	MaxMessage = 16 << 10
)

// Run is one execution of the suite.
type Run struct {
	// ID is a time-ordered UUID (v7), unique across restarts and replicas.
	ID         string        `json:"id"`
	Suite      string        `json:"suite"`
	StartedAt  time.Time     `json:"started_at"`
	FinishedAt time.Time     `json:"finished_at"`
	Duration   time.Duration `json:"duration_ns"`
	Result     Result        `json:"result"`
	// Error says why the harness failed (Result == Error), with compiler or process output.
	Error string `json:"error,omitempty"`
	// Trigger says what started the run: interval, rerun, change, start.
	Trigger string `json:"trigger,omitempty"`
	// Revision is the --specs.revision the runtime ran with (what the verdict's revision= matches).
	Revision string `json:"revision,omitempty"`
	// Focus are the spec files a focused run was limited to (dev mode runs a saved file's specs
	// first); empty for a run of the whole suite. A focused run is never a complete run: it
	// updates only its specs' series and is kept out of the history and the verdicts.
	Focus []string `json:"focus,omitempty"`
	// Replica is the runtime replica that ran it (fleet mode).
	Replica string `json:"replica,omitempty"`
	Passed  int    `json:"passed"`
	Failed  int    `json:"failed"`
	Skipped int    `json:"skipped"`
	Pending int    `json:"pending"`
	// Files is the number of distinct spec files among the specs that ran.
	Files int `json:"files"`
	// Output is the end of the suite process's combined stdout and stderr.
	Output string `json:"output,omitempty"`
	Specs  []Spec `json:"specs,omitempty"`
	// Raw is the Ginkgo JSON report as written by the suite, when there was one.
	Raw json.RawMessage `json:"-"`
}

// Ran is the number of specs that ran (passed or failed).
func (r *Run) Ran() int { return r.Passed + r.Failed }

// FailedSpecs returns the specs that failed, in report order.
func (r *Run) FailedSpecs() []Spec {
	var out []Spec
	for _, s := range r.Specs {
		if s.Failed() {
			out = append(out, s)
		}
	}
	return out
}

// Spec is the result of one spec (or of a suite-level node such as BeforeSuite that failed).
type Spec struct {
	// Name is the spec's full text: its containers and its own text, space-separated.
	Name     string        `json:"name"`
	Labels   []string      `json:"labels,omitempty"`
	State    string        `json:"state"`
	Duration time.Duration `json:"duration_ns"`
	// Message is the failure message (with the forwarded panic, if any).
	Message string `json:"message,omitempty"`
	// Location is file:line of the failure, or of the spec when it did not fail.
	Location string `json:"location,omitempty"`
	// Output is what the spec wrote to GinkgoWriter, stdout and stderr.
	Output string `json:"output,omitempty"`
	// File is the spec's source file, for assert_files_seen.
	File string `json:"-"`
	// RunID and StartedAt are filled in by history queries.
	RunID     string    `json:"run_id,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
}

// Failed reports whether the spec failed in any way (failed, panicked, timed out, interrupted,
// aborted).
func (s Spec) Failed() bool {
	switch s.State {
	case "failed", "panicked", "timedout", "interrupted", "aborted":
		return true
	}
	return false
}

// Ran reports whether the spec ran (as opposed to being skipped or pending).
func (s Spec) Ran() bool { return s.State == "passed" || s.Failed() }

// NewID returns a new time-ordered run ID.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// FromGinkgo fills r's counts, specs and result from a Ginkgo JSON report (the array written by
// --ginkgo.json-report). It does not touch ID, timing or Output.
func FromGinkgo(r *Run, raw []byte) error {
	var reports []types.Report
	if err := json.Unmarshal(raw, &reports); err != nil {
		return fmt.Errorf("parse ginkgo json report: %w", err)
	}
	if len(reports) == 0 {
		return fmt.Errorf("parse ginkgo json report: no suite in report")
	}
	r.Raw = raw
	succeeded := true
	files := map[string]bool{}
	for _, rep := range reports {
		if r.Suite == "" {
			r.Suite = rep.SuiteDescription
		}
		succeeded = succeeded && rep.SuiteSucceeded
		for _, sr := range rep.SpecReports {
			s := specFrom(sr)
			isSpec := sr.LeafNodeType == types.NodeTypeIt
			// Suite-level nodes (BeforeSuite, AfterSuite, reporting nodes) only matter when they
			// fail: then they are the reason specs did not run and must be shown like a spec.
			if !isSpec && !s.Failed() {
				continue
			}
			switch {
			case s.State == "passed":
				r.Passed++
			case s.Failed():
				r.Failed++
			case s.State == "pending":
				r.Pending++
			default:
				r.Skipped++
			}
			if s.Ran() && s.File != "" {
				files[s.File] = true
			}
			r.Specs = append(r.Specs, s)
		}
	}
	r.Files = len(files)
	switch {
	case r.Failed > 0 || !succeeded:
		r.Result = Failed
		if r.Failed == 0 {
			// The suite failed without a failing node in the report (e.g. a programmatic focus
			// or a flag error): the harness, not the system, is broken.
			r.Result = Error
			r.Error = "suite failed but no spec failed (focused specs or a suite configuration error?)"
		}
	case r.Passed == 0:
		r.Result = Error
		r.Error = "no specs ran (empty suite, or the label filter matches nothing)"
	default:
		r.Result = Passed
	}
	return nil
}

func specFrom(sr types.SpecReport) Spec {
	name := sr.FullText()
	if sr.LeafNodeType != types.NodeTypeIt {
		name = "[" + sr.LeafNodeType.String() + "]"
		if t := sr.FullText(); t != "" {
			name += " " + t
		}
	}
	labels := slices.Clone(sr.Labels())
	slices.Sort(labels)
	s := Spec{
		Name:     name,
		Labels:   slices.Compact(labels),
		State:    sr.State.String(),
		Duration: sr.RunTime,
		Location: sr.LeafNodeLocation.String(),
		File:     sr.LeafNodeLocation.FileName,
		Output:   Tail(sr.CombinedOutput(), MaxSpecOutput),
	}
	if sr.State.Is(types.SpecStateFailureStates) {
		msg := sr.Failure.Message
		if sr.Failure.ForwardedPanic != "" {
			msg = strings.TrimSpace(msg + "\n" + sr.Failure.ForwardedPanic)
			if st := sr.Failure.Location.FullStackTrace; st != "" {
				msg += "\n\nFull stack:\n" + st
			}
		}
		s.Message = Tail(msg, MaxMessage)
		// A panic's location is where it happened, often inside the Go runtime; the node that
		// panicked tells a reader more, and the full stack is in the message.
		if sr.Failure.Location.FileName != "" && sr.Failure.ForwardedPanic == "" {
			s.Location = sr.Failure.Location.String()
		} else if sr.Failure.FailureNodeLocation.FileName != "" {
			s.Location = sr.Failure.FailureNodeLocation.String()
		}
	}
	return s
}

// Tail returns the last max bytes of s, marked as cut when it was longer, as valid UTF-8 without
// NUL bytes (PostgreSQL text accepts neither invalid UTF-8 nor NUL).
func Tail(s string, max int) string {
	if len(s) > max {
		const mark = "[... cut ...]\n"
		s = mark + s[len(s)-max+len(mark):]
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
